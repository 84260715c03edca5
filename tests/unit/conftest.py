"""One trained model and its serving bundle per test session, for every unit test that serves or converts it.

Training and converting take seconds; the serving, monitoring and contract tests only need *a* fitted model
with a drift reference, so they share this one instead of each training their own. The fixture imports the
training libraries itself: a run of other unit tests (01 and 08 run some) does not wait for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Trained:
    model: object  # the fitted scikit-learn pipeline
    rows: object  # the feature rows it was trained on (a DataFrame)
    reference: object  # their drift reference (cm.drift.Reference), in the bundle too
    folder: Path  # the serving bundle (version "7", alias champion)


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Trained:
    from mlops_workbook.ci import conversion
    from mlops_workbook.cm import drift
    from mlops_workbook.ct import features, training
    from mlops_workbook.example import bundle, data, schema

    rows = features.build(data.production_batch(3000, seed=4))
    model = training.train(rows, seed=4)
    reference = drift.Reference.of(rows, schema.FEATURES)
    facts = bundle.Facts(
        "ride-completion", "7", "champion", "run-7", list(model.feature_names_in_), reference.to_dict()
    )
    folder = bundle.save(conversion.to_onnx(model), facts, tmp_path_factory.mktemp("bundle"))
    return Trained(model, rows, reference, folder)
