"""When to run the training pipeline: on a schedule, on new data, on a drift report or a drift alert.

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
    retrain: bool
    reason: str


def on_schedule(last_trained: date, today: date, every_days: int) -> Trigger:
    due = (today - last_trained).days >= every_days
    return Trigger(
        "schedule", due, f"last trained {(today - last_trained).days} day(s) ago, retrain every {every_days}"
    )


def on_new_data(available: list[str], trained_on: list[str]) -> Trigger:
    new = sorted(set(available) - set(trained_on))
    return Trigger("new data", bool(new), f"new partition(s): {', '.join(new)}" if new else "no new partition")


def on_drift(drift: pd.DataFrame) -> Trigger:
    """`drift` is cm.drift.report(...): one row per feature with its PSI and a `drifted` flag."""
    drifted = drift.index[drift["drifted"]].tolist()
    return Trigger(
        "drift", bool(drifted), f"drifted: {', '.join(drifted)}" if drifted else "no feature over the threshold"
    )


def on_alert(notification: dict) -> Trigger:
    """`notification` is what Alertmanager posts to a webhook: retrain only on a firing `InputDrift`.

    A resolved drift alert, or any other alert (the service down, slow answers), is not a reason to
    retrain: a new model cannot fix a crashed server.
    """
    drifted = sorted(
        {
            alert["labels"].get("feature", "?")
            for alert in notification.get("alerts", [])
            if alert.get("status") == "firing" and alert["labels"].get("alertname") == "InputDrift"
        }
    )
    if drifted:
        return Trigger("drift alert", True, f"InputDrift firing on {', '.join(drifted)}")
    names = sorted({alert["labels"].get("alertname", "?") for alert in notification.get("alerts", [])})
    return Trigger(
        "drift alert",
        False,
        f"no firing InputDrift (got: {', '.join(names) or 'no alert'}, {notification.get('status', 'unknown')})",
    )
