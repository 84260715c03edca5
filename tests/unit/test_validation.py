"""A bad batch is rejected with a report that names each failed check and its column."""

import numpy as np
import pytest

from mlops_workbook.example import data, validation


@pytest.fixture
def good():
    return data.production_batch(200, seed=11)


def failed(batch, min_rows=1):
    report = validation.validate(batch, min_rows)
    assert not report.ok
    return {(r.check, r.column) for r in report.failures.itertuples()}


def test_a_good_batch_passes(good):
    report = validation.validate(good)
    assert report.ok and str(report) == "the batch passed every schema check"
    assert validation.require_valid(good) is good


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (lambda b: b.drop(columns=["acc_rate"]), ("missing column", "acc_rate")),
        (lambda b: b.assign(surge=1.0), ("unexpected column", "surge")),
        (
            lambda b: b.assign(avg_daily_trips=b.avg_daily_trips.astype(float)),
            ("wrong dtype, expected 'int64'", "avg_daily_trips"),
        ),
        (lambda b: b.assign(conv_rate=b.conv_rate + 1), ("outside the range [0, 1]", "conv_rate")),
        (lambda b: b.assign(rating=np.nan), ("at most 30% nulls", "rating")),
        (lambda b: b.assign(cancel_rate=b.cancel_rate.where(b.index > 5)), ("null values", "cancel_rate")),
        (lambda b: b.assign(booking_id=b.booking_id.where(b.index > 3, 7)), ("duplicate key", "booking_id")),
        (lambda b: b.iloc[:0], ("at least 1 row(s)", "(whole batch)")),
    ],
)
def test_each_breakage_is_named(good, breakage, expected):
    assert expected in failed(breakage(good))


def test_all_failures_are_reported_at_once(good):
    bad = good.drop(columns=["rating"]).assign(acc_rate=good.acc_rate * 3, surge=1)
    assert failed(bad) >= {
        ("missing column", "rating"),
        ("unexpected column", "surge"),
        ("outside the range [0, 1]", "acc_rate"),
    }


def test_row_count_floor(good):
    assert ("at least 500 row(s)", "(whole batch)") in failed(good, min_rows=500)


def test_rejection_says_what_and_how_to_fix(good):
    with pytest.raises(validation.BadBatchError) as caught:
        validation.require_valid(good.assign(acc_rate=good.acc_rate + 2))
    message = str(caught.value)
    assert "outside the range [0, 1]: acc_rate (200 row(s)" in message
    assert "Fix the data at its source" in message and "nothing was written" in message
    assert not caught.value.report.ok


def test_extra_rules_join_the_declared_checks(good):
    rules = {"event_date": [validation.pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}$", error="a YYYY-MM-DD date")]}
    assert validation.validate(good, rules=rules).ok
    bad = good.assign(event_date="05/01/2026")
    assert ("a YYYY-MM-DD date", "event_date") in {
        (r.check, r.column) for r in validation.validate(bad, rules=rules).failures.itertuples()
    }


def test_a_rule_on_an_unknown_column_is_refused(good):
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['surge'\]"):
        validation.validate(good, rules={"surge": []})


def test_a_mistyped_column_is_reported_once_by_its_type(good):
    report = validation.validate(good.assign(avg_daily_trips=good.avg_daily_trips.astype(str)))
    assert report.failures[["check", "column"]].values.tolist() == [
        ["wrong dtype, expected 'int64'", "avg_daily_trips"]
    ]
