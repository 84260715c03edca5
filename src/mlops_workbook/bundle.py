"""The serving bundle: a registered model exported with what serving needs to know about it.

Packaging exports the registry's champion once, on the build machine (where MLflow lives), into
a folder with the fitted pipeline (skops format) and `model.json` (name, version, alias, run,
inputs, and the drift reference of its training rows). The image serves that folder and needs neither
MLflow nor the tracking store.
A process next to the registry (dev's deploy) loads `models:/<name>@<alias>` directly instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import skops.io

MODEL_FILE, FACTS_FILE = "model.skops", "model.json"
# skops loads only the types it is told to trust; this pipeline needs just this one beyond its defaults.
TRUSTED_TYPES = ["numpy.dtype"]


@dataclass(frozen=True)
class Facts:
    name: str
    version: str
    alias: str
    run_id: str
    inputs: list[str]
    reference: dict | None = None  # the drift reference of its training rows (cm.drift.Reference), if logged


def save(model, facts: Facts, folder: Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, folder / MODEL_FILE)
    (folder / FACTS_FILE).write_text(json.dumps(asdict(facts), indent=2) + "\n")
    return folder


def load(folder: Path):
    """(model, facts) from a bundle folder; a clear error when the folder is not one."""
    folder = Path(folder)
    missing = [name for name in (MODEL_FILE, FACTS_FILE) if not (folder / name).exists()]
    if missing:
        raise FileNotFoundError(
            f"{folder} is not a model bundle (missing {', '.join(missing)}): "
            "export one with mlops_workbook.ci.packaging.export_champion"
        )
    facts = Facts(**json.loads((folder / FACTS_FILE).read_text()))
    return skops.io.load(folder / MODEL_FILE, trusted=TRUSTED_TYPES), facts


def from_registry(uri: str):
    """(model, facts) for `models:/<name>@<alias>` or `models:/<name>/<version>`, from MLflow's registry."""
    import mlflow.sklearn
    from mlflow.exceptions import MlflowException

    from mlops_workbook.cm import drift

    found = re.fullmatch(r"models:/([^/@]+)(?:@(\w+)|/(\d+))", uri)
    if not found:
        raise ValueError(
            f"{uri!r} is not a registered model URI: use models:/<name>@<alias> or models:/<name>/<version>"
        )
    name, alias, number = found.groups()
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, number)
    model = mlflow.sklearn.load_model(f"models:/{name}/{version.version}")
    try:
        reference = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{drift.REFERENCE_FILE}")
    except MlflowException:  # a version registered by other means: served without drift gauges
        reference = None
    return model, Facts(
        name, str(version.version), alias or "", version.run_id, list(model.feature_names_in_), reference
    )
