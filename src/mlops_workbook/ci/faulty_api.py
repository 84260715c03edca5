"""Stand-ins for the serving API that each break one promise a smoke test must catch.

A smoke test is itself code that can be wrong: one that only reads `/version` passes an API whose predictions
are garbage. Lab 02 runs a learner's smoke test against each stand-in (a few lines of http.server, on loopback),
and calls it wrong for the first one it lets through.
"""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mlops_workbook.core import errors

# fault: what the stand-in does wrong, said as the hint says it
FAULTS = {
    "unhealthy": "answers /health with a status that is not ok",
    "other version": "serves another model version than the expected one",
    "too few predictions": "answers /predict with fewer predictions than rows",
    "bad probability": "answers /predict with a probability outside [0, 1]",
    "accepts bad rows": "accepts a row with acc_rate 2.0 (200 instead of 422)",
    "fails on bad rows": "answers a bad row with a 500 instead of a 422",
}


def _handler(version: str, fault: str):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet: the lab prints what matters
            pass

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._answer(200, {"status": "degraded" if fault == "unhealthy" else "ok"})
            elif self.path == "/version":
                self._answer(200, {"model": "ride-completion", "version": "0" if fault == "other version" else version})
            else:
                self._answer(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
            rows = body if isinstance(body, list) else [body]
            if any(not 0 <= row.get("acc_rate", 0) <= 1 for row in rows) and fault != "accepts bad rows":
                if fault == "fails on bad rows":
                    self._answer(500, {"detail": "Internal Server Error"})
                else:
                    self._answer(422, {"detail": [{"loc": ["body", "acc_rate"], "msg": "out of range"}]})
                return
            count = len(rows) - 1 if fault == "too few predictions" else len(rows)
            probability = 1.7 if fault == "bad probability" else 0.5
            self._answer(200, {"predictions": [{"completed": 1, "probability": probability}] * count})

    return Handler


@contextlib.contextmanager
def serving(port: int, version: str, fault: str):
    """A stand-in API on 127.0.0.1:`port` serving `version`, with `fault` (one of FAULTS), while in the block."""
    if fault not in FAULTS:
        raise errors.BadInputError(f"unknown fault {fault!r}: choose one of {', '.join(FAULTS)}")
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(version, fault))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def let_through(smoke, port: int, version: str) -> str | None:
    """The first fault the smoke test does not catch (it returns instead of raising AssertionError); None if it
    catches them all. Any other exception is the smoke test's own error, and is raised."""
    for fault, what in FAULTS.items():
        with serving(port, version, fault):
            try:
                smoke(port, version)
            except AssertionError:
                continue
        return what
    return None
