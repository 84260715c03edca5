"""When to run the training pipeline: on a schedule, on new data, or on a drift signal.

Each trigger is a small decision with a reason, so a scheduler (Airflow, KFP) or the
monitoring stage can ask it and log why a retrain did or did not start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd


@dataclass(frozen=True)
class Trigger:
    kind: str
    fire: bool
    reason: str


def on_schedule(last_trained: date, today: date, every_days: int) -> Trigger:
    due = (today - last_trained).days >= every_days
    return Trigger("schedule", due, f"last trained {(today - last_trained).days} day(s) ago, "
                                    f"retrain every {every_days}")


def on_new_data(available: list[str], trained_on: list[str]) -> Trigger:
    new = sorted(set(available) - set(trained_on))
    return Trigger("new data", bool(new), f"new partition(s): {', '.join(new)}" if new else "no new partition")


def on_drift(drift: pd.DataFrame) -> Trigger:
    """`drift` is cm.drift.report(...): one row per feature with its PSI and a `drifted` flag."""
    drifted = drift.index[drift["drifted"]].tolist()
    return Trigger("drift", bool(drifted),
                   f"drifted: {', '.join(drifted)}" if drifted else "no feature over the threshold")
