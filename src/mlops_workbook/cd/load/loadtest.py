"""A bounded load on a running API with Locust: a fixed number of requests at a fixed concurrency.

`run` starts Locust headless in another process (`locustfile.py` says what a client does), stops it
once the request count is reached, and returns what Locust measured: requests, failures, requests/s,
median and 99th-percentile latency. Tests use it for "no errors under load", bench/ for speed.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from mlops_workbook.core import commands

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def run(port: int, body, requests: int = 1000, users: int = 8, path: str = "/predict", timeout: float = 300) -> dict:
    """Send `requests` POSTs of `body` (JSON) to 127.0.0.1:`port``path` from `users` concurrent clients."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "load.json"
        env = {
            **os.environ,
            "LOADTEST_BODY": json.dumps(body),
            "LOADTEST_PATH": path,
            "LOADTEST_REQUESTS": str(requests),
            "LOADTEST_REPORT": str(report),
        }
        commands.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(LOCUSTFILE),
                "--headless",
                "--host",
                f"http://127.0.0.1:{port}",
                "-u",
                str(users),
                "-r",
                str(users),
                "--only-summary",
                "--exit-code-on-error",
                "0",
                "--run-time",
                f"{timeout:.0f}s",
            ],  # a safety net: the count stops it first
            "the locust load test",
            env=env,
            timeout=timeout + 30,
        )
        return {**json.loads(report.read_text()), "users": users}
