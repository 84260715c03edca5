"""A class's points in the CSV a learning management system imports: one row per learner, one column per lab.

The layout is Canvas's gradebook export, which Canvas imports back and Moodle's CSV grade import maps by column:
Student, ID, SIS User ID, SIS Login ID, Section, then one column per lab, and under the header a "Points Possible"
row. The learner's folder name (submissions/<learner>/) is the SIS Login ID the LMS matches on. Points are
nbgrader's, from the solutions' check cells: the workbook's checker gives an exercise's points when it passed,
nbgrader's gradebook when its check cell ran without an error. A lab a learner did not hand in, or that could not
be checked (a heavy lab graded in the sandbox), is left empty: no grade, not zero.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import nbformat
import pandas as pd

from mlops_workbook.core import errors, paths
from mlops_workbook.course import grading, labs, verdicts

IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POSSIBLE = "Points Possible"


def points() -> dict[str, dict[str, int]]:
    """{lab: {exercise: points}} from the solutions' graded check cells (what nbgrader gives for each)."""
    found = {}
    for solution, _ in labs.lab_pairs():
        cells = nbformat.read(solution, as_version=4).cells
        graded = [c.metadata["nbgrader"] for c in cells if c.metadata.get("nbgrader", {}).get("grade")]
        found[solution.stem] = {g["grade_id"]: g["points"] for g in graded}
    return found


def from_class_report(report: Path) -> tuple[pd.DataFrame, dict[str, float]]:
    """({learner × lab: points}, {lab: points possible}) from `mlops-workbook check`'s class report (or `merge`'s)."""
    results = grading.merge([report])  # the same checks as merging shards: a clear error if it is not a report
    checked = results[results["exercise"] != "-"]  # a submission that could not be checked has one row, "-"
    twice = checked[checked.duplicated(["learner", "lab", "exercise"])]
    if not twice.empty:
        first = twice.iloc[0]
        raise errors.BadInputError(
            f"{paths.show(report)} grades {first['learner']}'s {first['lab']} {first['exercise']} more than once "
            "(a report merged with itself?): merge each shard's report once"
        )
    worth = points()
    scored = checked.assign(
        points=[
            worth.get(lab, {}).get(exercise, 0) * (result == verdicts.PASSED)
            for lab, exercise, result in zip(checked["lab"], checked["exercise"], checked["result"])
        ]
    )
    table = scored.pivot_table(index="learner", columns="lab", values="points", aggfunc="sum")
    possible = {lab: sum(exercises.values()) for lab, exercises in worth.items()}
    return table.reindex(sorted(set(results["learner"]))), possible


def from_nbgrader(database: Path) -> tuple[pd.DataFrame, dict[str, float]]:
    """({learner × lab: points}, {lab: points possible}) from nbgrader's gradebook.db after `nbgrader autograde`.

    Points possible are the gradebook's own: a course released from another cohort's solutions keeps its points.
    """
    _require_gradebook(database)  # nbgrader's Gradebook() would create its tables in any other SQLite file
    from nbgrader.api import Gradebook, MissingEntry

    rows, possible = {}, {}
    with Gradebook(f"sqlite:///{database.resolve()}") as book:
        for assignment in book.assignments:
            possible[assignment.name] = assignment.max_score
        for student in book.students:
            rows[student.id] = {}
            for assignment in book.assignments:
                try:
                    rows[student.id][assignment.name] = book.find_submission(assignment.name, student.id).score
                except MissingEntry:
                    pass  # not handed in: no grade
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(possible)).sort_index(), possible


def _require_gradebook(database: Path) -> None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database.resolve()}?mode=ro", uri=True)) as db:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError:
        tables = set()
    if not {"assignment", "student", "submitted_assignment"} <= tables:
        raise errors.BadInputError(
            f"{paths.show(database)} is not an nbgrader gradebook: pass the gradebook.db in your course folder, "
            "after `nbgrader autograde`"
        )


def read(source: Path) -> tuple[pd.DataFrame, dict[str, float]]:
    """A class's points and each lab's possible points, from either grader: a class report (.csv) or gradebook.db."""
    if not source.is_file():
        raise errors.BadInputError(f"no such file: {paths.show(source)}: pass a class report (.csv) or gradebook.db")
    if source.suffix == ".db":
        return from_nbgrader(source)
    if source.suffix == ".csv":
        return from_class_report(source)
    raise errors.BadInputError(
        f"{paths.show(source)}: expected `mlops-workbook check`'s class report (.csv) or nbgrader's gradebook.db"
    )


def write(table: pd.DataFrame, possible: dict[str, float], out: Path) -> Path:
    """The LMS's import file: identity columns, one column per lab in course order, the Points Possible row first."""
    unknown = sorted(set(table.columns) - set(possible))
    if unknown:
        raise errors.BadInputError(f"not labs of this course: {', '.join(unknown)}: grade the labs it ships")
    columns = sorted(possible)
    rows = [dict.fromkeys(IDENTITY, "") | {"Student": POSSIBLE} | {lab: _number(possible[lab]) for lab in columns}]
    for learner, scores in table.reindex(columns=columns).iterrows():
        given = {lab: ("" if pd.isna(score) else _number(score)) for lab, score in scores.items()}
        rows.append({"Student": learner, "ID": "", "SIS User ID": "", "SIS Login ID": learner, "Section": ""} | given)
    pd.DataFrame(rows, columns=IDENTITY + columns).to_csv(out, index=False)
    return out


def _number(score: float) -> int | float:
    return int(score) if float(score).is_integer() else round(float(score), 2)
