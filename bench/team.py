"""Team mode: how long `up` takes to a healthy stack, and registry operations per second against the embedded
SQLite store and against the PostgreSQL-backed MLflow server (each through MLflow's own client)."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
from sklearn.dummy import DummyClassifier

from mlops_workbook.cd.team import tracking_server
from mlops_workbook.cd.team.stack import TeamStack
from mlops_workbook.core import environments
from mlops_workbook.example import tracking

NAME = "bench-model"


def _operations(uri: str | None, folder: Path, n: int) -> dict[str, float]:
    """Operations per second of each kind, `n` of each, against the store at `uri` (None: the embedded sqlite store
    in `folder`, as a lesson in dev opens it; its artifacts there too)."""
    client = tracking.connect(uri, folder)
    with mlflow.start_run():
        model = mlflow.sklearn.log_model(
            DummyClassifier().fit(np.zeros((4, 1)), [0, 1, 0, 1]), name="model", pip_requirements=[]
        )
    client.create_registered_model(NAME)
    timed = {}

    def per_second(what: str, operation) -> None:
        start = time.perf_counter()
        for i in range(n):
            operation(i)
        timed[what] = n / (time.perf_counter() - start)

    def log_run(i: int) -> None:
        with mlflow.start_run():
            mlflow.log_metric("roc_auc", 0.8 + i / 1000)

    per_second("log a run", log_run)
    per_second(
        "register a version",
        lambda i: client.create_model_version(NAME, model.model_uri, model_id=model.model_id),
    )
    per_second("move an alias", lambda i: client.set_registered_model_alias(NAME, "champion", str(i % n + 1)))
    per_second("read the champion", lambda i: client.get_model_version_by_alias(NAME, "champion"))
    return timed


def run(n: int = 30) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bench-team-"))
    folder.chmod(0o755)  # PostgreSQL's unprivileged user must reach its cluster inside
    stack = TeamStack(environments.load("staging", {"workspace": str(folder)}))
    try:
        cold = stack.up()
        warm = []
        for _ in range(2):
            stack.down()
            warm.append(stack.up())
        embedded = _operations(None, folder, n)
        server = _operations(stack.tracking_uri, folder / "client", n)
    finally:
        stack.down()
        shutil.rmtree(folder, ignore_errors=True)
    rows = [
        {
            "operation": what,
            "embedded SQLite /s": round(embedded[what], 1),
            "PostgreSQL server /s": round(server[what], 1),
            "server / embedded": round(server[what] / embedded[what], 2),
        }
        for what in embedded
    ]
    warm_up = statistics.median(warm)
    read_ratio = server["read the champion"] / embedded["read the champion"]
    return {
        "title": "Team mode: `up` to healthy, and registry operations per second",
        "rows": rows,
        "notes": [
            f"`mlops-workbook up` to every server healthy: {cold:.1f} s the first time (initdb, both databases'"
            f" migrations), {warm_up:.1f} s warm (median of {len(warm)}, after `down`)",
            f"{n} of each operation, one client, in this order; the server runs {tracking_server.WORKERS} worker(s)",
        ],
        "targets": [
            {"target": f"`up` <= 20 s warm (measured {warm_up:.1f} s)", "met": warm_up <= 20},
            {
                "target": f"server >= 0.5x embedded SQLite for reads (measured {read_ratio:.2f}x)",
                "met": read_ratio >= 0.5,
            },
        ],
    }
