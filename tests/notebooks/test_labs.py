"""Labs are generated from solutions, and the checker tells solved, unsolved and wrong apart.

Each execution serves as many checks as it can. That a solution passes every check is what nbval
proves when it executes `solutions/` (any check cell that raises fails it, which is exactly what
the checker would call not passed), so the checker does not run the solutions again. Each
lab's answers are tried in one more run of its solution, in one kernel: before each exercise's own answer come the
mutants of it, the blank lab's stub, the wrong answer on file, the adversary's shortcuts (on file and generated),
each against the check there. One lab goes through the checker's whole path, blank and with its wrong answers in
place, to show that a learner sees what it says.
"""

import ast
import re
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager

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


def test_the_untouched_lab_is_not_yet_solved_on_the_checkers_whole_path(tmp_path):
    """A blank lab as a learner first runs it, through the checker, shown in JupyterLab as it says (the lab's cells
    but its answers are the solution's, checked by nbval; every lab's stubs are checked in its one run below)."""
    solution = paths.project_root() / "solutions" / "00_overview.ipynb"
    outcomes = grading.check(
        paths.project_root() / "labs" / solution.name, workspace=tmp_path, output=tmp_path / "ran.ipynb"
    )
    assert [o.exercise for o in outcomes] == exercises(nbformat.read(solution, as_version=4))
    assert {o.status for o in outcomes} == {verdicts.UNSOLVED}
    assert shown(tmp_path / "ran.ipynb") == said(outcomes), "JupyterLab would show other verdicts than the checker"


def first_result_forever(exercise: str, answer: str) -> list[mutants.Mutant]:
    """The adversary generated for every function an answer defines: it answers the check's first case right, then
    gives that answer to every case, as one hard-coded from a check whose cases all share it would. The wrapper
    follows the function's definition at once: what the answer builds from it (a rule, a table) gets the wrapper."""
    lines = answer.splitlines(keepends=True)
    wrapper = (
        "_first_{name} = [], {name}\n\n\n"
        "def {name}(*args, **kwargs):\n"
        "    if not _first_{name}[0]:\n"
        "        _first_{name}[0].append(_first_{name}[1](*args, **kwargs))\n"
        "    return _first_{name}[0][0]\n"
    )
    return [
        mutants.Mutant(
            exercise,
            f"{FIRST}: `{node.name}`",
            "".join(lines[: node.end_lineno])
            + "\n\n"
            + wrapper.format(name=node.name)
            + "".join(lines[node.end_lineno :]),
        )
        for node in python(answer).body
        if isinstance(node, ast.FunctionDef)
    ]


def kind_of(outcome) -> str:
    """Which adversary an outcome's answer came from (a generated key's change names the key after it)."""
    return next((kind for kind in (KEY, FIRST, UNMET) if outcome.mutant.change.startswith(kind)), outcome.mutant.change)


def answers_in(notebook: Path) -> dict[str, str]:
    """Each exercise's answer cell, by the exercise's id: in a blank lab, as a learner finds it."""
    cells = nbformat.read(notebook, as_version=4).cells
    return {
        c.metadata["nbgrader"]["grade_id"].removesuffix("_answer"): c.source
        for c in cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }


@pytest.mark.parametrize("solution", SOLUTIONS)
def test_every_exercise_has_a_wrong_answer_on_file_and_a_shortcut_tried(solution):
    ids = exercises(nbformat.read(solution, as_version=4))
    assert sorted(WRONG.get(solution.stem, {})) == sorted(ids)
    unattacked = [e for e in ids if e not in SHORTCUTS.get(solution.stem, {}) and not keys(solution)[e]]
    assert not unattacked, f"{unattacked}: add the shortcut a learner would try to shortcuts.yaml"


def checked_with(notebook: str, answers: dict[str, str], folder: Path) -> dict:
    """The checker's verdict on each replaced exercise of `notebook`, its run shown in JupyterLab the same way."""
    solution = paths.project_root() / "solutions" / f"{notebook}.ipynb"
    checked = grading.check(with_answers(solution, answers, folder), workspace=folder, output=folder / "ran.ipynb")
    assert shown(folder / "ran.ipynb") == said(checked), "JupyterLab would show other verdicts than the checker"
    outcomes = {o.exercise: o for o in checked if o.exercise in answers}
    assert sorted(outcomes) == sorted(answers)
    return outcomes


def test_a_learner_sees_each_wrong_verdict_and_its_hint_as_the_checker_gives_them(tmp_path):
    """The checker's path, a whole lab with every exercise's wrong answer in place, shown in JupyterLab as it says;
    every lab's answers on file are checked in its one run below."""
    notebook = "00_overview"
    outcomes = checked_with(notebook, WRONG[notebook], tmp_path)
    assert {o.status for o in outcomes.values()} == {verdicts.WRONG}, outcomes


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


STUB, WRONG_ON_FILE, SHORTCUT = "the blank lab's stub", "the wrong answer on file", "the adversary's shortcut"
KEY = "the solution's answer, also using the key"
SOURCE = "the solution's answer, also naming the workbook's source"
FIRST = "the solution's first result, whatever is asked"
UNMET = "the solution's answer with one stated requirement unmet"
# Requirements an exercise states that no other wrong answer breaks alone: the solution's text changed (what it
# was, what it becomes), and what the check's hint must then name.
REQUIREMENTS = {"02_ci_packaging": {"ex1_dockerfile": ("9000", "8000", "9000")}}  # the platform's port
EXPECTED = {
    STUB: verdicts.UNSOLVED,
    WRONG_ON_FILE: verdicts.WRONG,
    SHORTCUT: verdicts.WRONG,
    KEY: verdicts.WRONG,
    SOURCE: verdicts.WRONG,
    FIRST: verdicts.WRONG,
    UNMET: verdicts.WRONG,
}
# Where every key is written: an answer may parse one out of it, whatever the function is called (never run here).
READS_THE_SOURCE = (
    "\n\n\ndef _source():\n    return [p.read_text() for p in Path('..').glob('src/mlops_workbook/**/*.py')]\n"
)


def python(cell: str) -> ast.Module:
    """A cell's code as Python (its %magics translated, as the kernel does)."""
    return ast.parse(TransformerManager().transform_cell(cell))


def keys(solution: Path) -> dict[str, list[str]]:
    """Per exercise, the workbook's implementations its check names (`feedback.exercise(..., without=...)`)."""
    found = {}
    for cell in nbformat.read(solution, as_version=4).cells:
        if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code":
            call = ast.parse(cell.source.splitlines()[0]).body[0].value
            without = next((k.value for k in call.keywords if k.arg == "without"), None)
            found[call.args[0].value] = [name.value for name in without.elts] if without else []
    return found


def using_the_key(exercise: str, answer: str, name: str) -> list[mutants.Mutant]:
    """The adversary generated for every key a check names: the solution's own answer, which also reaches the key
    (never called: its results stay the solution's), as a module's attribute and, unless the answer binds that name
    itself (then it is the learner's own), by its bare name. The check must call each wrong and name the key."""
    tree = python(answer)
    own = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    own |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    own |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}  # as tampering.uses counts them
    forms = [f"workbook.{name}"] + ([name] if name not in own and not name.startswith("__") else [])
    return [
        mutants.Mutant(exercise, f"{KEY} `{name}`, as `{form}`", f"{answer}\n\n\ndef _shortcut():\n    return {form}\n")
        for form in forms
    ]


@pytest.mark.parametrize("solution", SOLUTIONS)
def test_every_wrong_answer_shortcut_and_mutant_is_called_wrong(tmp_path, solution):
    """One run of the solution serves every answer but its own, each checked alone before the solution's own (the
    earlier exercises solved), as a learner tries answers: the mutants, the blank lab's stubs (not yet solved), the
    wrong answers on file and the adversary's shortcuts (shortcuts.yaml: the key called, an identity tested, the
    checked value hard-coded), then the generated adversaries (the solution's answer also reaching its key or naming
    the workbook's source, its first result given to every case, one stated requirement unmet); all but the stubs
    wrong (those on file with a hint), and none tampered as the checker reads it. A check that passes a solution
    changed a little (a comparison
    flipped, a number moved, a statement dropped, a body returning a constant) passes a learner's
    answer with the same slip: tighten it, or list the change in equivalent_mutants.yaml with why it changes
    nothing the exercise asks."""
    on_file: dict[str, list] = {}
    blank = paths.project_root() / "labs" / solution.name
    kinds = {STUB: answers_in(blank), WRONG_ON_FILE: WRONG[solution.stem], SHORTCUT: SHORTCUTS.get(solution.stem, {})}
    for kind, answers in kinds.items():
        for exercise, source in answers.items():
            on_file.setdefault(exercise, []).append(mutants.Mutant(exercise, kind, source))
    solved = answers_in(solution)
    for exercise, names in keys(solution).items():
        on_file[exercise] += [m for name in names for m in using_the_key(exercise, solved[exercise], name)]
        on_file[exercise] += [mutants.Mutant(exercise, SOURCE, solved[exercise] + READS_THE_SOURCE)] if names else []
        on_file[exercise] += first_result_forever(exercise, solved[exercise])
    for exercise, (was, now, named) in REQUIREMENTS.get(solution.stem, {}).items():
        unmet = mutants.Mutant(exercise, f"{UNMET}: `{was}` as `{now}`, `{named}`", solved[exercise].replace(was, now))
        on_file[exercise].append(unmet)
    for exercise, kind in ((e, k) for k in (WRONG_ON_FILE, SHORTCUT) for e in kinds[k]):  # as the checker reads them
        tampered = grading.rebuilt(with_answers(solution, {exercise: kinds[kind][exercise]}, tmp_path)).tampered
        assert not tampered, f"{exercise}, {kind}: the checker calls it tampered, not wrong: {tampered}"
    outcomes = mutants.run(solution, tmp_path, NOT_MUTATED.get(solution.stem, ()), answers=on_file)
    filed = [o for o in outcomes if kind_of(o) in EXPECTED]
    assert sorted((o.mutant.exercise, o.mutant.change) for o in filed) == sorted(
        (exercise, m.change) for exercise, tried in on_file.items() for m in tried
    )
    adversaries = (SHORTCUT, KEY, SOURCE, FIRST)
    passed = sorted(
        f"{o.mutant.exercise} ({o.mutant.change})"
        for o in filed
        if kind_of(o) in adversaries and o.verdict == verdicts.PASSED
    )
    assert not passed, f"a shortcut passes {', '.join(passed)}: make the check independent of what it takes"
    for o in filed:
        said_ = f"{o.mutant.exercise}, {o.mutant.change}: {o.verdict} ({o.hint})"
        assert o.verdict == EXPECTED[kind_of(o)], said_
        assert kind_of(o) not in (WRONG_ON_FILE, KEY, SOURCE) or o.hint.startswith("Hint:"), (
            f"{said_}: say it in a hint"
        )
        assert kind_of(o) != SOURCE or "the workbook's source" in o.hint, said_
        named = re.findall(r"`([^`]+)`", o.mutant.change)[-1] if kind_of(o) == UNMET else ""
        assert named in o.hint and (kind_of(o) != UNMET or o.hint.startswith("Hint:")), f"{said_}: name {named}"
        # a shortcut is wrong by its own doing (a check's hint, or its own error on a case it did not foresee), not by
        # a name the runner forgot between answers
        assert kind_of(o) not in (SHORTCUT, FIRST) or "NameError" not in o.hint, said_
        key = re.search(r"`([^`]+)`", o.mutant.change)[1] if kind_of(o) == KEY else None
        assert key is None or ("your answer uses" in o.hint and key in re.findall(r"`([^`]+)`", o.hint)), said_
    made = [o for o in outcomes if kind_of(o) not in EXPECTED]
    assert {o.mutant.exercise for o in made} == mutated(solution)
    survived = {f"{o.mutant.exercise}: {o.mutant.change}" for o in mutants.survivors(made)}
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
