"""A class on one tracking server: each learner sets `learner` and registers `<learner>.ride-completion`, and the
instructor reads every learner's champion in one table (`mlops-workbook class-registry`). Reading only: the table
moves no alias, and a learner's own workbook calls move only their model's (tracking.model_name)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlops_workbook.core import errors, http_client
from mlops_workbook.example import tracking

COLUMNS = ["learner", "model", "champion", "roc_auc", "accuracy", "trained on", "registered (UTC)"]


def server_of(cfg) -> str:
    """The tracking server the class shares; a BadInputError before any work if the config names none."""
    uri = cfg.tracking_uri()
    if not uri:
        raise errors.BadInputError(
            f"{cfg.env} uses an embedded registry, which no one else sees: point at the class's tracking server with "
            "-p mlflow_tracking_uri=http://<host>:<port> (or use an environment whose `servers` is team)"
        )
    if uri.startswith("http") and not http_client.answers(f"{uri}/health"):
        raise errors.UnavailableError(f"the tracking server {uri} does not answer: is it up (`mlops-workbook up`)?")
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():  # else MLflow makes one
        raise errors.BadInputError(f"no registry at {uri}: give the store the class's runs went to")
    return uri


def champions(uri: str) -> pd.DataFrame:
    """One row per learner's registered model on the server: its champion version, that version's held-out scores,
    the data it learned from and when it was registered; a model with no champion yet shows none."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from mlops_workbook.ct import gate  # its training's libraries: only once there is a server to read

    tracking.quiet()
    client = mlflow.MlflowClient(uri)
    rows, token = [], None
    while True:  # the server answers in pages
        page = client.search_registered_models(max_results=100, page_token=token)
        for model in page:
            learner = _learner_of(model.name)
            if learner is None:
                continue
            version = model.aliases.get(gate.CHAMPION)
            if version is None:
                rows.append({"learner": learner, "model": model.name, "champion": "none yet"})
                continue
            found = client.get_model_version(model.name, str(version))
            try:
                run = client.get_run(found.run_id).data
                metrics, params = run.metrics, run.params
            except MlflowException:  # registered from a run since deleted: the version is all there is
                metrics, params = {}, {"data_source": "its run is gone"}
            rows.append(
                {
                    "learner": learner,
                    "model": model.name,
                    "champion": f"version {version}",
                    "roc_auc": metrics.get("roc_auc"),
                    "accuracy": metrics.get("accuracy"),
                    "trained on": params.get("data_source"),
                    "registered (UTC)": pd.Timestamp(found.creation_timestamp, unit="ms").strftime("%Y-%m-%d %H:%M"),
                }
            )
        token = page.token
        if not token:
            break
    return pd.DataFrame(rows, columns=COLUMNS).sort_values("learner", ignore_index=True)


def _learner_of(model_name: str) -> str | None:
    """`alice` for alice.ride-completion, `(no learner)` for the unprefixed model; None for another project's."""
    if model_name == tracking.NAME:
        return "(no learner)"
    learner, dot, name = model_name.rpartition(".")
    return learner if dot and name == tracking.NAME else None
