"""A smoke test that misses one promise of the API lets exactly that stand-in through (lab 02's exercise 2 check).

Each smoke test below is the right one with one requirement left out: the wrong answers lab 02 must call wrong,
checked here against the stand-ins directly (running lab 02 for each would build and start containers).
"""

import urllib.error

import pytest

from mlops_workbook.ci import faulty_api, smoke
from mlops_workbook.core import http_client, instance

PORT = instance.port(instance.TEST_PORTS["smoke-tests"])
ROWS = smoke.sample_rows(4, seed=42)


def smoke_test(leave_out: str = ""):
    """Lab 02's smoke test (its solution), without the requirement `leave_out`."""

    def smoke(port: int, expected_version: str) -> None:
        if leave_out != "health":
            assert http_client.call(port, "/health")["status"] == "ok", "not healthy"
        if leave_out != "version":
            assert http_client.call(port, "/version")["version"] == expected_version, "another version"
        answer = http_client.call(port, "/predict", ROWS)["predictions"]
        if leave_out != "count":
            assert len(answer) == len(ROWS), "a prediction per row"
        if leave_out != "probability":
            assert all(0 <= p["probability"] <= 1 for p in answer), "a probability outside [0, 1]"
        if leave_out == "bad row":
            return
        try:
            http_client.call(port, "/predict", {**ROWS[1], "acc_rate": 2.0})
        except urllib.error.HTTPError as error:
            if leave_out != "422":
                assert error.code == 422, f"HTTP {error.code}, not 422"
        else:
            raise AssertionError("a bad row was accepted")

    return smoke


def test_the_full_smoke_test_catches_every_stand_in():
    assert faulty_api.let_through(smoke_test(), PORT, "3") is None


@pytest.mark.parametrize(
    "leave_out, fault",
    [
        ("health", "unhealthy"),
        ("version", "other version"),
        ("count", "too few predictions"),
        ("probability", "bad probability"),
        ("bad row", "accepts bad rows"),
        ("422", "fails on bad rows"),
    ],
)
def test_a_smoke_test_missing_one_requirement_lets_that_stand_in_through(leave_out, fault):
    assert faulty_api.let_through(smoke_test(leave_out), PORT, "3") == faulty_api.FAULTS[fault]


def test_a_stand_in_serves_what_the_real_api_does_when_nothing_is_wrong_with_it():
    with faulty_api.serving(PORT, "3", "unhealthy"):
        assert http_client.call(PORT, "/version")["version"] == "3"
        assert len(http_client.call(PORT, "/predict", ROWS)["predictions"]) == len(ROWS)
        with pytest.raises(urllib.error.HTTPError) as refused:
            http_client.call(PORT, "/predict", {**ROWS[0], "acc_rate": 2.0})
        assert refused.value.code == 422
