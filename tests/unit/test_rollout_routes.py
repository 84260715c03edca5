"""The pieces of a progressive rollout that need no server: nginx's routes, injected faults, the score PSI."""

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mlops_workbook.cd.rollout import progressive
from mlops_workbook.cd.rollout.router import Routes
from mlops_workbook.cd.serving import faults
from mlops_workbook.cd.serving.app import create_app
from mlops_workbook.cm import drift
from mlops_workbook.core import errors
from mlops_workbook.example import data


def test_a_canary_takes_its_share_by_weight_and_only_with_a_port():
    assert Routes(8110).servers() == "server 127.0.0.1:8110;"
    split = Routes(8110, 8111, 5).servers()
    assert "8110 weight=95 max_fails=0" in split and "8111 weight=5 max_fails=0" in split
    for wrong in ((8111, 0), (None, 5), (8111, 100)):
        with pytest.raises(ValueError, match="1 to 99%"):
            Routes(8110, *wrong)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", {}),
        ("error_rate=0.3", {"error_rate": 0.3}),
        (" delay_ms=300, error_rate=1 ", {"delay_ms": 300, "error_rate": 1}),
    ],
)
def test_faults_are_read_from_their_setting(text, parsed):
    assert faults.parse(text) == parsed


@pytest.mark.parametrize("text", ["error_rate=2", "errors=0.3", "delay_ms=soon", "error_rate"])
def test_a_bad_fault_setting_says_what_is_allowed(text):
    with pytest.raises(errors.BadInputError, match=r"error_rate in \[0, 1\], delay_ms in \[0, 10000\]"):
        faults.parse(text)


def test_injected_errors_are_counted_by_the_app_metrics(trained, monkeypatch):
    monkeypatch.setenv("SERVING_FAULTS", "error_rate=0.5")
    client = TestClient(create_app(trained.folder), raise_server_exceptions=False)
    body = data.as_requests(data.fake_batch(1, 3))
    statuses = [client.post("/predict", json=body).status_code for _ in range(40)]
    assert 5 < statuses.count(500) < 35 and set(statuses) == {200, 500}
    assert client.get("/health").status_code == 200, "only /predict is faulted"
    failed = f'http_requests_total{{path="/predict",status="500"}} {statuses.count(500)}.0'
    assert failed in client.get("/metrics").text


class Recorded:
    """Prometheus answering a histogram query with fixed cumulative bucket counts per track."""

    def __init__(self, buckets: dict[str, list[float]]):
        self.buckets = buckets

    def query(self, expr: str):
        import pandas as pd

        track = expr.split('track="')[1].split('"')[0]
        counts = self.buckets.get(track)
        if counts is None:
            return pd.DataFrame(columns=["le", "value"])
        edges = [*(str(round(i / 10, 1)) for i in range(1, 11)), "+Inf"]
        return pd.DataFrame({"le": edges, "value": [*counts, counts[-1]]}).sample(frac=1, random_state=0)


def test_the_score_psi_compares_bucket_shares_whatever_order_prometheus_gives_them():
    same = list(np.cumsum([10] * 10, dtype=float))
    huddled = list(np.cumsum([0, 0, 0, 0, 50, 50, 0, 0, 0, 0], dtype=float))

    def psi(buckets):
        return progressive.score_psi(Recorded(buckets), "canary", "3s")["score_psi"]

    assert psi({"champion": same, "canary": same}) == pytest.approx(0)
    assert psi({"champion": same, "canary": huddled}) > 1
    assert np.isnan(psi({"champion": same})), "no data is no evidence"


def test_the_score_psi_is_judged_against_what_chance_gives_on_that_many_scores():
    """Two samples of one model's scores: on 16 against 500 their PSI often passes 0.5 (CI's load test rolled a good
    canary back for 0.543); on 500 against 500 it stays under 0.1. The bound for a step is the larger of the two."""
    shares = np.array([0.02, 0.05, 0.08, 0.1, 0.15, 0.2, 0.2, 0.12, 0.06, 0.02])
    rng = np.random.default_rng(3)
    few = [(rng.multinomial(500, shares), rng.multinomial(16, shares)) for _ in range(200)]
    chance = [drift.psi_of_shares(a / a.sum(), b / b.sum()) for a, b in few]
    assert np.mean(np.array(chance) > 0.5) > 0.5, "on 16 scores, chance alone passes the bound"
    over = [psi > drift.psi_noise(a, b, draws=500) for psi, (a, b) in zip(chance, few, strict=True)]
    assert np.mean(over) < 0.05, "its noise bound is passed about 1 time in 100"
    assert drift.psi_noise(rng.multinomial(500, shares), rng.multinomial(500, shares)) < 0.15
    grossly = np.array([0, 0, 0, 0, 250, 250, 0, 0, 0, 0])  # the disagreeing canary's kind, on 500 scores
    champion = rng.multinomial(500, shares)
    assert drift.psi_of_shares(champion / 500, grossly / 500) > drift.psi_noise(champion, grossly)
    assert np.isnan(drift.psi_noise(champion, np.zeros(10))), "no scores, no noise to speak of"


def measured(**changed) -> dict:
    return {
        "up": 1.0,
        "requests": 84.0,
        "failed": 0.0,
        "p99_ms": 2.5,
        "champion_p99_ms": 2.4,
        "score_psi": 0.24,
        "score_psi_noise": 0.08,
    } | changed


@pytest.mark.parametrize(
    ("step", "failing"),
    [
        (measured(), set()),
        (measured(requests=10, failed=float("nan")), set()),  # no 5xx series: none failed
        (measured(requests=9), {"requests"}),
        (measured(requests=100, failed=1), set()),  # exactly 0.99
        (measured(requests=100, failed=2), {"success rate"}),
        (measured(p99_ms=330, champion_p99_ms=220), set()),  # 1.5 x a slow champion's
        (measured(p99_ms=331, champion_p99_ms=220), {"p99 latency (ms)"}),
        (measured(p99_ms=251, champion_p99_ms=float("nan")), {"p99 latency (ms)"}),
        (measured(score_psi=0.5), set()),
        (measured(score_psi=0.51), {progressive.SCORES}),
        (measured(score_psi=0.9, score_psi_noise=1.2), set()),  # 0.9 on a few scores: chance alone gives it
        (measured(score_psi=1.3, score_psi_noise=1.2), {progressive.SCORES}),
        (measured(score_psi=float("nan")), {progressive.SCORES}),  # no data is no evidence
        (
            measured(up=0, requests=0, failed=float("nan"), p99_ms=float("nan"), score_psi=float("nan")),
            {"up", "requests", "success rate", "p99 latency (ms)", progressive.SCORES},
        ),
    ],
)
def test_a_step_is_judged_on_each_bound_and_a_missing_measurement_fails(step, failing):
    from mlops_workbook.core import environments

    policy = environments.load("dev").rollout  # min 10 requests, 0.99 success, 250 ms, PSI 0.5
    assert {c.name for c in progressive.judge(step, policy) if not c.passed} == failing


def test_a_fresh_copy_exports_its_failures_at_zero_so_the_first_one_counts(trained):
    """increase() counts from a series' first sample: a 5xx series born with its first failure would hide it, and an
    erroring canary with one failure in its first step would pass it."""
    client = TestClient(create_app(trained.folder))
    assert 'http_requests_total{path="/predict",status="500"} 0.0' in client.get("/metrics").text


def test_a_load_test_without_an_analysis_to_feed_is_refused_before_any_deploy():
    from mlops_workbook.cd.rollout import release, strategies, targets

    nothing = release.Cleared(
        deployment=None, release=targets.Release("1"), mode="deployment"
    )  # touched, it would raise
    with pytest.raises(errors.BadInputError, match="blue-green has none.*nothing deployed"):
        strategies.ship(nothing, "blue-green", "deployment", None, load_test=True)


def test_a_canary_of_another_environment_is_refused_before_staging_is_touched():
    from types import SimpleNamespace

    from mlops_workbook.cd.rollout import release, targets

    staging = SimpleNamespace(env="staging", folder="environments/staging")  # no deploy method: a call would raise
    prod = SimpleNamespace(env="prod", folder="environments/prod")
    with pytest.raises(errors.BadInputError, match="rolls out to staging, not to prod"):
        release.promote(targets.Release("1"), staging, prod, "deployment", canary=SimpleNamespace(deployment=staging))
