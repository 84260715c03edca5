"""The local stack's rules are the team's, sped up: only durations change (cm.stack_config.demo_rules)."""

from __future__ import annotations

import re

import pytest

from mlops_workbook.cm import stack_config
from mlops_workbook.core import errors


def test_durations_read_and_write_as_prometheus_does():
    assert stack_config.seconds("1h30m") == 5400
    assert stack_config.seconds("250ms") == 0.25
    assert stack_config.duration(5400) == "5400s" and stack_config.duration(0.25) == "250ms"
    for bad in ("5 m", "5min", "", "1.5h"):
        with pytest.raises(errors.BadInputError, match="like 90s, 5m or 1h30m"):
            stack_config.seconds(bad)


def test_promtool_series_notation_expands_to_its_values():
    assert stack_config.expand("0+90x2 5x1 7") == [0, 90, 180, 5, 5, 7]
    assert stack_config.expand("10-2x2") == [10, 8, 6]
    with pytest.raises(errors.BadInputError, match="must be numbers"):
        stack_config.expand("1 _x3")


def test_the_demo_changes_durations_only():
    shipped = stack_config.shipped("prometheus/rules.yml")
    demo = stack_config.demo_rules(shipped)

    def without_durations(rules: dict) -> list[tuple]:
        return [
            (rule["alert"], re.sub(r"\[\w+\]", "[]", rule["expr"]), rule["labels"], rule["annotations"])
            for group in rules["groups"]
            for rule in group["rules"]
        ]

    assert without_durations(demo) == without_durations(shipped)
    team_for = [stack_config.seconds(r["for"]) for g in shipped["groups"] for r in g["rules"]]
    demo_for = [stack_config.seconds(r["for"]) for g in demo["groups"] for r in g["rules"]]
    assert demo_for == [seconds / stack_config.DEMO_SPEEDUP for seconds in team_for]
    assert stack_config.demo_hold("InputDrift") == stack_config.seconds("5m") / stack_config.DEMO_SPEEDUP


def test_a_counters_rate_per_second_is_the_same_at_the_demos_speed():
    cases = {
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [
                    {"series": 'process_cpu_seconds_total{job="x"}', "values": "0+3x4"},
                    {"series": 'model_live_accuracy{job="x"}', "values": "0.5x4"},
                ],
                "alert_rule_test": [{"eval_time": "1m", "alertname": "HighCPU", "exp_alerts": []}],
            }
        ],
    }
    sped = stack_config.demo_rule_tests(cases)["tests"][0]
    assert sped["interval"] == "250ms" and sped["alert_rule_test"][0]["eval_time"] == "1s"
    cpu = [float(value) for value in sped["input_series"][0]["values"].split()]
    assert [b - a for a, b in zip(cpu, cpu[1:])] == pytest.approx([3 / 60] * 4)  # 0.2 core, per 0.25 s
    assert sped["input_series"][1]["values"] == "0.5x4", "a gauge keeps its values"


@pytest.mark.parametrize(
    "rule",
    [
        {"alert": "Subquery", "expr": "max_over_time(rate(x_total[5m])[1h:1m]) > 1", "for": "5m"},
        {"alert": "Offset", "expr": "x > x offset 1h", "for": "5m"},
        {"alert": "KeepFiring", "expr": "x > 1", "for": "5m", "keep_firing_for": "10m"},
    ],
)
def test_a_duration_the_demo_cannot_speed_up_is_refused_not_left_at_the_teams_speed(rule):
    with pytest.raises(errors.BadInputError, match=f"{rule['alert']}: demo_rules speeds up"):
        stack_config.demo_rules({"groups": [{"name": "g", "rules": [rule]}]})
