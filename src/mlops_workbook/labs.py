"""Labs: generated from the solved notebooks, and checked exercise by exercise.

A solution notebook marks what the learner writes with nbgrader's markers
(`### BEGIN SOLUTION` / `### END SOLUTION` in a cell whose metadata says
`nbgrader.solution`). Each exercise ends with a locked check cell (`nbgrader.grade`)
whose asserts carry the hint. The lab is the solution with nbgrader's own
ClearSolutions and ClearOutput applied; it is never edited by hand.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbgrader.preprocessors import ClearOutput, ClearSolutions

from mlops_workbook import errors, paths
from mlops_workbook.runner import LocalKernelManager, ensure_kernel

PASSED, UNSOLVED, WRONG, TIMED_OUT, CRASHED = "passed", "not yet solved", "wrong", "timed out", "crashed"
_RUN_METADATA = ("papermill", "execution", "collapsed", "scrolled")


def generate(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The lab handed to learners: solutions replaced by stubs, outputs and run metadata removed."""
    lab = copy.deepcopy(solution)
    resources = {"language": "python"}
    lab, resources = ClearSolutions().preprocess(lab, resources)
    lab, resources = ClearOutput().preprocess(lab, resources)
    for key in ("papermill", "widgets"):  # run records and the progress bars' state: not part of a lab
        lab.metadata.pop(key, None)
    for cell in lab.cells:
        for key in _RUN_METADATA:
            cell.metadata.pop(key, None)
    return lab


def lab_pairs() -> list[tuple[Path, Path]]:
    root = paths.project_root()
    return [(s, root / "labs" / s.name) for s in sorted((root / "solutions").glob("[0-9][0-9]_*.ipynb"))]


def write_labs() -> list[Path]:
    """Regenerate every lab from its solution."""
    written = []
    for solution, lab in lab_pairs():
        nbformat.write(generate(nbformat.read(solution, as_version=4)), lab)
        written.append(lab)
    return written


def stale_labs() -> list[str]:
    """Labs that differ from what their solution generates (or are missing or orphaned)."""
    root = paths.project_root()
    stale = []
    for solution, lab in lab_pairs():
        expected = nbformat.writes(generate(nbformat.read(solution, as_version=4)))
        if not lab.exists() or nbformat.writes(nbformat.read(lab, as_version=4)) != expected:
            stale.append(paths.show(lab))
    solved = {s.name for s, _ in lab_pairs()}
    stale += [paths.show(lab) for lab in sorted((root / "labs").glob("*.ipynb")) if lab.name not in solved]
    return stale


@dataclass(frozen=True)
class ExerciseResult:
    """One exercise of a lab, as the checker judged it: passed, not yet solved, wrong or timed out, and why."""

    exercise: str
    status: str
    hint: str = ""


def _error(cell) -> dict | None:
    return next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)


# The checker interrupts a cell that runs past the timeout; the kernel answers KeyboardInterrupt
# (or nothing, and nbclient reports CellTimeout).
_TIMEOUTS = ("KeyboardInterrupt", "CellTimeout")


def _judge(exercise: str, answers: list, check_cell, earlier: list[ExerciseResult], timeout: int) -> ExerciseResult:
    errors = [e for e in map(_error, answers) if e] + [e for e in [_error(check_cell)] if e]
    if not errors:
        return ExerciseResult(exercise, PASSED)
    first, raised_in_check = errors[0], _error(check_cell) is errors[0]
    if first["ename"] in _TIMEOUTS:
        return ExerciseResult(exercise, TIMED_OUT, f"a cell ran longer than {timeout} s: is there an endless loop?")
    if first["ename"] == "NotImplementedError":
        return ExerciseResult(exercise, UNSOLVED, "replace `raise NotImplementedError()` with your answer")
    unfinished = [o.exercise for o in earlier if o.status != PASSED]
    if raised_in_check and first["ename"] == "NameError" and unfinished:
        return ExerciseResult(exercise, UNSOLVED, f"finish {', '.join(unfinished)} first")
    if raised_in_check and first["ename"] == "AssertionError":
        return ExerciseResult(exercise, WRONG, first["evalue"] or "the check failed")
    where = "the check" if raised_in_check else "your code"
    return ExerciseResult(exercise, WRONG, f"{where} raised {first['ename']}: {first['evalue']}")


def check(lab: Path, timeout: int = 120) -> list[ExerciseResult]:
    """Execute a learner's lab and say, per exercise, passed / not yet solved / wrong / timed out / crashed."""
    nb = nbformat.read(lab, as_version=4)
    for cell in nb.cells:  # what the learner's own run left must not count: only this run's outputs do
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(
        nb,
        kernel_name=ensure_kernel(),
        timeout=timeout,
        allow_errors=True,
        record_timing=False,
        interrupt_on_timeout=True,
        kernel_manager_class=LocalKernelManager,
        error_on_timeout={"ename": "CellTimeout", "evalue": "", "traceback": []},
        resources={"metadata": {"path": str(Path(lab).resolve().parent)}},
    )
    try:
        client.execute()
    except DeadKernelError:  # os._exit, out of memory...: judge what ran, and say the rest crashed
        pass
    setup_error = next(
        (e for c in nb.cells if c.cell_type == "code" and not c.metadata.get("nbgrader") for e in [_error(c)] if e),
        None,
    )
    if setup_error:  # not the learner's doing: say what the lab needs instead of failing every exercise
        raise errors.BadInput(f"{paths.show(lab)} could not set up: {setup_error['ename']}: {setup_error['evalue']}")
    outcomes: list[ExerciseResult] = []
    answers = []
    for cell in nb.cells:
        grading = cell.metadata.get("nbgrader", {})
        if grading.get("solution"):
            answers.append(cell)
        elif grading.get("grade") and cell.cell_type == "code":
            if cell.get("execution_count") is None:  # never ran: the kernel died before it
                outcomes.append(
                    ExerciseResult(
                        grading["grade_id"],
                        CRASHED,
                        "the kernel died while running your lab: does your code exit or use all memory?",
                    )
                )
            else:
                outcomes.append(_judge(grading["grade_id"], answers, cell, outcomes, timeout))
            answers = []
    if not outcomes:
        raise errors.BadInput(f"{paths.show(lab)} has no exercise check cells: is it one of the workbook's labs?")
    return outcomes


def class_report(folder: Path, timeout: int = 120) -> pd.DataFrame:
    """Check every submission in `folder/<learner>/<lab>.ipynb`: one row per learner, lab and exercise.

    A submission that cannot be checked at all (not a notebook, not one of the workbook's labs, a set-up
    that fails) gets one row saying why, so one bad file never stops the class's report.
    """
    found = sorted(Path(folder).glob("*/*.ipynb"))
    if not found:
        raise errors.BadInput(
            f"no submissions in {paths.show(Path(folder))}: expected <learner>/<lab>.ipynb, "
            "e.g. alice/07_cm_monitoring.ipynb"
        )
    rows = []
    for path in found:
        learner, lab = path.parent.name, path.stem
        try:
            rows += [(learner, lab, o.exercise, o.status, o.hint) for o in check(path, timeout)]
        except (ValueError, OSError, nbformat.ValidationError) as error:  # unreadable JSON is a ValueError too
            rows.append((learner, lab, "-", "not checked", str(error).splitlines()[0]))
    return pd.DataFrame(rows, columns=["learner", "lab", "exercise", "result", "hint"])
