"""A submission may change its answers only: what else it changed is reported per exercise, never passed."""

from pathlib import Path

import nbformat
import pytest
import yaml

from mlops_workbook.core import paths
from mlops_workbook.course import grading, labs, tampering, verdicts

SOLUTIONS = sorted((paths.project_root() / "solutions").glob("[0-9][0-9]_*.ipynb"))
LAB = paths.project_root() / "solutions" / "00_overview.ipynb"
WRONG = yaml.safe_load((Path(__file__).parent / "wrong_answers.yaml").read_text())


def cell(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def rebuilt(edit) -> dict[str, list[str]]:
    """What tampering.rebuild reports for the solution of lab 00 after `edit(notebook)`."""
    solution = nbformat.read(LAB, as_version=4)
    submission = nbformat.read(LAB, as_version=4)
    edit(submission)
    return tampering.rebuild(submission, labs.generate(solution), solution).tampered


def delete(nb, grade_id):
    nb.cells.remove(cell(nb, grade_id))


def duplicate(nb, grade_id):
    nb.cells.insert(nb.cells.index(cell(nb, grade_id)), nbformat.from_dict(cell(nb, grade_id)))


def move_before(nb, grade_id, other):
    moved = cell(nb, grade_id)
    nb.cells.remove(moved)
    nb.cells.insert(nb.cells.index(cell(nb, other)), moved)


def set_points(nb, grade_id):
    cell(nb, grade_id).metadata["nbgrader"]["points"] = 100


def replace_check(nb, grade_id):
    cell(nb, grade_id).source = "print('all good')"


def answer(code):
    def edit(nb, grade_id):
        cell(nb, f"{grade_id}_answer").source += "\n" + code

    return edit


@pytest.mark.parametrize(
    "edit, exercise, reported",
    [
        (delete, "ex2_maturity", "its check cell was deleted"),
        (duplicate, "ex1_stage_map", "its check cell appears 2 times"),
        (lambda nb, e: move_before(nb, e, "ex2_maturity"), "ex3_range_check", "its check cell was moved"),
        (set_points, "ex1_stage_map", "its check cell's nbgrader metadata was changed"),
        (replace_check, "ex2_maturity", "its check cell was edited"),
        (answer("stages.TASKS = {}"), "ex1_stage_map", "patches `stages`"),
        (answer("setattr(schema, 'BY_NAME', {})"), "ex3_range_check", "patches `schema`"),
        (answer("data = None"), "ex3_range_check", "rebinds `data`"),
        (answer("import builtins\nbuiltins.AssertionError = Exception"), "ex2_maturity", "reaches `builtins`"),
        (
            answer("import sys\nsys.modules['mlops_workbook.core.environments'] = None"),
            "ex2_maturity",
            "reaches `modules`",
        ),
    ],
)
def test_what_a_submission_changed_besides_its_answers_is_reported(edit, exercise, reported):
    found = rebuilt(lambda nb: edit(nb, exercise))
    swapped = {"ex2_maturity"} if "moved" in reported else set()  # a move changes its neighbour's place too
    assert exercise in found and set(found) - {exercise} <= swapped, found
    assert any(reported in what for what in found[exercise]), found


@pytest.mark.parametrize("solution", SOLUTIONS, ids=[s.stem for s in SOLUTIONS])
def test_solutions_blank_labs_and_wrong_answers_are_not_tampering(solution):
    solved = nbformat.read(solution, as_version=4)
    source = labs.generate(solved)
    wrong = nbformat.read(solution, as_version=4)
    for exercise, code in WRONG.get(solution.stem, {}).items():
        cell(wrong, f"{exercise}_answer").source = code
    for submission in (solved, source, wrong):
        assert tampering.rebuild(submission, source, solved).tampered == {}


def test_checks_replaced_by_a_print_are_never_passed(tmp_path):
    """The learner's cells outside the answers do not run: the workbook's checks do, and the tampering is named."""
    nb = nbformat.read(LAB, as_version=4)
    exercises = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    for grade_id in exercises:
        replace_check(nb, grade_id)
    cell(nb, "ex2_maturity_answer").source = "def maturity_level(automated):\n    return 2"  # wrong
    nbformat.write(nb, tmp_path / LAB.name)
    outcomes = {o.exercise: o for o in grading.check(tmp_path / LAB.name, timeout=60)}
    assert {o.status for o in outcomes.values()} == {verdicts.TAMPERED}
    assert outcomes["ex1_stage_map"].hint.endswith("which said: passed")
    assert "which said: wrong: Hint:" in outcomes["ex2_maturity"].hint
    assert "its check cell was edited" in outcomes["ex3_range_check"].hint


def test_a_renamed_submission_is_matched_by_its_exercise_ids(tmp_path):
    renamed = tmp_path / "my lab.ipynb"
    renamed.write_bytes(LAB.read_bytes())
    assert labs.solution_for(nbformat.read(renamed, as_version=4), renamed.stem) == LAB
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    nbformat.write(other, tmp_path / "notes.ipynb")
    with pytest.raises(ValueError, match="is not one of the workbook's labs"):
        grading.check(tmp_path / "notes.ipynb")
