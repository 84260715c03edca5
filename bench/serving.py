"""Serving speed: the workbook's API against `mlflow models serve`, on the same registered model, and against
the HTTP floor (bench/floor.py: the same server options, a constant answer), which says what the API's own work
costs.

Both serve the same registered version, each as one uvicorn worker on loopback: ours runs the bundle CI
exports (ONNX Runtime) with the image's server options (mlops_workbook.cd.serving.server); mlflow serves the
scikit-learn pipeline from the registry. Each gets what it expects: our API takes the raw columns and
computes the features itself; mlflow's pyfunc takes the model's inputs already computed.
The load client is wrk (C, event-driven), so the client is not the bottleneck: its CPU share is reported.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import psutil

from bench import floor
from bench import packaging as bench_images
from mlops_workbook.cd.serving import server
from mlops_workbook.ci import export, smoke
from mlops_workbook.core import environments, processes
from mlops_workbook.ct import data_pipeline, features, gate, training
from mlops_workbook.example import data, tracking

ROOT = Path(__file__).resolve().parents[1]  # on the floor's PYTHONPATH: uvicorn imports bench.floor
OURS, MLFLOW, FLOOR = 8701, 8702, 8703
OURS_NAME, MLFLOW_NAME, FLOOR_NAME = "bench-serving-ours", "bench-serving-mlflow", "bench-serving-floor"
API, SERVE, BARE = "workbook API (ONNX)", "mlflow models serve", "HTTP floor (FastAPI, constant answer)"
# wrk's script: POST the body in BODY_FILE; at the end, print what was measured as one JSON line.
WRK_SCRIPT = """
local f = io.open(os.getenv("BODY_FILE")); wrk.body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "seconds": %f, "errors": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _start(name: str, command: list[str], port: int, path: str, env: dict, folder: Path) -> psutil.Process:
    process = processes.start(name, command, folder / f"{name}.log", env)

    def answers() -> bool:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1).status == 200
        except OSError:
            return False

    if not processes.wait_ready(process, answers, 120):
        raise RuntimeError(f"{name} did not answer {path} on port {port}: see {folder / f'{name}.log'}")
    return psutil.Process(process.pid)


def wrk(port: int, path: str, body, connections: int, seconds: float, folder: Path) -> dict:
    """One wrk run: requests/s, p50/p99 in ms, errors, and the share of the machine's CPU wrk itself used."""
    script, body_file = folder / "post.lua", folder / "body.json"
    script.write_text(WRK_SCRIPT)
    body_file.write_text(json.dumps(body))
    threads = min(connections, 2)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{round(seconds)}s", "-s", str(script)]
    process = subprocess.Popen(
        [*command, f"http://127.0.0.1:{port}{path}"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "BODY_FILE": str(body_file)},
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"wrk failed on port {port}: {output[-500:]}")
    measured = json.loads(output.strip().splitlines()[-1])
    return {
        "requests": measured["requests"],
        "errors": measured["errors"],
        "requests_per_s": measured["requests"] / measured["seconds"],
        "p50_ms": measured["p50_us"] / 1000,
        "p99_ms": measured["p99_us"] / 1000,
        "client_cpu": (usage.ru_utime + usage.ru_stime) / (measured["seconds"] * os.cpu_count()),
    }


def _bodies(n: int) -> dict[str, tuple[int, str, object]]:
    raw = smoke.sample_rows(n, seed=7)
    computed = features.build(data.fake_batch(n, seed=7))[list(features.MODEL_INPUTS)]
    records = computed.astype(object).where(computed.notna(), None).to_dict("records")
    return {
        API: (OURS, "/predict", raw if n > 1 else raw[0]),
        SERVE: (MLFLOW, "/invocations", {"dataframe_records": records}),
        BARE: (FLOOR, "/predict", raw if n > 1 else raw[0]),
    }


def run(seconds: float = 5, repeats: int = 3, volume: int = 10_000) -> dict:
    cfg = environments.load("staging", {"n_partitions": 3, "rows_per_partition": 500})
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        registry = tracking.connect(None, folder)
        store = data_pipeline.FeatureStore(folder / "features")
        data_pipeline.run(data.open_source(cfg), store)
        candidate = training.run(store, cfg, registry, "bench")
        gate.review(registry, candidate.version, candidate.held_out, cfg)
        export.champion(registry, folder / "bundle")
        env = {**os.environ, "MODEL_DIR": str(folder / "bundle"), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
        mlflow_serve = [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m"]
        mlflow_serve += [f"models:/{tracking.model_name()}@{gate.CHAMPION}", "--env-manager", "local"]
        mlflow_serve += ["-h", "127.0.0.1", "-p", str(MLFLOW), "-w", "1"]
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # mlflow execs uvicorn
        ours = _start(OURS_NAME, server.command(OURS), OURS, "/health", env, folder)
        _start(MLFLOW_NAME, mlflow_serve, MLFLOW, "/ping", env, folder)
        _start(FLOOR_NAME, floor.command(FLOOR), FLOOR, "/health", {**env, "PYTHONPATH": str(ROOT)}, folder)
        rows, table = {}, []
        try:
            for n in (1, 100):
                for connections in (1, 8):
                    for name, (port, path, body) in _bodies(n).items():
                        wrk(port, path, body, connections, 1, folder)  # warm up
                        runs = [wrk(port, path, body, connections, seconds, folder) for _ in range(repeats)]
                        best = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
                        rows[(n, connections, name)] = best
                        table.append(
                            {
                                "rows per request": n,
                                "concurrency": connections,
                                "server": name,
                                "requests/s": round(best["requests_per_s"]),
                                "p50 ms": round(best["p50_ms"], 2),
                                "p99 ms": round(best["p99_ms"], 2),
                                "errors": sum(r["errors"] for r in runs),
                                "wrk's CPU share": f"{best['client_cpu']:.0%}",
                            }
                        )
            port, path, body = _bodies(1)[API]
            sustained = wrk(
                port,
                path,
                body,
                8,
                max(10.0, 1.5 * volume / rows[(1, 8, API)]["requests_per_s"]),
                folder,
            )
            resident_mb = ours.memory_info().rss / 1e6
        finally:
            processes.stop(OURS_NAME)
            processes.stop(MLFLOW_NAME)
            processes.stop(FLOOR_NAME)
    keys = {(n, c) for n, c, _ in rows}
    ratio = {key: rows[(*key, API)]["requests_per_s"] / rows[(*key, SERVE)]["requests_per_s"] for key in keys}
    of_floor = {key: rows[(*key, API)]["requests_per_s"] / rows[(*key, BARE)]["requests_per_s"] for key in keys}
    for line in table:
        key, ours = (line["rows per request"], line["concurrency"]), line["server"] == API
        line["vs mlflow"] = f"{ratio[key]:.1f}x" if ours else ""
        line["of the floor"] = f"{of_floor[key]:.2f}x" if ours else ""
    p99 = rows[(1, 1, API)]["p99_ms"]
    built = bench_images.built_images()
    added, added_naive = built["ours"] - built["base"], built["naive"] - built["base"]
    return {
        "title": f"Serving: the workbook's API vs mlflow models serve (median of {repeats} wrk runs of {seconds:g} s)",
        "rows": table,
        "notes": [
            "one uvicorn worker each, same registered model, wrk on the same 2 cores (its CPU share: of both cores)",
            "our API validates every field against the schema and computes the derived features per request; "
            "mlflow serve gets them precomputed",
            "where our time goes beyond the floor (py-spy, and the API rebuilt a piece at a time): FastAPI's validated "
            "body, the body limit and our metrics middleware keep over 0.8x of the floor; the per-request model work "
            "(the derived features in numpy, ONNX Runtime, the drift window) costs the rest. Each of those takes a few "
            "microseconds in a loop, several times that in the server while wrk shares its 2 cores",
            f"sustained: {sustained['requests']} one-row requests at concurrency 8 in "
            f"{sustained['requests'] / sustained['requests_per_s']:.0f} s, {sustained['errors']} errors; "
            f"our server's resident memory after them: {resident_mb:.0f} MB",
            f"images, on the same {built['base']:.0f} MB base: ours adds {added:.0f} MB, the naive one "
            f"(pip install mlflow scikit-learn, mlflow models serve) {added_naive:.0f} MB; our container is healthy "
            f"{built['healthy_s']:.1f} s after it starts (median of {built['starts']}; Docker checks every 2 s)",
        ],
        "targets": [
            {"target": ">= 5x mlflow serve's requests/s, one row, concurrency 1", "met": ratio[(1, 1)] >= 5},
            {"target": ">= 5x mlflow serve's requests/s, one row, concurrency 8", "met": ratio[(1, 8)] >= 5},
            {
                "target": ">= 3x mlflow serve's requests/s, 100 rows (concurrency 1 and 8)",
                "met": min(ratio[(100, 1)], ratio[(100, 8)]) >= 3,
            },
            {"target": ">= 0.6x the HTTP floor's requests/s, one row, concurrency 1", "met": of_floor[(1, 1)] >= 0.6},
            {"target": ">= 0.5x the HTTP floor's requests/s, one row, concurrency 8", "met": of_floor[(1, 8)] >= 0.5},
            {"target": f"p99 <= 2 ms, one row, concurrency 1 (measured {p99:.2f} ms)", "met": p99 <= 2},
            {
                "target": f"{volume} requests at concurrency 8 with 0 errors",
                "met": sustained["requests"] >= volume and sustained["errors"] == 0,
            },
            {
                "target": f"resident memory after them <= 150 MB (measured {resident_mb:.0f} MB)",
                "met": resident_mb <= 150,
            },
            {
                "target": f"image's added layers <= 15% of the naive image's (measured {added / added_naive:.1%})",
                "met": added <= 0.15 * added_naive,
            },
            {
                "target": f"container start to healthy <= 3 s (measured {built['healthy_s']:.1f} s)",
                "met": built["healthy_s"] <= 3,
            },
        ],
    }
