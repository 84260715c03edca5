"""Grading: a learner's lab, rebuilt from the workbook's source, executed and judged exercise by exercise.

Only the answer cells come from the submission (tampering.py rebuilds the rest from `solutions/` and
says what else the learner changed); a check cell's assert carries the hint a learner sees. An exercise
whose checks were tampered with is reported as such, never as passed.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import pandas as pd
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from mlops_workbook.core import errors, instance, paths, progress
from mlops_workbook.course import envcheck, execution, labs, tampering, verdicts
from mlops_workbook.course.runner import LocalKernelManager, ensure_kernel, kernel_server
from mlops_workbook.course.verdicts import CRASHED, TAMPERED, ExerciseResult, Raised


def error(cell) -> dict | None:
    """The error an executed cell raised (its `error` output), if any."""
    return next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)


def judge(exercise: str, answers: list, check_cell, earlier: list[ExerciseResult], timeout: int) -> ExerciseResult:
    """The verdict on an exercise from its executed answer cells and check cell (their error outputs)."""
    raised = [Raised(e["ename"], e["evalue"], False) for e in map(error, answers) if e]
    checked = error(check_cell)
    if checked:
        raised.append(Raised(checked["ename"], checked["evalue"], True))
    return verdicts.judge(exercise, raised, earlier, f"a cell ran longer than {timeout} s: is there an endless loop?")


def rebuilt(lab: Path, source: Path | None = None) -> tampering.Rebuilt:
    """The submission's answers in the lab `solutions/` generates (or in `source`, a solved notebook)."""
    submission = _read(Path(lab))
    solution_path = source or labs.solution_for(submission, Path(lab).stem)
    if solution_path is None:
        raise errors.BadInputError(
            f"{paths.show(Path(lab))} is not one of the workbook's labs: name it as in labs/ (e.g. 00_overview.ipynb)"
        )
    return tampering.rebuild(submission, *_source(Path(solution_path)))


def _read(lab: Path) -> nbformat.NotebookNode:
    """The submission as a notebook, or BadInputError saying that it is not one."""
    try:
        return nbformat.read(lab, as_version=4)
    except (ValueError, TypeError, KeyError, AttributeError) as error:  # not JSON, or JSON that is not a notebook
        raise errors.BadInputError(
            f"{paths.show(lab)} is not a Jupyter notebook ({type(error).__name__}): pass a lab's .ipynb file "
            "as JupyterLab saves it"
        ) from None


@functools.cache
def _source(solution_path: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """(blank lab, solution) of one lab, read and generated once per process, not once per submission."""
    solution = nbformat.read(solution_path, as_version=4)
    return labs.generate(solution), solution


def check(
    lab: Path,
    timeout: int = 120,
    source: Path | None = None,
    workspace: Path | None = None,
    image: str | None = None,
    output: Path | None = None,
) -> list[ExerciseResult]:
    """Execute a learner's lab and say, per exercise, passed / not yet solved / wrong / timed out / crashed,
    or tampered when the submission changed more than its answers.

    Only the answers are the learner's: the rest of the notebook comes from `solutions/` (or `source`).
    `workspace` (papermill injects it as the lab's parameter) is where the lab writes; by default the
    dev one, `runs/dev/`, as when the learner runs it. With `image` (the grading image, execution.image()) the
    lab runs in a throwaway container of it instead, writing only to its own workspace there. With `output`,
    the executed lab is written there too (what a learner who ran it in JupyterLab would have seen).
    """
    rebuilt_lab = rebuilt(lab, source)
    nb = rebuilt_lab.notebook
    if image:
        needs = envcheck.notebook_needs(nb)
        if needs:
            raise errors.BadInputError(
                f"{paths.show(Path(lab))} needs {', '.join(needs)}, which a grading container does not have: check "
                "labs like it with --no-sandbox on a throwaway runner (README: Check a class's labs)"
            )
        nb = execution.contained(with_workspace(nb, Path(execution.WORKSPACE)), timeout, image)
    else:
        if workspace is not None:
            nb = with_workspace(nb, workspace)
        nb = execution.here(nb, timeout, Path(lab).resolve().parent, ensure_kernel(), LocalKernelManager)
    if output is not None:
        nbformat.write(nb, output)
    setup_error = next(
        (e for c in nb.cells if c.cell_type == "code" and not tampering.is_exercise(c) for e in [error(c)] if e),
        None,
    )
    if setup_error:  # not the learner's doing: say what the lab needs instead of failing every exercise
        raise errors.BadInputError(
            f"{paths.show(lab)} could not set up: {setup_error['ename']}: {setup_error['evalue']}"
        )
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
                outcomes.append(judge(grading["grade_id"], answers, cell, outcomes, timeout))
            answers = []
    return [_unless_tampered(o, rebuilt_lab.tampered.get(o.exercise)) for o in outcomes]


def with_workspace(nb: nbformat.NotebookNode, workspace: Path) -> nbformat.NotebookNode:
    """The lab with `workspace` injected as papermill injects a parameter (loaded by papermill's own loader)."""
    with tempfile.TemporaryDirectory() as folder:
        nbformat.write(nb, Path(folder) / "lab.ipynb")
        loaded = load_notebook_node(str(Path(folder) / "lab.ipynb"))
    return parameterize_notebook(loaded, {"workspace": str(workspace)}, kernel_name=ensure_kernel())


def _unless_tampered(outcome: ExerciseResult, changes: list[str] | None) -> ExerciseResult:
    """A tampered exercise is reported as such; what the restored checks said is kept in the hint."""
    if not changes:
        return outcome
    verdict = f"{outcome.status}{': ' + outcome.hint if outcome.hint else ''}"
    return ExerciseResult(
        outcome.exercise,
        TAMPERED,
        f"{'; '.join(changes)}. Only the answer cells count: the lab was checked with the workbook's own cells, "
        f"which said: {verdict}",
    )


COLUMNS = ["learner", "lab", "exercise", "result", "hint"]


def submissions(folder: Path, shard: tuple[int, int] | None = None) -> list[Path]:
    """`folder/<learner>/<lab>.ipynb`, in order; with `shard=(i, n)` only every n-th from the i-th (1-based).

    Shards are interleaved, so each CI job of a class split n ways gets about as many labs of each kind.
    """
    found = sorted(Path(folder).glob("*/*.ipynb"))
    if not found:
        raise errors.BadInputError(
            f"no submissions in {paths.show(Path(folder))}: expected <learner>/<lab>.ipynb, "
            "e.g. alice/07_cm_monitoring.ipynb"
        )
    if shard is None:
        return found
    index, total = shard
    if not 1 <= index <= total:
        raise errors.BadInputError(f"shard {index}/{total}: expected i/n with 1 <= i <= n, e.g. --shard 1/4")
    return found[index - 1 :: total]


def _rows(path: Path, timeout: int, workspace: Path, image: str | None) -> list[tuple]:
    """One submission's rows of the class report; one row saying why when it cannot be checked at all."""
    learner, lab = path.parent.name, path.stem
    try:
        checked = check(path, timeout, workspace=workspace, image=image)
        answered = labs.solution_for(nbformat.read(path, as_version=4), path.stem)
        lab = answered.stem if answered else lab  # a renamed copy (07 (1).ipynb) is the lab it answers
        return [(learner, lab, o.exercise, o.status, o.hint) for o in checked]
    except (ValueError, OSError, nbformat.ValidationError) as error:  # unreadable JSON is a ValueError too
        return [(learner, lab, "-", "not checked", str(error).splitlines()[0])]


def class_report(
    folder: Path,
    timeout: int = 120,
    jobs: int | None = None,
    shard: tuple[int, int] | None = None,
    contained: bool = False,
) -> pd.DataFrame:
    """Check every submission in `folder/<learner>/<lab>.ipynb` (or one shard of them): one row per learner,
    lab and exercise, in the same order however many `jobs` (default: one per core) check side by side.

    Each submission writes only to a workspace of its own, and with jobs > 1 each runs in a workbook
    instance of its own (ports, containers), so two learners' copies of a lab never meet. A submission that
    cannot be checked at all (not a notebook, not one of the workbook's labs, a set-up that fails) gets one
    row saying why, so one bad file never stops the class's report. With `contained`, each submission runs in a
    throwaway container of its own (execution.py).
    """
    found = submissions(folder, shard)
    image = execution.image() if contained else None
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(found)))
    results: dict[Path, list[tuple]] = {}
    kernels = contextlib.nullcontext() if contained else kernel_server()  # a container starts its own kernel
    with kernels, tempfile.TemporaryDirectory(prefix="mlops-workbook-grading-") as scratch:
        workspaces = {path: Path(scratch) / f"{i}-{path.parent.name}" for i, path in enumerate(found)}
        bar = progress.bar(total=len(found), desc=f"checking ({jobs} at a time)", unit="submission")
        if jobs == 1:
            for path in found:
                results[path] = _rows(path, timeout, workspaces[path], image)
                bar.update()
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(jobs, mp_context=context, initializer=instance.claim) as pool:
                pending = {pool.submit(_rows, path, timeout, workspaces[path], image): path for path in found}
                for done in as_completed(pending):
                    results[pending[done]] = done.result()
                    bar.update()
        bar.close()
    return pd.DataFrame([row for path in found for row in results[path]], columns=COLUMNS)


def merge(reports: list[Path]) -> pd.DataFrame:
    """The class report of several shards' CSVs, in the order a single run would give."""
    missing = [paths.show(Path(r)) for r in reports if not Path(r).is_file()]
    if missing:
        raise errors.BadInputError(
            f"no such report: {', '.join(missing)}: pass the CSVs each shard wrote with --report"
        )
    not_reports = errors.BadInputError(f"these are not class reports: expected the columns {COLUMNS}")
    try:
        # as text: a learner's folder named by a student number keeps its leading zeros (0042, not 42)
        merged = pd.concat([pd.read_csv(r, dtype=str, keep_default_na=False) for r in reports], ignore_index=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):  # not a CSV at all
        raise not_reports from None
    if list(merged.columns) != COLUMNS:
        raise not_reports
    return merged.sort_values(["learner", "lab"], kind="stable").reset_index(drop=True)
