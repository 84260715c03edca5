"""An instructor releases the course to two cohorts in turn, on a copy of the work tree with a git history of its own
(the copy's code runs: PYTHONPATH), and makes the mistakes the command must refuse before it builds or tags."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from mlops_workbook.cd.rollout import ci_pipeline

CLI = str(Path(sys.executable).parent / "mlops-workbook")


def release(project: Path, version: str, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, "release-course", version, "--out", str(out)],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
        capture_output=True,
        text=True,
        timeout=600,
    )


def tags(project: Path) -> list[str]:
    return subprocess.run(["git", "tag"], cwd=project, capture_output=True, text=True).stdout.split()


def points(solution: Path) -> int:
    cells = nbformat.read(solution, as_version=4).cells
    return sum(c.metadata["nbgrader"]["points"] for c in cells if c.metadata.get("nbgrader", {}).get("grade"))


@pytest.mark.heavy  # two site builds and two nbgrader generate_assignment runs
def test_two_cohorts_get_a_tag_a_site_an_nbgrader_course_and_what_changed_between_them(tmp_path):
    project = ci_pipeline.project_copy(tmp_path / "project")
    subprocess.run(["git", "config", "user.name", "instructor"], cwd=project, check=True)  # who tags
    first = release(project, "2027.1", tmp_path / "cohort-1")
    assert first.returncode == 0, first.stdout + first.stderr
    assert tags(project) == ["course-2027.1"]
    assert (tmp_path / "cohort-1" / "site" / "labs" / "00_overview.html").is_file()
    assert (
        tmp_path / "cohort-1" / "nbgrader" / "release" / "06_ct_training_pipeline" / "06_ct_training_pipeline.ipynb"
    ).is_file()
    changes = (tmp_path / "cohort-1" / "CHANGES.md").read_text()
    assert "first cohort" in changes and "- labs/00_overview.ipynb: added" in changes
    lab00 = points(project / "solutions" / "00_overview.ipynb")
    assert f"| 00_overview | - | {lab00} |" in changes

    solution = project / "solutions" / "00_overview.ipynb"  # the next cohort: an exercise worth more, a lesson edited
    raw = json.loads(solution.read_text())
    check = next(c for c in raw["cells"] if c["metadata"].get("nbgrader", {}).get("grade"))
    check["metadata"]["nbgrader"]["points"] += 2
    solution.write_text(json.dumps(raw, indent=1) + "\n")
    lesson = project / "notebooks" / "05_ct_data_pipeline.ipynb"
    lesson.write_text(lesson.read_text().replace("What you learn", "What you will learn", 1))

    dirty = release(project, "2027.2", tmp_path / "cohort-2")
    assert dirty.returncode == 2 and "not committed" in dirty.stdout + dirty.stderr
    ci_pipeline.commit(project, "the next cohort's changes")
    stale = release(project, "2027.2", tmp_path / "cohort-2")  # the lab no longer what its solution generates
    assert stale.returncode == 2 and "make labs" in stale.stdout + stale.stderr
    subprocess.run([CLI, "labs"], cwd=project, env={**os.environ, "PYTHONPATH": str(project / "src")}, check=True)
    ci_pipeline.commit(project, "the labs regenerated")

    for version, out, said in [
        ("2027.1", tmp_path / "again", "exists already"),
        ("2027 .2", tmp_path / "bad", "is not a version"),
        ("2027.2.", tmp_path / "bad", "is not a version"),  # git refuses such a tag: refused before the build
        ("2027.2.lock", tmp_path / "bad", "is not a version"),
        ("2027.2", project / "inside", "inside the workbook"),
        ("2027.2", tmp_path / "cohort-1", "is not empty"),
    ]:
        refused = release(project, version, out)
        assert refused.returncode == 2 and said in refused.stdout + refused.stderr, refused.stdout + refused.stderr
    assert tags(project) == ["course-2027.1"] and not (tmp_path / "again").exists()

    second = release(project, "2027.2", tmp_path / "cohort-2")
    assert second.returncode == 0, second.stdout + second.stderr
    assert tags(project) == ["course-2027.1", "course-2027.2"]
    changes = (tmp_path / "cohort-2" / "CHANGES.md").read_text()
    assert "Since course-2027.1:" in changes
    listed = {line for line in changes.splitlines() if line.startswith("- ")}
    assert listed == {"- labs/00_overview.ipynb: changed", "- notebooks/05_ct_data_pipeline.ipynb: changed"}
    assert f"| 00_overview | {lab00} | {lab00 + 2} |" in changes
