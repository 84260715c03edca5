"""The workbook's benchmark: `make bench` (or `python -m bench.run [section ...]`).

Each section measures on this machine and returns a table; the results are written as
markdown and JSON to bench/results/latest.{md,json}, with the core count and the date.
Targets are reported as met or missed, never asserted: speed is not a test.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from bench import grading, monitoring, packaging, pipelines, rollout, serving, suite, team, workbook

SECTIONS = {
    "serving": serving.run,
    "monitoring": monitoring.overhead,
    "packaging": packaging.run,
    "workbook": workbook.run,
    "pipelines": pipelines.run,
    "alerting": monitoring.alerting,
    "grading": grading.run,
    "team": team.run,
    "rollout": rollout.run,
    "suite": suite.run,
}
RESULTS = Path(__file__).parent / "results"


def _table(rows: pd.DataFrame) -> str:
    """A section's rows as markdown; a row that measures only some columns shows "-" in the others, not nan."""
    return rows.astype(object).where(rows.notna(), None).to_markdown(index=False, missingval="-")


def markdown(results: dict, machine: dict) -> str:
    lines = [
        f"# Benchmark results\n\n{machine['date']}, {machine['cores']} cores, {machine['platform']}, "
        f"Python {machine['python']}\n"
    ]
    for section in results.values():
        lines += [
            f"## {section['title']}\n",
            f"measured {section.get('measured', machine['date'])}\n",
            _table(pd.DataFrame(section["rows"])),
            "",
        ]
        lines += [f"- {note}" for note in section.get("notes", [])]
        lines += [f"- target: {t['target']}: **{'met' if t['met'] else 'missed'}**" for t in section.get("targets", [])]
        lines.append("")
    return "\n".join(lines)


def main(chosen: list[str]) -> None:
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        sys.exit(f"unknown section(s) {unknown}; choose from {sorted(SECTIONS)}")
    machine = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
    }
    # sections not measured this time keep their last results, each with the date it was measured
    latest = RESULTS / "latest.json"
    results = json.loads(latest.read_text())["results"] if latest.exists() else {}
    for name in chosen or SECTIONS:
        print(f"measuring {name} ...", flush=True)
        results[name] = {**SECTIONS[name](), "measured": machine["date"]}
    results = {name: results[name] for name in SECTIONS if name in results}
    RESULTS.mkdir(exist_ok=True)
    text = markdown(results, machine)
    (RESULTS / "latest.md").write_text(text)
    (RESULTS / "latest.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
