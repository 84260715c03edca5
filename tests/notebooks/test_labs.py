"""Labs are generated from solutions, and the checker tells solved, unsolved and wrong apart.

Each execution serves as many checks as it can. That a solution passes every check is what nbval
proves when it executes `solutions/` (any check cell that raises fails it, which is exactly what
the checker would call not passed), so the checker does not run the solutions again. Each blank
lab runs once, each lab runs once more with every exercise's wrong answer in place, and once with an
adversary's shortcut answers (shortcuts.yaml) in place. The mutation pass runs each solution once more, in one
kernel, and each mutant of its answers against the exercise's check there.
"""

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from mlops_workbook.core import paths
from mlops_workbook.course import envcheck, grading, mutants, verdicts

WRONG = yaml.safe_load((Path(__file__).parent / "wrong_answers.yaml").read_text())
SHORTCUTS = yaml.safe_load((Path(__file__).parent / "shortcuts.yaml").read_text())
EQUIVALENT = yaml.safe_load((Path(__file__).parent / "equivalent_mutants.yaml").read_text())


def lab_marks(name: str):
    """What the lab needs (conftest.py's worker_group keeps a lab's tests with nbval's run of its solution)."""
    return pytest.mark.component(*envcheck.notebook_needs(paths.project_root() / "solutions" / f"{name}.ipynb"))


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


def shown(executed: Path) -> dict[str, tuple[str, str]]:
    """The verdicts a learner reads in the executed lab: each check cell's line, and the summary's rows."""
    nb = nbformat.read(executed, as_version=4)
    lines = {}
    for cell in nb.cells:
        grading_ = cell.metadata.get("nbgrader", {})
        if grading_.get("grade"):
            texts = [o.get("text", "") for o in cell.outputs] + ["".join(o.get("traceback", [])) for o in cell.outputs]
            texts = [re.sub(r"\x1b\[\d+m", "", text) for text in texts]  # the verdict's colour
            starts = [re.search(rf"^{grading_['grade_id']}: ", text, re.MULTILINE) for text in texts]
            found = [text[start.start() :].rstrip() for text, start in zip(texts, starts) if start]  # verdict: last
            assert len(found) == 1, f"{grading_['grade_id']}: its check cell showed {texts}"
            lines[grading_["grade_id"]] = found[0]
        if grading_.get("grade_id") == "summary":
            summary = cell.outputs[0]["data"]["text/plain"].splitlines()[1:]
    verdicts_ = {}
    for line in lines.values():
        exercise, rest = line.split(": ", 1)
        status, _, hint = rest.partition(": ")  # a hint may run over several lines
        verdicts_[exercise] = (status, hint)
    rows: dict[str, str] = {}
    indent = len(re.match(r"\S+\s+", summary[0]).group(0))  # a hint's further lines are indented by as much
    for row in summary:
        if row.startswith(" "):
            rows[exercise] += "\n" + row[indent:]
        else:
            exercise, rest = row.split(None, 1)
            rows[exercise] = rest
    assert rows == {e: f"{s}: {h}" if h else s for e, (s, h) in verdicts_.items()}, "the summary differs from the cells"
    return verdicts_


def said(outcomes) -> dict[str, tuple[str, str]]:
    return {o.exercise: (o.status, o.hint) for o in outcomes}


@pytest.mark.parametrize("solution", SOLUTIONS)
def test_a_lab_has_stubs_and_no_outputs_or_answers(solution):
    lab = nbformat.read(paths.project_root() / "labs" / solution.name, as_version=4)
    answers = [c for c in lab.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert answers and all("raise NotImplementedError()" in c.source for c in answers)
    assert not any(c.get("outputs") for c in lab.cells if c.cell_type == "code")
    assert "BEGIN SOLUTION" not in nbformat.writes(lab)


@pytest.mark.parametrize("solution", SOLUTIONS)
def test_the_untouched_lab_is_not_yet_solved(tmp_path, solution):
    outcomes = grading.check(paths.project_root() / "labs" / solution.name, output=tmp_path / "ran.ipynb")
    assert [o.exercise for o in outcomes] == exercises(nbformat.read(solution, as_version=4))
    assert {o.status for o in outcomes} == {verdicts.UNSOLVED}
    assert shown(tmp_path / "ran.ipynb") == said(outcomes), "JupyterLab would show other verdicts than the checker"


@pytest.mark.parametrize("solution", SOLUTIONS)
def test_every_exercise_has_a_wrong_answer_on_file(solution):
    assert sorted(WRONG.get(solution.stem, {})) == sorted(exercises(nbformat.read(solution, as_version=4)))


def checked_with(notebook: str, answers: dict[str, str], folder: Path) -> dict:
    """The checker's verdict on each replaced exercise of `notebook`, its run shown in JupyterLab the same way."""
    solution = paths.project_root() / "solutions" / f"{notebook}.ipynb"
    checked = grading.check(with_answers(solution, answers, folder), output=folder / "ran.ipynb")
    assert shown(folder / "ran.ipynb") == said(checked), "JupyterLab would show other verdicts than the checker"
    outcomes = {o.exercise: o for o in checked if o.exercise in answers}
    assert sorted(outcomes) == sorted(answers)
    return outcomes


@pytest.mark.parametrize("notebook", [pytest.param(nb, marks=lab_marks(nb), id=nb) for nb in WRONG])
def test_every_wrong_answer_is_called_wrong_with_its_hint(tmp_path, notebook):
    outcomes = checked_with(notebook, WRONG[notebook], tmp_path)
    for exercise, outcome in outcomes.items():
        assert outcome.status == verdicts.WRONG, f"{exercise}: {outcome.status} ({outcome.hint})"
        assert outcome.hint.startswith("Hint:"), f"{exercise}: {outcome.hint}"


@pytest.mark.parametrize("notebook", [pytest.param(nb, marks=lab_marks(nb), id=nb) for nb in SHORTCUTS])
def test_no_shortcut_passes_an_exercise(tmp_path, notebook):
    """The adversary: an answer that calls the key, tests an identity or hard-codes the checked value is wrong."""
    outcomes = checked_with(notebook, SHORTCUTS[notebook], tmp_path)
    passed = sorted(exercise for exercise, outcome in outcomes.items() if outcome.status == verdicts.PASSED)
    assert not passed, f"a shortcut passes {', '.join(passed)}: make the check independent of what it takes"
    for exercise, outcome in outcomes.items():
        assert outcome.status == verdicts.WRONG, f"{exercise}: {outcome.status} ({outcome.hint})"


def test_a_lab_whose_set_up_fails_says_so_instead_of_failing_every_exercise(tmp_path):
    """The set-up is the workbook's (a submission cannot change it): when it fails, the machine lacks something."""
    solution = paths.project_root() / "solutions" / "00_overview.ipynb"
    nb = nbformat.read(solution, as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code" and "from_parameters" in c.source)
    setup.source += (
        "\nfrom mlops_workbook.course import envcheck"
        "\nenvcheck.COMPONENTS['nothing'] = (['false'], 'apt-get install it')"
        "\nenvcheck.require('nothing')"
    )
    nbformat.write(nb, tmp_path / "needs-nothing.ipynb")
    with pytest.raises(ValueError, match=r"could not set up: ComponentMissingError: this notebook needs nothing"):
        grading.check(solution, source=tmp_path / "needs-nothing.ipynb")


def test_labs_carry_no_run_state():
    for lab in sorted((paths.project_root() / "labs").glob("*.ipynb")):
        metadata = nbformat.read(lab, as_version=4).metadata
        assert "widgets" not in metadata and "papermill" not in metadata, lab.name


@pytest.mark.parametrize("solution", SOLUTIONS)
def test_a_solution_shows_every_verdict_passed_and_sums_them_up(solution):
    """What nbval reproduces: each check cell's verdict and the summary, as stored (the checks are locked)."""
    nb = nbformat.read(solution, as_version=4)
    ids = exercises(nb)
    locked = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("locked")}
    assert "feedback.show_verdicts()" in locked["verdicts"].source
    assert locked["summary"].source == f"feedback.summary({', '.join(map(repr, ids)).replace(chr(39), chr(34))})"
    for exercise in ids:
        first_line = locked[exercise].source.splitlines()[0]
        without = r'(, without=\("\w+"(, "\w+")*,?\))?'  # the workbook's names an answer must not use
        assert re.fullmatch(rf'feedback\.exercise\("{exercise}"{without}\)', first_line), exercise
    assert shown(solution) == dict.fromkeys(ids, (verdicts.PASSED, ""))
    first_answer = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution"))
    assert nb.cells.index(locked["verdicts"]) < first_answer, "the verdicts must be shown from the first answer on"
    tagged = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("ex")]
    assert all("raises-exception" in c.metadata.get("tags", []) for c in tagged), "Run All must go on past an error"


# Exercises whose check takes seconds a mutant, which the suite's time cannot afford: their wrong answers and
# shortcuts on file still run. Each was run once: 03's switch (170 s with its 13 mutants) showed a check that failed
# when run a second time and passed a switch that returned nothing, both fixed; 04's deploy step (123 s with its 16
# mutants, 45 s without) one survivor that forgetting the solution's names now catches, and two that change nothing
# (the DAG installer makes its folder itself).
NOT_MUTATED = {
    "02_ci_packaging": {"ex1_dockerfile", "ex2_smoke_test"},  # an image built and started per check
    "03_cd_serving": {"ex1_switch"},  # three deploys per check
    "04_cd_pipelines": {"ex2_deploy"},  # three DAGs loaded by Airflow and one run per check
}


def mutated(solution: Path) -> set[str]:
    return set(exercises(nbformat.read(solution, as_version=4))) - NOT_MUTATED.get(solution.stem, set())


@pytest.mark.parametrize("solution", [s for s in SOLUTIONS if mutated(s.values[0])])
def test_every_mutant_of_a_solution_is_called_wrong_unless_it_changes_nothing(tmp_path, solution):
    """A check that passes a solution changed a little (a comparison flipped, a number moved, a statement dropped,
    a body returning a constant) passes a learner's answer with the same slip: tighten it, or list the change in
    equivalent_mutants.yaml with why it changes nothing the exercise asks."""
    outcomes = mutants.run(solution, tmp_path, NOT_MUTATED.get(solution.stem, ()))
    assert {o.mutant.exercise for o in outcomes} == mutated(solution)
    survived = {f"{o.mutant.exercise}: {o.mutant.change}" for o in mutants.survivors(outcomes)}
    listed = {
        f"{exercise}: {change}" for exercise, changes in EQUIVALENT.get(solution.stem, {}).items() for change in changes
    }
    assert not survived - listed, (
        "these mutants pass their checks: add a case that catches each, or list it in equivalent_mutants.yaml with "
        "why it changes nothing the exercise asks:\n" + "\n".join(sorted(survived - listed))
    )
    assert not listed - survived, "listed as equivalent, but called wrong now (or no longer made): remove them:\n" + (
        "\n".join(sorted(listed - survived))
    )
