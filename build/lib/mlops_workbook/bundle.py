"""The serving bundle: a registered model exported with what serving needs to know about it.

Packaging exports the registry's champion once, on the build machine (where MLflow lives), into
a folder with the fitted pipeline (skops format) and `model.json` (name, version, alias, run,
inputs). The image serves that folder and needs neither MLflow nor the tracking store.
"""

from __future__ import annotations

import json
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
        raise FileNotFoundError(f"{folder} is not a model bundle (missing {', '.join(missing)}): "
                                "export one with mlops_workbook.ci.packaging.export_champion")
    facts = Facts(**json.loads((folder / FACTS_FILE).read_text()))
    return skops.io.load(folder / MODEL_FILE, trusted=TRUSTED_TYPES), facts
