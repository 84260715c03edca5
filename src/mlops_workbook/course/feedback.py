"""A lab's verdicts in JupyterLab: each check cell says passed / not yet solved / wrong and why, as the checker does.

A lab's locked set-up cell calls `show_verdicts()`, each locked check cell starts with `exercise(<id>)` and the
last cell calls `summary(...)`. The verdict comes from the checker's own rules (verdicts.judge) applied to what
this kernel ran since the previous check. A failing check is still an error (so the checker and nbgrader see
it), shown as its verdict instead of a traceback; the cells' `raises-exception` tag lets Run All go on past it.
"""

from __future__ import annotations

import difflib
import functools
import html
import re
import shlex

import nbformat
from IPython import get_ipython
from IPython.display import display

from mlops_workbook.core import errors, paths
from mlops_workbook.course import tampering
from mlops_workbook.course.verdicts import PASSED, ExerciseResult, Raised, judge

_ENDLESS = "the cell was interrupted: is there an endless loop?"
_COLOURS = {PASSED: "32"}  # ANSI green; anything else red


class _Session:
    """What this kernel ran: the current check, the errors of the cells since the last check, the verdicts."""

    def __init__(self, shell) -> None:
        self.shell = shell
        self.current: str | None = None
        self.cell: str | None = None
        self.raised: dict[str, Raised] = {}  # answer (or other) cell → its latest error, until the next check
        self.ran: dict[str, str] = {}  # cell → the code it ran last
        self.results: dict[str, ExerciseResult] = {}  # in the order the checks first ran

    def before(self, info) -> None:
        self.current, self.cell = None, info.cell_id or info.raw_cell
        self.ran[self.cell] = info.raw_cell

    def after(self, result) -> None:
        if self.current is None:
            error = result.error_in_exec
            if error is None:
                self.raised.pop(self.cell, None)
            else:
                self.raised[self.cell] = Raised(type(error).__name__, str(error), False)
        elif result.success:
            print(_line(self.judge(None)))
        self.current = None

    def judge(self, error: BaseException | None) -> ExerciseResult:
        """The current exercise's verdict, recorded; the answers' errors are consumed by it."""
        exercise = self.current
        raised = list(self.raised.values())
        if error is not None:
            raised.append(Raised(type(error).__name__, str(error), True))
        earlier = list(self.results.values())
        if exercise in self.results:  # run again: only the exercises before its first run count as earlier
            earlier = earlier[: list(self.results).index(exercise)]
        self.results[exercise] = judge(exercise, raised, earlier, _ENDLESS)
        self.raised.clear()
        return self.results[exercise]

    def show_error(self, shell, etype, value, tb, tb_offset=None) -> None:
        """IPython's custom exception handler: a check's verdict instead of its traceback; others as usual.

        Either way the kernel sends an error (name, value), which is all the checker and nbgrader read.
        """
        if self.current is None:
            shell.showtraceback((etype, value, tb), tb_offset=tb_offset, running_compiled_code=True)
        else:
            shell._showtraceback(etype, value, [_line(self.judge(value))])  # the kernel's hook for showing errors


_session: _Session | None = None


def replaced(code: str) -> None:
    """Forget an answer's code once its cell runs another: what JupyterLab's cell ids do, for a runner without them
    (mutants.run tries many answers to one exercise in one kernel; one that used the key must not taint the next)."""
    if _session is not None:
        _session.ran.pop(code, None)
        _session.ran.pop(_session.cell, None)  # the cell that asked: the runner's, not an answer


def show_verdicts() -> None:
    """Have this kernel show each check cell's verdict (once per kernel; running the cell again changes nothing)."""
    global _session
    shell = get_ipython()
    if shell is None:
        raise errors.UnavailableError("show_verdicts() runs in a notebook's kernel: open the lab in JupyterLab")
    if _session is not None and _session.shell is shell:
        return
    _session = _Session(shell)
    shell.events.register("pre_run_cell", _session.before)
    shell.events.register("post_run_cell", _session.after)
    shell.set_custom_exc((Exception, KeyboardInterrupt), _session.show_error)


# The ways to reach a function without writing its name, or its source without calling it: a check that names its key
# refuses them too.
AROUND = (
    "getattr",
    "vars",
    "eval",
    "exec",
    "compile",
    "__import__",
    "import_module",
    "__defaults__",
    "__kwdefaults__",
    "__globals__",
    "__closure__",
    "__code__",
    "__wrapped__",
    "getsource",
    "__dict__",
    "__getattribute__",
    "globals",
    "getmembers",  # inspect
    "attrgetter",  # operator
    "methodcaller",
    "resolve_name",  # pkgutil
    "locate",  # pydoc
    "run_path",  # runpy
    "run_module",
    "patch",  # unittest.mock: another function made to answer for one the check calls
    "__file__",  # the module's source read as a file, its table or function parsed out of it
    "__spec__",
    "__loader__",
    "__cached__",
    "get_source",
    "getsourcefile",
    "getsourcelines",
    "findsource",
    "getfile",
    "linecache",
    "find_spec",  # importlib: a module's file (`.origin`) without importing it
    "__path__",
)
ALL_CELLS = "every cell run in this kernel counts: restart it to forget one you deleted"


def exercise(exercise_id: str, without: tuple[str, ...] = ()) -> None:
    """Mark the running cell as the check of `exercise_id` (the first line of every check cell).

    `without` names the workbook's own implementations of what the exercise asks the learner to write: an answer
    that uses one of them is wrong, whatever its results (they would be the key's); so is one that reaches code by
    a name it builds or digs out (AROUND), which no reading of the answer can tell from the key, or that names the
    source file where a key is written (tampering.source_files: it is there to parse out). Every answer this kernel
    ran counts: an alias made in one exercise's answer serves the next.
    """
    if _session is None:
        raise errors.UnavailableError("run the lab's set-up cells first (they call feedback.show_verdicts())")
    _session.current = exercise_id
    if not without:
        return
    ran = [code for cell, code in _session.ran.items() if cell != _session.cell]
    answers = [code for code in ran if tampering.lines(code) not in _locked_code()]
    for names, why in (
        (without, "the workbook's own implementation of what this exercise asks you to write: write it yourself"),
        (AROUND, "which can reach code by a name no one can read in it: call what you use by its name"),
    ):
        used = sorted(set().union(*(tampering.uses(code, names) for code in answers)))
        if used:
            raise AssertionError(
                f"Hint: your answer uses {', '.join(f'`{name}`' for name in used)}, {why} ({ALL_CELLS})"
            )
    read = sorted(set().union(*(tampering.source_files(code, without) for code in answers)))
    if read:
        raise AssertionError(
            f"Hint: your answer names {', '.join(f'`{path}`' for path in read)}, the workbook's source, where the "
            f"implementation of what this exercise asks is written: write it yourself ({ALL_CELLS})"
        )


def instructions(text: str) -> tuple[str, ...]:
    """A file's lines without comments, blank lines, continuations or spacing: what a copy of it keeps, however it
    was reformatted (a check that asks for a learner's own Dockerfile compares with the project's this way)."""
    lines = (re.sub(r"\s+", " ", line.split("#", 1)[0]).strip() for line in text.replace("\\\n", " ").splitlines())
    return tuple(one for line in lines if line for one in _one_key_each(line))


def _one_key_each(line: str) -> list[str]:
    """`ENV A=1 B=2` as `ENV A=1` and `ENV B=2`: the same instructions, however their keys are grouped."""
    keyword, _, rest = line.partition(" ")
    if keyword.upper() not in ("ENV", "LABEL", "ARG") or "=" not in rest:
        return [line]
    try:
        return [f"{keyword} {pair}" for pair in shlex.split(rest)]
    except ValueError:  # an unclosed quote: compared as written
        return [line]


def similarity(text: str, original: str) -> float:
    """How much of `original`'s instructions `text` keeps, in order (difflib's ratio over their lines, 0 to 1): a copy
    with a line added or changed stays near 1 (the project's Dockerfile plus one line: 0.98), the lab's own fix of the
    naive Dockerfile is about 0.5."""
    return difflib.SequenceMatcher(None, instructions(text), instructions(original)).ratio()


@functools.cache
def _locked_code() -> frozenset[tuple[str, ...]]:
    """The code of every cell of the workbook's labs that a learner does not write (set-up, demonstrations, checks):
    the kernel cannot see a cell's metadata, so it tells an answer from the lab's own code by its source."""
    labs = sorted((paths.project_root() / "labs").glob("*.ipynb"))
    cells = [cell for lab in labs for cell in nbformat.read(lab, as_version=4).cells if cell.cell_type == "code"]
    return frozenset(tampering.lines(cell.source) for cell in cells if not tampering.is_answer(cell))


def summary(*exercise_ids: str) -> None:
    """The lab's verdicts so far, one row per exercise, as `mlops-workbook check` prints them."""
    results = _session.results if _session is not None else {}
    rows = [results.get(e, ExerciseResult(e, "not run", "run its check cell")) for e in exercise_ids]
    passed = sum(r.status == PASSED for r in rows)
    headline = f"{passed} of {len(rows)} exercises passed"
    width = max(len(r.exercise) for r in rows)
    lines = [f"{r.exercise:<{width}}  {r.status}{': ' + r.hint if r.hint else ''}" for r in rows]
    text = "\n".join([headline, *(line.replace("\n", "\n" + " " * (width + 2)) for line in lines)])
    left = "style='text-align: left'"  # text reads from the left (JupyterLab right-aligns table cells)
    cells = "".join(
        "<tr>" + "".join(f"<td {left}>{html.escape(v)}</td>" for v in (r.exercise, r.status, r.hint)) + "</tr>"
        for r in rows
    )
    header = "".join(f"<th {left}>{name}</th>" for name in ("exercise", "result", "hint"))
    table = (
        f"<p><b>{headline}</b></p><table class='lab-summary'><thead><tr>{header}</tr></thead><tbody>{cells}</tbody>"
        "</table>"
    )
    display({"text/plain": text, "text/html": table}, raw=True)


def _line(result: ExerciseResult) -> str:
    colour = _COLOURS.get(result.status, "31")
    hint = f": {result.hint}" if result.hint else ""
    return f"\x1b[{colour}m{result.exercise}: {result.status}\x1b[0m{hint}"
