"""The alert rules in deploy/prometheus, as a table, and promtool to test rules before they ship.

A rule is code: `promtool test rules` feeds it made-up series and checks when it fires, so a
threshold typo is caught in CI, not at 3 a.m. (01_ci_testing runs the same kind of checks).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import yaml

from mlops_workbook.core import commands, paths

FOLDER = Path("deploy/prometheus")


def table() -> pd.DataFrame:
    """One row per alert rule: its severity, how long it must hold, and its PromQL."""
    groups = yaml.safe_load((paths.resolve(FOLDER) / "rules.yml").read_text())["groups"]
    return pd.DataFrame(
        [
            {
                "alert": r["alert"],
                "severity": r["labels"]["severity"],
                "for": r.get("for", "0s"),
                "fires when": " ".join(r["expr"].split()),
            }
            for g in groups
            for r in g["rules"]
        ]
    ).set_index("alert")


def promtool(*args: str, folder: Path | None = None) -> subprocess.CompletedProcess:
    """promtool in `folder` (default: deploy/prometheus, where the rule files name each other); its exit code and
    output, for the caller to read (a rule file promtool rejects is an answer, not an error)."""
    return commands.run(["promtool", *args], f"promtool {args[0]}", check=False, cwd=folder or paths.resolve(FOLDER))


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
