"""Connect to the environment's MLflow tracking server and model registry.

The embedded default (mlflow_tracking_uri: null) is a sqlite store and an artifact
folder inside the notebook's sandbox: no server to run, and each notebook starts from
an empty registry so that it reproduces alone. A URI in the config points at a real server.
On a class's server each learner's experiment and registered model carry their name (`learner`).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from mlops_workbook.core import cache

NAME = "ride-completion"  # the project's experiment and registered model
_learner: str | None = None  # whose names the last connect() made active, as MLflow keeps the active experiment


def named(learner: str | None) -> str:
    """The experiment's and the registered model's name for a learner: `alice.ride-completion`."""
    return f"{learner}.{NAME}" if learner else NAME


def model_name() -> str:
    """The registered model the workbook registers into, reads and moves aliases of: on a class's server, the
    connected learner's own, so that no workbook call moves another learner's champion."""
    return named(_learner)


def quiet() -> None:
    """The store's set-up messages (creating and migrating tables) are not lesson or command output."""
    for noisy in ("mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def connect(tracking_uri: str | None, sandbox: Path, learner: str | None = None):
    """Point MLflow at the store and return its client (the registry the lessons call `registry`); creates the
    experiment if needed. `learner` (a class on one server) makes their own experiment and model the active ones."""
    global _learner
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # this machine reaches no telemetry host
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar per small artifact is noise
    import mlflow

    quiet()
    if not tracking_uri and not (Path(sandbox) / "mlflow.db").exists():
        shutil.copyfile(empty_store(), Path(sandbox) / "mlflow.db")
    uri = tracking_uri or f"sqlite:///{Path(sandbox).resolve() / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = named(learner)
    if mlflow.get_experiment_by_name(experiment) is None:
        artifacts = None if tracking_uri else (Path(sandbox).resolve() / "mlartifacts").as_uri()
        mlflow.create_experiment(experiment, artifact_location=artifacts)
    mlflow.set_experiment(experiment)
    _learner = learner
    return mlflow.MlflowClient()


def empty_store() -> Path:
    """An empty sqlite store, its tables created once per MLflow version (creating them takes seconds)."""
    import mlflow

    def create(db: Path) -> None:
        mlflow.MlflowClient(f"sqlite:///{db.resolve()}").search_experiments()

    return cache.once(f"mlflow-{mlflow.__version__}.db", create)
