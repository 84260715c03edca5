"""The early-warning lane's steps: every pin of pyproject.toml unpinned, and a report of what moved and broke."""

import tomllib

from mlops_workbook.core import paths
from mlops_workbook.course import latest

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" failures="1" errors="1">
<testcase classname="tests.unit.test_a" name="test_fine"/>
<testcase classname="tests.unit.test_a" name="test_moved">
<failure message="AttributeError: 'Report' has no attribute 'run'">trace</failure></testcase>
<testcase classname="notebooks.05_ct_data_pipeline.ipynb" name="Cell 3">
<error message="ImportError: cannot import">x</error></testcase>
</testsuite></testsuites>
"""


def test_every_direct_dependency_of_the_workbook_is_unpinned_with_its_extras_kept():
    found = latest.pins()
    project = tomllib.loads((paths.project_root() / "pyproject.toml").read_text())["project"]
    assert all("==" not in unpinned for unpinned, _ in found.values())
    assert found["mlflow"] == ("mlflow", project["dependencies"][1].split("==")[1])
    assert found["pydantic"][1] is not None, "a package named twice keeps the version of its pin"
    extras = [extra for extra in project["optional-dependencies"]["dev"][0].split("[")[1].rstrip("]").split(",")]
    assert set(extras) == set(latest.EXTRAS), "the lane must install what `make install` does"
    assert "apache-airflow" not in found and "kfp" not in found  # their own environments, not the workbook's


def test_each_failed_test_is_named_with_the_first_line_of_why(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    assert latest.failures(junit, 1) == [
        ("tests.unit.test_a::test_moved", "AttributeError: 'Report' has no attribute 'run'"),
        ("notebooks.05_ct_data_pipeline.ipynb::Cell 3", "ImportError: cannot import"),
    ]


def test_a_run_that_stopped_short_or_ran_nothing_is_broken_whatever_its_report_says(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    assert "exit code 3" in latest.failures(junit, 3)[0][1]  # an internal error after a partial report
    assert "exit code 1" in latest.failures(tmp_path / "missing.xml", 1)[0][1]
    junit.write_text('<testsuites><testsuite name="pytest" tests="0"/></testsuites>')
    assert latest.failures(junit, 0) == [("the quick tier", "pytest ran no test")]


def test_the_report_names_what_moved_what_was_held_back_and_what_broke(tmp_path):
    pinned = {name: version for name, (_, version) in latest.pins().items() if version}
    versions = {**pinned, "mlflow": "9.0.0", "uvicorn": pinned["uvicorn"]}
    versions.pop("selenium")
    written, broke = latest.report(versions, {"uvicorn": "9.9.9"}, [("tests.unit.test_a::test_x", "boom")], tmp_path)
    text = written.read_text()
    assert broke and "2 direct dependencies moved past their pin" in text
    assert f"| mlflow | {pinned['mlflow']} | 9.0.0 |" in text
    assert f"| selenium | {pinned['selenium']} | not installed |" in text
    assert f"- uvicorn {pinned['uvicorn']} (newest 9.9.9)" in text
    assert "1 test of the quick tier failed on them" in text and "- `tests.unit.test_a::test_x`: boom" in text

    written, broke = latest.report(pinned, {}, [], tmp_path)
    assert (
        not broke
        and "0 direct dependencies moved" in written.read_text()
        and "the lock can move" in written.read_text()
    )
