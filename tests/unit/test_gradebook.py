"""The LMS export refuses what it cannot grade, before writing anything."""

import pandas as pd
import pytest

from mlops_workbook.core import errors
from mlops_workbook.course import gradebook


def test_each_lab_is_worth_its_check_cells_points():
    worth = gradebook.points()
    assert list(worth) == sorted(worth) and len(worth) == 9
    assert all(exercises and all(p > 0 for p in exercises.values()) for exercises in worth.values())


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("grades.xlsx", "x", "expected `mlops-workbook check`'s class report"),
        ("report.csv", "a,b\n1,2\n", "not class reports"),
        ("missing.csv", None, "no such file"),
    ],
)
def test_what_is_not_a_class_report_or_a_gradebook_is_refused(tmp_path, name, content, said):
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(errors.BadInputError, match=said):
        gradebook.read(tmp_path / name)


def test_a_lab_the_workbook_does_not_ship_is_refused_and_nothing_written(tmp_path):
    table = pd.DataFrame({"00_overview": [3], "99_extra": [1]}, index=["ada"])
    with pytest.raises(errors.BadInputError, match="99_extra"):
        gradebook.write(table, tmp_path / "gradebook.csv")
    assert not (tmp_path / "gradebook.csv").exists()


def test_a_learner_without_a_lab_has_no_grade_and_a_zero_stays_a_zero(tmp_path):
    table = pd.DataFrame({"00_overview": [3.0, 0.0], "06_ct_training_pipeline": [None, 1.5]}, index=["ada", "bo"])
    book = pd.read_csv(gradebook.write(table, tmp_path / "g.csv"), dtype=str, keep_default_na=False)
    assert list(book.columns[:5]) == gradebook.IDENTITY and book.loc[0, "Student"] == gradebook.POSSIBLE
    rows = book.set_index("SIS Login ID")
    assert rows.loc["ada", "00_overview"] == "3" and rows.loc["ada", "06_ct_training_pipeline"] == ""
    assert rows.loc["bo", "00_overview"] == "0" and rows.loc["bo", "06_ct_training_pipeline"] == "1.5"
