"""`mlops-workbook run` executes every lesson for staging and prod, on small data, as a user runs it.

dev is not run here: nbval executes every stored lesson with dev's parameters (the same cells, the
same values) and compares its outputs too, so a dev run here would only repeat it.
"""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import notebook_needs, require
from mlops_workbook import runner

CLI = str(Path(sys.executable).parent / "mlops-workbook")


@pytest.mark.slow
@pytest.mark.heavy
@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_workbook_runs_in_each_environment(tmp_path, env):
    for component in {name for nb in runner.notebooks("notebooks") for name in notebook_needs(nb)}:
        require(component)  # every lesson runs, so this needs what any lesson needs
    small = ["-p", f"workspace={tmp_path}", "-p", "n_partitions=3", "-p", "rows_per_partition=100"]
    done = subprocess.run([CLI, "run", "--env", env, *small], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"workbook run: {env}" in done.stdout
    for lesson in runner.notebooks("notebooks"):
        executed = nbformat.read(tmp_path / lesson.name, as_version=4)
        assert executed.metadata["papermill"]["parameters"]["env"] == env
        first_print = next(o for c in executed.cells for o in c.get("outputs", []) if o.get("name") == "stdout")
        assert f"environment {env!r}" in first_print["text"]
