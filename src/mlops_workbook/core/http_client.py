"""Calling a local HTTP server (the serving API, as a client, a smoke test or a notebook does; a team server's
API) and whether a server answers yet (what a start waits for)."""

from __future__ import annotations

import json
import urllib.request


def call(port: int, path: str, body=None) -> dict:
    """GET (or POST `body` as JSON) on the running container; the parsed JSON answer."""
    return request(f"http://127.0.0.1:{port}{path}", body)


def request(url: str, body=None, timeout: float = 10) -> dict:
    """GET `url` (or POST `body` as JSON); the parsed JSON answer (an HTTPError, an OSError, for an error status)."""
    sent = urllib.request.Request(
        url,
        method="POST" if body is not None else "GET",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(sent, timeout=timeout) as answer:
        return json.loads(answer.read())


def answers(url: str) -> bool:
    """Whether `url` answers with a success status now (nothing listening, an error status or a timeout: no)."""
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:  # URLError and HTTPError are OSErrors, as is a refused or reset connection
        return False
