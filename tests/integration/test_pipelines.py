"""The CT steps deployed to real schedulers: Airflow reads each environment's DAG, a failing step fails its run,
Kubeflow compiles each environment's pipeline.

That a DAG run and a local Kubeflow run give the direct run's metrics is 04_cd_pipelines' table, compared with its
stored output by nbval in make test (direct, airflow and kubeflow columns equal); the scheduler's runs are
test_team_stack.py's."""

from __future__ import annotations

import json

import pytest
import yaml

from mlops_workbook.cd.scheduling import pipelines
from mlops_workbook.core import commands, environments, errors
from mlops_workbook.ct import steps

SMALL = {"n_partitions": 3, "rows_per_partition": 150, "servers": "embedded"}  # the DAG runs here, not in a team's


@pytest.mark.component("airflow")
def test_a_failing_step_fails_the_dag_run_with_its_error(tmp_path):
    cfg = environments.load("staging", SMALL)
    skipped = [ref for ref in pipelines.STEP_REFERENCES if not ref.endswith(":train")]  # evaluate finds no candidate
    dag_file = pipelines.install_airflow_dag(cfg, tmp_path / "dags", str(tmp_path / "ct"), skipped)
    with pytest.raises(commands.CommandError, match="(?s)the Airflow DAG run failed.*run the train step first"):
        pipelines.run_airflow_dag(dag_file, tmp_path / "home")


@pytest.mark.component("airflow")
def test_airflow_reads_each_environments_dag_with_its_settings_and_schedule(tmp_path):
    envs = ["dev", "staging", "prod"]
    files = [pipelines.install_airflow_dag(environments.load(e), tmp_path / e, f"runs/{e}/pipelines/ct") for e in envs]
    for env, dag in zip(envs, pipelines.load_dags(files), strict=True):
        cfg = environments.load(env)
        assert dag == {
            "dag_id": f"ct_pipeline_{env}",
            "schedule": cfg.retrain_schedule,
            "tasks": [step.__name__ for step in steps.STEPS],
            "settings": cfg.params(),
            "folder": f"runs/{env}/pipelines/ct",
        }


@pytest.mark.parametrize(
    "schedule, cron",
    [
        ("0 3 * * *", "0 0 3 * * *"),
        ("@daily", "0 0 0 * * *"),
        ("*/15 8-18 * * 1-5", "0 */15 8-18 * * 1-5"),
        (None, None),
    ],
)
def test_a_schedule_becomes_kubeflows_six_field_cron(schedule, cron):
    assert pipelines.kubeflow_cron(schedule) == cron


def test_a_schedule_kubeflow_cannot_read_is_refused_with_what_it_expects():
    with pytest.raises(errors.BadInputError, match="expected 5 cron fields"):
        pipelines.kubeflow_cron("0 0 3 * * *")


@pytest.mark.component("kfp")
def test_the_kubeflow_pipeline_compiles_with_the_environment_as_defaults(tmp_path):
    cfg = environments.load("prod")
    spec = yaml.safe_load(pipelines.compile_kfp(cfg, "runs/prod/pipelines/ct", tmp_path / "ct.yaml").read_text())
    assert spec["pipelineInfo"]["name"] == "ct-pipeline-prod"
    assert "cron_expression='0 0 3 * * *'" in spec["pipelineInfo"]["description"]
    defaults = spec["root"]["inputDefinitions"]["parameters"]
    assert json.loads(defaults["settings"]["defaultValue"]) == cfg.params()
    assert json.loads(defaults["partitions"]["defaultValue"]) is None  # a run learns from every day unless asked
    assert len(spec["root"]["dag"]["tasks"]) == len(steps.STEPS)


@pytest.mark.component("airflow")
@pytest.mark.component("kfp")
def test_the_deploy_pipelines_command_installs_both_into_any_workspace(tmp_path):
    """What CI's deploy jobs run, into a workspace outside the clone (a test's, an instructor's)."""
    from typer.testing import CliRunner

    from mlops_workbook.course.cli import app

    result = CliRunner().invoke(app, ["deploy-pipelines", "--env", "prod", "-p", f"workspace={tmp_path}"])
    assert result.exit_code == 0, result.output
    assert "Airflow DAG ct_pipeline_prod" in result.output and "(recurring run cron 0 0 3 * * *)" in result.output
    deployed = tmp_path / "pipelines" / "deployed"
    assert (deployed / "dags" / "ct_pipeline_prod.py").exists() and (deployed / "ct_pipeline_prod.yaml").exists()
