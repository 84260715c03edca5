"""The serving app: schema-driven requests, the same features as training, and the bundle it serves."""

import pytest
from fastapi.testclient import TestClient

from mlops_workbook import bundle, data, schema
from mlops_workbook.cd.app import create_app
from mlops_workbook.ct import features, training


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    table = features.build(data.production_batch(800, seed=4))
    model = training.train(table, seed=4)
    folder = bundle.save(
        model,
        bundle.Facts("ride-completion", "7", "champion", "run-1", list(model.feature_names_in_)),
        tmp_path_factory.mktemp("bundle"),
    )
    return model, TestClient(create_app(folder))


def rows(n):
    batch = data.production_batch(n, seed=9)[list(schema.FEATURES)]
    return batch.astype(object).where(batch.notna(), None).to_dict("records")


def test_health_and_version(served):
    _, client = served
    assert client.get("/health").json() == {"status": "ok", "model_version": "7"}
    assert client.get("/version").json()["alias"] == "champion"


def test_predictions_match_the_model_on_the_same_features(served):
    model, client = served
    sent = rows(20)
    answer = client.post("/predict", json=sent).json()
    expected = training.predict_proba(model, features.build(data.production_batch(20, seed=9)))
    got = [p["probability"] for p in answer["predictions"]]
    assert got == pytest.approx(expected.round(6).tolist(), abs=1e-6)
    assert answer["model_version"] == "7"


def test_one_row_without_a_list(served):
    _, client = served
    answer = client.post("/predict", json=rows(1)[0])
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 1


@pytest.mark.parametrize(
    "change, field",
    [
        ({"acc_rate": 1.7}, "acc_rate"),
        ({"avg_daily_trips": "many"}, "avg_daily_trips"),
        ({"surge": 2.0}, "surge"),
    ],
)
def test_a_bad_request_gets_a_422_naming_the_field(served, change, field):
    _, client = served
    answer = client.post("/predict", json={**rows(1)[0], **change})
    assert answer.status_code == 422
    assert field in str(answer.json()["detail"])


def test_a_missing_field_is_named(served):
    _, client = served
    row = rows(1)[0]
    del row["conv_rate"]
    answer = client.post("/predict", json=row)
    assert answer.status_code == 422 and "conv_rate" in str(answer.json()["detail"])


def test_a_folder_that_is_not_a_bundle_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="export one with"):
        create_app(tmp_path)


def test_metrics_count_requests_and_predictions(served):
    _, client = served
    client.post("/predict", json=rows(4))
    client.post("/predict", json={**rows(1)[0], "acc_rate": 5})
    exported = client.get("/metrics").text
    assert 'http_requests_total{path="/predict",status="200"}' in exported
    assert 'http_requests_total{path="/predict",status="422"}' in exported
    assert "model_predictions_total" in exported and "model_score_bucket" in exported
    assert "process_resident_memory_bytes" in exported


def test_an_unknown_path_cannot_grow_the_label_set(served):
    _, client = served
    for i in range(5):
        client.get(f"/no-such-path-{i}")
    exported = client.get("/metrics").text
    assert 'path="other",status="404"' in exported and "no-such-path" not in exported


@pytest.mark.parametrize("body", [[], "not rows"])
def test_empty_or_malformed_requests_get_a_422(served, body):
    _, client = served
    assert client.post("/predict", json=body).status_code == 422


def test_true_or_false_is_not_a_number(served):
    """Python counts True as 1; the API must not: a complete row whose acc_rate is true is refused for that."""
    _, client = served
    answer = client.post("/predict", json=rows(1)[0] | {"acc_rate": True})
    assert answer.status_code == 422
    said = [(e["loc"][-1], e["msg"]) for e in answer.json()["detail"]]
    assert any(field == "acc_rate" and "not true or false" in msg for field, msg in said), said
