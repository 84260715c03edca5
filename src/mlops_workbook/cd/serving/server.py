"""How a copy of the app is run: one uvicorn worker, the fastest parser and loop, no access log.

One worker per copy: each worker would keep its own metrics and drift window, so a copy scales by
replicas behind the router instead. httptools and uvloop cut the server's own time per request, and
the access log is off because `/metrics` already counts every request. The Dockerfile's CMD runs the
same options (a test keeps them in step); dev's process copies and bench/ run `command`.
"""

from __future__ import annotations

import sys

OPTIONS = [
    "--factory",
    "mlops_workbook.cd.serving.app:create_app",
    "--http",
    "httptools",
    "--loop",
    "uvloop",
    "--no-access-log",
]


def command(port: int, host: str = "127.0.0.1") -> list[str]:
    """Serve the bundle in MODEL_DIR on `host`:`port`, as the image does."""
    return [sys.executable, "-m", "uvicorn", *OPTIONS, "--host", host, "--port", str(port)]
