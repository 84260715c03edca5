"""The CT pipeline as steps: each reads what the one before wrote, and the whole runs directly."""

import json

import pytest

from mlops_workbook.core import environments, errors
from mlops_workbook.ct import data_pipeline, steps, training
from mlops_workbook.example import data


@pytest.fixture
def settings():
    return environments.load("dev", {"n_partitions": 3, "rows_per_partition": 100}).params()


def test_the_steps_run_in_order_and_register_a_gated_version(settings, tmp_path):
    results = steps.run_all(settings, str(tmp_path))
    assert list(results) == ["prepare_features", "train", "evaluate", "register"]
    assert results["prepare_features"]["rows"] == 300
    said = results["register"]
    assert {key: said[key] for key in ("version", "promoted", "reason")} == {
        "version": "1",
        "promoted": True,
        "reason": "first model to pass the thresholds",
    }
    assert said["scores"] == {"version 1 (new)": results["evaluate"]}  # the gate's scores, on the same rows
    assert json.loads((tmp_path / steps.METRICS).read_text()) == results["evaluate"]
    json.dumps(results)  # what a scheduler stores between tasks


def test_a_second_run_on_the_same_data_is_not_promoted(settings, tmp_path):
    steps.run_all(settings, str(tmp_path))
    again = steps.run_all(settings, str(tmp_path))["register"]
    assert again["version"] == "2" and again["promoted"] is False and "not above the margin" in again["reason"]


def test_a_run_asked_for_some_days_learns_from_those_days_only_and_is_judged_on_their_rows(settings, tmp_path):
    steps.run_all(settings, str(tmp_path))  # the champion: every day
    days = data.partition_names(3)[1:]
    results = steps.run_all(settings, str(tmp_path), partitions=days)
    assert results["prepare_features"] == {"partitions": days, "rows": 200}
    store = data_pipeline.FeatureStore(tmp_path / "features")
    assert results["train"]["train_rows"] == len(training.split(store.read(days))[0]) < len(store.read(days))
    registry = steps.open_registry(environments.validate(settings, "the test"), tmp_path)
    run = registry.get_run(registry.get_model_version("ride-completion", "2").run_id)
    assert run.data.params["partitions"] == "2"
    scores = results["register"]["scores"]
    assert list(scores) == ["version 2 (new)", "version 1 (champion)"]  # both versions, on the new days' rows
    assert scores["version 2 (new)"] == results["evaluate"]


def test_a_run_asked_for_a_day_the_source_lacks_fails_before_anything_is_written(settings, tmp_path):
    with pytest.raises(
        errors.BadInputError, match=r"2031-01-01, which dev's source \(fake\) does not have: it has 2026-01-05"
    ):
        steps.prepare_features(settings, str(tmp_path), [data.partition_names(3)[0], "2031-01-01"])
    with pytest.raises(errors.BadInputError, match="asks for no day"):  # not "every day" by accident
        steps.prepare_features(settings, str(tmp_path), [])
    assert not any((tmp_path / "features").rglob("*.parquet"))


def test_an_airflow_task_passes_the_days_of_its_runs_conf_to_its_step(settings, tmp_path):
    """What each task of the deployed DAG calls (airflow_dag._run, given the run's params): a run asked for a day
    prepares that day; a scheduled one (no days) every day."""
    from mlops_workbook.cd.scheduling import airflow_dag

    step = f"{steps.prepare_features.__module__}:prepare_features"
    day = data.partition_names(3)[1]
    assert airflow_dag._run(step, settings, str(tmp_path), {"partitions": [day]})["partitions"] == [day]
    assert airflow_dag._run(step, settings, str(tmp_path), {"partitions": None})["partitions"] == data.partition_names(
        3
    )


def test_a_step_run_before_its_input_exists_says_which_step_to_run(settings, tmp_path):
    steps.prepare_features(settings, str(tmp_path))
    with pytest.raises(errors.UnavailableError, match="run the train step first"):
        steps.evaluate(settings, str(tmp_path))
    steps.train(settings, str(tmp_path))
    with pytest.raises(errors.UnavailableError, match="run the evaluate step first"):
        steps.register(settings, str(tmp_path))


def test_bad_settings_fail_before_any_work(settings, tmp_path):
    with pytest.raises(environments.ConfigError, match="rows_per_partition"):
        steps.prepare_features({**settings, "rows_per_partition": -5}, str(tmp_path / "ct"))
    assert not (tmp_path / "ct").exists()


def test_a_lesson_without_servers_runs_ct_once_into_its_own_registry_and_then_takes_its_champion(tmp_path):
    cfg = environments.load("dev", {"n_partitions": 3, "rows_per_partition": 100})
    registry, said = steps.champion_registry(cfg, tmp_path)
    assert said == "version 1: the champion of dev's CT pipeline, run here (no servers: embedded)"
    assert registry.get_run(registry.get_model_version("ride-completion", "1").run_id).data.params["data_source"] == (
        "fake"
    )
    _, again = steps.champion_registry(cfg, tmp_path)  # CT does not run again: the champion is there
    assert again == said and len(registry.search_model_versions()) == 1


def test_in_team_mode_a_registry_that_does_not_answer_says_how_to_start_it(tmp_path):
    cfg = environments.load("staging", {"workspace": str(tmp_path), "serve_port": 40000})  # nothing listens there
    with pytest.raises(errors.UnavailableError, match="mlops-workbook up --env staging"):
        steps.champion_registry(cfg, tmp_path)
