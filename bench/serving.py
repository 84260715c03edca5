"""Serving speed: the workbook's API against `mlflow models serve`, on the same registered model.

Both serve `models:/ride-completion@champion` from the same sqlite registry, each as one uvicorn
worker on loopback, and get the same Locust load (`mlops_workbook.cd.loadtest`: a fixed request count
at a fixed concurrency). Each sends what its server expects: our API takes the raw columns and
computes the features itself; mlflow's pyfunc takes the model's input columns already computed.
Targets: at least 3x mlflow serve's requests/s; p99 at most 10 ms for one row.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from mlops_workbook import config, data, schema, tracking
from mlops_workbook.cd import loadtest, targets
from mlops_workbook.ci import packaging
from mlops_workbook.ct import data_pipeline, features, gate, training

OURS, MLFLOW = 8701, 8702
MODEL_URI = targets.CHAMPION_URI


def _wait(port: int, path: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with code {process.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the server on port {port} did not answer {path} in {timeout:g} s")


def _servers(folder: Path, tracking_uri: str) -> list[subprocess.Popen]:
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MODEL_URI": MODEL_URI,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }  # mlflow serve execs uvicorn by name
    log = (folder / "servers.log").open("w")
    ours = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "mlops_workbook.cd.app:create_app",
            "--port",
            str(OURS),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=log,
        stderr=log,
    )
    theirs = subprocess.Popen(
        [
            str(bin_dir / "mlflow"),
            "models",
            "serve",
            "-m",
            MODEL_URI,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(MLFLOW),
            "-w",
            "1",
        ],
        env=env,
        stdout=log,
        stderr=log,
    )
    _wait(OURS, "/health", ours)
    _wait(MLFLOW, "/ping", theirs)
    return [ours, theirs]


def run(requests: int = 1500, repeats: int = 3) -> dict:
    cfg = config.load("staging", {"n_partitions": 3, "rows_per_partition": 500})
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        registry = tracking.connect(None, folder)
        store = data_pipeline.FeatureStore(folder / "features")
        data_pipeline.run(data.open_source(cfg), store)
        candidate = training.run(store, cfg, registry, "bench")
        gate.review(registry, candidate.version, candidate.held_out, cfg)
        servers = _servers(folder, f"sqlite:///{folder / 'mlflow.db'}")
        rows, table = {}, []
        try:
            for n in (1, 100):
                raw = packaging.sample_rows(n, seed=7)
                computed = features.build(data.fake_batch(n, seed=7))[list(features.MODEL_INPUTS)]
                bodies = {
                    "workbook API": (OURS, raw, "/predict"),
                    "mlflow models serve": (
                        MLFLOW,
                        {"dataframe_records": computed.astype(object).where(computed.notna(), None).to_dict("records")},
                        "/invocations",
                    ),
                }
                for users in (1, 8):
                    for server, (port, body, path) in bodies.items():
                        runs = [loadtest.run(port, body, requests, users, path) for _ in range(repeats)]
                        best = {
                            key: statistics.median(r[key] for r in runs)
                            for key in ("requests_per_s", "p50_ms", "p99_ms")
                        }
                        rows[(n, users, server)] = best
                        table.append(
                            {
                                "rows per request": n,
                                "concurrency": users,
                                "server": server,
                                "requests/s": round(best["requests_per_s"]),
                                "p50 ms": best["p50_ms"],
                                "p99 ms": best["p99_ms"],
                                "errors": sum(r["failures"] for r in runs),
                            }
                        )
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)
    ratios = {
        key[:2]: rows[(*key[:2], "workbook API")]["requests_per_s"]
        / rows[(*key[:2], "mlflow models serve")]["requests_per_s"]
        for key in rows
    }
    for line in table:
        line["vs mlflow"] = (
            f"{ratios[(line['rows per request'], line['concurrency'])]:.1f}x"
            if line["server"] == "workbook API"
            else ""
        )
    single_p99 = rows[(1, 1, "workbook API")]["p99_ms"]
    return {
        "title": f"Serving: the workbook's API vs mlflow models serve "
        f"(median of {repeats} runs of {requests} requests)",
        "rows": table,
        "notes": [
            "one uvicorn worker each, same registered model, Locust (FastHttpUser) on the same 2 cores",
            f"our API validates every field against the schema ({len(schema.FEATURES)} columns) and computes "
            "the derived features per request; mlflow serve gets them precomputed",
        ],
        "targets": [
            {"target": "at least 3x mlflow serve's requests/s (every case)", "met": min(ratios.values()) >= 3},
            {"target": "p99 <= 10 ms for one row (concurrency 1)", "met": single_p99 <= 10},
        ],
    }
