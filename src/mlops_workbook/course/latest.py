"""The early-warning lane: the workbook on the newest release of each direct dependency instead of its lock.

Courses rot mid-cohort when a library they teach moves (a removed API, a new default). `make latest` installs the
newest release of every package pyproject.toml pins for the workbook's environment (their dependencies resolved
afresh) into .venv-latest, runs the quick tier on it, and writes runs/latest/report.md: which packages moved, which
were held back by another's requirement, which tests broke, or that the newest releases do not install together.
CI runs it on a schedule, allowed to fail; an instructor reads the report before the lock is moved (README).

`python -m mlops_workbook.course.latest install | report`: `install` runs before the new environment exists, on
the system's Python, so this module imports only the standard library.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "runs" / "latest"
VENV = ROOT / ".venv-latest"
UV = ROOT / ".uv" / "bin" / "uv"
EXTRAS = ("serving", "notebooks", "tests", "bench", "site")  # the `dev` extra's: the workbook's own environment
PINNED = re.compile(r"^\s*([A-Za-z0-9._-]+)(\[[^\]]*\])?\s*(?:==\s*([^;\s]+))?\s*(;.*)?$")
# pytest's exit codes that mean it ran the tests: 0 all passed, 1 some failed; any other, it stopped short.
RAN = (0, 1)


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


def install() -> int:
    """.venv-latest with the newest releases; on a conflict, a report that says so (the lane's artifact)."""
    shutil.rmtree(VENV, ignore_errors=True)
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    (OUT / "requirements.txt").write_text("\n".join(unpinned for unpinned, _ in pins().values()) + "\n")
    python = VENV / "bin" / "python"
    _uv("venv", "--quiet", "--seed", "--python", "python3", str(VENV))
    overrides = ROOT / "requirements" / "overrides.txt"
    newest = _uv(
        "pip", "install", "--quiet", "--python", str(python), "--overrides", str(overrides),
        "-r", str(OUT / "requirements.txt"), check=False,
    )  # fmt: skip
    if newest.returncode != 0:
        said = newest.stderr.strip().splitlines()[-12:]
        _write(["The newest releases do not install together; uv said:", "", "```", *said, "```"])
        print((OUT / "report.md").read_text())
        return 1
    _uv("pip", "install", "--quiet", "--python", str(python), "--no-deps", "-e", str(ROOT))
    outdated = _uv("pip", "list", "--outdated", "--format", "json", "--python", str(python))
    held = {_normal(p["name"]): p["latest_version"] for p in json.loads(outdated.stdout or "[]")}
    (OUT / "held-back.json").write_text(json.dumps({n: v for n, v in held.items() if n in pins()}, indent=1) + "\n")
    return 0


def installed(python: Path) -> dict[str, str]:
    """{name: version} of what an environment holds."""
    listing = subprocess.run(
        [str(python), "-c", "import json, importlib.metadata as m; "
         "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {_normal(name): version for name, version in json.loads(listing.stdout).items()}


def failures(junit: Path, exit_code: int) -> list[tuple[str, str]]:
    """(test, first line of why) of each test that failed or erred; a run that stopped short counts too."""
    if not junit.exists() or exit_code not in RAN:
        return [("the quick tier", f"pytest stopped with exit code {exit_code} before it had run the tests")]
    cases = list(ElementTree.parse(junit).iter("testcase"))
    if not cases:
        return [("the quick tier", "pytest ran no test")]
    broken = []
    for case in cases:
        for problem in (*case.iter("failure"), *case.iter("error")):
            why = (problem.get("message") or problem.text or "").strip().splitlines()
            broken.append((f"{case.get('classname')}::{case.get('name')}", why[0][:200] if why else ""))
    return broken


def report(
    versions: dict[str, str], held: dict[str, str], broken: list[tuple[str, str]], out: Path = OUT
) -> tuple[Path, bool]:
    """Write `out`/report.md: what moved past its pin, what was held below its newest release, what broke."""
    moved = [(name, pinned, versions.get(name, "not installed")) for name, (_, pinned) in pins().items()]
    moved = [row for row in moved if row[1] and row[1] != row[2]]
    lines = [
        f"{_count(len(moved), 'direct dependency', 'direct dependencies')} moved past their pin:",
        "",
        "| package | pinned | now |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {pinned} | {now} |" for name, pinned, now in moved] or ["| none | | |"]
    if held:
        lines += ["", "Held below their newest release by another package's requirement:", ""]
        lines += [f"- {name} {versions.get(name, '?')} (newest {newest})" for name, newest in sorted(held.items())]
    lines += ["", f"{_count(len(broken), 'test', 'tests')} of the quick tier failed on them:", ""]
    lines += [f"- `{test}`: {why}" for test, why in broken] or [
        "- none: the lock can move (`make lock UPGRADE=--upgrade`)"
    ]
    return _write(lines, out), bool(broken)


def _write(lines: list[str], out: Path = OUT) -> Path:
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = ["# The workbook on its dependencies' newest releases", ""]
    head += [f"`make latest` on {when}, commit {commit.stdout.strip() or 'unknown'}: the quick tier.", ""]
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text("\n".join(head + lines) + "\n")
    return out / "report.md"


def _uv(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1", "UV_COMPILE_BYTECODE": "1"}
    return subprocess.run([str(UV), *args], capture_output=True, text=True, env=env, check=check)


def _normal(name: str) -> str:
    """A distribution's name as PyPI compares them: prometheus_client is prometheus-client."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def main(arguments: list[str]) -> int:
    if arguments == ["install"]:
        return install()
    if arguments == ["report"]:
        exit_code = int((OUT / "pytest-exit").read_text()) if (OUT / "pytest-exit").exists() else -1
        held = json.loads((OUT / "held-back.json").read_text()) if (OUT / "held-back.json").exists() else {}
        broken = failures(OUT / "junit.xml", exit_code)
        written, broke = report(installed(Path(sys.executable)), held, broken)
        print(written.read_text())
        return 1 if broke else 0
    print("usage: python -m mlops_workbook.course.latest install | report", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
