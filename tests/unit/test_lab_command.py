"""`make lab` (`mlops-workbook lab`) starts JupyterLab for any user, root included, with the workbook's kernel."""

from mlops_workbook.course import runner


def test_jupyterlab_starts_on_loopback_with_the_workbook_kernel_as_the_default(jupyterlab):
    specs = jupyterlab.api("/api/kernelspecs")
    assert specs["default"] == runner.KERNEL and runner.KERNEL in specs["kernelspecs"]
    assert "started" in jupyterlab.api("/api/status")
    assert jupyterlab.url.startswith("http://127.0.0.1:")
