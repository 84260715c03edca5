"""CI's quality gate: a model trained on the environment's data must reach its minimum metrics.

It runs the real pipelines (data → features → train → evaluate) in a throwaway folder, so a
change that breaks learning fails in CI, before anything is packaged or deployed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlops_workbook.core.environments import EnvConfig
from mlops_workbook.ct import data_pipeline, gate, training
from mlops_workbook.example import data


def evaluate(cfg: EnvConfig) -> tuple[dict, gate.Decision]:
    """Held-out metrics of a model trained on the environment's data, and whether they pass."""
    with tempfile.TemporaryDirectory() as folder:
        store = data_pipeline.FeatureStore(Path(folder) / "features")
        data_pipeline.run(data.open_source(cfg), store)
        train_rows, held_out = training.split(store.read())
    metrics = training.evaluate(training.train(train_rows, cfg.seed), held_out)
    return metrics, gate.passes_thresholds(metrics, cfg.min_accuracy, cfg.min_roc_auc)
