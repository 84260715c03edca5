"""The alert rules in deploy/prometheus, as a table, and promtool to test rules before they ship.

A rule is code: `promtool test rules` feeds it made-up series and checks when it fires, so a
threshold typo is caught in CI, not at 3 a.m. (01_ci_testing runs the same kind of checks).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import yaml

from mlops_workbook.cm import stack_config
from mlops_workbook.core import commands, paths

FOLDER = Path("deploy/prometheus")


def table() -> pd.DataFrame:
    """One row per alert rule: its severity, how long it must hold (as the team runs it, and in the workbook's
    local stack, sped up), and its PromQL."""
    shipped = stack_config.shipped("prometheus/rules.yml")
    sped_up = stack_config.demo_rules(shipped)
    return pd.DataFrame(
        [
            {
                "alert": rule["alert"],
                "severity": rule["labels"]["severity"],
                "for": rule.get("for", "0s"),
                "for, here": demo.get("for", "0s"),
                "fires when": " ".join(rule["expr"].split()),
            }
            for group, demo_group in zip(shipped["groups"], sped_up["groups"])
            for rule, demo in zip(group["rules"], demo_group["rules"])
        ]
    ).set_index("alert")


def promtool(*args: str, folder: Path | None = None) -> subprocess.CompletedProcess:
    """promtool in `folder` (default: deploy/prometheus, where the rule files name each other); its exit code and
    output, for the caller to read (a rule file promtool rejects is an answer, not an error)."""
    return commands.run(["promtool", *args], f"promtool {args[0]}", check=False, cwd=folder or paths.resolve(FOLDER))


def test_demo(folder: Path) -> tuple[bool, str]:
    """rules_test.yml's cases, sped up as the local stack runs the rules (stack_config.demo_rule_tests), on the
    rules the local stack runs."""
    return test(
        yaml.safe_dump(stack_config.local_rules(), sort_keys=False),
        yaml.safe_dump(
            stack_config.demo_rule_tests(stack_config.shipped("prometheus/rules_test.yml")), sort_keys=False
        ),
        folder,
    )


def test(rules: str, tests: str, folder: Path) -> tuple[bool, str]:
    """Check `rules` (a rules.yml's text) and run `tests` (a promtool test file naming rules.yml) on it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yml").write_text(rules)
    (folder / "rules_test.yml").write_text(tests)
    for command in (("check", "rules", "rules.yml"), ("test", "rules", "rules_test.yml")):
        result = promtool(*command, folder=folder)
        if result.returncode != 0:
            return False, (result.stdout + result.stderr).strip()
    return True, result.stdout.strip()
