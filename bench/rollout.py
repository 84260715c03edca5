"""Progressive delivery: how long a rollback takes, and what mirroring to a shadow costs the champion.

1. Rollback: a canary that fails 30% of its requests (SERVING_FAULTS) is rolled back at its first step; the
   controller times the switch from the failed check to nginx running only the champion's routes (its old workers,
   which still knew the canary, gone). Target: at most 2 s.
2. Mirror overhead: the same Locust load through the environment's nginx, with and without a shadow receiving a
   copy of every /predict (the same model in the other slot), alternated so both see the same machine.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from bench.monitoring import model_bundle
from mlops_workbook.cd.load import loadtest, traffic
from mlops_workbook.cd.rollout import deploy, progressive, targets
from mlops_workbook.cd.rollout.router import Routes
from mlops_workbook.ci import smoke
from mlops_workbook.cm import stack
from mlops_workbook.core import environments

PORT = 8750  # the router; its slots and Prometheus sit next to it (cd/rollout/deploy, cm/stack_config)


def _rollbacks(rollout: progressive.Rollout, faulty: targets.Release, times: int) -> list[float]:
    for _ in range(times):
        with traffic.Traffic(rollout.deployment.port, smoke.sample_rows(420, 7), pause=0.005, batch=20):
            try:
                rollout.canary(faulty, mode="deployment")
            except deploy.DeployError:
                pass
    rolled = rollout.history().query("decision.str.startswith('rolled back')")
    return [checks["rollback (s)"] for checks in rolled["checks"]]


def _mirror(deployment: deploy.Deployment, shadow: targets.Release, requests: int, repeats: int) -> list[dict]:
    live = deployment.live()
    copy = deployment.start_beside(shadow, deployment.free_slot())
    body = smoke.sample_rows(20, 3)
    runs = {"without a shadow": [], "with a shadow": []}
    try:
        for _ in range(repeats):
            for name, routes in (
                ("without a shadow", Routes(live.port)),
                ("with a shadow", Routes(live.port, shadow=copy.port)),
            ):
                deployment.router.route(routes)
                deployment.router.wait_settled()
                runs[name].append(loadtest.run(deployment.port, body, requests, 4))
    finally:
        deployment.router.route(Routes(live.port))
        deployment.target.stop(copy)
    return [
        {
            "routes": name,
            "requests/s": round(statistics.median(r["requests_per_s"] for r in measured)),
            "p50 ms": statistics.median(r["p50_ms"] for r in measured),
            "p99 ms": statistics.median(r["p99_ms"] for r in measured),
            "errors": sum(r["failures"] for r in measured),
        }
        for name, measured in runs.items()
    ]


def run(times: int = 3, requests: int = 2000, repeats: int = 3) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        cfg = environments.load("dev", {"serve_port": PORT, "workspace": str(folder)})
        bundles = {v: str(model_bundle(folder, cfg, v)) for v in ("1", "2")}
        deployment = deploy.Deployment(cfg, targets.ProcessTarget(folder / "logs"), folder / "environment")
        deployment.reset()
        monitoring = stack.Monitoring(cfg.env, cfg.serve_port, folder / "monitoring", alerting=False)
        try:
            monitoring.start()
            deployment.deploy(targets.Release("1", model_dir=bundles["1"]))
            rollout = progressive.Rollout(deployment, monitoring, cfg.rollout, show=lambda line: None)
            faulty = targets.Release("2", model_dir=bundles["2"], settings={"SERVING_FAULTS": "error_rate=0.3"})
            seconds = _rollbacks(rollout, faulty, times)
            mirror = _mirror(deployment, targets.Release("2", model_dir=bundles["2"]), requests, repeats)
        finally:
            deployment.stop()
            monitoring.stop()
    if not seconds:
        raise RuntimeError("no rollback was recorded: the faulty canary was never rolled back")
    worst = max(seconds)
    p99 = {row["routes"]: row["p99 ms"] for row in mirror}
    return {
        "title": "Progressive delivery: rollback time, and the cost of a shadow",
        "rows": [{"routes": f"rollback {i + 1}", "rollback s": s} for i, s in enumerate(seconds)] + mirror,
        "notes": [
            f"rollback: a canary failing 30% of its requests, rolled back at its first step ({cfg.rollout.steps[0]}%),"
            f" {times} times; from the failed check to nginx on the champion's routes alone",
            f"mirror: Locust, {requests} requests of 20 rows, 4 users, {repeats} runs each, alternated; the shadow is"
            " the same model in the other slot",
            "the shadow does every request's model work again on the same cores as the champion and Locust (2 here):"
            " the throughput lost is that work; nginx's copy of each request is not what costs (a team runs the"
            " shadow on a host of its own)",
        ],
        "targets": [
            {"target": f"rollback <= 2 s (worst of {times}: {worst:.2f} s)", "met": worst <= 2},
            {
                "target": "a shadow adds at most 20% to the champion's p99 "
                f"({p99['without a shadow']:g} → {p99['with a shadow']:g} ms)",
                "met": p99["with a shadow"] <= 1.2 * p99["without a shadow"],
            },
        ],
    }
