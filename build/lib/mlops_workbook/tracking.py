"""Connect to the environment's MLflow tracking server and model registry.

The embedded default (mlflow_tracking_uri: null) is a sqlite store and an artifact
folder inside the notebook's sandbox: no server to run, and each notebook starts from
an empty registry so that it reproduces alone. A URI in the config points at a real server.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

EXPERIMENT = "ride-completion"


def connect(tracking_uri: str | None, sandbox: Path):
    """Point MLflow at the store and return a client; creates the experiment if needed."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # this machine reaches no telemetry host
    import mlflow

    for noisy in ("mlflow", "alembic"):  # the store's set-up messages are not lesson output
        logging.getLogger(noisy).setLevel(logging.WARNING)
    uri = tracking_uri or f"sqlite:///{Path(sandbox).resolve() / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        artifacts = None if tracking_uri else (Path(sandbox).resolve() / "mlartifacts").as_uri()
        mlflow.create_experiment(EXPERIMENT, artifact_location=artifacts)
    mlflow.set_experiment(EXPERIMENT)
    return mlflow.MlflowClient()
