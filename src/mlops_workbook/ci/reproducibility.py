"""Is the model the same as on the developer's machine? Compare predictions with a stored reference.

The reference is recorded once, on a machine people trust, and committed: the library versions,
a hash of the training data, and the held-out predictions of the model trained with the fixed
seed. CI retrains the same way and must find the same versions, the same data and the same
predictions; each mismatch says what most likely broke it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

from mlops_workbook.core import errors, paths
from mlops_workbook.ct import data_pipeline, features, training
from mlops_workbook.example import data

REFERENCE = Path("tests/reference/reproducibility.json")  # relative to the repository
LIBRARIES = ("scikit-learn", "numpy", "pandas")
SEED, ROWS = 42, 1000
TOLERANCE = 1e-6  # floating-point noise across CPUs is far below this; a real change is far above
RECORD_COMMAND = "mlops-workbook ci reproduce --record"

Trainer = Callable  # (train_rows, seed) -> a fitted scikit-learn model


class ReproducibilityError(errors.RunError):
    """The model differs from the reference; the message says how and what to do."""


@dataclass(frozen=True)
class Reference:
    versions: dict[str, str]
    seed: int
    data_hash: str
    predictions: list[float]


def _reference_data(seed: int):
    table = features.build(data.production_batch(ROWS, seed))
    return table, *training.split(table)


def current(seed: int = SEED, trainer: Trainer = training.train) -> Reference:
    """What this environment produces now, in the reference's form."""
    table, train_rows, held_out = _reference_data(seed)
    model = trainer(train_rows, seed)
    predictions = training.predict_proba(model, held_out).round(8).tolist()
    return Reference({lib: version(lib) for lib in LIBRARIES}, seed, data_pipeline.data_hash(table), predictions)


def record(path: Path | None = None, seed: int = SEED, trainer: Trainer = training.train) -> Reference:
    reference = current(seed, trainer)
    target = paths.resolve(path or REFERENCE)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(asdict(reference), indent=1) + "\n")
    return reference


def load(path: Path | None = None) -> Reference:
    """The committed reference (or the one at `path`)."""
    target = paths.resolve(path or REFERENCE)
    if not target.exists():
        raise ReproducibilityError(
            f"no reference at {paths.show(target)}: record one on the machine you trust "
            f"with `{RECORD_COMMAND}` and commit it"
        )
    return Reference(**json.loads(target.read_text()))


def check(path: Path | None = None, trainer: Trainer = training.train) -> Reference:
    """Retrain as the reference was trained; raise ReproducibilityError at the first difference."""
    reference = load(path)
    changed = {lib: (was, version(lib)) for lib, was in reference.versions.items() if version(lib) != was}
    if changed:
        listed = ", ".join(f"{lib} {was} -> {now}" for lib, (was, now) in changed.items())
        raise ReproducibilityError(
            f"library versions differ from the reference ({listed}). Pin the reference's versions in "
            f"pyproject.toml, or upgrade on purpose: `{RECORD_COMMAND}` and review the diff"
        )
    now = current(reference.seed, trainer)
    if now.data_hash != reference.data_hash:
        raise ReproducibilityError(
            "the reference training data changed (the data generator or the features): if that was meant, "
            f"`{RECORD_COMMAND}` and commit the new reference"
        )
    differences = np.abs(np.array(now.predictions) - np.array(reference.predictions))
    off = int((differences > TOLERANCE).sum())
    if off:
        raise ReproducibilityError(
            f"predictions differ from the reference on {off} of {len(differences)} rows (largest difference "
            f"{differences.max():.4f}): is every source of randomness seeded (estimators, splits, sampling)? "
            "Did the training code change?"
        )
    return now
