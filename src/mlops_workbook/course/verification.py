"""Which stored notebooks a test run checked, and against what: the site's "verified on".

nbval runs every code cell of a stored notebook with dev's parameters and compares its text outputs. When a run
(`make test`, `make quick`, `make reproduce`) ran every code cell of a notebook, it records the result with the
notebook's hash as it was when the run started, the date, the commit and the lock's hash
(`runs/artifacts/verified.json`, where CI keeps artifacts). A page built later says whether what it shows is what
passed: a notebook edited since has another hash, and one that failed its last check says so.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from mlops_workbook.core import errors, paths

RECORD = Path("runs") / "artifacts" / "verified.json"
LOCK = Path("requirements") / "workbook.lock"
ENV = "dev"  # nbval runs the stored notebooks with their own parameters cell: dev's
STORED = ("notebooks", "solutions")


@dataclass(frozen=True)
class Check:
    sha256: str
    passed: bool
    checked_at: str  # UTC, ISO 8601, to the second
    commit: str  # the commit checked out, "+changes" when the working copy differed from it
    env: str
    lock_sha256: str


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root: Path) -> dict[str, str]:
    """Every stored notebook's hash as a run starts: an edit during the run is not what the run checked."""
    return {
        nb.relative_to(root).as_posix(): digest(nb)
        for folder in STORED
        for nb in sorted((root / folder).glob("*.ipynb"))
    }


def outcomes(reports: list[tuple[str, str]], root: Path) -> dict[str, bool]:
    """{stored notebook: whether it passed} for those of which nbval ran every code cell, from (nodeid, outcome)."""
    seen: dict[str, list[str]] = {}
    for nodeid, outcome in reports:
        file, _, item = nodeid.partition("::")
        if file.endswith(".ipynb") and item.startswith("Cell "):
            seen.setdefault(file, []).append(outcome)
    ran_all = {file: got for file, got in seen.items() if len(got) == _code_cells(root / file)}
    return {file: set(got) == {"passed"} for file, got in sorted(ran_all.items())}


def record(results: dict[str, bool], hashes: dict[str, str], root: Path | None = None) -> Path:
    """Record each notebook's result against its hash at the run's start; one changed during the run is left out."""
    root = root or paths.project_root()
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    commit, lock = _commit(root), digest(root / LOCK)
    target = root / RECORD
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target):
        try:
            checks = load(root)
        except errors.BadInputError:  # an older format, or cut short: this run's results replace it
            checks = {}
        for name, passed in results.items():
            if name in hashes and digest(root / name) == hashes[name]:
                checks[name] = Check(hashes[name], passed, now, commit, ENV, lock)
        written = target.with_suffix(f".{os.getpid()}.tmp")
        written.write_text(json.dumps({n: asdict(c) for n, c in sorted(checks.items())}, indent=1) + "\n")
        os.replace(written, target)  # a reader never sees half a file
    return target


def load(root: Path | None = None) -> dict[str, Check]:
    """The last check of each notebook this machine (or the CI job whose artifact this is) recorded."""
    target = (root or paths.project_root()) / RECORD
    if not target.exists():
        return {}
    try:
        return {name: Check(**fields) for name, fields in json.loads(target.read_text()).items()}
    except (ValueError, TypeError) as error:
        raise errors.BadInputError(
            f"{paths.show(target)} is not a record this workbook wrote ({error}): delete it; the next "
            "`make test` or `make reproduce` writes it again"
        ) from None


@contextlib.contextmanager
def _locked(target: Path):
    """One run at a time updates the record (two test runs may finish together)."""
    with open(target.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _commit(root: Path) -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def _code_cells(notebook: Path) -> int:
    return sum(cell["cell_type"] == "code" for cell in json.loads(notebook.read_text())["cells"])
