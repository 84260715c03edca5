"""Mutation testing of the labs' checks: a solution's answer changed a little (a comparison flipped, a number
moved, a statement dropped, a body replaced by a constant) and run against its exercise's check.

A check that still says *passed* cannot tell that answer from the right one, so a learner's answer with the same
slip passes too. Unless the change makes no difference to what the exercise asks (the caller lists those, with
why), the check is too weak. Mutants change only what lies between `### BEGIN SOLUTION` and `### END SOLUTION`.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager
from nbclient import NotebookClient

from mlops_workbook.core import errors
from mlops_workbook.course import execution, grading, tampering, verdicts
from mlops_workbook.course.runner import LocalKernelManager, ensure_kernel

FLIPS = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "==", "and": "or", "or": "and"}
CONSTANTS = ("None", "0", "True", "False", "[]", "{}")  # what a function whose body is replaced returns
# In text answers (a Prometheus rule, a CI job): a number after a comparison, or a `for:` duration
THRESHOLD_IN_TEXT = re.compile(r"(?:(?<=[<>=] )|(?<=for: ))\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Mutant:
    exercise: str
    change: str  # "line 4: `>` → `>=`", as the line reads in the answer cell
    source: str  # the answer cell with the change


def _region(source: str) -> range:
    """The answer's lines (1-based) between its BEGIN and END SOLUTION markers."""
    lines = source.splitlines()
    begin = next(i for i, line in enumerate(lines, 1) if "### BEGIN SOLUTION" in line)
    end = next(i for i, line in enumerate(lines, 1) if "### END SOLUTION" in line)
    return range(begin + 1, end)


def _replace(source: str, start: tuple[int, int], end: tuple[int, int], text: str) -> str:
    lines = source.splitlines(keepends=True)
    offset = [0]
    for line in lines:
        offset.append(offset[-1] + len(line))
    a, b = offset[start[0] - 1] + start[1], offset[end[0] - 1] + end[1]
    return source[:a] + text + source[b:]


def _shifted(number: str) -> list[str]:
    """A number moved both ways by one in its last digit (0.95: 0.94 and 0.96; 10: 9 and 11; 1e-4: x0.9 and x1.1)."""
    value = float(number)
    if "e" in number.lower():
        moved = [value * 0.9, value * 1.1]
        return [repr(round(v, 15)) for v in moved]
    decimals = len(number.partition(".")[2])
    step = 10**-decimals
    return [f"{v:.{decimals}f}" for v in (value - step, value + step) if v >= 0]


def _token_mutants(exercise: str, source: str, region: range) -> list[Mutant]:
    """Flipped comparisons and `and`/`or`, a dropped `not`, a flipped boolean, moved numbers (not in a test's data:
    a test with other values is as good a test) and thresholds in text."""
    a_test = any(isinstance(n, ast.FunctionDef) and n.name.startswith("test_") for n in ast.walk(ast.parse(source)))
    lines = source.splitlines()
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        line = token.start[0]
        if line not in region:
            continue
        if token.string in FLIPS and token.type in (tokenize.OP, tokenize.NAME):
            changes = [(token.start, token.end, FLIPS[token.string])]
        elif token.string == "not" and token.type == tokenize.NAME:
            after = lines[line - 1][token.end[1] :]
            changes = [(token.start, (line, token.end[1] + len(after) - len(after.lstrip(" "))), "")]  # `not x`: `x`
        elif token.string in ("True", "False"):
            changes = [(token.start, token.end, "False" if token.string == "True" else "True")]
        elif token.type == tokenize.NUMBER and not a_test and re.fullmatch(r"[\d.]+(e-?\d+)?", token.string):
            changes = [(token.start, token.end, moved) for moved in _shifted(token.string)]
        elif token.type == tokenize.STRING:
            changes = [
                (_at(token, m.start()), _at(token, m.end()), moved)
                for m in THRESHOLD_IN_TEXT.finditer(token.string)
                for moved in _shifted(m.group())
            ]
        else:
            continue
        for start, end, text in changes:
            was = lines[start[0] - 1][start[1] : end[1]] if start[0] == end[0] else "…"
            where = f"line {start[0]}, column {start[1] + 1}"
            found.append(Mutant(exercise, f"{where}: `{was.strip()}` → `{text}`", _replace(source, start, end, text)))
    return found


def _at(token: tokenize.TokenInfo, index: int) -> tuple[int, int]:
    """The (line, column) of the `index`-th character of a (maybe multi-line) token."""
    before = token.string[:index]
    line = token.start[0] + before.count("\n")
    column = len(before) - before.rfind("\n") - 1 if "\n" in before else token.start[1] + len(before)
    return line, column


DROPPED = (
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.Expr,
    ast.If,
    ast.For,
    ast.While,
    ast.With,
    ast.Assert,
    ast.Raise,
    ast.Return,
    ast.Try,
)  # a statement replaced by `pass`


def _statement_mutants(exercise: str, source: str, region: range) -> list[Mutant]:
    """Each statement of the region dropped (in every block: a branch, a loop, an `except`, a `finally`), and each
    function's body replaced by a constant."""
    found = []
    lines = source.splitlines(keepends=True)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.body[0].lineno in region:
            first = node.body[0]
            for constant in CONSTANTS:
                body = f"{' ' * first.col_offset}return {constant}\n"
                mutated = "".join(lines[: first.lineno - 1]) + body + "".join(lines[node.end_lineno :])
                found.append(Mutant(exercise, f"`{node.name}` returns {constant}", mutated))
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            for statement in block if isinstance(block, list) else []:  # not a lambda's expression
                if isinstance(statement, DROPPED) and statement.lineno in region and statement.end_lineno in region:
                    gone = f"{' ' * statement.col_offset}pass\n"
                    mutated = "".join(lines[: statement.lineno - 1]) + gone + "".join(lines[statement.end_lineno :])
                    first_line = lines[statement.lineno - 1].strip()
                    found.append(Mutant(exercise, f"line {statement.lineno} dropped: `{first_line}`", mutated))
    return found


def mutants(exercise: str, source: str) -> list[Mutant]:
    """Every mutant of one answer cell's solution region that is still Python (dropping the statement of a one-line
    block is not), each named once."""
    region = _region(source)
    found, named = [], set()
    for mutant in _token_mutants(exercise, source, region) + _statement_mutants(exercise, source, region):
        try:
            compile(TransformerManager().transform_cell(mutant.source), exercise, "exec")
        except SyntaxError:
            continue
        if mutant.change in named or mutant.source == source:
            continue
        named.add(mutant.change)
        found.append(mutant)
    return found


@dataclass(frozen=True)
class Outcome:
    mutant: Mutant
    verdict: str  # the checker's: passed (the mutant survived), wrong, ...
    hint: str


def run(
    solution: Path,
    workspace: Path,
    left_out: Collection[str] = (),
    timeout: int = 120,
    answers: Mapping[str, Sequence[Mutant]] | None = None,
) -> list[Outcome]:
    """Run the solution once in one kernel; before each exercise's own answer and check, try its mutants (unless
    the exercise is `left_out`), then its other `answers` (stubs, wrong ones, shortcuts), each with the check, as a
    learner tries answers before the right one. The solution's answer runs last: later exercises build on it, and
    its check passing after the others proves that the check can run again (one that cannot would have called every
    mutant wrong). An answer cell must come right before its check (as `make labs` requires)."""
    nb = grading.with_workspace(nbformat.read(solution, as_version=4), workspace)
    # an endless mutant is timed out, as the checker times out a learner's loop
    client = execution.notebook_client(
        nb, Path(solution).resolve().parent, ensure_kernel(), LocalKernelManager, timeout=timeout
    )
    set_up = _bound(*(c.source for c in nb.cells if c.cell_type == "code" and not tampering.is_exercise(c)))
    outcomes = []
    with client.setup_kernel():
        answer = None
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if tampering.is_answer(cell):  # held back: it runs with its check, after the answers tried before it
                answer = cell
                continue
            if answer is None:
                client.execute_cell(cell, index)
                continue
            exercise = cell.metadata.get("nbgrader", {}).get("grade_id")
            if not cell.metadata.get("nbgrader", {}).get("grade"):
                raise errors.RunError(
                    f"{solution.stem}: the answer cell before cell {index} is not followed by its check"
                )
            tried = [] if exercise in left_out else mutants(exercise, answer.source)
            tried += (answers or {}).get(exercise, [])
            forget = sorted(set(_bound(answer.source, cell.source)) - set(set_up))
            outcomes += [_try(client, m, forget, cell, index) for m in tried]
            solved = _try(
                client, Mutant(exercise, "none (the solution)", answer.source), forget, cell, index, last=True
            )
            if solved.verdict != verdicts.PASSED:
                again = (
                    ": a learner runs a check again after a wrong answer too, make it re-runnable and independent "
                    "of what a wrong answer left behind"
                )
                raise errors.RunError(
                    f"{solution.stem}: the solution fails {exercise}{' after the answers tried' if tried else ''} "
                    f"({solved.verdict}: {solved.hint}){again if tried else ''}"
                )
            answer = None
    return outcomes


def _bound(*sources: str) -> list[str]:
    """The names cells bind at their top level (assigned, defined, imported, a loop's or a `with`'s variable), in
    blocks too; not `x.attr = ...` or `d[k] = ...`, which bind no name."""

    def names(target) -> list[str]:
        if isinstance(target, ast.Name):
            return [target.id]
        if isinstance(target, ast.Tuple | ast.List):
            return [n for element in target.elts for n in names(element)]
        return names(target.value) if isinstance(target, ast.Starred) else []

    def bound(statements) -> list[str]:
        found = []
        for node in statements:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                found.append(node.name)
            elif isinstance(node, ast.Assign):
                found += [n for target in node.targets for n in names(target)]
            elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.For):
                found += names(node.target)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                found += [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
            if isinstance(node, ast.With):
                found += [n for item in node.items if item.optional_vars for n in names(item.optional_vars)]
            for field in ("body", "orelse", "finalbody", "handlers"):
                if not isinstance(node, ast.FunctionDef | ast.ClassDef):
                    found += bound(getattr(node, field, None) or [])
        return found

    cells = (TransformerManager().transform_cell(source) for source in sources)  # %magics as Python
    return sorted({name for cell in cells for name in bound(ast.parse(cell).body)})


def _try(client: NotebookClient, mutant: Mutant, forget: list[str], check, index: int, last: bool = False) -> Outcome:
    """The check's verdict on one answer, run in the kernel where the earlier exercises were solved, once the names
    this exercise's answer and check bind (but the set-up's) are gone: an answer must not lean on what the one
    tried before it left behind. (With `del`: the checks' tampering analysis reads this cell too, and refuses
    `globals()`; the kernel forgets the cell once run.) The kernel then forgets the answer's code, as it forgets an
    edited cell's (a shortcut that used the key taints none after it), but for the `last`, the solution's: in
    JupyterLab, what an answer defines serves the next exercises, and their checks read it."""
    forget = nbformat.v4.new_code_cell("".join(f"try:\n    del {n}\nexcept NameError:\n    pass\n" for n in forget))
    mutated, checked = nbformat.v4.new_code_cell(mutant.source), nbformat.v4.new_code_cell(check.source)
    for cell in (forget, _replaced(forget), mutated, checked, *([] if last else [_replaced(mutated)])):
        client.execute_cell(cell, index)
    if grading.error(forget):
        raise errors.RunError(f"forgetting {mutant.exercise}'s names failed: {grading.error(forget)}")
    result = grading.judge(mutant.exercise, [mutated], checked, [], client.timeout)
    return Outcome(mutant, result.status, result.hint)


def _replaced(cell) -> nbformat.NotebookNode:
    """A cell that has the kernel forget the code `cell` ran (feedback.replaced): the `del` of a name the check
    forbids (its key, bound by the check itself) is the runner's, and a shortcut's use of the key is past."""
    return nbformat.v4.new_code_cell(f"from mlops_workbook.course import feedback\nfeedback.replaced({cell.source!r})")


def survivors(outcomes: list[Outcome]) -> list[Outcome]:
    """The mutants their check called passed."""
    return [o for o in outcomes if o.verdict == verdicts.PASSED]
