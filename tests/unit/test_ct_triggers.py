"""Each trigger fires for its reason and says why."""

from datetime import date

import pandas as pd

from mlops_workbook.ct import triggers


def test_schedule():
    assert triggers.on_schedule(date(2026, 1, 1), date(2026, 1, 8), every_days=7).fire
    late = triggers.on_schedule(date(2026, 1, 1), date(2026, 1, 7), every_days=7)
    assert not late.fire and "6 day(s) ago" in late.reason


def test_new_data():
    fired = triggers.on_new_data(["d1", "d2", "d3"], trained_on=["d1"])
    assert fired.fire and fired.reason == "new partition(s): d2, d3"
    assert not triggers.on_new_data(["d1"], trained_on=["d1"]).fire


def test_drift():
    report = pd.DataFrame({"psi": [0.05, 0.4], "drifted": [False, True]}, index=["conv_rate", "acc_rate"])
    fired = triggers.on_drift(report)
    assert fired.fire and fired.reason == "drifted: acc_rate"
    assert not triggers.on_drift(report.assign(drifted=False)).fire
