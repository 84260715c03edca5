"""The test suite's wall time: `make test`'s pytest command, run once and reported (never asserted)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pytest_command() -> list[str]:
    """`make test`'s own command, read from the Makefile so the two cannot drift apart."""
    found = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    line = next(line for line in found.splitlines() if "/pytest " in line)
    return [sys.executable, "-m", "pytest", *shlex.split(line.split("/pytest ", 1)[1]), "-q", "-p", "no:cacheprovider"]


def run() -> dict:
    start = time.perf_counter()
    done = subprocess.run(_pytest_command(), cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    counts = dict((kind, int(n)) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|errors?)", last))
    return {
        "title": "Test suite: make test's pytest command, one run",
        "rows": [{"wall time": f"{seconds / 60:.1f} min", **counts, "exit code": done.returncode}],
        "notes": ["reported, not a target: it grows with the lessons; the unit tests alone take about half a minute"],
    }
