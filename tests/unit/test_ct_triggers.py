"""Each trigger fires for its reason and says why."""

from datetime import date

import pandas as pd

from mlops_workbook.ct import triggers


def test_schedule():
    assert triggers.on_schedule(date(2026, 1, 1), date(2026, 1, 8), every_days=7).retrain
    late = triggers.on_schedule(date(2026, 1, 1), date(2026, 1, 7), every_days=7)
    assert not late.retrain and "6 day(s) ago" in late.reason


def test_new_data():
    fired = triggers.on_new_data(["d1", "d2", "d3"], trained_on=["d1"])
    assert fired.retrain and fired.reason == "new partition(s): d2, d3"
    assert not triggers.on_new_data(["d1"], trained_on=["d1"]).retrain


def test_drift():
    report = pd.DataFrame({"psi": [0.05, 0.4], "drifted": [False, True]}, index=["conv_rate", "acc_rate"])
    fired = triggers.on_drift(report)
    assert fired.retrain and fired.reason == "drifted: acc_rate"
    assert not triggers.on_drift(report.assign(drifted=False)).retrain


def alert(name, status="firing", **labels):
    return {"status": status, "labels": {"alertname": name, **labels}, "annotations": {}}


def test_alert_retrains_on_firing_drift_only():
    fired = triggers.on_alert(
        {
            "status": "firing",
            "alerts": [alert("InputDrift", feature="acc_rate"), alert("InputDrift", feature="pickup_distance_km")],
        }
    )
    assert fired.retrain and fired.reason == "InputDrift firing on acc_rate, pickup_distance_km"
    resolved = triggers.on_alert(
        {"status": "resolved", "alerts": [alert("InputDrift", "resolved", feature="acc_rate")]}
    )
    assert not resolved.retrain and "resolved" in resolved.reason
    down = triggers.on_alert({"status": "firing", "alerts": [alert("ServiceDown")]})
    assert not down.retrain and "ServiceDown" in down.reason
    assert not triggers.on_alert({}).retrain
