"""The CT steps as an Apache Airflow DAG: one task per step, in order, with the environment's schedule.

This module runs where Airflow is installed (`.venv-airflow`, see `cd/scheduling/pipelines.py`), never in the
workbook's own environment: Airflow pins an older FastAPI than the serving app. The DAG file that
`pipelines.install_airflow_dag` writes calls `build`; `python -m mlops_workbook.cd.scheduling.airflow_dag <file>`
runs it once in-process (`dag.test()`, no scheduler or webserver) and prints each task's state as JSON;
with `--parse <file>...` it only loads the files as Airflow's scheduler would and prints the DAGs they define.
"""

from __future__ import annotations

import importlib
import json
import runpy
import sys
from datetime import datetime


def _step(reference: str):
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def _run(step: str, settings: dict, folder: str, params) -> dict:
    """A task: the step, given the days the run was asked to learn from (its conf), if any. `params` is the run's,
    which Airflow hands to a callable that names it."""
    days = params.get("partitions")
    return _step(step)(settings, folder, *([days] if days is not None else []))


def build(dag_id: str, env: str, settings: dict, folder: str, schedule: str | None, steps: list[str]):
    """The DAG `dag_id` (pipelines.dag_id) whose tasks call the steps ("module:function") one after the other. A run
    asked for with `{"partitions": [days]}` as its conf learns from those days; a scheduled one from every day."""
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG, Param

    with DAG(
        dag_id=dag_id,
        schedule=schedule,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,  # two runs at once would write the same folder; a second one waits its turn
        tags=["mlops-workbook", env],
        doc_md=f"Continuous Training for {env}: {' → '.join(steps)}",
        params={  # checked when a run is asked for: a bad conf is refused before the run starts
            "partitions": Param(
                None,
                type=["null", "array"],
                items={"type": "string", "format": "date"},
                minItems=1,
                description="the days to learn from (YYYY-MM-DD); none: every day of the source",
            )
        },
    ) as dag:
        previous = None
        for reference in steps:
            _step(reference)  # a step that does not import fails the DAG's parse, before any run
            task = PythonOperator(
                task_id=reference.partition(":")[2],
                python_callable=_run,
                op_kwargs={"step": reference, "settings": settings, "folder": folder},
            )
            if previous is not None:
                previous >> task
            previous = task
    return dag


def parse(dag_files: list[str]) -> int:
    """Load each file as Airflow's scheduler would (a deploy's check that the DAG imports) and describe the DAG
    it defines: its id, schedule, tasks in order, and the settings and folder its tasks run with."""
    described = []
    for dag_file in dag_files:
        dag = runpy.run_path(dag_file)["dag"]
        first = dag.tasks[0].op_kwargs if dag.tasks else {}
        described.append(
            {
                "dag_id": dag.dag_id,
                "schedule": dag.schedule,
                "tasks": [task.task_id for task in dag.tasks],
                "settings": first.get("settings"),
                "folder": first.get("folder"),
            }
        )
    print(json.dumps(described))
    return 0


def main(dag_file: str) -> int:
    dag = runpy.run_path(dag_file)["dag"]
    run = dag.test()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    in_order = {task.task_id: states.get(task.task_id, "not run") for task in dag.tasks}  # the order they were chained
    print(json.dumps({"dag_id": dag.dag_id, "state": str(run.state), "tasks": in_order}))
    return 0 if str(run.state) == "success" else 1


if __name__ == "__main__":
    sys.exit(parse(sys.argv[2:]) if sys.argv[1] == "--parse" else main(sys.argv[1]))
