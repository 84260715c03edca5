"""The record the site's stamps read, as pytest writes it: the project's conftest.py in a throwaway project with one
stored notebook, run by nbval (first under pytest-xdist, as `make test` runs it)."""

import json
import shutil
import subprocess
import sys

import nbformat
import pytest

from mlops_workbook.core import paths
from mlops_workbook.course import verification

NB = "notebooks/09_x.ipynb"


def stored(printed: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("print(1)", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 09"), cell, nbformat.v4.new_code_cell("")])


def nbval(project, *options: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "nbval", "--nbval"]
        + ["--nbval-kernel-name", "mlops-workbook", *options, "--rootdir", str(project), NB],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.stdout + done.stderr


@pytest.mark.heavy  # four pytest runs of nbval, each starting a kernel: `make test`, not the edit loop's tier
def test_a_strict_nbval_run_records_each_notebook_it_ran_in_full_and_a_lax_or_unrecorded_one_nothing(tmp_path):
    shutil.copy(paths.project_root() / "conftest.py", tmp_path)
    (tmp_path / "requirements").mkdir()
    (tmp_path / verification.LOCK).write_text("pytest\n")
    (tmp_path / "notebooks").mkdir()
    nbformat.write(stored("1\n"), tmp_path / NB)

    said = nbval(tmp_path, "-n", "1")  # as `make test`: the workers' reports reach the run, which records
    assert "2 passed" in said, said
    first = verification.load(tmp_path)[NB]
    assert first.passed and first.sha256 == verification.digest(tmp_path / NB)

    nbformat.write(stored("2\n"), tmp_path / NB)  # the stored output no longer what the cell prints
    said = nbval(tmp_path)
    assert "1 failed" in said, said
    failed = verification.load(tmp_path)[NB]
    assert not failed.passed and failed.sha256 == verification.digest(tmp_path / NB)

    record = (tmp_path / verification.RECORD).read_text()
    said = nbval(tmp_path, "--nbval-lax")  # outputs not compared: no claim about them
    assert "passed" in said, said
    assert (tmp_path / verification.RECORD).read_text() == record
    nbformat.write(stored("1\n"), tmp_path / NB)
    said = nbval(tmp_path, "-p", "no:notebook-checks")  # make latest: checked on other versions than the lock's
    assert "2 passed" in said, said
    assert (tmp_path / verification.RECORD).read_text() == record
    assert json.loads(record)[NB]["passed"] is False
