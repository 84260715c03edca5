"""What a submission may change: its answers. The rest is rebuilt from the workbook's own source.

nbgrader's autograde restores the locked cells from the source version before it grades; this module
does the same for the workbook's checker. Every cell that is not an answer (set-up, instructions, check
cells, their metadata and order) comes from the lab that `solutions/` generates, and only the answer
cells come from the submission, matched by their nbgrader id. What the learner changed outside the
answers is reported per exercise, so the checker never counts a tampered exercise as passed:

- a check cell deleted, duplicated, moved, edited, or with other nbgrader metadata;
- an answer that rebinds a name the set-up or the checks use (`deployment = ...`), or patches something
  the set-up imported (`http_client.call = ...`), unless the solution's own answer does the same.

`uses` finds, for a check's `feedback.exercise(..., without=...)`, an answer that calls the workbook's own
implementation of what the exercise asks for: that answer is wrong, not tampered (the check cell says so).

Static analysis cannot see every trick (`exec`, `getattr`): the checker runs a submission as untrusted code.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

PACKAGE = "mlops_workbook"  # its source holds every key a check names
_GRADING_KEYS = ("grade", "solution", "locked", "points", "grade_id")


def _grading(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _id(cell) -> str | None:
    return _grading(cell).get("grade_id")


def is_answer(cell) -> bool:
    """An answer cell: what the learner writes (nbgrader's solution cell)."""
    return bool(_grading(cell).get("solution"))


def _is_check(cell) -> bool:
    return bool(_grading(cell).get("grade")) and cell.cell_type == "code"


def is_exercise(cell) -> bool:
    """An answer or a check cell: where a learner's code runs (the rest is the workbook's set-up)."""
    return is_answer(cell) or _is_check(cell)


def exercise_of(answer_id: str, check_ids: list[str]) -> str:
    """The exercise an answer cell belongs to: its check cell's id (answers are named `<check id>_answer`)."""
    return next((c for c in check_ids if answer_id.startswith(c)), answer_id.removesuffix("_answer"))


@dataclass
class Rebuilt:
    notebook: nbformat.NotebookNode
    tampered: dict[str, list[str]] = field(default_factory=dict)  # exercise → what was changed

    def note(self, exercise: str, what: str) -> None:
        self.tampered.setdefault(exercise, []).append(what)


def rebuild(submission: nbformat.NotebookNode, source: nbformat.NotebookNode, solution=None) -> Rebuilt:
    """`source` (the blank lab) with the submission's answer cells in place, and what else it changed.

    `solution` (the solved notebook) says which names the answers are meant to bind; without it, any
    rebinding of a set-up name counts as tampering.
    """
    checks = [_id(c) for c in source.cells if _is_check(c)]
    handed_in: dict[str, list] = {}
    for cell in submission.cells:
        if _id(cell):
            handed_in.setdefault(_id(cell), []).append(cell)
    rebuilt = Rebuilt(copy.deepcopy(source))
    _compare_checks(source, handed_in, submission, checks, rebuilt)

    setup = _setup_names(source)
    allowed = _answer_bindings(solution) if solution is not None else {}
    for cell in rebuilt.notebook.cells:
        if not is_answer(cell):
            continue
        exercise = exercise_of(_id(cell), checks)
        answers = handed_in.get(_id(cell), [])
        if len(answers) > 1:
            rebuilt.note(exercise, f"the answer cell {_id(cell)} appears {len(answers)} times")
        if answers:
            cell.source = answers[0].source
            for name in sorted(_rebinds(cell.source, setup, allowed.get(_id(cell), set()))):
                rebuilt.note(exercise, _describe(name))
    return rebuilt


def _describe(name: str) -> str:
    if name.endswith("."):
        return f"the answer patches `{name[:-1]}`, which the lab's set-up made"
    if name.startswith("…") or name in ("__builtins__", "builtins", "globals"):
        return f"the answer reaches `{name.lstrip('…')}`, through which it could change what the checks see"
    return f"the answer rebinds `{name}`, which the lab's set-up or checks use"


def _compare_checks(source, handed_in: dict, submission, checks: list[str], rebuilt: Rebuilt) -> None:
    order = [_id(c) for c in submission.cells if _is_check(c) and _id(c) in checks]
    kept = [c for c in checks if c in order]
    moved = [c for c in order if kept.index(c) != order.index(c)] if len(set(order)) == len(order) else []
    for cell in source.cells:
        if not _is_check(cell):
            continue
        exercise, found = _id(cell), handed_in.get(_id(cell), [])
        if not found:
            rebuilt.note(exercise, "its check cell was deleted (or its nbgrader id changed)")
            continue
        if len(found) > 1:
            rebuilt.note(exercise, f"its check cell appears {len(found)} times")
        if any(lines(f.source) != lines(cell.source) for f in found):
            rebuilt.note(exercise, "its check cell was edited")
        if any(
            {k: _grading(f).get(k) for k in _GRADING_KEYS} != {k: _grading(cell).get(k) for k in _GRADING_KEYS}
            for f in found
        ):
            rebuilt.note(exercise, "its check cell's nbgrader metadata was changed")
        if exercise in moved:
            rebuilt.note(exercise, "its check cell was moved")


def lines(source: str) -> tuple[str, ...]:
    """A cell's code, ignoring trailing spaces and blank lines a notebook editor may add."""
    return tuple(line.rstrip() for line in source.strip().splitlines())


def _tree(source: str) -> ast.Module | None:
    """The cell as the kernel runs it: IPython's syntax (`%magic`, `!command`) turned into the Python it stands for."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:  # the kernel will say what is wrong with it
        return None


def uses(code: str, names: tuple[str, ...]) -> set[str]:
    """Which of `names` the code refers to: as a name it does not bind itself (a learner's own `psi = ...` is
    theirs), an attribute (`reference.psi`), an import (`from m import psi`, `import m.psi`) or a string
    (`getattr(reference, "psi")`), whatever it is called through."""
    tree = _tree(code)
    if tree is None or not names:
        return set()
    own = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    own |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    own |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in own:
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found |= {*node.name.split("."), node.asname or ""}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= set(node.module.split("."))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
    return found & set(names)


def source_files(code: str, keys: tuple[str, ...]) -> set[str]:
    """The paths the code names (in a string or a shell command) to where one of `keys` is written: the module file
    that defines it (`open("../src/mlops_workbook/cm/drift.py")` when `psi` is a key), or a folder or pattern of the
    package's that holds it (`"src/mlops_workbook/**/*.py"`). A file of the package that defines no key is no key's
    source: a lab may point a learner at it."""
    tree = _tree(code)
    if tree is None:
        return set()
    package = Path(__file__).resolve().parent.parent  # the package as installed: src/mlops_workbook here
    found = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        for token in node.value.split():  # `!cat ../src/...` reaches the kernel as one string
            _, inside, rest = token.strip("'\"(),").partition(f"{PACKAGE}/")
            if not inside:
                continue
            target = package / rest
            if not target.is_file() or not rest.endswith(".py") or _defines(target, keys):
                found.add(token)  # a folder, a pattern, a compiled file, or the key's own module
    return found


def _defines(module, keys: tuple[str, ...]) -> bool:
    """Whether the module is one of `keys` (`smoke`), or its source defines one (a function, class, method or
    assigned name)."""
    if module.stem in keys:
        return True
    tree = _tree(module.read_text())
    defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    defined |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return bool(defined & set(keys))


def _setup_names(source) -> set[str]:
    """Every name a cell other than an answer binds at the top level: what the set-up and the checks rely on."""
    names: set[str] = set()
    for cell in source.cells:
        if cell.cell_type == "code" and not is_answer(cell):
            tree = _tree(cell.source)
            names |= _bound(tree) if tree else set()
    return names


def _answer_bindings(solution) -> dict[str, set[str]]:
    """Per answer id, the names the solution's answer binds or patches: what the exercise asks the learner to."""
    found: dict[str, set[str]] = {}
    for cell in solution.cells:
        if is_answer(cell):
            tree = _tree(cell.source)
            found[_id(cell)] = (_bound(tree) | _patched(tree)) if tree else set()
    return found


def _rebinds(code: str, setup: set[str], allowed: set[str]) -> set[str]:
    tree = _tree(code)
    if tree is None:
        return set()
    return (
        (_bound(tree) & setup) | (_patched(tree) & {f"{n}." for n in setup} | _patched_names(tree, setup))
    ) - allowed


_OWN_SCOPE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_OWN_SCOPE += (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _top_level(node):
    """The nodes of a statement that run in the module's scope (not inside a function, class or comprehension)."""
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, _OWN_SCOPE):
            yield from _top_level(child)


def _bound(tree: ast.Module) -> set[str]:
    """Names the module's top level binds (assignments, definitions, imports, for/with targets, `global`)."""
    names = set()
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(statement.name)
            continue
        for node in _top_level(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.alias):
                names.add((node.asname or node.name).split(".")[0])
    names |= {name for node in ast.walk(tree) if isinstance(node, ast.Global) for name in node.names}
    return names


def _patched(tree: ast.Module) -> set[str]:
    """`x.attr` for every attribute or item assigned anywhere (`x.attr = ...`, `x[k] = ...`, `del x.attr`)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            root = node.value
            while isinstance(root, (ast.Attribute, ast.Subscript)):
                root = root.value
            if isinstance(root, ast.Name):
                found.add(f"{root.id}.")
    return found


def _patched_names(tree: ast.Module, setup: set[str]) -> set[str]:
    """Patching by call: setattr(x, ...), x.__dict__..., or reaching builtins / sys.modules."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
            target = node.args[0] if node.args else None
            if isinstance(target, ast.Name) and target.id in setup:
                found.add(f"{target.id}.")
        if isinstance(node, ast.Name) and node.id in ("__builtins__", "builtins", "globals"):
            found.add(node.id)
        if isinstance(node, ast.Attribute) and node.attr in ("modules", "__dict__", "__builtins__"):
            found.add(f"…{node.attr}")
    return found
