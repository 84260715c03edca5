"""Connect to the environment's MLflow tracking server and model registry.

The embedded default (mlflow_tracking_uri: null) is a sqlite store and an artifact
folder inside the notebook's sandbox: no server to run, and each notebook starts from
an empty registry so that it reproduces alone. A URI in the config points at a real server.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from mlops_workbook.core import cache

EXPERIMENT = "ride-completion"


def connect(tracking_uri: str | None, sandbox: Path):
    """Point MLflow at the store and return its client (the registry the lessons call `registry`); creates the
    experiment if needed."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # this machine reaches no telemetry host
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar per small artifact is noise
    import mlflow

    for noisy in ("mlflow", "alembic"):  # the store's set-up messages are not lesson output
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not tracking_uri and not (Path(sandbox) / "mlflow.db").exists():
        shutil.copyfile(empty_store(), Path(sandbox) / "mlflow.db")
    uri = tracking_uri or f"sqlite:///{Path(sandbox).resolve() / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        artifacts = None if tracking_uri else (Path(sandbox).resolve() / "mlartifacts").as_uri()
        mlflow.create_experiment(EXPERIMENT, artifact_location=artifacts)
    mlflow.set_experiment(EXPERIMENT)
    return mlflow.MlflowClient()


def empty_store() -> Path:
    """An empty sqlite store, its tables created once per MLflow version (creating them takes seconds)."""
    import mlflow

    def create(db: Path) -> None:
        mlflow.MlflowClient(f"sqlite:///{db.resolve()}").search_experiments()

    return cache.once(f"mlflow-{mlflow.__version__}.db", create)
