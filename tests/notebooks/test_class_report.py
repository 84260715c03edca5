"""An instructor checks a folder of submissions: one report, whatever the learners handed in."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from test_labs import WRONG, with_answers
from typer.testing import CliRunner

from mlops_workbook.core import paths
from mlops_workbook.course import gradebook, grading, verdicts
from mlops_workbook.course.cli import app

CLI = str(Path(sys.executable).parent / "mlops-workbook")
LAB = "00_overview"
TIMEOUT = 10  # per answer or check cell (the set-up gets execution.SETUP_TIMEOUT): the hanging answer waits it out


def hand_in(folder: Path, learner: str, exercise: str | None = None, code: str = "") -> None:
    """A learner's submission: the solution, with one answer replaced (or not)."""
    (folder / learner).mkdir(parents=True)
    solution = paths.project_root() / "solutions" / f"{LAB}.ipynb"
    if exercise is None:
        (folder / learner / f"{LAB}.ipynb").write_bytes(solution.read_bytes())
    else:
        with_answers(solution, {exercise: code}, folder / learner)


@pytest.mark.heavy  # seven submissions, one hanging until its timeout: half a minute of kernels
def test_a_class_report_tells_right_wrong_unsolved_hanging_and_crashed_apart(tmp_path):
    """One submission per outcome; a hanging answer times out and the rest of its lab is still checked; a
    submission that edited a check is reported tampered for that exercise."""
    submissions = tmp_path / "submissions"
    hand_in(submissions, "ada")
    (submissions / "bo").mkdir(parents=True)
    (submissions / "bo" / f"{LAB}.ipynb").write_bytes((paths.project_root() / "labs" / f"{LAB}.ipynb").read_bytes())
    hand_in(submissions, "cy", "ex2_maturity", WRONG[LAB]["ex2_maturity"])
    hand_in(submissions, "di", "ex1_stage_map", "import time\ntime.sleep(600)")
    hand_in(submissions, "ed", "ex3_range_check", "import os\nos._exit(1)")
    (submissions / "fay").mkdir()
    (submissions / "fay" / f"{LAB}.ipynb").write_text("not a notebook")
    hand_in(submissions, "gus")  # right answers, but the first exercise's checks replaced by a print
    tampered = nbformat.read(submissions / "gus" / f"{LAB}.ipynb", as_version=4)
    next(c for c in tampered.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex1_stage_map").source = "1"
    nbformat.write(tampered, submissions / "gus" / f"{LAB}.ipynb")
    (submissions / "hal").mkdir()  # right answers in a renamed copy: graded as the lab it answers
    (submissions / "hal" / f"{LAB} (1).ipynb").write_bytes(
        (paths.project_root() / "solutions" / f"{LAB}.ipynb").read_bytes()
    )

    report = tmp_path / "report.csv"
    done = subprocess.run(
        [CLI, "check", str(submissions), "--timeout", str(TIMEOUT), "--report", str(report), "--no-sandbox"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "class report" in done.stdout

    rows = pd.read_csv(report).fillna("")
    result = {(r.learner, r.exercise): r.result for r in rows.itertuples()}
    exercises = ["ex1_stage_map", "ex2_maturity", "ex3_range_check"]
    assert {learner for learner, _ in result} >= {"ada", "bo", "cy", "di", "ed", "fay", "gus"}, rows.to_string()
    assert [result["ada", e] for e in exercises] == [verdicts.PASSED] * 3
    assert [result["bo", e] for e in exercises] == [verdicts.UNSOLVED] * 3
    assert [result["cy", e] for e in exercises] == [verdicts.PASSED, verdicts.WRONG, verdicts.PASSED]
    assert [result["di", e] for e in exercises] == [verdicts.TIMED_OUT, verdicts.PASSED, verdicts.PASSED]
    assert [result["ed", e] for e in exercises] == [verdicts.PASSED, verdicts.PASSED, verdicts.CRASHED]
    assert result["fay", "-"] == "not checked"
    assert [result["gus", e] for e in exercises] == [verdicts.TAMPERED, verdicts.PASSED, verdicts.PASSED]
    assert set(rows[rows.learner == "hal"].lab) == {LAB}
    hints = {(r.learner, r.exercise): r.hint for r in rows.itertuples()}
    assert hints["cy", "ex2_maturity"].startswith("Hint:")
    assert f"{TIMEOUT} s" in hints["di", "ex1_stage_map"]

    exported = tmp_path / "gradebook.csv"  # the same class as an LMS imports it
    done = subprocess.run([CLI, "gradebook", str(report), "--out", str(exported)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    book = pd.read_csv(exported, dtype=str, keep_default_na=False).set_index("Student")
    worth = gradebook.points()[LAB]
    got = {learner: book.loc[learner, LAB] for learner in ("ada", "bo", "cy", "di", "ed", "fay", "gus", "hal")}
    assert got == {
        "ada": str(sum(worth.values())),
        "bo": "0",
        "cy": str(worth["ex1_stage_map"] + worth["ex3_range_check"]),
        "di": str(worth["ex2_maturity"] + worth["ex3_range_check"]),
        "ed": str(worth["ex1_stage_map"] + worth["ex2_maturity"]),
        "fay": "",  # could not be checked: no grade, not zero
        "gus": str(worth["ex2_maturity"] + worth["ex3_range_check"]),
        "hal": str(sum(worth.values())),
    }
    assert book.loc["Points Possible", LAB] == str(sum(worth.values())) and book.loc["ada", "SIS Login ID"] == "ada"
    assert book.loc["ada", "01_ci_testing"] == "", "a lab not handed in has no grade"


def test_an_empty_folder_says_what_a_submission_looks_like(tmp_path):
    done = CliRunner().invoke(app, ["check", str(tmp_path)])
    assert done.exit_code == 2
    assert "<learner>/<lab>.ipynb" in done.output


@pytest.mark.heavy  # grades one class twice: a minute of kernels, not for the edit loop
def test_parallel_and_sharded_grading_give_the_serial_report(tmp_path):
    """Side by side, or split across CI jobs that each check one by one and merged: the same report, row for row."""
    submissions = tmp_path / "submissions"
    hand_in(submissions, "ada")
    hand_in(submissions, "cy", "ex2_maturity", WRONG[LAB]["ex2_maturity"])
    hand_in(submissions, "hal", "ex1_stage_map", "stage_of = {}\nstages.TASKS = {}")  # tampered through its answer
    (submissions / "bo").mkdir()
    (submissions / "bo" / f"{LAB}.ipynb").write_bytes((paths.project_root() / "labs" / f"{LAB}.ipynb").read_bytes())

    side_by_side = grading.class_report(submissions, TIMEOUT, jobs=2)
    assert list(side_by_side["learner"].unique()) == ["ada", "bo", "cy", "hal"]
    hal = side_by_side.query("learner == 'hal'")["result"].tolist()
    assert hal == [verdicts.TAMPERED, verdicts.PASSED, verdicts.PASSED]

    shards = [tmp_path / f"shard-{i}.csv" for i in (1, 2)]
    for i, shard in enumerate(shards, start=1):
        done = subprocess.run(
            [CLI, "check", str(submissions), "--timeout", str(TIMEOUT), "--shard", f"{i}/2", "--jobs", "1"]
            + ["--report", str(shard), "--no-sandbox"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert set(pd.read_csv(shard)["learner"]) == ({"ada", "cy"} if i == 1 else {"bo", "hal"})
    merged = tmp_path / "class-report.csv"
    done = subprocess.run([CLI, "merge", *map(str, shards), "--report", str(merged)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    pd.testing.assert_frame_equal(pd.read_csv(merged, keep_default_na=False), side_by_side.astype({"hint": str}))


def test_a_shard_outside_the_class_is_a_clear_error(tmp_path):
    hand_in(tmp_path, "ada")
    done = CliRunner().invoke(app, ["check", str(tmp_path), "--shard", "3/2"])
    assert done.exit_code == 2 and "expected i/n with 1 <= i <= n" in done.output
