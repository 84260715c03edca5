"""Fast feedback, measured where CI measures it: on a fresh clone of HEAD, never the working copy.

A working copy's caches (environments, images, Airflow's database, compiled bytecode) flatter every number, so
the section clones the commit into a temporary folder and times, there and in this order, each step once
against its target (never asserted): the install with an empty uv cache (a new machine's), the quick tier,
the full suite, then `make run`, which finds the one-time work done (base image, wheelhouse): the warm run a
contributor waits for. Beside the wall time, the CPU time the whole machine spent (Linux's /proc/stat, so
Docker's builds and containers count too): divided by the cores, it is the shortest wall time any schedule
could reach, which says whether a missed target needs less waiting or less work. Every test that took over a
minute is named, with why it needs that long (SLOW_BECAUSE).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# step: (make targets, what it is, target wall time in seconds)
STEPS = {
    "install": (["install", "pipelines"], "make install pipelines: three environments, empty uv cache", 60),
    "quick": (["quick"], "make quick: the edit loop's tier", 90),
    "test": (["test"], "make test: the suite", 12 * 60),
    "grading": (["test-grading"], "make test-grading: nbgrader's autograde of labs 02, 03 and 04", 120),
    "run": (["run"], "make run: every lesson in dev, warm", 120),
}
SLOW = 60  # seconds: a test slower than this is named with its reason
# Why a test needs over a minute, by a pattern of its id: what it does for real that cannot be made smaller.
SLOW_BECAUSE = {
    r"test_workbook_runs.*03_cd_serving": "builds the serving image and deploys it blue/green behind nginx",
    r"test_workbook_runs.*04_cd_pipelines": "runs the CT steps directly, as an Airflow DAG and as a Kubeflow pipeline",
    r"test_workbook_runs.*07_cm_monitoring": "starts Prometheus and Alertmanager and waits for alerts to fire and "
    "resolve",
    r"test_workbook_runs.*02_ci_packaging": "builds the serving image from the wheelhouse and smoke-tests it",
    r"test_workbook_runs": "a whole lesson in staging or prod, as `mlops-workbook run` runs it",
    r"test_ci_definitions": "gitlab-ci-local runs the CI/CD definition's jobs, image build and deploys included",
    r"test_team_stack.*make_run": "make run against the team stack (PostgreSQL, MLflow, Airflow): the scheduler's CT "
    "run makes the champion, lessons 02, 03 and 07 package, release and watch it, and 08's loop (every stage end to "
    "end) has the scheduler retrain after its drift",
    r"test_team_stack": "the team stack: PostgreSQL, an MLflow server, Airflow's scheduler, DAG processor, API server",
    r"test_deploy": "the deploy command ships images to staging and prod blue-green, by canary judged in Prometheus "
    "and as a shadow, under users' traffic",
    r"test_cohort_release": "builds the site and the nbgrader course of two cohorts",
    r"test_packaging": "builds the serving image again and again to show old images are pruned",
    r"test_pipelines": "runs the CT pipeline as an Airflow DAG and as a Kubeflow pipeline",
    r"test_labs.*mutant": "the solution once, then each exercise's stub, wrong answer, shortcuts and mutants against "
    "its check (03: a solution that deploys, then its canary analysis's mutants)",
    r"test_labs": "runs a whole lab through the checker, its images and servers included",
    r"test_site": "builds the site and reads every page in Chromium",
    r"test_hostile_submissions": "grades 9 submissions, each in a throwaway container",
    r"test_nbgrader": "nbgrader's autograde executes the lab for every learner",
    r"test_class_report": "grades a class twice (whole and in shards) to compare the reports",
    r"ipynb": "one cell of a stored notebook, executed by nbval",
}


def _busy_seconds() -> float | None:
    """CPU seconds the machine has spent busy since boot (user, nice, system, irq, softirq), on Linux."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _timed(step: str, clone: Path, env: dict, junit: Path) -> dict:
    """One step, timed; a test tier writes its JUnit report to `junit` (only there: a lesson's own pytest would
    overwrite it)."""
    targets, what, limit = STEPS[step]
    if step in ("quick", "test"):
        env = {**env, "PYTEST_ADDOPTS": f"--junitxml={junit}"}
    busy = _busy_seconds()
    start = time.perf_counter()
    done = subprocess.run(["make", *targets], cwd=clone, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    cpu = _busy_seconds() - busy if busy is not None else None
    return {
        "command": what,
        "wall s": round(seconds),
        "CPU s": round(cpu) if cpu is not None else "-",
        "CPU s / cores": round(cpu / os.cpu_count()) if cpu is not None else "-",
        "target s": limit,
        "met": seconds <= limit and not done.returncode,
        "exit code": done.returncode,
        "tests passed": _passed(junit) if junit.exists() else "-",
    }


def _passed(junit: Path) -> int:
    suite = ET.parse(junit).getroot()
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    return int(suite.get("tests")) - sum(int(suite.get(k, 0)) for k in ("failures", "errors", "skipped"))


def _bound(row: dict) -> str | None:
    """What a missed target needs, when the CPU time alone exceeds it."""
    if row["met"] or row["CPU s / cores"] == "-" or row["CPU s / cores"] <= row["target s"]:
        return None
    return (
        f"{row['command']}: {row['CPU s']} CPU s of work on {os.cpu_count()} cores cannot finish in "
        f"{row['target s']} s however it is scheduled: it needs less work, not less waiting"
    )


def slow_tests(junit: Path) -> list[str]:
    """Each test of the JUnit report that took over SLOW seconds, slowest first, with why."""
    found = []
    for case in ET.parse(junit).iter("testcase"):
        seconds = float(case.get("time", 0))
        if seconds > SLOW:
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            because = next((why for p, why in SLOW_BECAUSE.items() if re.search(p, name)), "no reason recorded")
            found.append((seconds, f"{name}: {seconds:.0f} s: {because}"))
    return [text for _, text in sorted(found, reverse=True)]


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="mlops-workbook-bench-") as tmp:
        clone = Path(tmp) / "clone"
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        env = {**os.environ, "UV_CACHE_DIR": str(Path(tmp) / "uv-cache")}
        for name in ("VIRTUAL_ENV", "PYTEST_ADDOPTS"):
            env.pop(name, None)
        try:
            rows = [_timed(step, clone, env, Path(tmp) / f"{step}.xml") for step in STEPS]
            suite = Path(tmp) / "test.xml"
            slowest = slow_tests(suite) if suite.exists() else ["make test wrote no JUnit report"]
        finally:
            if (clone / ".venv" / "bin" / "mlops-workbook").exists():  # what the runs left: servers, containers
                subprocess.run([clone / ".venv" / "bin" / "mlops-workbook", "stop"], cwd=clone, capture_output=True)
    return {
        "title": "Fast feedback on a fresh clone: install, the test tiers and the dev run, one run each",
        "rows": rows,
        "notes": [
            f"{sys.platform}, on a fresh clone of {commit.stdout.strip()} (not the working copy), one step after "
            "another on an otherwise idle machine; the tiers with pytest-xdist's workers as the Makefile sets them",
            *filter(None, map(_bound, rows)),
            *(f"over {SLOW} s: {line}" for line in slowest),
        ],
        "targets": [{"target": f"{row['command']} <= {row['target s']} s", "met": row["met"]} for row in rows],
    }
