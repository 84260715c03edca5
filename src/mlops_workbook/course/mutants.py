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
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager
from nbclient import NotebookClient

from mlops_workbook.course import grading, tampering, verdicts
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


def _shifted(number: str) -> str:
    value = float(number)
    if re.fullmatch(r"\d+", number):
        return str(int(value) + 1)
    return repr(round(value * 1.1, 12)) if value else "0.1"


def _token_mutants(exercise: str, source: str, region: range) -> list[Mutant]:
    """Flipped comparisons and `and`/`or`, a dropped `not`, a flipped boolean, moved numbers (not in a test's data:
    a test with other values is as good a test) and thresholds in text."""
    a_test = any(isinstance(n, ast.FunctionDef) and n.name.startswith("test_") for n in ast.walk(ast.parse(source)))
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        line = token.start[0]
        if line not in region:
            continue
        if token.string in FLIPS and token.type in (tokenize.OP, tokenize.NAME):
            changes = [(token.start, token.end, FLIPS[token.string])]
        elif token.string == "not" and token.type == tokenize.NAME:
            changes = [(token.start, (line, token.end[1] + 1), "")]  # `not x` → `x`
        elif token.string in ("True", "False"):
            changes = [(token.start, token.end, "False" if token.string == "True" else "True")]
        elif token.type == tokenize.NUMBER and not a_test and re.fullmatch(r"[\d.]+(e-?\d+)?", token.string):
            changes = [(token.start, token.end, _shifted(token.string))]
        elif token.type == tokenize.STRING:
            changes = [
                (_at(token, m.start()), _at(token, m.end()), _shifted(m.group()))
                for m in THRESHOLD_IN_TEXT.finditer(token.string)
            ]
        else:
            continue
        for start, end, text in changes:
            was = source.splitlines()[start[0] - 1][start[1] : end[1]] if start[0] == end[0] else "…"
            where = f"line {start[0]}, column {start[1] + 1}"
            found.append(Mutant(exercise, f"{where}: `{was.strip()}` → `{text}`", _replace(source, start, end, text)))
    return found


def _at(token: tokenize.TokenInfo, index: int) -> tuple[int, int]:
    """The (line, column) of the `index`-th character of a (maybe multi-line) token."""
    before = token.string[:index]
    line = token.start[0] + before.count("\n")
    column = len(before) - before.rfind("\n") - 1 if "\n" in before else token.start[1] + len(before)
    return line, column


def _statement_mutants(exercise: str, source: str, region: range) -> list[Mutant]:
    found = []
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.body[0].lineno in region:
            first = node.body[0]
            indent = " " * first.col_offset
            for constant in CONSTANTS:
                body = f"{indent}return {constant}\n"
                mutated = "".join(lines[: first.lineno - 1]) + body + "".join(lines[node.end_lineno :])
                found.append(Mutant(exercise, f"`{node.name}` returns {constant}", mutated))
        block = (
            [*getattr(node, "body", []), *getattr(node, "orelse", [])]
            if isinstance(node, ast.stmt | ast.Module)
            else []
        )
        for statement in block:
            simple = isinstance(statement, ast.Assign | ast.AugAssign | ast.Expr | ast.If | ast.For)
            if simple and statement.lineno in region and statement.end_lineno in region:
                gone = f"{' ' * statement.col_offset}pass\n"
                mutated = "".join(lines[: statement.lineno - 1]) + gone + "".join(lines[statement.end_lineno :])
                first_line = lines[statement.lineno - 1].strip()
                found.append(Mutant(exercise, f"line {statement.lineno} dropped: `{first_line}`", mutated))
    return found


def mutants(exercise: str, source: str) -> list[Mutant]:
    """Every mutant of one answer cell's solution region."""
    region = _region(source)
    return _token_mutants(exercise, source, region) + _statement_mutants(exercise, source, region)


@dataclass(frozen=True)
class Outcome:
    mutant: Mutant
    verdict: str  # the checker's: passed (the mutant survived), wrong, ...
    hint: str


def run(solution: Path, workspace: Path, left_out: Collection[str] = (), timeout: int = 120) -> list[Outcome]:
    """Run the solution once in one kernel, and each exercise's mutants (but those `left_out`) after its check:
    the mutant answer and the check again, then the solution's answer and check (what later exercises build on)."""
    nb = grading.with_workspace(nbformat.read(solution, as_version=4), workspace)
    client = NotebookClient(
        nb,
        kernel_name=ensure_kernel(),
        kernel_manager_class=LocalKernelManager,
        timeout=timeout,
        allow_errors=True,
        resources={"metadata": {"path": str(Path(solution).resolve().parent)}},
    )
    set_up = _bound(*(c.source for c in nb.cells if c.cell_type == "code" and not tampering.is_exercise(c)))
    outcomes = []
    with client.setup_kernel():
        answer = None
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            client.execute_cell(cell, index)
            if tampering.is_answer(cell):
                answer = cell
            elif cell.metadata.get("nbgrader", {}).get("grade") and answer is not None:
                exercise = cell.metadata["nbgrader"]["grade_id"]
                if exercise not in left_out:
                    forget = sorted(set(_bound(answer.source, cell.source)) - set(set_up))
                    outcomes += [_try(client, m, forget, cell, index) for m in mutants(exercise, answer.source)]
                    for restored in (answer, cell):
                        client.execute_cell(nbformat.v4.new_code_cell(restored.source), index)
                answer = None
    return outcomes


def _bound(*sources: str) -> list[str]:
    """The names cells define at their top level (assigned, defined, imported)."""
    names = []
    cells = (TransformerManager().transform_cell(source) for source in sources)  # %magics as Python
    for node in (node for cell in cells for node in ast.parse(cell).body):
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.For):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names += [(a.asname or a.name).split(".")[0] for a in node.names]
    return sorted(set(names))


def _try(client: NotebookClient, mutant: Mutant, forget: list[str], check, index: int) -> Outcome:
    """The check's verdict on the mutant, run where the solution's own answer and check ran, once the names they
    defined (but the set-up's) are gone: a mutant must not lean on what the solution left behind. (With `del`: the
    checks' tampering analysis reads this cell too, and refuses `globals()`.)"""
    forget = nbformat.v4.new_code_cell("".join(f"try:\n    del {n}\nexcept NameError:\n    pass\n" for n in forget))
    mutated, checked = nbformat.v4.new_code_cell(mutant.source), nbformat.v4.new_code_cell(check.source)
    for cell in (forget, mutated, checked):
        client.execute_cell(cell, index)
    result = grading.judge(mutant.exercise, [mutated], checked, [], client.timeout)
    return Outcome(mutant, result.status, result.hint)


def survivors(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.verdict == verdicts.PASSED]
