"""One environment's team stack: PostgreSQL, the MLflow tracking server on it, and Airflow's scheduler on it.

`mlops-workbook up --env staging` starts it (`status`, `down`); its data stays in `<workspace>/team/` between
runs, so a restarted stack has every run, version and DAG run it had. Its ports sit next to the environment's
`serve_port` (core/environments.py's TEAM_PORTS), so they move with the run's instance like every other port.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from mlops_workbook.cd.scheduling import pipelines
from mlops_workbook.cd.team import postgres, tracking_server
from mlops_workbook.cd.team.scheduler import Airflow
from mlops_workbook.core import environments, processes

DATABASES = ("mlflow", "airflow")


@dataclass(frozen=True)
class Component:
    """A row of `status`: what runs, where, and whether it is healthy."""

    name: str
    address: str
    healthy: bool
    pid: int | None


class TeamStack:
    """`TeamStack(cfg).up()`: the environment's servers, started (or found running) and healthy."""

    def __init__(self, cfg):
        self.cfg, self.env, self.folder = cfg, cfg.env, cfg.team_folder()
        self._place()

    def _place(self) -> None:
        """The servers' ports: where the stack's `up` recorded them, else next to this run's serve_port."""
        cfg = self.cfg
        self.database = postgres.Cluster(self.folder / "postgres", cfg.team_port("postgres"), self._name("postgres"))
        self.mlflow_port = cfg.team_port("mlflow")
        self.tracking_uri = f"http://127.0.0.1:{self.mlflow_port}"
        self.dags = pipelines.deployed_dags(cfg)
        self.airflow = Airflow(
            self.folder / "airflow",
            self.dags,
            cfg.team_port("airflow"),
            self.database.url("airflow"),
            self._name("airflow"),
        )

    def _name(self, component: str) -> str:
        return f"{self.env}-team-{component}"

    def up(self) -> float:
        """Start what is not running (PostgreSQL first: the other two keep their state in it); the seconds it took."""
        start = time.monotonic()
        record = self.folder / environments.TEAM_RECORD
        if record.exists() and not any(row.healthy for row in self.status()):  # left by a stack that died
            record.unlink()
            self._place()
        try:
            self._start()
        except BaseException:  # a server that did not start (its error names it and its log), or Ctrl-C
            self.down()  # nothing half-up
            raise
        self.record_ports()
        return time.monotonic() - start

    def record_ports(self) -> None:
        """Write where the servers listen (core/environments.py's TEAM_RECORD): lessons run side by side, each in
        an instance of its own, reach these servers. It holds the configured serve_port it belongs to."""
        ports = {"postgres": self.database.port, "mlflow": self.mlflow_port, "airflow": self.airflow.port}
        record = self.folder / environments.TEAM_RECORD
        written = record.with_suffix(".tmp")
        written.write_text(json.dumps({"serve_port": self.cfg.params()["serve_port"], **ports}))
        written.replace(record)  # whole or not at all: a reader never sees half of it

    def _start(self) -> None:
        self.database.start(DATABASES)
        name, log = self._name("mlflow"), self.folder / "mlflow-server.log"
        mlflow = None
        if not tracking_server.healthy(self.tracking_uri):  # it starts while Airflow does
            mlflow = tracking_server.start(
                name, self.database.url("mlflow"), self.folder / "mlartifacts", self.mlflow_port, log
            )
        if not self.airflow.healthy():
            self.airflow.start()
        if mlflow is not None:
            tracking_server.ready(name, mlflow, self.tracking_uri, log)

    def status(self) -> list[Component]:
        """Each server: its address, whether it answers healthy, its pid."""
        airflow = self.airflow.health()
        rows = [
            Component("postgres", f"127.0.0.1:{self.database.port}", self.database.running(), self._pid("postgres")),
            Component("mlflow", self.tracking_uri, tracking_server.healthy(self.tracking_uri), self._pid("mlflow")),
        ]
        for part in ("api-server", "scheduler", "dag-processor"):
            rows.append(
                Component(f"airflow {part}", self.airflow.url, airflow.get(part, False), self._pid(f"airflow-{part}"))
            )
        return rows

    def _pid(self, component: str) -> int | None:
        process = processes.find(self._name(component))
        return process.pid if process else None

    def down(self) -> list[str]:
        """Stop the servers, PostgreSQL last; the data stays in the workspace for the next `up`."""
        stopped = [f"airflow {c}" for c in self.airflow.stop()]
        stopped += ["mlflow"] if processes.stop(self._name("mlflow"), timeout=10) else []
        stopped += ["postgres"] if self.database.stop() else []
        (self.folder / environments.TEAM_RECORD).unlink(missing_ok=True)  # the next `up` picks its own ports
        return stopped

    def backup(self, into: Path) -> Path:
        """The registry (MLflow's database) as a pg_dump file; its artifacts are the folder `mlartifacts/`."""
        return self.database.dump("mlflow", into)
