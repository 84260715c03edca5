"""Monitoring: what drift tracking costs the serving path, and how fast a drift alert reaches the team.

1. The same app and model with drift tracking (DRIFT_WINDOW=500) and without (0), under the same
   Locust load, one after the other so they don't share the cores.
2. Drift to alert delivered: Debian's Prometheus and Alertmanager with the demo intervals (1 s scrape
   and evaluation, group_wait 1 s), traffic switched from normal to drifted rows; seconds until the
   email and the Slack message have both arrived, then back to normal until both resolved messages
   have. Target: at most 30 s.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from mlops_workbook.cd.load import loadtest, traffic
from mlops_workbook.cd.rollout import targets
from mlops_workbook.ci import conversion
from mlops_workbook.cm import drift, receivers, stack, stack_config
from mlops_workbook.core import environments, waiting
from mlops_workbook.ct import features, training
from mlops_workbook.example import bundle, data, schema

WITH, WITHOUT = 8710, 8711
FIRING, RESOLVED = "[FIRING] InputDrift on pickup_distance_km", "[RESOLVED] InputDrift on pickup_distance_km"


def model_bundle(folder: Path, cfg, version: str = "1") -> Path:
    """A served model's bundle (ONNX and facts) as version `version`, trained on live rows."""
    rows = features.build(data.live_batch(cfg, 2000, index=0))
    model = training.train(rows, cfg.seed)
    facts = bundle.Facts(
        "ride-completion",
        version,
        "champion",
        "bench",
        list(model.feature_names_in_),
        drift.Reference.of(rows, schema.FEATURES).to_dict(),
    )
    return bundle.save(conversion.to_onnx(model), facts, folder / f"bundle-v{version}")


def _overhead(target, model_dir: Path, cfg, requests: int, repeats: int) -> list[dict]:
    table = []
    for n in (1, 100):
        body = data.as_requests(data.live_batch(cfg, n, index=5))
        for name, port, window in (("with drift tracking", WITH, "500"), ("without", WITHOUT, "0")):
            copy = target.start(
                targets.Release("1", model_dir=str(model_dir), settings={"DRIFT_WINDOW": window}),
                port,
                name.replace(" ", "-"),
            )
            try:
                runs = [loadtest.run(port, body, requests, 1) for _ in range(repeats)]
                scrapes = []
                for _ in range(20):
                    start = time.perf_counter()
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
                    scrapes.append((time.perf_counter() - start) * 1000)
            finally:
                target.stop(copy)
            table.append(
                {
                    "rows per request": n,
                    "app": name,
                    "requests/s": round(statistics.median(r["requests_per_s"] for r in runs)),
                    "p99 ms": statistics.median(r["p99_ms"] for r in runs),
                    "/metrics ms": round(statistics.median(scrapes), 1),
                    "errors": sum(r["failures"] for r in runs),
                }
            )
    return table


def _alert_latency(target, model_dir: Path, cfg, folder: Path, cycles: int) -> list[dict]:
    copy = target.start(targets.Release("1", model_dir=str(model_dir)), WITH, "alerting")
    monitoring = stack.Monitoring("bench", WITH, folder / "stack")
    mail, slack, team_secrets = receivers.team_stand_ins(monitoring.ports)
    os.environ.update(team_secrets)
    normal = data.as_requests(data.live_batch(cfg, 3000, index=10))
    drifted = data.as_requests(data.live_batch(cfg, 3000, index=11, drifted=True))
    rows = []
    try:
        monitoring.start()
        with traffic.Traffic(WITH, normal, pause=0.05, batch=20) as users:
            waiting.until(lambda: len(monitoring.query("model_input_drift_psi")) == len(schema.FEATURES), 30)
            for cycle in range(cycles):
                mail.messages.clear()
                slack.posts.clear()
                time.sleep(5)
                users.switch_to(drifted)
                fired = waiting.until(lambda: FIRING in mail.subjects() and FIRING in slack.titles(), 60)
                users.switch_to(normal)
                resolved = waiting.until(lambda: RESOLVED in mail.subjects() and RESOLVED in slack.titles(), 60)
                rows.append(
                    {
                        "cycle": cycle + 1,
                        "drift → alert delivered (s)": round(fired, 1),
                        "normal → resolved delivered (s)": round(resolved, 1),
                    }
                )
    finally:
        monitoring.stop()
        target.stop(copy)
        mail.stop()
        slack.stop()
    return rows


def overhead(requests: int = 1500, repeats: int = 3) -> dict:
    cfg = environments.load("dev")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        rows = _overhead(targets.ProcessTarget(folder / "logs"), model_bundle(folder, cfg), cfg, requests, repeats)
    ratio = {
        n: next(r["requests/s"] for r in rows if r["rows per request"] == n and r["app"] != "without")
        / next(r["requests/s"] for r in rows if r["rows per request"] == n and r["app"] == "without")
        for n in (1, 100)
    }
    return {
        "title": f"Monitoring: what drift tracking costs the API (median of {repeats} runs of {requests} requests, "
        "concurrency 1)",
        "rows": rows,
        "notes": [
            f"throughput with drift tracking vs without: {ratio[1]:.2f}x (1 row), {ratio[100]:.2f}x (100 rows)",
            "a request appends to the drift window; PSI is computed when /metrics is scraped",
        ],
    }


def alerting(cycles: int = 3) -> dict:
    cfg = environments.load("dev")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        rows = _alert_latency(targets.ProcessTarget(folder / "logs"), model_bundle(folder, cfg), cfg, folder, cycles)
    fired = [row["drift → alert delivered (s)"] for row in rows]
    resolved = [row["normal → resolved delivered (s)"] for row in rows]
    return {
        "title": f"Monitoring: drift to alert delivered by email and Slack ({cycles} cycles, demo intervals)",
        "rows": rows,
        "notes": [
            f"median {statistics.median(fired):.1f} s, worst {max(fired):.1f} s; back to normal → resolved "
            f"delivered: median {statistics.median(resolved):.1f} s",
            f"Prometheus scrape and rule evaluation every {stack_config.DEMO_INTERVAL}, the drift rule's `for:` "
            f"{stack_config.demo_hold('InputDrift'):g} s (the team's, {stack_config.DEMO_SPEEDUP} times faster), "
            "Alertmanager group_wait 1 s; traffic about 15 requests/s of 20 rows, drift window 500 values",
        ],
        "targets": [{"target": "drift to alert delivered <= 30 s (worst cycle)", "met": max(fired) <= 30}],
    }
