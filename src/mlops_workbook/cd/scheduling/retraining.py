"""Running an environment's CT pipeline now, as its deployment runs it (`mlops-workbook retrain`, 08's drift
trigger): in team mode, a run of the deployed DAG that the team's Airflow scheduler executes, asked for through
Airflow's REST API; with the embedded defaults, the same steps in this process. Either way the new version is
registered and gated in the environment's registry (ct.steps.open_registry), where CI takes the champion from."""

from __future__ import annotations

from mlops_workbook.cd.scheduling import pipelines
from mlops_workbook.core import errors, waiting
from mlops_workbook.ct import steps

HEALTHY_WITHIN = 60  # seconds: Airflow's scheduler_health_check_threshold is 30


def retrain(cfg, partitions: list[str] | None = None, timeout: float = 900) -> dict:
    """One CT run for the environment, learning from `partitions` (every day by default: a scheduled run's); what
    its register step said (version, promoted, reason, the gate's scores) and how it ran."""
    days = steps.required_days(cfg, partitions)  # a day the source lacks: refused before any run starts
    if cfg.servers == "embedded":
        done = steps.run_all(cfg.params(), pipelines.portable(steps.environment_folder(cfg)), days)
        return {**done["register"], "ran": "in this process"}
    from mlops_workbook.cd.team.stack import TeamStack

    airflow = TeamStack(cfg).airflow
    # started by this instance (its process registry), or by another one, which recorded where it listens
    if not (airflow.running() or cfg.team_recorded()):
        raise errors.UnavailableError(
            f"{cfg.env}'s Airflow is not running: start the team stack with `mlops-workbook up --env {cfg.env}`"
        )
    # running, but on a loaded machine the API server answers late and a scheduler that missed a heartbeat
    # reports unhealthy for a while: wait for both
    if not waiting.within(airflow.healthy, HEALTHY_WITHIN, every=1):
        raise errors.UnavailableError(
            f"{cfg.env}'s Airflow runs but did not report healthy within {HEALTHY_WITHIN} s: "
            f"`mlops-workbook status --env {cfg.env}` says which part, its logs are in {airflow.home}"
        )
    dag_id = pipelines.dag_id(cfg.env)
    if not (pipelines.deployed_dags(cfg) / f"{dag_id}.py").exists():
        raise errors.UnavailableError(
            f"no CT pipeline is deployed for {cfg.env}: deploy it first, with "
            f"`mlops-workbook deploy-pipelines --env {cfg.env}` (and the same -p options)"
        )
    airflow.dag(dag_id)  # the scheduler has read it
    run_id = airflow.trigger(dag_id, {"partitions": days} if days is not None else None)
    run = airflow.wait(dag_id, run_id, timeout)
    if run["state"] != "success":
        failed = [task for task, state in run["tasks"].items() if state != "success"]
        raise errors.RunError(
            f"the CT run {run_id} of {dag_id} failed at {', '.join(failed)}: its log is under "
            f"{airflow.home / 'logs' / f'dag_id={dag_id}' / f'run_id={run_id}'}"
        )
    return {**airflow.returned(dag_id, run_id, "register"), "ran": f"Airflow run {run_id}"}
