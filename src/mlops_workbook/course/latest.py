"""The early-warning lane: the workbook on the newest release of each direct dependency instead of its lock.

Courses rot mid-cohort when a library they teach moves (a removed API, a new default). `make latest` installs the
newest release of every package pyproject.toml pins for the workbook's environment (their dependencies resolved
afresh), runs the quick tier on it, and writes runs/latest/report.md: which packages moved, which tests broke.
CI runs it on a schedule, allowed to fail; an instructor reads the report before the lock is moved (README).

`python -m mlops_workbook.course.latest requirements | report JUNIT`: the first step runs before the new
environment exists, on the system's Python, so this module imports only the standard library.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "runs" / "latest"
EXTRAS = ("serving", "notebooks", "tests", "bench", "site")  # the `dev` extra's: the workbook's own environment
PINNED = re.compile(r"^\s*([A-Za-z0-9._-]+)(\[[^\]]*\])?\s*(?:==\s*([^;\s]+))?\s*(;.*)?$")


def pins() -> dict[str, tuple[str, str | None]]:
    """{name: (the requirement without its version, the pinned version)} of the workbook's environment."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + [r for extra in EXTRAS for r in project["optional-dependencies"][extra]]
    found = {}
    for requirement in declared:
        match = PINNED.match(requirement)
        if match is None:
            raise ValueError(f"pyproject.toml: {requirement!r} is not `name[extras]==version ; marker`")
        name, extras, version, marker = match.groups()
        found.setdefault(_normal(name), (name + (extras or "") + (f" {marker}" if marker else ""), version))
    return found


def installed(python: Path) -> dict[str, str]:
    """{name: version} of what an environment holds."""
    listing = subprocess.run(
        [str(python), "-c", "import json, importlib.metadata as m; "
         "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {_normal(name): version for name, version in json.loads(listing.stdout).items()}


def _normal(name: str) -> str:
    """A distribution's name as PyPI compares them: prometheus_client is prometheus-client."""
    return re.sub(r"[-_.]+", "-", name).lower()


def failures(junit: Path) -> list[tuple[str, str]]:
    """(test, first line of why) of each failed or erroring test in a pytest JUnit report."""
    broken = []
    for case in ElementTree.parse(junit).iter("testcase"):
        for problem in (*case.iter("failure"), *case.iter("error")):
            why = (problem.get("message") or problem.text or "").strip().splitlines()
            broken.append((f"{case.get('classname')}::{case.get('name')}", why[0][:200] if why else ""))
    return broken


def report(junit: Path, python: Path, out: Path = OUT) -> tuple[Path, bool]:
    """Write `out`/report.md from the quick tier's JUnit report; (its path, whether anything broke)."""
    now = installed(python)
    moved = [(name, pinned, now.get(name, "not installed")) for name, (_, pinned) in pins().items()]
    moved = [row for row in moved if row[1] and row[1] != row[2]]
    broken = failures(junit) if junit.exists() else [("the quick tier", f"no JUnit report at {junit.name}")]
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# The workbook on its dependencies' newest releases", ""]
    lines += [f"`make latest` on {when}, commit {commit.stdout.strip() or 'unknown'}: the quick tier.", ""]
    lines += [
        f"{_count(len(moved), 'direct dependency', 'direct dependencies')} moved past their pin:",
        "",
        "| package | pinned | newest |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {pinned} | {newest} |" for name, pinned, newest in moved] or ["| none | | |"]
    lines += ["", f"{_count(len(broken), 'test', 'tests')} of the quick tier failed on them:", ""]
    lines += [f"- `{test}`: {why}" for test, why in broken] or [
        "- none: the lock can move (`make lock UPGRADE=--upgrade`)"
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return out / "report.md", bool(broken)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def main(arguments: list[str]) -> int:
    if arguments == ["requirements"]:
        print("\n".join(unpinned for unpinned, _ in pins().values()))
        return 0
    if len(arguments) == 2 and arguments[0] == "report":
        written, broke = report(Path(arguments[1]), Path(sys.executable))
        print(written.read_text())
        return 1 if broke else 0
    print("usage: python -m mlops_workbook.course.latest requirements | report JUNIT_XML", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
