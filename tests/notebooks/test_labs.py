"""Labs are generated from solutions, and the checker tells solved, unsolved and wrong apart.

Each execution serves as many checks as it can. That a solution passes every check is what nbval
proves when it executes `solutions/` (any check cell that raises fails it, which is exactly what
the checker would call not passed), so the checker does not run the solutions again. Each blank
lab runs once, and each lab runs once more with every exercise's wrong answer in place.
"""

from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import needs_marks
from mlops_workbook import grading, paths

WRONG = yaml.safe_load((Path(__file__).parent / "wrong_answers.yaml").read_text())


def lab_marks(name: str) -> list:
    """What the lab needs (conftest.py's worker_group keeps a lab's tests with nbval's run of its solution)."""
    return needs_marks(paths.project_root() / "solutions" / f"{name}.ipynb")


SOLUTIONS = [
    pytest.param(path, marks=lab_marks(path.stem), id=path.stem)
    for path in sorted((paths.project_root() / "solutions").glob("[0-9][0-9]_*.ipynb"))
]


def exercises(nb) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def with_answers(solution: Path, answers: dict[str, str], folder: Path) -> Path:
    """A copy of the solution in `folder` with some exercises' answer cells replaced."""
    nb = nbformat.read(solution, as_version=4)
    for exercise, code in answers.items():
        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == f"{exercise}_answer")
        cell.source = code
    path = folder / solution.name
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("solution", SOLUTIONS)
def test_a_lab_has_stubs_and_no_outputs_or_answers(solution):
    lab = nbformat.read(paths.project_root() / "labs" / solution.name, as_version=4)
    answers = [c for c in lab.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert answers and all("raise NotImplementedError()" in c.source for c in answers)
    assert not any(c.get("outputs") for c in lab.cells if c.cell_type == "code")
    assert "BEGIN SOLUTION" not in nbformat.writes(lab)


@pytest.mark.parametrize("solution", SOLUTIONS)
def test_the_untouched_lab_is_not_yet_solved(solution):
    outcomes = grading.check(paths.project_root() / "labs" / solution.name)
    assert [o.exercise for o in outcomes] == exercises(nbformat.read(solution, as_version=4))
    assert {o.status for o in outcomes} == {grading.UNSOLVED}


@pytest.mark.parametrize("solution", SOLUTIONS)
def test_every_exercise_has_a_wrong_answer_on_file(solution):
    assert sorted(WRONG.get(solution.stem, {})) == sorted(exercises(nbformat.read(solution, as_version=4)))


@pytest.mark.parametrize("notebook", [pytest.param(nb, marks=lab_marks(nb), id=nb) for nb in WRONG])
def test_every_wrong_answer_is_called_wrong_with_its_hint(tmp_path, notebook):
    solution = paths.project_root() / "solutions" / f"{notebook}.ipynb"
    outcomes = {o.exercise: o for o in grading.check(with_answers(solution, WRONG[notebook], tmp_path))}
    assert sorted(outcomes) == sorted(WRONG[notebook])
    for exercise, outcome in outcomes.items():
        assert outcome.status == grading.WRONG, f"{exercise}: {outcome.status} ({outcome.hint})"
        assert outcome.hint.startswith("Hint:"), f"{exercise}: {outcome.hint}"


def test_a_lab_whose_set_up_fails_says_so_instead_of_failing_every_exercise(tmp_path):
    """The set-up is the workbook's (a submission cannot change it): when it fails, the machine lacks something."""
    solution = paths.project_root() / "solutions" / "00_overview.ipynb"
    nb = nbformat.read(solution, as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code" and "from_parameters" in c.source)
    setup.source += (
        "\nfrom mlops_workbook import envcheck\nenvcheck.COMPONENTS['nothing'] = (['false'], 'apt-get install it')"
        "\nenvcheck.require('nothing')"
    )
    nbformat.write(nb, tmp_path / "needs-nothing.ipynb")
    with pytest.raises(ValueError, match=r"could not set up: ComponentMissing: this notebook needs nothing"):
        grading.check(solution, source=tmp_path / "needs-nothing.ipynb")


def test_labs_carry_no_run_state():
    for lab in sorted((paths.project_root() / "labs").glob("*.ipynb")):
        metadata = nbformat.read(lab, as_version=4).metadata
        assert "widgets" not in metadata and "papermill" not in metadata, lab.name
