"""A lab's verdicts in the kernel, as a learner meets them in JupyterLab: cells run, fixed and run again."""

import pytest
from IPython.core.interactiveshell import InteractiveShell

from mlops_workbook.core import errors, paths
from mlops_workbook.course import feedback


@pytest.fixture
def shell(monkeypatch):
    """IPython as JupyterLab's kernel runs it (each cell with its id), with the lab's verdicts shown."""
    monkeypatch.setattr(feedback, "_session", None)
    shell = InteractiveShell.instance()
    shell.run_cell(
        "from mlops_workbook.course import feedback\nfeedback.show_verdicts()", cell_id="verdicts"
    )  # the lab's
    yield shell
    shell.events.unregister("pre_run_cell", feedback._session.before)
    shell.events.unregister("post_run_cell", feedback._session.after)
    shell.set_custom_exc((), None)
    InteractiveShell.clear_instance()


def run(shell, capsys, cell_id: str, source: str) -> tuple[str, BaseException | None]:
    result = shell.run_cell(source, cell_id=cell_id)
    return capsys.readouterr().out, result.error_in_exec


def test_a_check_says_not_yet_solved_then_passed_once_the_answer_is_fixed(shell, capsys):
    run(shell, capsys, "answer", "raise NotImplementedError()")
    out, error = run(shell, capsys, "check", 'feedback.exercise("ex1")\nassert double(2) == 4, "Hint: twice"')
    assert isinstance(error, NameError), "the check must still fail, so that the checker and nbgrader see it"
    assert "ex1: not yet solved\x1b[0m: replace `raise NotImplementedError()` with your answer" in out
    assert "Traceback" not in out

    run(shell, capsys, "answer", "def double(x):\n    return x + 2")  # the same cell, edited and run again
    out, _ = run(shell, capsys, "check", 'feedback.exercise("ex1")\nassert double(3) == 6, "Hint: twice"')
    assert "ex1: wrong\x1b[0m: Hint: twice" in out

    run(shell, capsys, "answer", "def double(x):\n    return 2 * x")
    out, error = run(shell, capsys, "check", 'feedback.exercise("ex1")\nassert double(3) == 6, "Hint: twice"')
    assert error is None and "ex1: passed" in out


def test_a_later_check_on_an_unfinished_exercise_says_finish_it_first(shell, capsys):
    run(shell, capsys, "a1", "raise NotImplementedError()")
    run(shell, capsys, "c1", 'feedback.exercise("ex1")\nassert double(2) == 4')
    out, _ = run(shell, capsys, "c2", 'feedback.exercise("ex2")\nassert triple(2) == 6')
    assert "ex2: not yet solved\x1b[0m: finish ex1 first" in out


def test_an_error_outside_a_check_keeps_its_traceback_and_counts_against_the_next_check(shell, capsys):
    out, _ = run(shell, capsys, "a1", "value = 1\nvalue / 0")
    assert "Traceback" in out and "ZeroDivisionError" in out
    out, _ = run(shell, capsys, "c1", 'feedback.exercise("ex1")\nassert value == 1')
    assert "ex1: wrong\x1b[0m: your code raised ZeroDivisionError: division by zero" in out


def test_the_summary_lists_every_exercise_even_one_not_run(shell, capsys):
    run(shell, capsys, "a1", "x = 1")
    run(shell, capsys, "c1", 'feedback.exercise("ex1")\nassert x == 1')
    out, _ = run(shell, capsys, "summary", 'feedback.summary("ex1", "ex2")')
    assert out.splitlines() == ["1 of 2 exercises passed", "ex1  passed", "ex2  not run: run its check cell"]


def test_a_check_before_the_set_up_says_what_to_run(monkeypatch):
    monkeypatch.setattr(feedback, "_session", None)
    with pytest.raises(errors.UnavailableError, match="run the lab's set-up cells first"):
        feedback.exercise("ex1")


@pytest.mark.parametrize(
    "answer",
    [
        "import statistics\ndef middle(values):\n    return statistics.median(values)",
        "from statistics import median as m\ndef middle(values):\n    return m(values)",
        "import statistics\ndef middle(values):\n    return getattr(statistics, 'median')(values)",
    ],
)
def test_an_answer_that_calls_the_implementation_it_should_write_is_wrong(shell, capsys, answer):
    run(shell, capsys, "answer", answer)
    check = 'feedback.exercise("ex1", without=("median",))\nassert middle([3, 1, 2]) == 2, "Hint: the middle value"'
    out, error = run(shell, capsys, "check", check)
    assert isinstance(error, AssertionError), "its results are right, but they are the key's"
    assert "ex1: wrong\x1b[0m: Hint: your answer uses `median`, the workbook's own implementation" in out


def test_an_answer_written_by_hand_passes_even_with_a_variable_named_like_the_key(shell, capsys):
    answer = "def middle(values):\n    median = sorted(values)[len(values) // 2]\n    return median"
    run(shell, capsys, "answer", answer)
    check = 'feedback.exercise("ex1", without=("median",))\nassert middle([3, 1, 2]) == 2, "Hint: the middle value"'
    out, error = run(shell, capsys, "check", check)
    assert error is None and "ex1: passed" in out


def test_an_alias_made_in_an_earlier_answer_is_seen(shell, capsys):
    run(shell, capsys, "earlier answer", "from statistics import median as middle_of")
    run(shell, capsys, "first check", 'feedback.exercise("ex0")')
    run(shell, capsys, "answer", "def middle(values):\n    return middle_of(values)")
    check = 'feedback.exercise("ex1", without=("median",))\nassert middle([3, 1, 2]) == 2, "Hint: the middle value"'
    out, error = run(shell, capsys, "check", check)
    assert isinstance(error, AssertionError) and "uses `median`" in out


BUILT = "uses `{}`, which can reach code by a name no one can read"
SOURCE = "names `{}`, the workbook's source"


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (
            "import statistics\ndef middle(values):\n    return vars(statistics)['med' + 'ian'](values)",
            BUILT.format("vars"),
        ),
        (
            "import statistics\ndef middle(values):\n    return statistics.__dict__['med' + 'ian'](values)",
            BUILT.format("__dict__"),
        ),
        (
            "import operator, statistics\nmiddle = operator.attrgetter('med' + 'ian')(statistics)",
            BUILT.format("attrgetter"),
        ),
        (
            "import inspect, statistics\nmiddle = dict(inspect.getmembers(statistics))['med' + 'ian']",
            BUILT.format("getmembers"),
        ),
        (
            "import pkgutil\nmiddle = pkgutil.resolve_name('statistics:' + 'naidem'[::-1])",
            BUILT.format("resolve_name"),
        ),
        (  # the module's file read: a table or a function's code is there to parse out (00 ex1's stages)
            "import statistics\nsource = open(statistics.__file__).read()\nmiddle = lambda values: sorted(values)[1]",
            BUILT.format("__file__"),
        ),
        (
            "import inspect, statistics\nsource = inspect.getsourcelines(statistics)\nmiddle = sorted",
            BUILT.format("getsourcelines"),
        ),
        (  # the module's file found without importing it
            "import importlib.util\nspec = importlib.util.find_spec('statistics')\n"
            "source = open(spec.loader.get_filename()).read()\nmiddle = sorted",
            BUILT.format("find_spec"),
        ),
        (  # where a key is written (`psi` in cm/drift.py), whatever the function is called
            "from pathlib import Path\nsource = Path('../src/mlops_workbook/cm/drift.py')  # read\nmiddle = sorted",
            SOURCE.format("../src/mlops_workbook/cm/drift.py"),
        ),
        ("middle = sorted\n!cat ../src/mlops_workbook/cm/drift.py", SOURCE.format("../src/mlops_workbook/cm/drift.py")),
        (  # a pattern that takes in every module, the key's among them
            "from pathlib import Path\nsource = Path('..').glob('src/mlops_workbook/**/*.py')\nmiddle = sorted",
            SOURCE.format("src/mlops_workbook/**/*.py"),
        ),
    ],
    ids=[
        "vars",
        "__dict__",
        "attrgetter",
        "getmembers",
        "resolve_name",
        "__file__",
        "getsourcelines",
        "find_spec",
        "the key's module",
        "read by the shell",
        "a pattern",
    ],
)
def test_an_answer_that_reaches_code_by_a_built_name_or_its_source_is_wrong(shell, capsys, answer, said):
    run(shell, capsys, "answer", answer)
    check = 'feedback.exercise("ex1", without=("median", "psi"))\nassert middle([3, 1, 2]) == 2, "Hint: the middle"'
    out, error = run(shell, capsys, "check", check)
    assert isinstance(error, AssertionError) and said in out


def test_files_of_a_learners_own_or_of_the_package_that_hold_no_key_are_an_answers_to_name(shell, capsys):
    """A test file the learner writes, a module of the workbook the lab points at, the project's folder: none is
    where the key is written."""
    answer = (
        "from pathlib import Path\nfrom mlops_workbook.core import paths\n"
        "mine, shown = Path('test_mine.py'), Path('../src/mlops_workbook/ci/faulty_api.py')\n"
        "tests = paths.project_root() / 'tests'\ndef middle(values):\n    return sorted(values)[len(values) // 2]"
    )
    run(shell, capsys, "answer", answer)
    check = 'feedback.exercise("ex1", without=("median", "psi"))\nassert middle([3, 1, 2]) == 2, "Hint: the middle"'
    out, error = run(shell, capsys, "check", check)
    assert error is None and "ex1: passed" in out


def test_a_copy_with_a_line_added_or_changed_is_still_a_copy():
    project = (paths.project_root() / "Dockerfile").read_text()
    assert feedback.similarity(project + "LABEL reviewed=yes\n", project) > 0.9
    assert feedback.similarity(project.replace("--interval=2s", "--interval=3s"), project) > 0.9
    naive = 'FROM python:3.11-slim\nCOPY . /app\nRUN pip install /app\nCMD ["uvicorn", "app"]\n'
    assert feedback.similarity(naive, project) < 0.2


def test_a_copy_keeps_its_instructions_however_it_is_reformatted():
    original = 'FROM base AS build  # the first stage\nRUN make \\\n    all\n\nCMD ["serve"]\n'
    reformatted = '# mine\nFROM   base AS build\nRUN make all\nCMD ["serve"]'
    assert feedback.instructions(reformatted) == feedback.instructions(original)
    assert feedback.instructions(original.replace("make", "make -j2")) != feedback.instructions(original)


def test_a_runner_without_cell_ids_has_a_replaced_answer_forgotten(shell, capsys):
    """nbclient sends no cell ids: each code is its own cell. The mutation pass tries answers one after another in
    one kernel; once a shortcut's code is replaced, the right answer after it is judged on its own."""
    check = 'feedback.exercise("ex1", without=("median",))\nassert middle([3, 1, 2]) == 2, "Hint: the middle value"'
    shortcut = "from statistics import median as middle"
    for source in (shortcut, check):
        shell.run_cell(source)  # no cell_id, as nbclient runs it
    assert "uses `median`" in capsys.readouterr().out
    feedback.replaced(shortcut)
    for source in ("def middle(values):\n    return sorted(values)[len(values) // 2]", check):
        shell.run_cell(source)
    assert "ex1: passed" in capsys.readouterr().out
