"""Labs: generated from the solved notebooks (grading.py checks them).

A solution notebook marks what the learner writes with nbgrader's markers
(`### BEGIN SOLUTION` / `### END SOLUTION` in a cell whose metadata says
`nbgrader.solution`). Each exercise ends with a locked check cell (`nbgrader.grade`)
whose asserts carry the hint. The lab is the solution with nbgrader's own
ClearSolutions, ClearOutput and LockCells applied (JupyterLab will not let a learner edit
or delete a locked cell), as `nbgrader generate_assignment` makes it; it is never edited by hand.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearOutput, ClearSolutions, LockCells

from mlops_workbook.core import paths

_RUN_METADATA = ("papermill", "execution", "collapsed", "scrolled")


def generate(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The lab handed to learners: solutions replaced by stubs, outputs and run metadata removed."""
    lab = copy.deepcopy(solution)
    resources = {"language": "python"}
    lab, resources = ClearSolutions().preprocess(lab, resources)
    lab, resources = ClearOutput().preprocess(lab, resources)
    lab, resources = LockCells().preprocess(lab, resources)
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


def solution_for(submission: nbformat.NotebookNode, name: str) -> Path | None:
    """The solution a submission answers: by its file name, else by its exercise ids (a renamed copy)."""
    by_name = {s.stem: s for s, _ in lab_pairs()}
    if name in by_name:
        return by_name[name]
    ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in submission.cells} - {None}
    for solution, _ in lab_pairs():
        own = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nbformat.read(solution, as_version=4).cells}
        if ids and ids <= own:
            return solution
    return None
