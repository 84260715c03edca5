"""The serving app: schema-driven requests, the same features as training, and the bundle it serves."""

import json
import re
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from mlops_workbook.cd.serving import REQUEST_ID, prediction_log
from mlops_workbook.cd.serving.app import MAX_BODY, MAX_ROWS, create_app
from mlops_workbook.core import errors
from mlops_workbook.ct import features, training
from mlops_workbook.example import data, schema


@pytest.fixture(scope="module")
def served(trained):
    return trained.model, TestClient(create_app(trained.folder))


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
    # both sides rounded to 6 decimals, ONNX in float32: two roundings may differ by one last digit
    assert got == pytest.approx(expected.round(6).tolist(), abs=2e-6)
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
        ({"acc_rate": "0.5"}, "acc_rate"),
        ({"avg_daily_trips": 3.5}, "avg_daily_trips"),
        ({"surge": 2.0}, "surge"),
    ],
)
def test_a_bad_request_gets_a_422_naming_the_field(served, change, field):
    _, client = served
    answer = client.post("/predict", json={**rows(1)[0], **change})
    assert answer.status_code == 422
    assert field in str(answer.json()["detail"])


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_nan_or_infinity_gets_a_422_naming_the_field_not_a_500(served, value):
    """Python's json reads NaN and Infinity, which are not JSON: the 422 must still be answerable."""
    _, client = served
    body = re.sub(r'"years_active": [0-9.e-]+', f'"years_active": {value}', json.dumps(rows(1)[0]))
    answer = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    said = [(e["loc"][-1], e["msg"], e["input"]) for e in answer.json()["detail"] if e["loc"][1] == "Row"]
    echoed = value.replace("Infinity", "inf").replace("NaN", "nan")  # as text: NaN and Infinity are not JSON
    assert said == [("years_active", "Input should be a finite number", echoed)]


def test_an_integer_may_be_written_with_a_zero_fraction(served):
    _, client = served
    assert client.post("/predict", json=rows(1)[0] | {"avg_daily_trips": 12.0}).status_code == 200


def test_a_body_larger_than_the_row_limit_needs_is_refused_before_it_is_read(served):
    """The size is checked against Content-Length, so the server never reads (or parses) the body."""
    _, client = served
    too_many = json.dumps(rows(1) * (MAX_ROWS * 8))
    assert len(too_many) > MAX_BODY
    answer = client.post("/predict", content=too_many, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    at_the_limit = client.post("/predict", json=rows(1) * MAX_ROWS)
    assert at_the_limit.status_code == 200 and len(at_the_limit.json()["predictions"]) == MAX_ROWS
    assert client.post("/predict", json=rows(1) * (MAX_ROWS + 1)).status_code == 422


def test_the_openapi_document_lists_what_predict_can_answer(served):
    _, client = served
    listed = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["responses"]
    assert set(listed) == {"200", "400", "413", "422"}


def test_the_app_imports_no_training_library():
    """The image has no pandas, scikit-learn, scipy or MLflow: importing the app must not need them."""
    heavy = ("pandas", "sklearn", "scipy", "mlflow", "skops", "matplotlib")
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, mlops_workbook.cd.serving.app; print([m for m in {heavy} if m in sys.modules])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "[]"


def test_a_missing_field_is_named(served):
    _, client = served
    row = rows(1)[0]
    del row["conv_rate"]
    answer = client.post("/predict", json=row)
    assert answer.status_code == 422 and "conv_rate" in str(answer.json()["detail"])


def test_a_folder_that_is_not_a_bundle_says_how_to_make_one(tmp_path):
    with pytest.raises(errors.BadInputError, match="export one with"):
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


def test_the_memory_limit_is_read_from_the_cgroup_and_absent_without_one(tmp_path):
    from mlops_workbook.cd.serving.app import memory_limit

    limited, unlimited_v2, unlimited_v1 = (tmp_path / name for name in ("limited", "v2", "v1"))
    limited.write_text("268435456\n")
    unlimited_v2.write_text("max\n")
    unlimited_v1.write_text("9223372036854771712\n")
    assert memory_limit([tmp_path / "missing", limited]) == 268435456
    assert memory_limit([unlimited_v2]) is None and memory_limit([unlimited_v1]) is None
    assert memory_limit([tmp_path / "missing"]) is None


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


def test_numbered_requests_are_logged_with_their_labels(served):
    """What a shadow's report joins two versions' answers by: the front door's request number."""
    _, client = served
    sent = {f"r{i}": rows(3) for i in range(2)}
    answered = {
        number: "".join(
            str(p["completed"])
            for p in client.post("/predict", json=body, headers={REQUEST_ID: number}).json()["predictions"]
        )
        for number, body in sent.items()
    }
    client.post("/predict", json=rows(1))  # not numbered (not through the front door): not logged
    log = client.get("/predictions/log").json()
    assert log["model_version"] == "7" and {n: log["labels"][n] for n in sent} == answered
    assert set(log["labels"]) >= set(sent) and len(log["labels"]) == len(set(log["labels"]))
    a_clients_own = client.post("/predict", json=rows(1), headers={REQUEST_ID: "x" * 65})  # not nginx's: answered
    assert a_clients_own.status_code == 200 and "x" * 65 not in client.get("/predictions/log").json()["labels"]


def test_the_log_keeps_the_newest_labels_up_to_its_bound():
    log = prediction_log.PredictionLog(rows=5)
    log.add("a", [1, 0])
    log.add("b", [1])
    log.add("a", [0, 0])  # seen again: its newer answer, now the newest
    log.add("c", [1, 1])
    assert log.labels() == {"b": "1", "a": "00", "c": "11"} and log.kept == 5
    log.add("d", [0])  # one label over the bound: the oldest request goes
    assert log.labels() == {"a": "00", "c": "11", "d": "0"} and log.kept == 5
    log.add("e", [1] * 6)  # larger than the bound alone: nothing of it can be kept, nor of the older ones
    assert log.labels() == {} and log.kept == 0
