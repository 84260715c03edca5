"""Which stored notebooks a test run executed and compared in full, and against what: the site's "verified on".

nbval runs every code cell of a stored notebook with dev's parameters and compares its outputs. When every cell
of a notebook passed, the run records the notebook's hash with the date, the commit and the lock's hash
(`runs/artifacts/verified.json`, where CI keeps artifacts). A page built later says whether what it shows is
what was checked: a notebook edited since has another hash.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from mlops_workbook.core import paths

RECORD = Path("runs") / "artifacts" / "verified.json"
LOCK = Path("requirements") / "workbook.lock"
ENV = "dev"  # nbval runs the stored notebooks with their own parameters cell: dev's


@dataclass(frozen=True)
class Check:
    sha256: str
    checked_at: str  # UTC, ISO 8601, to the second
    commit: str  # the commit checked out, "+changes" when the working copy differed from it
    env: str
    lock_sha256: str


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _commit(root: Path) -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def record(notebooks: list[Path], root: Path | None = None) -> Path:
    """Record `notebooks` (repository-relative paths, each executed and compared in full) as checked now."""
    root = root or paths.project_root()
    target = root / RECORD
    checks = load(root)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    commit, lock = _commit(root), digest(root / LOCK)
    for notebook in notebooks:
        checks[notebook.as_posix()] = Check(digest(root / notebook), now, commit, ENV, lock)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({name: asdict(check) for name, check in sorted(checks.items())}, indent=1) + "\n")
    return target


def load(root: Path | None = None) -> dict[str, Check]:
    """The last check of each notebook this machine (or the CI job whose artifact this is) recorded."""
    target = (root or paths.project_root()) / RECORD
    if not target.exists():
        return {}
    return {name: Check(**fields) for name, fields in json.loads(target.read_text()).items()}


def fully_passed(reports: list[tuple[str, str]], root: Path | None = None) -> list[Path]:
    """The stored notebooks of which nbval ran every code cell and all passed, from a run's (nodeid, outcome)."""
    root = root or paths.project_root()
    outcomes: dict[str, list[str]] = {}
    for nodeid, outcome in reports:
        file, _, item = nodeid.partition("::")
        if file.endswith(".ipynb") and item.startswith("Cell "):
            outcomes.setdefault(file, []).append(outcome)
    return [
        Path(file)
        for file, seen in sorted(outcomes.items())
        if set(seen) == {"passed"} and len(seen) == _code_cells(root / file)
    ]


def _code_cells(notebook: Path) -> int:
    return sum(cell["cell_type"] == "code" for cell in json.loads(notebook.read_text())["cells"])
