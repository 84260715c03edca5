"""nbgrader's own commands on a course whose source is `solutions/` (README: Grade with nbgrader).

`generate_assignment` must make the labs the workbook ships, and `autograde` must give a right answer its
points and a wrong one (wrong_answers.yaml), a shortcut (shortcuts.yaml) or a blank one (the lab's own cell)
none, in every lab. The labs that build images or start servers (02, 03, 04: half a minute each) are graded by
`make test-grading`, which `.ci/run` runs after `make test`, whose 15 minutes they would not fit.
"""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbgrader.api import Gradebook
from test_labs import SHORTCUTS, WRONG, lab_marks, with_answers

from mlops_workbook.core import paths
from mlops_workbook.course import envcheck, gradebook, labs, nbgrader_course

LABS = [s.stem for s, _ in labs.lab_pairs()]
# The labs that start no server and build no image (07 and 08 only call promtool and amtool): make test grades them.
LIGHT = [s.stem for s, _ in labs.lab_pairs() if not set(envcheck.notebook_needs(s)) & envcheck.HEAVY]
# What nbgrader adds to a cell that the workbook's labs do not carry: its checksum, and its own copy of the type.
NBGRADER_ONLY = ("checksum", "cell_type")


def nbgrader(folder: Path, *args: str) -> None:
    """An nbgrader command in the course folder, as an instructor runs it with the workbook's venv activated."""
    bin_dir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` from PATH
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    done = subprocess.run(
        [str(Path(bin_dir) / "nbgrader"), *args], cwd=folder, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stderr[-3000:]}"


def _answer(cell) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


def comparable(nb) -> list[tuple]:
    rows = []
    for cell in nb.cells:
        metadata = dict(cell.metadata)
        grading = {k: v for k, v in metadata.pop("nbgrader", {}).items() if k not in NBGRADER_ONLY}
        rows.append((cell.cell_type, cell.source, grading, metadata))
    return rows


def test_generate_assignment_makes_the_labs_the_workbook_ships(tmp_path):
    nbgrader_course.write(tmp_path)
    nbgrader(tmp_path, "generate_assignment", "--CourseDirectory.assignment_id=*")
    for _, lab in labs.lab_pairs():
        released = nbformat.read(tmp_path / "release" / lab.stem / lab.name, as_version=4)
        shipped = nbformat.read(lab, as_version=4)
        assert comparable(released) == comparable(shipped), f"{lab.name}: nbgrader's lab differs from labs/"
        checks = [c for c in shipped.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert checks and all(c.metadata["nbgrader"]["points"] > 0 for c in checks), lab.name


def points_of(lab: str) -> dict[str, int]:
    solution = paths.project_root() / "solutions" / f"{lab}.ipynb"
    cells = nbformat.read(solution, as_version=4).cells
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in cells if _graded(c)}


def _graded(cell) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("grade"))


def answer_kinds(lab: str) -> dict[str, str]:
    """One learner per lab: one exercise right, the others wrong, a shortcut or blank by turns. Which exercise is
    right moves from lab to lab, and the turns go on from lab to lab, so that the class meets every kind."""
    turn = LABS.index(lab)
    exercises = list(points_of(lab))
    right = exercises[turn % len(exercises)]
    others = [e for e in exercises if e != right]
    return {right: "right"} | {e: ("wrong", "shortcut", "blank")[(turn + i) % 3] for i, e in enumerate(others)}


def test_the_class_meets_right_wrong_shortcut_and_blank_answers():
    kinds = [answer_kinds(lab) for lab in LABS]
    assert all(sorted(set(k.values())) != ["right"] and "right" in k.values() for k in kinds), kinds
    assert {kind for k in kinds for kind in k.values()} == {"right", "wrong", "shortcut", "blank"}


def graded_by(lab: str) -> list:
    """A lab's marks: what it needs, and, if it builds images or starts servers, `make test-grading`'s marker."""
    return [lab_marks(lab)] + ([] if lab in LIGHT else [pytest.mark.grading])


@pytest.mark.heavy  # a whole run of each lab: for make test (or test-grading), not the edit loop
@pytest.mark.parametrize("lab", [pytest.param(lab, marks=graded_by(lab), id=lab) for lab in LABS])
def test_autograde_gives_points_for_right_answers_only(tmp_path, lab):
    """A right answer gets its points; a wrong one (wrong_answers.yaml), a shortcut (shortcuts.yaml: the key called,
    an identity tested, a value hard-coded, a printed file copied) or a blank one (the lab's own cell) none.
    That every exercise's check tells right from wrong is test_labs.py's: nbgrader turns a check cell that raises
    into 0 points, and this shows it does so for each lab's cells as the workbook marks them."""
    folder = tmp_path / "course"
    nbgrader_course.write(folder)
    nbgrader(folder, "generate_assignment", lab)
    blank = nbformat.read(folder / "release" / lab / f"{lab}.ipynb", as_version=4)
    unanswered = {c.metadata["nbgrader"]["grade_id"]: c.source for c in blank.cells if _answer(c)}
    kinds = answer_kinds(lab)
    on_file = {"wrong": WRONG[lab], "shortcut": SHORTCUTS[lab]}
    answers = {
        e: on_file[k][e] if k in on_file else unanswered[f"{e}_answer"] for e, k in kinds.items() if k != "right"
    }
    target = folder / "submitted" / "learner" / lab / f"{lab}.ipynb"
    target.parent.mkdir(parents=True)
    solution = paths.project_root() / "solutions" / f"{lab}.ipynb"
    target.write_bytes(with_answers(solution, answers, tmp_path).read_bytes())

    nbgrader(folder, "autograde", lab, "--create")

    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as book:
        grades = book.find_submission_notebook(lab, lab, "learner").grades
        given = {grade.name: grade.score for grade in grades}
    assert given == {e: p if kinds[e] == "right" else 0 for e, p in points_of(lab).items()}, kinds

    exported = gradebook.write(*gradebook.read(folder / "gradebook.db"), tmp_path / "gradebook.csv")
    book = pd.read_csv(exported, dtype=str, keep_default_na=False).set_index("SIS Login ID")
    assert book.loc["learner", lab] == str(sum(p for e, p in points_of(lab).items() if kinds[e] == "right"))
    assert list(book.columns[4:]) == [lab] and book.iloc[0][lab] == str(sum(points_of(lab).values()))
