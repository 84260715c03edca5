"""`make lab` (`mlops-workbook lab`) starts JupyterLab for any user, root included, with the workbook's kernel."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from mlops_workbook import instance, runner

CLI = str(Path(sys.executable).parent / "mlops-workbook")
PORT = instance.port(instance.TEST_PORTS["lab"])


def api(path: str, token: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}{path}?token={token}", timeout=2) as answer:
        return json.loads(answer.read())


def test_jupyterlab_starts_on_loopback_with_the_workbook_kernel_as_the_default(tmp_path):
    token = "test-token"
    env = {**os.environ, "JUPYTER_TOKEN": token, "JUPYTER_RUNTIME_DIR": str(tmp_path)}
    lab = subprocess.Popen(
        [CLI, "lab", "--port", str(PORT), "--no-browser"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status = api("/api/status", token)
                break
            except (urllib.error.URLError, ConnectionError):
                assert lab.poll() is None, f"JupyterLab stopped: {lab.stdout.read()[-2000:]}"
                assert time.monotonic() < deadline, "JupyterLab did not answer within 60 s"
                time.sleep(0.5)
        specs = api("/api/kernelspecs", token)
        assert specs["default"] == runner.KERNEL and runner.KERNEL in specs["kernelspecs"]
        assert "started" in status
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(timeout=30)
    assert "Running as root is not recommended" not in lab.stdout.read()
