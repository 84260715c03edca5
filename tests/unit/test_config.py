"""Parameters are validated before any work, with a message naming key, value and what is allowed."""

import json

import pytest

from mlops_workbook.core import environments


@pytest.mark.parametrize("env", environments.ENVIRONMENTS)
def test_every_environment_file_is_valid(env):
    cfg = environments.load(env)
    assert cfg.env == env and cfg.workspace == f"runs/{env}"


def test_dev_uses_fake_data_and_prod_needs_a_person():
    assert environments.load("dev").data_source == "fake"
    assert {environments.load(e).data_source for e in ("staging", "prod")} == {"warehouse"}
    assert environments.load("prod").release_mode == "delivery"


def test_the_registry_is_embedded_in_dev_and_the_teams_in_staging_and_prod_unless_a_server_says_otherwise(tmp_path):
    assert environments.load("dev").tracking_uri() is None  # the sqlite store in each sandbox
    assert environments.load("staging", {"servers": "embedded"}).tracking_uri() is None
    team = environments.load("staging", {"workspace": str(tmp_path)})
    assert team.tracking_uri() == f"http://127.0.0.1:{team.serve_port + environments.TEAM_PORTS['mlflow']}"
    team.team_folder().mkdir()  # a stack started by a run of another instance recorded where it listens
    ports = {"postgres": 9250, "mlflow": 9251, "airflow": 9252}
    (team.team_folder() / environments.TEAM_RECORD).write_text(json.dumps({"serve_port": 8200, **ports}))
    assert team.tracking_uri() == "http://127.0.0.1:9251" and team.team_port("airflow") == 9252
    other = environments.load("staging", {"workspace": str(tmp_path), "serve_port": 40000})  # not that stack's
    assert other.tracking_uri() == f"http://127.0.0.1:{other.serve_port + environments.TEAM_PORTS['mlflow']}"
    shared = {"servers": "team", "mlflow_tracking_uri": "http://mlflow.example:5000"}  # a class's server wins
    assert environments.load("prod", shared).tracking_uri() == "http://mlflow.example:5000"


def test_prod_states_its_release_policy_for_code_and_for_retrained_models():
    prod = environments.load("prod")
    assert (prod.release_mode, prod.mode_for_retrained_model()) == ("delivery", "deployment")
    assert (
        environments.load("prod", {"retrain_release_mode": "as release_mode"}).mode_for_retrained_model() == "delivery"
    )


def expect_error(*fragments, env="dev", **overrides):
    with pytest.raises(environments.ConfigError) as caught:
        environments.load(env, overrides)
    for fragment in fragments:
        assert fragment in str(caught.value)
    assert "nothing was executed or written" in str(caught.value)


def test_unknown_environment():
    with pytest.raises(environments.ConfigError, match="unknown environment 'qa': choose one of dev, staging, prod"):
        environments.load("qa")


def test_impossible_value_names_key_value_and_limit():
    expect_error("seed = -1", "allowed: an integer >= 0", seed=-1)
    expect_error("min_accuracy = 1.5", "<= 1", min_accuracy=1.5)


def test_mistyped_value_is_not_coerced():
    expect_error("n_partitions = '8'", "valid integer", n_partitions="8")


def test_choice_lists_the_allowed_values():
    expect_error("release_mode = 'sometimes'", "one of 'delivery', 'deployment'", release_mode="sometimes")


def test_unknown_key_suggests_the_close_one():
    expect_error("unknown key 'serve_prot' (did you mean 'serve_port'?)", serve_prot=8000)


def test_dev_may_not_read_production_data():
    expect_error("not allowed in dev: dev has no access to production data", data_source="warehouse")


def test_missing_key_in_notebook_parameters():
    params = environments.load("dev").params()
    del params["seed"]
    with pytest.raises(environments.ConfigError, match="missing key 'seed': add it, an integer >= 0"):
        environments.from_parameters(params)
    assert environments.from_parameters({**params, "seed": 1, "other_global": object()}).seed == 1


def test_overrides_are_read_as_yaml():
    assert environments.parse_overrides(["seed=7", "mlflow_tracking_uri=null", "workspace=/x"]) == {
        "seed": 7,
        "mlflow_tracking_uri": None,
        "workspace": "/x",
    }
    with pytest.raises(environments.ConfigError, match="is not key=value"):
        environments.parse_overrides(["seed"])


def test_a_rollout_section_is_checked_key_by_key():
    policy = environments.load("dev").rollout.model_dump()
    expect_error("rollout.steps = [50, 10]", "rising shares between 1 and 99", rollout={**policy, "steps": [50, 10]})
    expect_error("rollout.steps = [5, 100]", "100% is the promotion", rollout={**policy, "steps": [5, 100]})
    expect_error("unknown key 'rollout.step'", "did you mean 'steps'", rollout={**policy, "step": 3})
    expect_error("rollout.step_seconds = 60", "a number >= 120", rollout={**policy, "step_seconds": 60})  # 1 s here
    expect_error("rollout = 5", "a mapping of steps, step_seconds", rollout=5)
