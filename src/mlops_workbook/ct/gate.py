"""The champion/challenger gate: a new version becomes `champion` only if it earns it.

It must pass the environment's minimum thresholds and beat the current champion by the
configured margin, both scored on the same evaluation data. Otherwise it stays a
`challenger` and the reason is recorded on the version. A worse model is never promoted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd

from mlops_workbook.core import errors
from mlops_workbook.ct import training

CHAMPION, CHALLENGER = "champion", "challenger"


@dataclass(frozen=True)
class Decision:
    passes: bool
    reason: str
    # what `review` compared: each version's held-out metrics on the same rows, one row per version
    scores: pd.DataFrame | None = field(default=None, compare=False, repr=False)


def passes_thresholds(metrics: dict, min_accuracy: float, min_roc_auc: float) -> Decision:
    """The environment's floor: CI's quality gate, and the gate's first condition."""
    if metrics["accuracy"] < min_accuracy:
        return Decision(False, f"accuracy {metrics['accuracy']:.4f} is below the minimum {min_accuracy}")
    if metrics["roc_auc"] < min_roc_auc:
        return Decision(False, f"ROC AUC {metrics['roc_auc']:.4f} is below the minimum {min_roc_auc}")
    return Decision(
        True,
        f"accuracy {metrics['accuracy']:.4f} and ROC AUC {metrics['roc_auc']:.4f} "
        f"reach the minimums {min_accuracy} and {min_roc_auc}",
    )


def decide(challenger: dict, champion: dict | None, min_accuracy: float, min_roc_auc: float, margin: float) -> Decision:
    """The rule itself, on metrics alone (ROC AUC decides between models)."""
    floor = passes_thresholds(challenger, min_accuracy, min_roc_auc)
    if not floor.passes:
        return floor
    if champion is None:
        return Decision(True, "first model to pass the thresholds")
    gain = challenger["roc_auc"] - champion["roc_auc"]
    if gain > margin:
        return Decision(True, f"beats the champion's ROC AUC {champion['roc_auc']:.4f} by {gain:.4f} (margin {margin})")
    return Decision(
        False,
        f"ROC AUC {challenger['roc_auc']:.4f} vs the champion's {champion['roc_auc']:.4f}: "
        f"a gain of {gain:+.4f} is not above the margin {margin}",
    )


class NoChampionError(errors.UnavailableError, LookupError):
    """Nothing to package or deploy: no version holds the champion alias yet."""


def required_champion(registry) -> str:
    """The champion's version; NoChampionError, saying what to do, when there is none."""
    version = champion_version(registry)
    if version is None:
        raise NoChampionError(
            f"no '{CHAMPION}' in the registry: CT registers and promotes one; run the environment's CT pipeline "
            "(`mlops-workbook retrain --env <env>`) or 06_ct_training_pipeline first"
        )
    return version


def champion_version(registry) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(registry.get_model_version_by_alias(training.MODEL_NAME, CHAMPION).version)
    except MlflowException:
        return None


def review(registry, version: str, eval_table: pd.DataFrame, cfg, rule=decide) -> Decision:
    """Score the new version and the champion on the same data, decide, and record the outcome.

    `rule` is the decision itself (`decide` unless a lab passes its own). As MLflow's alias pattern has it, the
    version holds `challenger` only while it is under review: then it takes `champion`, or keeps only its tags
    (`gate: rejected` and the reason).
    """
    registry.set_registered_model_alias(training.MODEL_NAME, CHALLENGER, version)
    try:
        challenger = training.evaluate(training.load(version), eval_table)
        current = champion_version(registry)
        champion = training.evaluate(training.load(f"@{CHAMPION}"), eval_table) if current else None
        decision = rule(challenger, champion, cfg.min_accuracy, cfg.min_roc_auc, cfg.promotion_margin)
    finally:
        registry.delete_registered_model_alias(training.MODEL_NAME, CHALLENGER)  # reviewed: no longer a candidate
    scored = {f"version {version} (new)": challenger}
    if current:
        scored[f"version {current} (champion)"] = champion
    scores = pd.DataFrame.from_dict(scored, orient="index").rename_axis(f"on the same {len(eval_table)} held-out rows")
    decision = replace(decision, scores=scores)
    if decision.passes:
        registry.set_registered_model_alias(training.MODEL_NAME, CHAMPION, version)
    registry.set_model_version_tag(training.MODEL_NAME, version, "gate", "promoted" if decision.passes else "rejected")
    registry.set_model_version_tag(training.MODEL_NAME, version, "gate_reason", decision.reason)
    return decision
