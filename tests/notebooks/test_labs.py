"""Labs are generated from solutions, and the checker tells solved, unsolved, wrong and hanging apart."""

from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import needs_marks
from mlops_workbook import labs, paths

WRONG = yaml.safe_load((Path(__file__).parent / "wrong_answers.yaml").read_text())
SOLUTIONS = [pytest.param(path, marks=needs_marks(path), id=path.stem)
             for path in sorted((paths.project_root() / "solutions").glob("[0-9][0-9]_*.ipynb"))]


def exercises(nb) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def with_answer(solution: Path, exercise: str, code: str, folder: Path) -> Path:
    nb = nbformat.read(solution, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == f"{exercise}_answer")
    cell.source = code
    path = folder / solution.name
    nbformat.write(nb, path)
    return path


def test_labs_match_their_solutions():
    assert labs.stale_labs() == [], "run `make labs` to regenerate labs/ from solutions/"


@pytest.mark.parametrize("solution", SOLUTIONS)
def test_a_lab_has_stubs_and_no_outputs_or_answers(solution):
    lab = nbformat.read(paths.project_root() / "labs" / solution.name, as_version=4)
    answers = [c for c in lab.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert answers and all("raise NotImplementedError()" in c.source for c in answers)
    assert not any(c.get("outputs") for c in lab.cells if c.cell_type == "code")
    assert "BEGIN SOLUTION" not in nbformat.writes(lab)


@pytest.mark.parametrize("solution", SOLUTIONS)
def test_the_solution_passes_and_the_untouched_lab_is_not_yet_solved(solution):
    assert {o.status for o in labs.check(solution)} == {labs.PASSED}
    outcomes = labs.check(paths.project_root() / "labs" / solution.name)
    assert [o.exercise for o in outcomes] == exercises(nbformat.read(solution, as_version=4))
    assert {o.status for o in outcomes} == {labs.UNSOLVED}


@pytest.mark.parametrize("solution", SOLUTIONS)
def test_every_exercise_has_a_wrong_answer_on_file(solution):
    assert sorted(WRONG.get(solution.stem, {})) == sorted(exercises(nbformat.read(solution, as_version=4)))


@pytest.mark.parametrize("notebook, exercise", [
    pytest.param(nb, ex, marks=needs_marks(paths.project_root() / "solutions" / f"{nb}.ipynb"))
    for nb, answers in WRONG.items() for ex in answers])
def test_a_wrong_answer_is_called_wrong_with_a_hint(tmp_path, notebook, exercise):
    solution = paths.project_root() / "solutions" / f"{notebook}.ipynb"
    outcomes = {o.exercise: o for o in labs.check(with_answer(solution, exercise, WRONG[notebook][exercise], tmp_path))}
    assert outcomes[exercise].status == labs.WRONG
    assert outcomes[exercise].hint.startswith("Hint:"), outcomes[exercise].hint
    assert all(o.status == labs.PASSED for name, o in outcomes.items() if name != exercise)


def test_a_hanging_answer_times_out_and_the_rest_is_still_checked(tmp_path):
    solution = paths.project_root() / "solutions" / "00_overview.ipynb"
    hanging = with_answer(solution, "ex1_stage_map", "import time\ntime.sleep(600)", tmp_path)
    outcomes = {o.exercise: o.status for o in labs.check(hanging, timeout=3)}
    assert outcomes == {"ex1_stage_map": labs.TIMED_OUT, "ex2_release_mode": labs.PASSED,
                        "ex3_range_check": labs.PASSED}


def test_a_lab_whose_set_up_fails_says_so_instead_of_failing_every_exercise(tmp_path):
    nb = nbformat.read(paths.project_root() / "solutions" / "00_overview.ipynb", as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code" and "from_parameters" in c.source)
    setup.source += "\nfrom mlops_workbook import envcheck\nenvcheck.COMPONENTS['nothing'] = (['false'], 'apt-get install it')" \
                    "\nenvcheck.require('nothing')"
    nbformat.write(nb, tmp_path / "00_overview.ipynb")
    with pytest.raises(ValueError, match=r"could not set up: ComponentMissing: this notebook needs nothing"):
        labs.check(tmp_path / "00_overview.ipynb")


def test_labs_carry_no_run_state():
    for lab in sorted((paths.project_root() / "labs").glob("*.ipynb")):
        metadata = nbformat.read(lab, as_version=4).metadata
        assert "widgets" not in metadata and "papermill" not in metadata, lab.name
