"""Team mode: `mlops-workbook up` starts an environment's PostgreSQL, MLflow tracking server and Airflow scheduler;
the deployed CT DAG runs through the scheduler into the shared registry, two writers never collide, and a
restarted server or a restored backup loses nothing."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow
import nbformat
import pytest

from mlops_workbook.cd.scheduling import pipelines
from mlops_workbook.cd.team import postgres
from mlops_workbook.cd.team.stack import TeamStack
from mlops_workbook.core import environments, errors, processes, waiting
from mlops_workbook.course import envcheck, runner, team_servers
from mlops_workbook.example import tracking

CLI = str(Path(sys.executable).parent / "mlops-workbook")
# prod: where the lessons that reach the registry differ from staging (its release_mode: test_workbook_runs.py), so
# their team-mode run there is the one run of them in an environment with servers; staging's stack is the same code
ENV = "prod"
DAG = pipelines.dag_id(ENV)
SMALL = {"n_partitions": 3, "rows_per_partition": 100}
RUN_ALL = (  # a whole CT run in a process of its own: settings and folder as arguments, what `register` said printed
    "import json, sys; from mlops_workbook.ct import steps; "
    "print(json.dumps(steps.run_all(json.loads(sys.argv[1]), sys.argv[2])['register']))"
)


@pytest.fixture(scope="module")
def workspace():
    folder = Path(tempfile.mkdtemp(prefix="team-mode-"))
    folder.chmod(0o755)  # PostgreSQL's unprivileged user must reach its cluster inside (pytest's tmp_path is 700)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def cli(*args: str, workspace: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    command = [CLI, *args, "--env", ENV, "-p", f"workspace={workspace}"]  # args: a command and its options
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


LESSONS = [nb for nb in runner.notebooks("notebooks") if team_servers.reaches_the_registry(nb.read_text())]
NEEDS = {"postgres", "airflow", "kfp", *(need for nb in LESSONS for need in envcheck.notebook_needs(nb))}
pytestmark = [pytest.mark.slow, pytest.mark.component(*NEEDS)]  # kfp: deploy-pipelines; the lessons' own needs
SHORT_ROLLOUT = {  # p99 up to the top bucket (1 s), as test_workbook_runs.short_rollout says why
    **environments.load(ENV).rollout.model_dump(),
    "step_seconds": 2 * environments.DEMO_SPEEDUP,  # held 2 s
    "bake_seconds": 2 * environments.DEMO_SPEEDUP,
    "max_p99_ms": 999,
}


def lesson_run(*lessons: Path, workspace: Path, rows: int) -> subprocess.CompletedProcess:
    """`make run ENV=prod` for `lessons`, small: 3 days of `rows` rows, rollout steps of 2 s."""
    small = ["-p", "n_partitions=3", "-p", f"rows_per_partition={rows}", "-p", f"rollout={json.dumps(SHORT_ROLLOUT)}"]
    return cli("run", *[a for nb in lessons for a in ("--only", nb.stem)], *small, workspace=workspace, timeout=900)


@pytest.fixture(scope="module")
def first_run(workspace):
    """A learner's first `make run ENV=prod` of the lessons that reach the registry (02, 03, 07, 08): no stack, no
    pipeline, no champion. Before the module's stack: it takes the same ports, and starts on what the run left."""
    # 03 deploys a newer version the gate promotes: on 3 x 100 rows (74 held out) its ROC AUC gain of 0.02 is within
    # the noise and the gate rightly keeps the older one; on 3 x 300 (about 240 held out) it is sure of it
    return lesson_run(*LESSONS, workspace=workspace, rows=300)


def ct_runs_of_the_loop(workspace: Path) -> list[tuple[str, str]]:
    """What 08 said of each CT run it asked for: the version, and how it ended (champion, or why not); each once
    (the loop's table at the end says it again)."""
    loop = json.dumps(nbformat.read(workspace / "08_capstone.ipynb", as_version=4).cells)
    return list(dict.fromkeys(re.findall(r"version (\d+) trained on [^(]+ \(Airflow run [^)]+\): ([a-z]+)", loop)))


def test_make_run_on_a_fresh_machine_starts_the_stack_has_ct_make_the_champion_ci_and_cd_take_it_and_stops(
    first_run, workspace
):
    """The run starts the stack, deploys the CT pipeline, has the scheduler run it, packages (02), releases (03) and
    watches (07) the version it registered; 08's loop has the scheduler run that pipeline twice more (its first
    model, and the retrain the drift alert asks for), and stops the stack it started."""
    assert first_run.returncode == 0, first_run.stdout + first_run.stderr
    assert f"CT pipeline {DAG} deployed" in first_run.stdout, first_run.stdout
    # the scheduler's first run (catchup off: the latest day's) or one asked of its API made the champion
    taken = re.search(r"the lessons take version (\d+), the shared registry's champion", first_run.stdout)
    assert taken, first_run.stdout
    for lesson in LESSONS:
        outputs = json.dumps(nbformat.read(workspace / lesson.name, as_version=4).cells)
        if "steps.champion_registry(" in lesson.read_text():
            assert f"version {taken[1]}: the champion CT registered in {ENV}'s registry" in outputs, lesson.stem
    assert len(ct_runs_of_the_loop(workspace)) == 2, "08's first model and its retrain: runs of the deployed DAG"
    first_step = environments.load(ENV).rollout.steps[0]  # what 03's text claims of the environment's own rollout
    serving = json.dumps(nbformat.read(workspace / "03_cd_serving.ipynb", as_version=4).cells)
    assert f"rolled back at canary {first_step}%" in serving  # the buggy canary, at its first step
    assert f"within its step's share of traffic ({first_step}%)" in serving  # what its users saw of it
    assert "team stack stopped" in first_run.stdout
    stack = TeamStack(environments.load(ENV, {"workspace": str(workspace)}))
    assert not any(row.healthy for row in stack.status()), "the run stops the stack it started"
    assert not (workspace / "team" / environments.TEAM_RECORD).exists()


@pytest.fixture(scope="module")
def stack(first_run, workspace):
    assert first_run.returncode == 0, first_run.stdout + first_run.stderr  # the stack starts on what it left
    started = cli("up", workspace=workspace)
    stack = TeamStack(environments.load(ENV, {"workspace": str(workspace)}))
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield stack
    finally:
        stack.down()


def team_settings(workspace: Path) -> environments.EnvConfig:
    return environments.load(ENV, {"workspace": str(workspace), "servers": "team", **SMALL})


def test_up_starts_every_server_healthy_and_status_says_so(stack, workspace):
    shown = cli("status", workspace=workspace)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "5 of 5 healthy" in shown.stdout
    for server in ("postgres", "mlflow", "airflow api-server", "airflow scheduler", "airflow dag-processor"):
        assert server in shown.stdout
    assert (workspace / "team" / "postgres" / "data" / "PG_VERSION").exists()  # the cluster is in the workspace


def test_the_registry_kept_what_ct_registered_through_down_and_up_and_nothing_else(first_run, stack, workspace):
    """After the first run stopped the stack and `up` started it again: the champion 08's retrain made (the lessons
    before it took the one the scheduler's run made), and one version per CT run (no lesson trained into the shared
    registry)."""
    registry = mlflow.MlflowClient(stack.tracking_uri)
    (taken,) = re.findall(r"the lessons take version (\d+), the shared registry's champion", first_run.stdout)
    (first, kept), (retrained, promoted) = ct_runs_of_the_loop(workspace)
    assert (kept, promoted) == ("not", "champion")  # the same days as the scheduler's run: no gain; then the drift's
    assert int(taken) < int(first) < int(retrained)
    assert registry.get_model_version_by_alias(tracking.model_name(), "champion").version == retrained
    ct_runs = [r for r in stack.airflow.runs(DAG) if r["state"] == "success"]
    assert len(registry.search_model_versions()) == len(ct_runs) >= 1


def test_a_run_that_finds_the_stack_up_uses_it_and_leaves_it_up(stack, workspace):
    said = []
    with team_servers.ready(environments.load(ENV, {"workspace": str(workspace)}), said.append):
        pass
    assert any("the lessons take version" in line for line in said), said
    assert not any("team stack" in line for line in said), said  # neither started nor stopped
    assert all(row.healthy for row in stack.status())


def test_retrain_runs_the_deployed_ct_dag_through_the_scheduler_into_the_shared_registry(stack, workspace):
    team_small = [arg for key, value in {"servers": "team", **SMALL}.items() for arg in ("-p", f"{key}={value}")]
    (pipelines.deployed_dags(team_settings(workspace)) / f"{DAG}.py").unlink()  # the first run's
    not_deployed = cli("retrain", *team_small, workspace=workspace)
    assert not_deployed.returncode == 3 and f"deploy-pipelines --env {ENV}" in not_deployed.stdout
    deployed = cli("deploy-pipelines", *team_small, workspace=workspace)  # CD installs the DAG where Airflow reads
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    retrained = cli("retrain", *team_small, workspace=workspace)
    assert retrained.returncode == 0, retrained.stdout + retrained.stderr
    said = re.search(r"CT \(Airflow run (\S+)\) registered version (\d+), (promoted|not promoted)", retrained.stdout)
    assert said, retrained.stdout
    run_id, version, _ = said.groups()
    run = stack.airflow.wait(DAG, run_id)  # finished: as Airflow's API reports it
    assert run["state"] == "success" and run["run_type"] == "manual" and run["triggered_by"] == "rest_api"
    assert run["tasks"] == dict.fromkeys(["prepare_features", "train", "evaluate", "register"], "success")
    registry = mlflow.MlflowClient(stack.tracking_uri)
    assert registry.get_run(registry.get_model_version(tracking.model_name(), version).run_id).data.params["env"] == ENV
    champion = registry.get_model_version_by_alias(tracking.model_name(), "champion")
    assert registry.get_run(champion.run_id).data.params["env"] == ENV
    # Deployed, the DAG also runs on its schedule (prod: daily, 03:00): the scheduler started the latest day's run.
    waiting.until(lambda: any(r["run_type"] == "scheduled" for r in stack.airflow.runs(DAG)), 60, every=1)
    (scheduled,) = [r for r in stack.airflow.runs(DAG) if r["run_type"] == "scheduled"]
    assert stack.airflow.wait(DAG, scheduled["dag_run_id"])["state"] == "success"  # done writing


def test_two_training_runs_registering_at_once_get_distinct_versions(stack, workspace):
    settings = json.dumps(team_settings(workspace).params())
    runs = []
    for writer in ("first", "second"):  # two retrains of the same data, each in its own folder
        command = [sys.executable, "-c", RUN_ALL, settings, str(workspace / f"writer-{writer}")]
        runs.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [run.communicate(timeout=300) for run in runs]
    assert all(run.returncode == 0 for run in runs), [err[-2000:] for _, err in results]
    versions = [json.loads(out.strip().splitlines()[-1])["version"] for out, _ in results]
    assert len(set(versions)) == 2
    registered = {v.version for v in mlflow.MlflowClient(stack.tracking_uri).search_model_versions()}
    assert set(versions) <= registered


def test_a_restarted_tracking_server_loses_no_run_metric_or_version(stack):
    registry = mlflow.MlflowClient(stack.tracking_uri)
    versions = {v.version for v in registry.search_model_versions()}
    mlflow.set_tracking_uri(stack.tracking_uri)
    mlflow.set_experiment("restart")
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 1.0, step=0)
        assert processes.stop(stack._name("mlflow"))  # the server goes away mid-run
        stack.up()  # starts only what is not running
        mlflow.log_metric("loss", 0.5, step=1)
    assert [m.value for m in registry.get_metric_history(run.info.run_id, "loss")] == [1.0, 0.5]
    assert registry.get_run(run.info.run_id).info.status == "FINISHED"
    assert {v.version for v in registry.search_model_versions()} == versions


def test_a_backup_restores_a_deleted_version(stack, workspace):
    registry = mlflow.MlflowClient(stack.tracking_uri)
    before = {v.version for v in registry.search_model_versions()}
    backup = stack.backup(workspace / "registry.dump")
    registry.delete_model_version(tracking.model_name(), max(before, key=int))
    stack.database.restore("mlflow", backup)
    assert {v.version for v in registry.search_model_versions()} == before


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to an unprivileged user")
def test_a_cluster_its_user_cannot_reach_fails_with_what_to_do(tmp_path):
    # pytest's own temporary folders are private to root: the unprivileged user cannot enter them.
    with pytest.raises(errors.UnavailableError, match="cannot reach .*chmod o\\+x"):
        postgres.Cluster(tmp_path / "postgres", 1, "unreachable").start(())
