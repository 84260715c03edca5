"""The site's stamp: a notebook counts as verified only if nbval ran and passed every one of its code cells, and
only while it is the file that was checked."""

from pathlib import Path

import nbformat
import pytest

from mlops_workbook.core import errors
from mlops_workbook.course import site, verification


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "requirements").mkdir()
    (tmp_path / verification.LOCK).write_text("pandas==3.0.0\n")
    (tmp_path / "notebooks").mkdir()
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# 09 · x"),
            nbformat.v4.new_code_cell("1"),
            nbformat.v4.new_code_cell("2"),
        ]
    )
    nbformat.write(notebook, tmp_path / "notebooks" / "09_x.ipynb")
    return tmp_path


NB = "notebooks/09_x.ipynb"


@pytest.mark.parametrize(
    ("reports", "result"),
    [
        ([(f"{NB}::Cell 0", "passed"), (f"{NB}::Cell 1", "passed")], {NB: True}),
        ([(f"{NB}::Cell 0", "passed"), (f"{NB}::Cell 1", "failed")], {NB: False}),
        ([(f"{NB}::Cell 0", "passed"), (f"{NB}::Cell 1", "skipped")], {NB: False}),
        ([(f"{NB}::Cell 0", "passed")], {}),  # a run that selected one cell checked less than the notebook
        ([("tests/unit/test_x.py::test_x", "passed")], {}),
    ],
)
def test_a_notebook_passes_only_when_every_code_cell_ran_and_passed(project, reports, result):
    assert verification.outcomes(reports, project) == result


def test_the_stamp_says_verified_failed_changed_or_never_checked(project):
    notebook = project / NB
    verified, said = site.stamp(project, notebook, verification.load(project))
    assert not verified and "Not checked" in said

    verification.record({NB: True}, verification.snapshot(project), project)
    check = verification.load(project)[NB]
    assert check.lock_sha256 == verification.digest(project / verification.LOCK) and check.env == "dev"
    verified, said = site.stamp(project, notebook, verification.load(project))
    assert verified and "**Verified:**" in said and check.lock_sha256[:12] in said
    assert check.checked_at[:10] in said and "nbval" in said and "ignore-output" not in said
    assert "'" not in said, "Sphinx curls an apostrophe: the page would no longer show this text (test_site reads it)"

    verification.record({NB: False}, verification.snapshot(project), project)
    verified, said = site.stamp(project, notebook, verification.load(project))
    assert not verified and "Failed its last check" in said

    notebook.write_text(notebook.read_text().replace('"2"', '"3"'))
    verified, said = site.stamp(project, notebook, verification.load(project))
    assert not verified and "Changed since its last check" in said


def test_a_notebook_edited_while_the_run_checked_it_is_not_recorded(project):
    hashes = verification.snapshot(project)
    (project / NB).write_text((project / NB).read_text().replace('"2"', '"3"'))
    verification.record({NB: True}, hashes, project)
    assert NB not in verification.load(project)


def test_a_record_the_workbook_did_not_write_is_a_clear_error(project):
    (project / verification.RECORD).parent.mkdir(parents=True)
    (project / verification.RECORD).write_text("{not json")
    with pytest.raises(errors.BadInputError, match="delete it"):
        verification.load(project)
    verification.record({NB: True}, verification.snapshot(project), project)  # a run replaces it, never fails on it
    assert verification.load(project)[NB].passed


def test_the_site_refuses_to_empty_a_folder_it_did_not_build(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(errors.BadInputError, match="not a site this command built"):
        site.build(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
