"""Steady requests against a running API from a background thread: what users see during a deploy.

Each answer is recorded with its time, status and the model version that gave it, so a deploy
can be shown as a timeline and "no request failed" can be checked rather than assumed.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pandas as pd

# A user's patience: on a loaded machine (a CI runner building images beside the test) an answer may take
# seconds; only one that never comes within this is counted as failed.
TIMEOUT = 30


class Traffic:
    """`with Traffic(port, rows): ...` sends `rows` to /predict every `pause` seconds until the block ends.

    With `batch`, each request carries the next `batch` rows instead, cycling through `rows`; `switch_to`
    changes the rows on the fly (monitoring: normal users, then drifted ones); `headers` go with each request.
    """

    def __init__(self, port: int, rows: list[dict], pause: float = 0.02, batch: int | None = None, headers=None):
        self.url, self.pause, self.batch = f"http://127.0.0.1:{port}/predict", pause, batch
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.switch_to(rows)
        self.answers: list[dict] = []
        self.marks: list[tuple[float, str]] = []  # (seconds, what happened then): a timeline's markers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, daemon=True)

    def start(self) -> Traffic:
        self._start = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> Traffic:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def mark(self, what: str) -> None:
        """Note that `what` happens now, on the answers' clock (a deploy starts, the new version is live)."""
        self.marks.append((time.monotonic() - self._start, what))

    def switch_to(self, rows: list[dict]) -> None:
        self._bodies = (
            [json.dumps(rows[i : i + self.batch]).encode() for i in range(0, len(rows), self.batch)]
            if self.batch
            else [json.dumps(rows).encode()]
        )

    def _send(self) -> None:
        sent = 0
        while not self._stop.is_set():
            bodies = self._bodies
            body, sent = bodies[sent % len(bodies)], sent + 1
            request = urllib.request.Request(self.url, data=body, headers=self.headers)
            status, version, error = "no answer", None, None
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
                    status, version = answer.status, json.loads(answer.read())["model_version"]
            except urllib.error.HTTPError as refused:
                status, error = refused.code, refused.reason
            except OSError as lost:  # refused, reset or timed out: the user saw nothing
                error = repr(lost)
            self.answers.append(
                {"seconds": time.monotonic() - self._start, "status": status, "version": version, "error": error}
            )
            time.sleep(self.pause)

    def table(self) -> pd.DataFrame:
        """The answers so far; while users still call, a copy of the list taken at once (it grows meanwhile)."""
        return pd.DataFrame(list(self.answers), columns=["seconds", "status", "version", "error"])

    def failed(self) -> int:
        return sum(answer["status"] != 200 for answer in list(self.answers))
