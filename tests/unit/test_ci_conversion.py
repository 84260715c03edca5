"""CI's parity gate: the ONNX model is packaged only if it answers like the trained pipeline."""

import pytest

from mlops_workbook.ci import conversion, export
from mlops_workbook.ct import features, gate, training
from mlops_workbook.example import bundle, data, tracking


@pytest.fixture(scope="module")
def fitted():
    table = features.build(data.production_batch(1200, seed=5))
    train_rows, held_out = training.split(table)
    return training.train(train_rows, seed=5), train_rows, held_out


def test_the_converted_model_answers_like_the_trained_one(fitted):
    model, _, held_out = fitted
    parity = conversion.check(model, conversion.to_onnx(model), held_out)
    assert parity.rows == len(held_out) and parity.labels_differing == 0
    assert parity.max_difference <= conversion.TOLERANCE


def test_a_conversion_that_reads_the_inputs_in_another_order_is_refused(fitted):
    model, train_rows, held_out = fitted
    reordered = training.train(train_rows, seed=5, inputs=tuple(reversed(model.feature_names_in_)))
    with pytest.raises(conversion.ParityError, match=r"labels differ, largest probability difference .* not packaged"):
        conversion.check(model, conversion.to_onnx(reordered), held_out)


@pytest.fixture(scope="module")
def registry(gated_registry):
    return gated_registry("dev", {"n_partitions": 2, "rows_per_partition": 300})


def test_export_writes_the_checked_bundle_and_logs_the_onnx_model_with_the_version(registry, tmp_path):
    facts, parity = export.champion(registry, tmp_path / "bundle")
    assert (facts.version, facts.alias) == ("1", gate.CHAMPION) and parity.labels_differing == 0
    session, loaded = bundle.load(tmp_path / "bundle")
    assert loaded == facts and loaded.reference is not None
    version = registry.get_model_version(tracking.model_name(), "1")
    assert [a.path for a in registry.list_artifacts(version.run_id, "onnx")] == ["onnx/model.onnx"]


def test_a_broken_conversion_is_never_packaged(registry, tmp_path, monkeypatch):
    wrong = training.train(features.build(data.production_batch(600, seed=9)), seed=9, C=1e-4)
    convert = conversion.to_onnx
    monkeypatch.setattr(conversion, "to_onnx", lambda model: convert(wrong))  # converts another model
    with pytest.raises(conversion.ParityError, match="it was not packaged"):
        export.champion(registry, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists(), "nothing is written for a model that failed parity"


def test_a_version_without_held_out_rows_cannot_be_checked_so_it_is_not_packaged(registry, fitted, tmp_path):
    import mlflow.sklearn

    with mlflow.start_run():
        logged = mlflow.sklearn.log_model(fitted[0], name="model", skops_trusted_types=training.TRUSTED_TYPES)
    version = registry.create_model_version(tracking.model_name(), source=logged.model_uri).version
    with pytest.raises(conversion.ParityError, match=f"version {version} has no held-out rows"):
        export.version(registry, str(version), tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()
