"""The CLI rejects bad input before any work, with a clear message and a non-zero exit."""

import pytest
from typer.testing import CliRunner

from mlops_workbook.core import paths
from mlops_workbook.course import labs
from mlops_workbook.course.cli import app

cli = CliRunner()


def test_unknown_environment_fails_before_anything_is_written(tmp_path):
    result = cli.invoke(app, ["run", "--env", "qa"])
    assert result.exit_code == 2
    assert "unknown environment 'qa'" in result.output


def test_bad_parameter_fails_before_anything_is_written(tmp_path):
    workspace = tmp_path / "ws"
    result = cli.invoke(app, ["run", "-p", f"workspace={workspace}", "-p", "rows_per_partition=3"])
    assert result.exit_code == 2
    assert "rows_per_partition = 3" in result.output and ">= 50" in result.output
    assert not workspace.exists()


def test_unknown_notebook_lists_the_real_ones(tmp_path):
    result = cli.invoke(app, ["run", "--only", "99", "-p", f"workspace={tmp_path / 'ws'}"])
    assert result.exit_code == 2
    assert "no notebook numbered or named 99" in result.output and "00_overview" in result.output
    assert not (tmp_path / "ws").exists()


def test_config_prints_the_validated_parameters():
    result = cli.invoke(app, ["config", "--env", "prod"])
    assert result.exit_code == 0
    assert "release_mode" in result.output and "'delivery'" in result.output


def test_labs_are_in_sync():
    result = cli.invoke(app, ["labs", "--check"])
    assert result.exit_code == 0, result.output + " (run `make labs` to regenerate labs/ from solutions/)"


def test_a_stale_lab_is_named_with_the_fix(monkeypatch):
    monkeypatch.setattr(labs, "stale_labs", lambda: ["03_cd_serving.ipynb"])
    result = cli.invoke(app, ["labs", "--check"])
    assert result.exit_code == 1 and "03_cd_serving.ipynb" in result.output and "make labs" in result.output


# Each bad input a user can give the CLI, what it must say, and its exit code (2: bad input, nothing done).
BAD_INPUTS = {
    "a parameter without a value": (["run", "-p", "rows_per_partition"], "is not key=value", 2),
    "a cron that is not one": (["deploy-pipelines", "-p", "retrain_schedule=bogus"], "retrain_schedule", 2),
    "a file that is not a notebook": (["check", "README.md"], "README.md is not a Jupyter notebook", 2),
    "a shard that is not i/n": (["check", "--shard", "x", "labs"], "--shard x: expected i/n", 2),
    "a report that is not a class report": (["merge", "pyproject.toml"], "these are not class reports", 2),
    "an empty report": (["merge", "{empty}"], "these are not class reports", 2),
    "a course inside the workbook": (["course", "notebooks"], "inside the workbook", 2),
    "an unknown notebook to refresh": (["refresh", "--only", "99"], "no notebook numbered or named 99", 2),
    "dev, which serves no image": (["deploy", "--env", "dev"], "This command deploys CI's image to staging or prod", 2),
    "a team stack for dev": (["up", "--env", "dev"], "dev runs with embedded defaults and no servers", 2),
    "an unknown kind of servers": (["status", "-p", "servers=cloud"], "servers = 'cloud'", 2),
    "a day to learn from that the source lacks": (
        [
            "retrain",
            "--env",
            "dev",
            "-p",
            "n_partitions=2",
            "-p",
            "workspace={tmp}",
            "--day",
            "2026-01-05",
            "--day",
            "2031-01-01",
        ],
        "the run asks for 2031-01-01, which dev's source (fake) does not have: it has 2026-01-05 to 2026-01-06",
        2,
    ),
    "a team-mode retrain with no team stack": (
        ["retrain", "--env", "prod", "-p", "servers=team", "-p", "serve_port=40000"],
        "start the team stack with `mlops-workbook up --env prod`",
        3,
    ),
}


@pytest.mark.parametrize("bad", BAD_INPUTS)
def test_bad_input_is_a_message_and_an_exit_code_never_a_traceback(bad, monkeypatch, tmp_path):
    arguments, said, code = BAD_INPUTS[bad]
    (tmp_path / "empty.csv").touch()
    monkeypatch.chdir(paths.project_root())
    result = cli.invoke(app, [a.format(empty=tmp_path / "empty.csv", tmp=tmp_path) for a in arguments])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.exit_code == code and said in " ".join(result.output.split()), result.output


def test_the_deploy_command_offers_every_strategy_and_no_other():
    from mlops_workbook.cd.rollout import strategies
    from mlops_workbook.course import cli

    assert [s.value for s in cli.Strategy] == list(strategies.STRATEGIES)


def test_ci_package_on_an_empty_registry_names_the_step_that_makes_a_champion(tmp_path):
    """CI packages what CT promoted and trains nothing: with no champion, it says where one comes from."""
    done = CliRunner().invoke(app, ["ci", "package", "--env", "dev", "-p", f"workspace={tmp_path}"])
    assert done.exit_code == 3, done.output
    assert "no 'champion' in the registry" in " ".join(done.output.split()), done.output
    assert "mlops-workbook retrain" in " ".join(done.output.split()), done.output
