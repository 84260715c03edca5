"""The champion/challenger gate: a new version becomes `champion` only if it earns it.

It must pass the environment's minimum thresholds and beat the current champion's ROC AUC by the configured
margin, both scored on the same held-out rows; the gain must be more than those rows' sampling noise (the gain a
paired bootstrap is `promotion_confidence` sure of must clear the margin), and accuracy and F1 must not fall below
the champion's by more than the guardrail. A champion that no longer reaches the minimums on those rows (drift
broke it) gives way to any version that does and ranks no worse. Otherwise the reason is recorded on the version.
A version that scores worse on those rows is never promoted; of two equally good ones, the newer still passes about
one time in ten at `promotion_confidence` 0.9 (the price of deciding on a sample).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random

from mlops_workbook.core import errors
from mlops_workbook.ct import training
from mlops_workbook.example import schema, tracking

CHAMPION, CHALLENGER = "champion", "challenger"
RESAMPLES = 1000  # the paired bootstrap's: the interval's ends move by about 0.001 between seeds
# what MLflow's SQL store says when two writers move one alias at once (it reads the row, then updates or inserts it)
_COLLISIONS = ("expected to update", "expected to delete", "duplicate key", "UNIQUE constraint")


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
    """The rule itself, on metrics alone: ROC AUC decides between two models that reach the minimums; a champion
    that no longer does gives way to one that does."""
    floor = passes_thresholds(challenger, min_accuracy, min_roc_auc)
    if not floor.passes:
        return floor
    if champion is None:
        return Decision(True, "first model to pass the thresholds")
    fallen = passes_thresholds(champion, min_accuracy, min_roc_auc)
    if not fallen.passes:  # on today's rows the champion no longer qualifies: any qualifying challenger is better
        return Decision(
            True, f"the champion no longer reaches the minimums on these rows ({fallen.reason}); this one does"
        )
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


def roc_auc(truth, scores, axis: int = -1):
    """ROC AUC along `axis`, many resamples at once: the Mann-Whitney identity (the mean rank of the positives, ties
    averaged), which is what sklearn's roc_auc_score computes for one sample. sklearn's, called once per resample,
    made a gate's 1000 resamples take 3.5 s of CPU; this takes a few milliseconds (tests compare the two)."""
    from scipy.stats import rankdata

    positive = np.asarray(truth) == 1
    ranks = rankdata(scores, axis=axis)
    n_positive = positive.sum(axis=axis)
    n_negative = positive.shape[axis] - n_positive
    rank_sum = (ranks * positive).sum(axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):  # a resample with one class only has no AUC: NaN
        return (rank_sum - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative)


def gain_lower_bound(truth, challenger_scores, champion_scores, confidence: float, seed: int) -> float:
    """The ROC AUC gain of the challenger over the champion that a paired bootstrap is `confidence` sure of (one-sided:
    the gain is at least this much). Each resample scores both versions on the same rows (scipy.stats.bootstrap,
    paired), so what the rows have in common cancels out and only the versions' difference is left to vary."""
    from scipy.stats import bootstrap

    interval = bootstrap(
        (np.asarray(truth), np.asarray(challenger_scores), np.asarray(champion_scores)),
        lambda y, new, old, axis: roc_auc(y, new, axis) - roc_auc(y, old, axis),
        paired=True,
        vectorized=True,
        n_resamples=RESAMPLES,
        confidence_level=confidence,
        alternative="greater",
        method="percentile",
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return float(interval.low)


def beyond_noise_and_guardrails(decision: Decision, new: dict, old: dict, at_least: float, cfg, rows: int) -> Decision:
    """A gain the rule accepted, checked against the rows' noise (the gain the gate is `promotion_confidence` sure of
    must clear the margin) and against the other metrics, point for point (`guardrail_tolerance`)."""
    sure = f"{cfg.promotion_confidence:.0%} sure over {RESAMPLES} paired resamples of {rows} held-out rows"
    if at_least <= cfg.promotion_margin:
        return Decision(
            False,
            f"ROC AUC gain {new['roc_auc'] - old['roc_auc']:+.4f} is within the rows' noise: {sure}, it is only "
            f"at least {at_least:+.4f}, not above the margin {cfg.promotion_margin}",
        )
    for metric in ("accuracy", "f1"):
        if new[metric] < old[metric] - cfg.guardrail_tolerance:
            return Decision(
                False,
                f"{metric} {new[metric]:.4f} falls {old[metric] - new[metric]:.4f} below the champion's "
                f"{old[metric]:.4f}, more than the guardrail {cfg.guardrail_tolerance} (ROC AUC alone does not decide)",
            )
    return replace(decision, reason=f"{decision.reason}; {sure}: at least {at_least:+.4f}; guardrails held")


def champion_version(registry, alias: str = CHAMPION) -> str | None:
    """The version `alias` names (the champion unless said otherwise), None when it names none."""
    from mlflow.exceptions import MlflowException

    try:
        return str(registry.get_model_version_by_alias(tracking.model_name(), alias).version)
    except MlflowException:
        return None


def review(registry, version: str, eval_table: pd.DataFrame, cfg, rule=decide) -> Decision:
    """Score the new version and the champion on the same data, decide, and record the outcome.

    `rule` decides on the metrics (`decide` unless a lab passes its own); a promotion it grants over a champion is then
    checked against the rows' noise and the guardrails, whatever the rule. As MLflow's alias pattern has it, the
    version holds `challenger` only while it is under review: then it takes `champion`, or keeps only its tags
    (`gate: rejected` and the reason).
    """
    point(registry, CHALLENGER, version)
    try:
        new_model = training.load(version)
        challenger = training.evaluate(new_model, eval_table)
        current = champion_version(registry)
        old_model = training.load(current) if current else None  # the version named above, whoever moves the alias
        champion = training.evaluate(old_model, eval_table) if current else None
        decision = rule(challenger, champion, cfg.min_accuracy, cfg.min_roc_auc, cfg.promotion_margin)
        if decision.passes and current:
            decision = _noise_and_guardrails(decision, challenger, champion, new_model, old_model, eval_table, cfg)
    finally:
        _withdraw(registry, version)  # reviewed: no longer a candidate
    scored = {f"version {version} (new)": challenger}
    if current:
        scored[f"version {current} (champion)"] = champion
    scores = pd.DataFrame.from_dict(scored, orient="index").rename_axis(f"on the same {len(eval_table)} held-out rows")
    decision = replace(decision, scores=scores)
    moved = champion_version(registry)
    if decision.passes and moved != current:  # another gate promoted meanwhile: this one beat a champion now gone
        decision = replace(
            decision, passes=False, reason=f"the champion moved to version {moved} during this review: review again"
        )
    if decision.passes:
        decision = _promote(registry, version, decision)
    registry.set_model_version_tag(
        tracking.model_name(), version, "gate", "promoted" if decision.passes else "rejected"
    )
    registry.set_model_version_tag(tracking.model_name(), version, "gate_reason", decision.reason)
    return decision


def point(registry, alias: str, version: str) -> None:
    """Move `alias` to `version`, writing again if another writer touched it at the same moment: MLflow's store reads
    the alias's row, then updates or inserts it, and fails when the row changed in between (two reviews beside each
    other, as two CT runs sharing a team registry are, both take and drop `challenger`)."""
    for attempt in _attempts():
        with attempt:
            registry.set_registered_model_alias(tracking.model_name(), alias, version)


def _promote(registry, version: str, decision: Decision) -> Decision:
    """`champion` to `version`, unless another gate promoted at this very moment: then this review compared with a
    champion that is gone, and promotes nothing (written again, it would overwrite a version it never beat). Two gates
    that read the same champion and then write one after the other cannot be told apart through MLflow's API: the
    deployed CT pipeline runs one at a time (the Airflow DAG's max_active_runs) so that never happens in one env."""
    try:
        registry.set_registered_model_alias(tracking.model_name(), CHAMPION, version)
    except Exception as error:
        if not _collided(error):
            raise
        return replace(
            decision, passes=False, reason="another gate promoted a version at the same moment: review again"
        )
    return decision


def _withdraw(registry, version: str) -> None:
    """Drop `challenger` if it still names `version`: another review running beside this one may hold it now."""
    if champion_version(registry, CHALLENGER) == str(version):
        for attempt in _attempts():
            with attempt:
                registry.delete_registered_model_alias(tracking.model_name(), CHALLENGER)


def _collided(error: BaseException) -> bool:
    return any(text in str(error) for text in _COLLISIONS)


def _attempts() -> Retrying:
    return Retrying(
        retry=retry_if_exception(_collided), stop=stop_after_attempt(5), wait=wait_random(0.05, 0.5), reraise=True
    )


def _noise_and_guardrails(decision, challenger, champion, new_model, old_model, eval_table, cfg) -> Decision:
    """A champion that still reaches the minimums is replaced only by a gain beyond noise that costs no guardrail
    metric; one that no longer does gives way to any qualifying version that ranks no worse than it."""
    if not passes_thresholds(champion, cfg.min_accuracy, cfg.min_roc_auc).passes:
        if challenger["roc_auc"] < champion["roc_auc"] - cfg.guardrail_tolerance:
            return Decision(
                False,
                f"the champion no longer reaches the minimums, but this version ranks worse still (ROC AUC "
                f"{challenger['roc_auc']:.4f} vs {champion['roc_auc']:.4f}, guardrail {cfg.guardrail_tolerance})",
            )
        return decision
    at_least = gain_lower_bound(
        eval_table[schema.LABEL],
        training.predict_proba(new_model, eval_table),
        training.predict_proba(old_model, eval_table),
        cfg.promotion_confidence,
        cfg.seed,
    )
    return beyond_noise_and_guardrails(decision, challenger, champion, at_least, cfg, len(eval_table))
