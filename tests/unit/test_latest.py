"""The early-warning lane's two steps: every pin of pyproject.toml unpinned, and a report of what moved and broke."""

import sys
import tomllib
from pathlib import Path

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


def test_the_report_names_what_moved_and_each_broken_test(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    written, broke = latest.report(junit, sys.executable, tmp_path)
    text = written.read_text()
    assert broke
    assert "`tests.unit.test_a::test_moved`: AttributeError: 'Report' has no attribute 'run'" in text
    assert "`notebooks.05_ct_data_pipeline.ipynb::Cell 3`: ImportError: cannot import" in text
    assert "test_fine" not in text
    here = latest.installed(Path(sys.executable))  # the lock's versions, or the lane's newest
    moved = [
        (name, pinned, here[name]) for name, (_, pinned) in latest.pins().items() if pinned and pinned != here[name]
    ]
    assert f"{len(moved)} direct dependenc" in text and "2 tests of the quick tier failed" in text
    assert all(f"| {name} | {pinned} | {newest} |" in text for name, pinned, newest in moved)


def test_a_quick_tier_that_wrote_no_report_counts_as_broken(tmp_path):
    written, broke = latest.report(tmp_path / "missing.xml", sys.executable, tmp_path)
    assert broke and "no JUnit report" in written.read_text()
