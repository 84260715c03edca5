"""Hostile submissions, each graded in its own throwaway container: each is reported, none escapes, and the rest
of the class is graded as if it were not there.

Every hostile learner hands in lab 00 solved, with something hostile put in front of the first answer.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

from mlops_workbook.core import paths
from mlops_workbook.course import grading, verdicts

LAB = paths.project_root() / "solutions" / "00_overview.ipynb"
SECRET = "GRADER_SECRET_TOKEN"
OUTSIDE = paths.project_root() / "src" / "mlops_workbook" / "hostile_was_here.py"
TIMEOUT = 10  # seconds a cell may run (lab 00's slowest, its set-up, takes about 3)

# learner: code run before the first answer
HOSTILE = {
    "loops": "while True:\n    pass",
    "eats-memory": "hoard = []\nwhile True:\n    hoard.append(bytearray(50 * 2**20))",
    "forks": "import os\nwhile True:\n    os.fork()",
    "fills-the-disk": "with open('filler', 'wb') as f:\n    while True:\n        f.write(bytes(2**20))",
    "exits": "import os\nos._exit(0)",
    "pries": "raise RuntimeError(tried)",  # after prying(): what each attempt got
}
# what one learner tries to reach outside its container, each attempt's outcome kept for the report's hint


def prying(alice: Path) -> str:
    attempts = {
        "calls-home": "urllib.request.urlopen('http://1.1.1.1', timeout=5)",
        "reads-alice": f"open({str(alice)!r}).read()[:100]",
        "writes-outside": f"open({str(OUTSIDE)!r}, 'w').write('print(1)')",
        "reads-secrets": f"os.environ['{SECRET}']",
        "wants-docker": "open('/var/run/docker.sock', 'rb')",
    }
    return "import os, urllib.request\ntried = {}\n" + "".join(
        f"try:\n    tried[{name!r}] = repr({attempt})\nexcept Exception as error:\n"
        f"    tried[{name!r}] = f'{{type(error).__name__}}: {{error}}'\n"
        for name, attempt in attempts.items()
    )


def answer_cell(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def hand_in(folder: Path, learner: str, before: str | None = None, blank: bool = False) -> Path:
    nb = nbformat.read(LAB, as_version=4)
    first = answer_cell(nb, "ex1_stage_map_answer")
    if before is not None:
        first.source = before + "\n" + first.source
    if blank:
        first.source = "# YOUR CODE HERE\nraise NotImplementedError()"
    path = folder / learner / "00_overview.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return path


@pytest.mark.component("docker")
def test_hostile_submissions_are_contained_reported_and_the_class_is_still_graded(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET, "s3cret")  # in the grader's environment, never in a submission's
    alice = hand_in(tmp_path, "alice")
    hand_in(tmp_path, "bob", blank=True)  # exercise 1 not done yet
    for learner, code in HOSTILE.items():
        hand_in(tmp_path, learner, prying(alice) + code if learner == "pries" else code)
    hand_in(tmp_path, "tampers")
    tampered = nbformat.read(tmp_path / "tampers" / "00_overview.ipynb", as_version=4)
    answer_cell(tampered, "ex1_stage_map").source = "print('all good')"
    nbformat.write(tampered, tmp_path / "tampers" / "00_overview.ipynb")
    before = alice.read_bytes()

    report = grading.class_report(tmp_path, timeout=TIMEOUT, jobs=2, contained=True)

    first = report[report["exercise"] == "ex1_stage_map"].set_index("learner")
    status, hint = first["result"].to_dict(), first["hint"].to_dict()
    assert sorted(first.index) == sorted(["alice", "bob", "tampers", *HOSTILE]), report.to_string()  # all checked
    assert (report[report["learner"] == "alice"]["result"] == verdicts.PASSED).all()
    assert status["bob"] == verdicts.UNSOLVED
    assert status["loops"] == verdicts.TIMED_OUT
    assert status["eats-memory"] == status["exits"] == verdicts.CRASHED
    assert status["forks"] != verdicts.PASSED
    assert status["fills-the-disk"] == verdicts.WRONG and "No space left" in hint["fills-the-disk"]
    assert status["pries"] == verdicts.WRONG
    got = dict(re.findall(r"'([\w-]+)': ['\"](\w+)", hint["pries"]))  # each attempt's error
    assert got == {
        "calls-home": "URLError",  # no network
        "reads-alice": "FileNotFoundError",  # nobody else's submission
        "writes-outside": "OSError",  # read-only: nothing outside its workspace
        "reads-secrets": "KeyError",  # not the grader's environment
        "wants-docker": "FileNotFoundError",  # no Docker socket
    }, hint["pries"]
    assert "Read-only file system" in hint["pries"]
    assert status["tampers"] == verdicts.TAMPERED
    assert not OUTSIDE.exists() and alice.read_bytes() == before
    assert "s3cret" not in report.to_csv()
    assert os.environ[SECRET] == "s3cret"


def test_a_lab_that_needs_docker_is_not_put_in_a_grading_container(tmp_path):
    lab = tmp_path / "carol" / "02_ci_packaging.ipynb"
    lab.parent.mkdir()
    lab.write_bytes((paths.project_root() / "labs" / "02_ci_packaging.ipynb").read_bytes())
    with pytest.raises(grading.errors.BadInputError, match="needs docker.*--no-sandbox on a throwaway runner"):
        grading.check(lab, image="unused: refused before any container starts")
