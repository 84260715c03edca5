"""The smoke test a copy of the app passes before it takes traffic, and the requests it sends."""

from __future__ import annotations

from mlops_workbook.core import errors, http_client


class SmokeTestError(errors.RunError):
    """The copy is up but answers wrongly: it must not take traffic."""


def check(port: int, rows: list[dict], expected_version: str) -> dict:
    """Health, version and one prediction per row: what a deploy checks before it takes traffic."""
    health = http_client.call(port, "/health")
    served = http_client.call(port, "/version")
    answer = http_client.call(port, "/predict", rows)
    predictions = answer.get("predictions", [])
    problems = []
    if health.get("status") != "ok":
        problems.append(f"/health said {health}")
    if served.get("version") != expected_version:
        problems.append(f"serving version {served.get('version')}, expected {expected_version}")
    if len(predictions) != len(rows):
        problems.append(f"{len(rows)} rows sent, {len(predictions)} answers")
    if not all(0 <= p.get("probability", -1) <= 1 for p in predictions):
        problems.append(f"a probability outside [0, 1]: {answer}")
    if problems:
        raise SmokeTestError(f"smoke test on port {port} failed: " + "; ".join(problems))
    return answer


def sample_rows(n: int, seed: int) -> list[dict]:
    """Request bodies for a smoke test: fake rows from the schema, missing values as null."""
    from mlops_workbook.example import data

    return data.as_requests(data.fake_batch(n, seed))
