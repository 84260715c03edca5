"""nbgrader's own commands on a course whose source is `solutions/` (README: Grade with nbgrader).

`generate_assignment` must make the labs the workbook ships, and `autograde` must give each solution full
marks and each blank lab none; with the wrong answers of wrong_answers.yaml, no points for a wrong exercise
and its points for a right one. Autograde runs the labs that start no server: on the others each submission
builds images or starts servers (minutes per lab); the workbook's checker runs them (test_labs.py).
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


@pytest.mark.heavy  # three whole runs of a lab each: for make test, not the edit loop
@pytest.mark.parametrize("lab", [pytest.param(lab, marks=lab_marks(lab), id=lab) for lab in LIGHT])
def test_autograde_gives_full_no_and_partial_marks(tmp_path, lab):
    """The solution full marks, the blank lab none, and wrong answers to every other exercise no points for those
    and full points for the rest."""
    folder = tmp_path / "course"
    nbgrader_course.write(folder)
    nbgrader(folder, "generate_assignment", lab)
    solution = paths.project_root() / "solutions" / f"{lab}.ipynb"
    points = {
        c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
        for c in nbformat.read(solution, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }
    wrong = {exercise: WRONG[lab][exercise] for exercise in list(points)[::2]}  # the 1st, 3rd, ...: some right
    handed_in = {
        "solved": solution,
        "blank": folder / "release" / lab / f"{lab}.ipynb",
        "some-wrong": with_answers(solution, wrong, tmp_path),
    }
    expected = {
        "solved": points,
        "blank": dict.fromkeys(points, 0),
        "some-wrong": {e: 0 if e in wrong else p for e, p in points.items()},
    }
    for learner, notebook in handed_in.items():
        target = folder / "submitted" / learner / lab / f"{lab}.ipynb"
        target.parent.mkdir(parents=True)
        target.write_bytes(Path(notebook).read_bytes())

    nbgrader(folder, "autograde", lab, "--create")

    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gradebook:
        given = {
            learner: {grade.name: grade.score for grade in gradebook.find_submission_notebook(lab, lab, learner).grades}
            for learner in handed_in
        }
    assert given == expected
