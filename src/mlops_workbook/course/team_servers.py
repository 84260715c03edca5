"""`mlops-workbook run` in team mode (`servers: team`, staging and prod): the lessons run against the environment's
servers. Before the first lesson, the team stack is up, the CT pipeline is deployed where its scheduler reads, and
the shared registry holds a champion (one run of that pipeline, through Airflow, if CT has made none yet): what
CI packages (02), CD releases (03) and CM watches (07). A lesson that runs the CT pipeline itself (08's loop) starts
after those, since it moves the champion they read. After the last lesson, the stack stops if this run started it;
its data stays for the next `up`."""

from __future__ import annotations

import contextlib
from pathlib import Path

from mlops_workbook.core import paths

# What a lesson calls when it reaches the environment's servers: its registry's champion (ct/steps.py), or a run of
# its CT pipeline (cd/scheduling/retraining.py), which may move that champion. The other lessons need no server.
READS_THE_CHAMPION, RUNS_CT = "steps.champion_registry(", "retraining.retrain("
FIRST_RUN_WITHIN = 30  # seconds for a newly deployed DAG's first scheduled run to appear (a few, here)


def reaches_the_registry(source: str) -> bool:
    """Whether a lesson's text (or code) calls what reaches the environment's servers."""
    return READS_THE_CHAMPION in source or RUNS_CT in source


def running_ct(notebooks: list[Path]) -> tuple[Path, ...]:
    """The lessons that run the environment's CT pipeline themselves: they start after the others (runner.run)."""
    return tuple(nb for nb in notebooks if RUNS_CT in Path(nb).read_text())


def needed(cfg, notebooks: list[Path]) -> bool:
    """Whether a run of these lessons needs the environment's servers: team mode, and a lesson that reaches them."""
    reaching = any(reaches_the_registry(Path(nb).read_text()) for nb in notebooks)
    return cfg.servers == "team" and not cfg.mlflow_tracking_uri and reaching


@contextlib.contextmanager
def ready(cfg, say, quiet_within: float = 600):
    """The environment's servers for the lessons, each step said as it happens (`say`: print, or the console's).

    A stack found running is the team's: it is used as it is (its deployed pipeline too) and left running. One
    started here is stopped at the end. The lessons start once no CT run is under way, so that none registers a
    version while they read the champion (the lessons that run CT themselves start after them: `running_ct`)."""
    from mlops_workbook.cd.scheduling import pipelines, retraining
    from mlops_workbook.cd.team import tracking_server
    from mlops_workbook.cd.team.stack import TeamStack
    from mlops_workbook.core import waiting
    from mlops_workbook.ct import gate, steps

    stack = TeamStack(cfg)
    started = not tracking_server.healthy(stack.tracking_uri)  # the registry: what the lessons reach
    try:
        if started:
            seconds = stack.up()
            say(f"{cfg.env}: team stack up in {seconds:.0f} s (MLflow: {stack.tracking_uri})")
        else:
            stack.record_ports()  # it may have been started before its `up` recorded them
        dag_id = pipelines.dag_id(cfg.env)
        if not (pipelines.deployed_dags(cfg) / f"{dag_id}.py").exists():  # a deployed pipeline is the team's: kept
            installed = pipelines.deploy(cfg)
            say(f"{cfg.env}: CT pipeline {dag_id} deployed for Airflow's scheduler (`deploy-pipelines`)")
            if installed.dag["schedule"] and stack.airflow.healthy():  # catchup off: it runs the latest interval now
                stack.airflow.dag(dag_id)  # read by the DAG processor
                waiting.within(lambda: stack.airflow.active_runs(dag_id), FIRST_RUN_WITHIN, every=1)

        def settled() -> None:  # no CT run under way: none registers a version while the lessons read the champion
            if stack.airflow.healthy() and stack.airflow.active_runs(dag_id):
                say(f"{cfg.env}: waiting for the CT run under way ({dag_id})")
                waiting.until(
                    lambda: not stack.airflow.active_runs(dag_id), quiet_within, every=1, what=f"{dag_id} idle"
                )

        settled()
        if gate.champion_version(steps.open_registry(cfg)) is None:
            said = retraining.retrain(cfg)
            say(f"{cfg.env}: no champion yet: CT ({said['ran']}) made version {said['version']}: {said['reason']}")
        settled()  # a scheduled run that queued behind it
        version = gate.required_champion(steps.open_registry(cfg))  # none promoted: it says what to do
        say(f"{cfg.env}: the lessons take version {version}, the shared registry's champion")
        yield stack
    finally:
        if started:
            stack.down()
            say(f"{cfg.env}: team stack stopped (its data stays in {paths.show(stack.folder)} for the next `up`)")
