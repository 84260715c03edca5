"""CI's model checks (reproducibility against the committed reference, the quality gate) and its package
step's cache."""

import json
import re
import zipfile
from importlib.metadata import version

import pytest
from sklearn.ensemble import RandomForestClassifier
from typer.testing import CliRunner

from mlops_workbook.ci import quality, reproducibility, wheels
from mlops_workbook.core import environments, paths
from mlops_workbook.course.cli import app
from mlops_workbook.ct import features
from mlops_workbook.example import schema

cli = CliRunner()


@pytest.mark.reference
def test_the_committed_reference_is_reproduced_here():
    now = reproducibility.check()
    assert now == reproducibility.load(), "same versions, data hash and predictions"


def unseeded_forest(train_rows, seed):
    inputs = list(features.MODEL_INPUTS)
    return RandomForestClassifier(n_estimators=20).fit(train_rows[inputs].fillna(0), train_rows[schema.LABEL])


def forest(train_rows, seed):
    inputs = list(features.MODEL_INPUTS)
    return RandomForestClassifier(n_estimators=20, random_state=seed).fit(
        train_rows[inputs].fillna(0), train_rows[schema.LABEL]
    )


def test_an_unseeded_model_is_caught(tmp_path):
    reference = tmp_path / "reference.json"
    reproducibility.record(reference, trainer=forest)
    reproducibility.check(reference, trainer=forest)  # seeded: the same
    with pytest.raises(
        reproducibility.ReproducibilityError,
        match=r"predictions differ .* is every source of "
        r"randomness seeded",
    ):
        reproducibility.check(reference, trainer=unseeded_forest)


def test_a_changed_library_version_is_named(tmp_path):
    reference = tmp_path / "reference.json"
    recorded = json.loads(paths.resolve(reproducibility.REFERENCE).read_text())
    recorded["versions"]["scikit-learn"] = "1.8.0"
    reference.write_text(json.dumps(recorded))
    with pytest.raises(
        reproducibility.ReproducibilityError,
        match=rf"scikit-learn 1\.8\.0 -> {re.escape(version('scikit-learn'))}.*Pin",
    ):
        reproducibility.check(reference)


def test_changed_reference_data_is_named(tmp_path):
    reference = tmp_path / "reference.json"
    recorded = json.loads(paths.resolve(reproducibility.REFERENCE).read_text())
    reference.write_text(json.dumps({**recorded, "data_hash": "000000000000"}))
    with pytest.raises(reproducibility.ReproducibilityError, match="reference training data changed"):
        reproducibility.check(reference)


def test_a_missing_reference_says_how_to_record_one(tmp_path):
    with pytest.raises(reproducibility.ReproducibilityError, match="mlops-workbook ci reproduce --record"):
        reproducibility.check(tmp_path / "none.json")


def test_the_quality_gate_passes_a_learning_model_and_fails_a_high_floor():
    metrics, decision = quality.evaluate(environments.load("dev"))
    assert decision.passes and metrics["roc_auc"] > 0.7
    _, strict = quality.evaluate(environments.load("dev", {"min_roc_auc": 0.99}))
    assert not strict.passes and "below the minimum 0.99" in strict.reason


@pytest.mark.reference
def test_cli_reproduce_passes():
    assert cli.invoke(app, ["ci", "reproduce"]).exit_code == 0


def test_cli_reproduce_fails_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(reproducibility, "REFERENCE", tmp_path / "none.json")
    result = cli.invoke(app, ["ci", "reproduce"])
    assert result.exit_code == 1 and "error: no reference" in result.output


def test_cli_quality():
    failed = cli.invoke(app, ["ci", "quality", "-p", "min_accuracy=0.99"])
    assert failed.exit_code == 1 and "quality gate (dev): accuracy" in failed.output
    assert cli.invoke(app, ["ci", "quality", "-p", "min_accuracy=2"]).exit_code == 2


def test_the_project_wheel_is_built_once_per_content(tmp_path, monkeypatch):
    first = wheels.project_wheel(paths.project_root(), tmp_path / "a")

    def no_build(*args):
        raise AssertionError("the same code was built again")

    monkeypatch.setattr(wheels, "_build_project_wheel", no_build)
    second = wheels.project_wheel(paths.project_root(), tmp_path / "b")
    assert second.read_bytes() == first.read_bytes()
    assert not any("__pycache__" in name for name in zipfile.ZipFile(second).namelist())
