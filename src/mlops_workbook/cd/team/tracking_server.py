"""The team's MLflow tracking server and model registry: runs, metrics and versions in PostgreSQL, artifacts
proxied by the server into a folder of its own (clients upload and download through it: no shared disk)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlops_workbook.core import errors, http_client, processes

# One uvicorn worker: it serves MLflow's Flask handlers from a thread pool, so two training runs registering at once
# are two requests in flight all the same (test_team_stack); each more worker is a process of ~200 MB that imports
# MLflow again at every start.
WORKERS = 1


def start(name: str, backend_url: str, artifacts: Path, port: int, log: Path) -> subprocess.Popen:
    """Start `mlflow server` as `name` (stopping what an earlier run left); `ready` waits for it."""
    artifacts.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_url]
    command += ["--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port)]
    # No job runner: it serves GenAI evaluation jobs, which the workbook has none of (eight processes, ~2 GB)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return processes.start(name, [*command, "--workers", str(WORKERS)], log, env=env)


def ready(name: str, process: subprocess.Popen, url: str, log: Path, timeout: float = 60) -> None:
    """Wait until the server answers healthy; UnhealthyError with its log's end (and stopped) if it does not."""
    if processes.wait_ready(process, lambda: healthy(url), timeout):
        return
    what = (
        f"exited with code {process.poll()}" if process.poll() is not None else f"did not answer within {timeout:g} s"
    )
    processes.stop(name)
    raise errors.UnhealthyError(
        f"the MLflow tracking server on {url} {what} (its log: {log}).", logs=processes.tail(log)
    )


def healthy(url: str) -> bool:
    return http_client.answers(f"{url}/health")
