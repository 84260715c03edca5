"""The LMS export refuses what it cannot grade, before writing anything."""

import sqlite3

import pandas as pd
import pytest

from mlops_workbook.core import errors
from mlops_workbook.course import gradebook


def test_each_lab_is_worth_its_check_cells_points():
    worth = gradebook.points()
    assert list(worth) == sorted(worth) and len(worth) == 9
    assert all(exercises and all(p > 0 for p in exercises.values()) for exercises in worth.values())


ROWS = "learner,lab,exercise,result,hint\n"


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("grades.xlsx", "x", "expected `mlops-workbook check`'s class report"),
        ("report.csv", "a,b\n1,2\n", "not class reports"),
        ("missing.csv", None, "no such file"),
        ("report.csv", ROWS + "ada,00_overview,ex1_stage_map,passed,\n" * 2, "more than once"),
        ("gradebook.db", "not a database", "not an nbgrader gradebook"),
    ],
)
def test_what_is_not_a_class_report_or_a_gradebook_is_refused(tmp_path, name, content, said):
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(errors.BadInputError, match=said):
        gradebook.read(tmp_path / name)
    if content is not None:
        assert (tmp_path / name).read_text() == content  # nbgrader's Gradebook() would have made it a database


def test_another_sqlite_file_is_not_taken_for_a_gradebook_nor_changed(tmp_path):
    database = tmp_path / "other.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE notes (text)")
    before = database.read_bytes()
    with pytest.raises(errors.BadInputError, match="not an nbgrader gradebook"):
        gradebook.read(database)
    assert database.read_bytes() == before


def test_a_student_number_keeps_its_leading_zeros_and_a_failed_exercise_scores_nothing(tmp_path):
    report = tmp_path / "report.csv"
    report.write_text(ROWS + "0042,00_overview,ex1_stage_map,passed,\n0042,00_overview,ex2_maturity,wrong,Hint\n")
    table, possible = gradebook.read(report)
    book = pd.read_csv(gradebook.write(table, possible, tmp_path / "g.csv"), dtype=str, keep_default_na=False)
    row = book.set_index("SIS Login ID").loc["0042"]
    assert row["00_overview"] == str(gradebook.points()["00_overview"]["ex1_stage_map"])


def test_a_lab_the_workbook_does_not_ship_is_refused_and_nothing_written(tmp_path):
    table = pd.DataFrame({"00_overview": [3], "99_extra": [1]}, index=["ada"])
    with pytest.raises(errors.BadInputError, match="99_extra"):
        gradebook.write(table, {"00_overview": 3}, tmp_path / "gradebook.csv")
    assert not (tmp_path / "gradebook.csv").exists()


def test_a_learner_without_a_lab_has_no_grade_and_a_zero_stays_a_zero(tmp_path):
    table = pd.DataFrame({"00_overview": [3.0, 0.0], "06_ct_training_pipeline": [None, 1.5]}, index=["ada", "bo"])
    possible = {"00_overview": 3, "06_ct_training_pipeline": 2}
    book = pd.read_csv(gradebook.write(table, possible, tmp_path / "g.csv"), dtype=str, keep_default_na=False)
    assert list(book.columns[:5]) == gradebook.IDENTITY and book.loc[0, "Student"] == gradebook.POSSIBLE
    rows = book.set_index("SIS Login ID")
    assert rows.loc["ada", "00_overview"] == "3" and rows.loc["ada", "06_ct_training_pipeline"] == ""
    assert rows.loc["bo", "00_overview"] == "0" and rows.loc["bo", "06_ct_training_pipeline"] == "1.5"
