"""Airflow as a team runs it: the scheduler, the DAG processor and the API server, with the LocalExecutor and
Airflow's metadata in PostgreSQL, so that the deployed CT DAG runs on its schedule and on request (REST API).

They run from `.venv-airflow` (cd/scheduling/pipelines.py says why it is apart). Airflow keeps its settings
and the secrets it generates (JWT, Fernet key) in `airflow.cfg` in its home, in the workspace, mode 600.
Sizes are for 2 cores: two task processes at once, one API worker, one parsing process.
"""

from __future__ import annotations

import os
import urllib.error
from pathlib import Path

from mlops_workbook.cd.scheduling import pipelines
from mlops_workbook.core import commands, errors, http_client, paths, processes, waiting

COMPONENTS = ("api-server", "scheduler", "dag-processor")
FINISHED = ("success", "failed")
# An API call waits this long for its answer: Airflow's API server is one process beside the scheduler, and on a
# busy host (CI's 2 cores running lessons beside it) a trigger took over 10 s to be answered.
API_TIMEOUT = 60


class Airflow:
    """`Airflow(home, dags, port, database_url, prefix).start()`; then `trigger` a DAG and `wait` for its run."""

    def __init__(self, home: Path, dags: Path, port: int, database_url: str, prefix: str):
        self.home, self.dags, self.port = Path(home), Path(dags), port
        self.database_url, self.prefix = database_url, prefix  # prefix: names in the process registry
        self.url = f"http://127.0.0.1:{port}"

    def environment(self) -> dict:
        return {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",  # a deployed DAG runs on its schedule
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            # Anyone on this machine may use the API, as admin: a shared host sets users instead (README, team mode)
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",  # a newly deployed DAG file is seen within seconds
            "PYTHONPATH": os.pathsep.join(filter(None, [str(self.dags), os.environ.get("PYTHONPATH")])),
            "MPLBACKEND": "Agg",
        }

    def start(self, timeout: float = 90) -> None:
        """Bring the metadata database up to Airflow's version, then start the three components and wait until
        Airflow reports each healthy."""
        self.dags.mkdir(parents=True, exist_ok=True)
        airflow = str(pipelines.python_of(pipelines.AIRFLOW_VENV).parent / "airflow")
        env = self.environment()
        commands.run([airflow, "db", "migrate"], "airflow db migrate", timeout=120, env=env, cwd=paths.project_root())
        started = {}
        for component in COMPONENTS:
            log = self.home / f"{component}.log"
            command = [airflow, component, *(["--skip-serve-logs"] if component == "scheduler" else [])]
            started[component] = processes.start(f"{self.prefix}-{component}", command, log, env=env)

        def settled() -> bool:  # healthy, or a component has already exited
            return any(process.poll() is not None for process in started.values()) or self.healthy()

        ready = waiting.within(settled, timeout, every=0.25)
        dead = [name for name, process in started.items() if process.poll() is not None]
        if ready and not dead:
            return
        failing = dead or [name for name, ok in self.health().items() if not ok] or list(COMPONENTS)
        self.stop()
        log = self.home / f"{failing[0]}.log"
        raise errors.UnhealthyError(
            f"Airflow's {' and '.join(failing)} did not become healthy within {timeout:g} s (its log: {log}).",
            logs=processes.tail(log),
        )

    def health(self) -> dict[str, bool]:
        """Airflow's own report: is each of the metadata database, the scheduler and the DAG processor healthy."""
        try:
            report = http_client.request(f"{self.url}/api/v2/monitor/health")
        except OSError:
            return {"api-server": False}
        return {"api-server": True} | {
            part.replace("_", "-"): report.get(part, {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "dag_processor")
        }

    def healthy(self) -> bool:
        return len(health := self.health()) > 1 and all(health.values())

    def running(self) -> bool:
        """Whether its three processes run (an API server too busy to answer in time still runs)."""
        return all(processes.running(f"{self.prefix}-{c}") for c in COMPONENTS)

    def stop(self) -> list[str]:
        return [c for c in reversed(COMPONENTS) if processes.stop(f"{self.prefix}-{c}", timeout=10)]

    def dag(self, dag_id: str, timeout: float = 60) -> dict:
        """The DAG as the API server knows it, once the DAG processor has read its file. A DAG whose file went
        away is stale, and no run can be asked of it, until its file is deployed and read again."""

        def read() -> bool:
            return (self._get(f"/dags/{dag_id}") or {"is_stale": True})["is_stale"] is False

        waiting.until(read, timeout, what=f"Airflow has read the DAG {dag_id}")
        return self._get(f"/dags/{dag_id}")

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        """Ask the scheduler for a run of the DAG now (REST API); the run's id."""
        return self._api(f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict]:
        """Every run of the DAG, scheduled or asked for, as the API reports them."""
        return self._api(f"/dags/{dag_id}/dagRuns")["dag_runs"]

    def active_runs(self, dag_id: str) -> list[dict]:
        """The DAG's runs that are queued or running (none: nothing is being registered now)."""
        return [
            r for r in (self._get(f"/dags/{dag_id}/dagRuns") or {}).get("dag_runs", []) if r["state"] not in FINISHED
        ]

    def run(self, dag_id: str, run_id: str) -> dict:
        """One run of the DAG as the API reports it (its `state`: queued, running, success, failed)."""
        return self._api(f"/dags/{dag_id}/dagRuns/{run_id}")

    def wait(self, dag_id: str, run_id: str, timeout: float = 600) -> dict:
        """The run once it has finished (its `state`: success or failed) and its tasks' states, in order."""
        waiting.until(  # an answer missing now and then (the API server busy) is asked again
            lambda: (self._get(f"/dags/{dag_id}/dagRuns/{run_id}") or {}).get("state") in FINISHED,
            timeout,
            every=1,
            what=f"the run {run_id} of {dag_id} finished",
        )
        tasks = self._api(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {**self.run(dag_id, run_id), "tasks": {t["task_id"]: t["state"] for t in tasks}}

    def returned(self, dag_id: str, run_id: str, task_id: str):
        """What a task of the run returned (its XCom `return_value`)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        return self._api(path)["value"]

    def _api(self, path: str, body=None) -> dict:
        """Airflow's REST API answer; RunError with what it said when it refuses (the DAG unknown, a bad request)."""
        try:
            return http_client.request(f"{self.url}/api/v2{path}", body, timeout=API_TIMEOUT)
        except urllib.error.HTTPError as refused:
            raise errors.RunError(
                f"Airflow's API refused {path} with {refused.code}: {refused.read().decode(errors='replace')[:300]}"
            ) from None
        except OSError as error:
            raise errors.UnavailableError(f"Airflow's API on {self.url} does not answer ({error})") from None

    def _get(self, path: str) -> dict | None:
        """The API's answer, or None while it has none (not started, or no such DAG yet)."""
        try:
            return http_client.request(f"{self.url}/api/v2{path}")
        except OSError:
            return None
