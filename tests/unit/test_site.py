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


@pytest.mark.parametrize(
    ("reports", "checked"),
    [
        ([("notebooks/09_x.ipynb::Cell 0", "passed"), ("notebooks/09_x.ipynb::Cell 1", "passed")], True),
        ([("notebooks/09_x.ipynb::Cell 0", "passed"), ("notebooks/09_x.ipynb::Cell 1", "failed")], False),
        ([("notebooks/09_x.ipynb::Cell 0", "passed"), ("notebooks/09_x.ipynb::Cell 1", "skipped")], False),
        ([("notebooks/09_x.ipynb::Cell 0", "passed")], False),  # a run that selected one cell checked less
        ([("tests/unit/test_x.py::test_x", "passed")], False),
    ],
)
def test_a_notebook_is_checked_only_when_every_code_cell_passed(project, reports, checked):
    assert verification.fully_passed(reports, project) == ([Path("notebooks/09_x.ipynb")] if checked else [])


def test_the_stamp_says_verified_then_changed_and_never_checked(project):
    notebook = project / "notebooks" / "09_x.ipynb"
    verified, said = site.stamp(project, notebook, verification.load(project))
    assert not verified and "Not checked" in said

    verification.record([Path("notebooks/09_x.ipynb")], project)
    check = verification.load(project)["notebooks/09_x.ipynb"]
    assert check.lock_sha256 == verification.digest(project / verification.LOCK) and check.env == "dev"
    verified, said = site.stamp(project, notebook, verification.load(project))
    assert verified and "**Verified:**" in said and check.lock_sha256[:12] in said
    assert check.checked_at[:10] in said and "(nbval)" in said

    notebook.write_text(notebook.read_text().replace('"2"', '"3"'))
    verified, said = site.stamp(project, notebook, verification.load(project))
    assert not verified and "Changed since its last check" in said


def test_the_site_refuses_to_empty_a_folder_it_did_not_build(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(errors.BadInputError, match="not a site this command built"):
        site.build(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
