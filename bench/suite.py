"""Fast feedback: the two test tiers and the dev run, each timed once against its target (never asserted).

The commands are read from the Makefile (`make -n`), so what is timed is what people run. They run in
this order so the last, `make run`, finds the one-time work done (base image, wheelhouse, Airflow's
database): the warm run a contributor waits for. Beside the wall time, the CPU time the whole machine spent
(Linux's /proc/stat, so Docker's builds and containers count too): divided by the cores, it is the shortest
wall time any schedule could reach, which says whether a missed target needs less waiting or less work.
"""

from __future__ import annotations

import os
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
    found = subprocess.run(
        ["make", "--no-print-directory", "-n", target], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return shlex.split(found.strip().splitlines()[-1])


def _busy_seconds() -> float | None:
    """CPU seconds the machine has spent busy since boot (user, nice, system, irq, softirq), on Linux."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _timed(target: str) -> dict:
    what, limit = TIERS[target]
    busy = _busy_seconds()
    start = time.perf_counter()
    done = subprocess.run(_command(target), cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    cpu = _busy_seconds() - busy if busy is not None else None
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    counts = dict((kind, int(n)) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|errors?)", last))
    return {
        "command": what,
        "wall s": round(seconds),
        "CPU s": round(cpu) if cpu is not None else "-",
        "CPU s / cores": round(cpu / os.cpu_count()) if cpu is not None else "-",
        "target s": limit,
        "met": seconds <= limit and not done.returncode,
        "exit code": done.returncode,
        "tests passed": counts.get("passed", "-"),
    }


def _bound(row: dict) -> str | None:
    """What a missed target needs, when the CPU time alone exceeds it."""
    if row["met"] or row["CPU s / cores"] == "-" or row["CPU s / cores"] <= row["target s"]:
        return None
    return (
        f"{row['command']}: {row['CPU s']} CPU s of work on {os.cpu_count()} cores cannot finish in "
        f"{row['target s']} s however it is scheduled: it needs less work, not less waiting"
    )


def run() -> dict:
    rows = [_timed(target) for target in TIERS]
    return {
        "title": "Fast feedback: the test tiers and the dev run, one run each",
        "rows": rows,
        "notes": [
            f"{sys.platform}, run one after another on an otherwise idle machine; the tiers with "
            "pytest-xdist's workers as the Makefile sets them (WORKERS)",
            *filter(None, map(_bound, rows)),
        ],
        "targets": [{"target": f"{row['command']} <= {row['target s']} s", "met": row["met"]} for row in rows],
    }
