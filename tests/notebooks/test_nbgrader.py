"""nbgrader's own commands on a course whose source is `solutions/` (README: Grade with nbgrader).

`generate_assignment` must make the labs the workbook ships, and `autograde` must give a right answer its
points and a wrong one (wrong_answers.yaml) or a blank one (the lab's own cell) none. Autograde runs the labs
that start no server: on the others each submission builds images or starts servers (minutes per lab); the
workbook's checker runs them (test_labs.py).
"""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from test_labs import WRONG, lab_marks, with_answers

from mlops_workbook.core import paths
from mlops_workbook.course import envcheck, labs, nbgrader_course

# The labs that start no server and build no image (07 and 08 only call promtool and amtool).
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


@pytest.mark.heavy  # two whole runs of a lab each: for make test, not the edit loop
@pytest.mark.parametrize("lab", [pytest.param(lab, marks=lab_marks(lab), id=lab) for lab in LIGHT])
def test_autograde_gives_points_for_right_answers_only(tmp_path, lab):
    """Two learners between them answer every exercise right once and, once each, wrong or not at all (the lab's
    blank cell): a right answer gets its points, a wrong or blank one none."""
    folder = tmp_path / "course"
    nbgrader_course.write(folder)
    nbgrader(folder, "generate_assignment", lab)
    solution = paths.project_root() / "solutions" / f"{lab}.ipynb"
    points = {
        c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
        for c in nbformat.read(solution, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }
    blank = nbformat.read(folder / "release" / lab / f"{lab}.ipynb", as_version=4)
    unanswered = {c.metadata["nbgrader"]["grade_id"]: c.source for c in blank.cells if _answer(c)}
    first, second = list(points)[::2], list(points)[1::2]  # the 1st, 3rd, ... and the 2nd, 4th, ...
    assert second, f"{lab} has one exercise: no blank answer would be graded"
    not_right = {
        "wrong-then-right": {exercise: WRONG[lab][exercise] for exercise in first},
        "right-then-blank": {exercise: unanswered[f"{exercise}_answer"] for exercise in second},
    }
    for learner, answers in not_right.items():
        target = folder / "submitted" / learner / lab / f"{lab}.ipynb"
        target.parent.mkdir(parents=True)
        (tmp_path / learner).mkdir()
        target.write_bytes(with_answers(solution, answers, tmp_path / learner).read_bytes())

    nbgrader(folder, "autograde", lab, "--create")

    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gradebook:
        given = {
            learner: {grade.name: grade.score for grade in gradebook.find_submission_notebook(lab, lab, learner).grades}
            for learner in not_right
        }
    assert given == {
        learner: {e: 0 if e in answers else p for e, p in points.items()} for learner, answers in not_right.items()
    }
