"""Live monitoring in the app: drift gauges over a sliding window, live accuracy from late ground truth."""

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mlops_workbook.cd.serving import SYNTHETIC
from mlops_workbook.cd.serving.app import create_app
from mlops_workbook.cm import drift, live
from mlops_workbook.example import data, schema

DRIFTED = {"acc_rate", "pickup_distance_km"}  # what the warehouse's drift scenario moves (data.production_batch)
rows = data.as_requests  # a batch as /predict bodies carry it


@pytest.fixture(scope="module")
def training_rows(trained):
    return trained.rows


@pytest.fixture(scope="module")
def reference(trained):
    return trained.reference


def scrape(registry) -> dict:
    """{(metric, feature label or None): value} from a registry's exposition text."""
    text = registry if isinstance(registry, str) else generate_latest(registry).decode()
    return {
        (s.name, s.labels.get("feature")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_reference_round_trips_and_scores_like_psi(training_rows, reference):
    again = drift.Reference.from_dict(reference.to_dict())
    later = data.production_batch(1000, seed=5, drift=1.0)
    for name in schema.FEATURES:
        assert again.psi(name, later[name]) == pytest.approx(drift.psi(training_rows[name], later[name]), abs=1e-3)


def test_no_gauge_until_the_window_has_enough_rows(reference):
    monitor = live.LiveMonitor(reference, window=200, min_rows=100)
    monitor.observe(rows(data.production_batch(99, seed=6)))
    assert monitor.psi() == {}
    monitor.observe(rows(data.production_batch(1, seed=7)))
    assert set(monitor.psi()) == set(schema.FEATURES)


def test_normal_traffic_is_stable_and_drifted_traffic_is_flagged_then_forgotten(reference):
    monitor = live.LiveMonitor(reference, window=500)
    monitor.observe(rows(data.production_batch(500, seed=8)))
    assert max(monitor.psi().values()) < 0.2
    monitor.observe(rows(data.production_batch(500, seed=9, drift=1.0)))
    assert {name for name, value in monitor.psi().items() if value > 0.2} == DRIFTED
    monitor.observe(rows(data.production_batch(500, seed=10)))  # the window slides: drift leaves with the old rows
    assert max(monitor.psi().values()) < 0.2


def test_the_gauges_are_exported_on_scrape(reference):
    registry = CollectorRegistry()
    monitor = live.LiveMonitor(reference, window=100, min_rows=10)
    registry.register(monitor)
    assert ("model_live_accuracy", None) not in scrape(registry)
    monitor.observe(rows(data.production_batch(100, seed=11, drift=1.0)))
    monitor.feedback([1] * 10, [1] * 7 + [0] * 3)
    samples = scrape(registry)
    assert samples[("model_input_drift_psi", "acc_rate")] > 0.2
    assert samples[("model_drift_window_rows", None)] == 100
    assert samples[("model_live_accuracy", None)] == pytest.approx(0.7)


def test_feedback_pairs_must_match():
    monitor = live.LiveMonitor(drift.Reference({}, {}), window=10, min_rows=1)
    with pytest.raises(ValueError):
        monitor.feedback([1, 0], [1])


def test_a_window_smaller_than_its_minimum_is_refused(reference):
    with pytest.raises(ValueError, match="min_rows"):
        live.LiveMonitor(reference, window=50, min_rows=100)


@pytest.fixture(scope="module")
def model_bundle(trained):
    return trained.folder


def test_the_app_exports_drift_and_live_accuracy(model_bundle):
    client = TestClient(create_app(model_bundle, drift_window=200))
    assert client.post("/predict", json=rows(data.production_batch(200, seed=12, drift=1.0))).status_code == 200
    answer = client.post("/feedback", json=[{"predicted": 1, "actual": 1}] * 150 + [{"predicted": 1, "actual": 0}] * 50)
    assert answer.json() == {"accepted": 200, "live_accuracy": 0.75}
    samples = scrape(client.get("/metrics").text)
    assert {
        name for (metric, name), value in samples.items() if metric == "model_input_drift_psi" and value > 0.2
    } == DRIFTED
    assert samples[("model_live_accuracy", None)] == 0.75


def test_drift_tracking_can_be_turned_off(model_bundle):
    client = TestClient(create_app(model_bundle, drift_window=0))
    assert client.post("/predict", json=rows(data.production_batch(200, seed=12))).status_code == 200
    assert "model_input_drift_psi" not in client.get("/metrics").text
    assert client.post("/feedback", json=[{"predicted": 1, "actual": 1}]).json()["live_accuracy"] is None


@pytest.mark.parametrize(
    "body", [[], [{"predicted": 2, "actual": 1}], [{"predicted": 1}], [{"predicted": 1, "actual": 0, "booking": "x"}]]
)
def test_bad_feedback_gets_a_422(model_bundle, body):
    assert TestClient(create_app(model_bundle)).post("/feedback", json=body).status_code == 422


def test_odd_paths_and_label_values_cannot_break_a_request_or_the_scrape(model_bundle):
    client = TestClient(create_app(model_bundle))
    for odd in ['/predict"}', "/\u00e9t\u00e9\\n", "/" + "x" * 5000, '/metrics?x="}']:
        assert client.get(odd).status_code in (404, 405, 200)
    assert client.post("/predict", json=rows(data.production_batch(1, seed=13))).status_code == 200
    samples = {
        s.labels.get("path")
        for f in text_string_to_metric_families(client.get("/metrics").text)
        for s in f.samples
        if s.name == "http_requests_total"
    }
    assert samples <= {"/predict", "/metrics", "other"}


def test_a_load_tests_rows_are_answered_but_kept_out_of_the_drift_window(model_bundle):
    client = TestClient(create_app(model_bundle, drift_window=200))
    drifted = rows(data.production_batch(200, seed=12, drift=1.0))
    marked = client.post("/predict", json=drifted, headers={SYNTHETIC: "load-test"})
    assert marked.status_code == 200 and len(marked.json()["predictions"]) == 200
    samples = scrape(client.get("/metrics").text)
    assert samples[("model_drift_window_rows", None)] == 0 and ("model_input_drift_psi", "acc_rate") not in samples
    assert client.post("/predict", json=drifted).status_code == 200  # the same rows from users
    assert scrape(client.get("/metrics").text)[("model_drift_window_rows", None)] == 200
