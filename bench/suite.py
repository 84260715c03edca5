"""Fast feedback: the two test tiers and the dev run, each timed once against its target (never asserted).

The commands are read from the Makefile (`make -n`), so what is timed is what people run. They run in
this order so the last, `make run`, finds the one-time work done (base image, wheelhouse, Airflow's
database): the warm run a contributor waits for.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# make target: (what it is, target wall time in seconds)
TIERS = {
    "test": ("make test: the full suite", 15 * 60),
    "quick": ("make quick: the edit loop's tier", 2 * 60),
    "run": ("make run: every lesson in dev, warm", 120),
}


def _command(target: str) -> list[str]:
    """The Makefile's own command for `target` (its last line: the installs before it are no-ops here)."""
    found = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return shlex.split(found.strip().splitlines()[-1])


def _timed(target: str) -> dict:
    what, limit = TIERS[target]
    start = time.perf_counter()
    done = subprocess.run(_command(target), cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    counts = dict((kind, int(n)) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|errors?)", last))
    return {
        "command": what,
        "wall s": round(seconds),
        "target s": limit,
        "met": seconds <= limit and not done.returncode,
        "exit code": done.returncode,
        "tests passed": counts.get("passed", "-"),
    }


def run() -> dict:
    rows = [_timed(target) for target in TIERS]
    return {
        "title": "Fast feedback: the test tiers and the dev run, one run each",
        "rows": rows,
        "notes": [
            f"{sys.platform}, run one after another on an otherwise idle machine; the tiers with "
            "pytest-xdist's workers as the Makefile sets them (WORKERS)"
        ],
        "targets": [{"target": f"{row['command']} <= {row['target s']} s", "met": row["met"]} for row in rows],
    }
