"""Deploying the CT pipeline: the same step functions, run directly or installed for a scheduler.

- run directly (the embedded default): `mlops_workbook.ct.steps.run_all`, no scheduler at all;
- Apache Airflow: a DAG file with the environment's settings and schedule, installed into a DAGs folder;
- Kubeflow Pipelines: a pipeline compiled to YAML with the environment's settings.

Airflow and kfp each live in their own virtual environment (`make pipelines` builds `.venv-airflow`
and `.venv-kfp`: the workbook's core and the `airflow` or `kfp` extra, at the versions of their locks in
`requirements/`): Airflow pins an older FastAPI than the serving app, and kfp older protobuf and requests
than Airflow. This module drives them from the workbook's environment.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import pprint
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlops_workbook.core import cache, commands, errors, paths
from mlops_workbook.ct import steps

AIRFLOW_VENV, KFP_VENV = ".venv-airflow", ".venv-kfp"
# The CT steps as a DAG file names them ("module:function"): ct.steps.STEPS holds the functions themselves.
STEP_REFERENCES = [f"{step.__module__}:{step.__name__}" for step in steps.STEPS]

DAG_FILE = '''\
"""Continuous Training for {env}: installed by mlops-workbook (regenerate it rather than edit it)."""
from mlops_workbook.cd.scheduling import airflow_dag

SETTINGS = {settings}
STEP_REFERENCES = {steps}
dag = airflow_dag.build({dag_id!r}, {env!r}, SETTINGS, {folder!r}, schedule={schedule!r}, steps=STEP_REFERENCES)
'''


def dag_id(env: str) -> str:
    """The name of the environment's CT pipeline: its Airflow DAG, and the files it is deployed as."""
    return f"ct_pipeline_{env}"


# Kubeflow's recurring runs read cron with a seconds field first (6 fields), Airflow reads the usual 5 or a preset.
_PRESETS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"}


def kubeflow_cron(schedule: str | None) -> str | None:
    """An environment's `retrain_schedule` as Kubeflow's 6-field cron: '0 3 * * *' → '0 0 3 * * *'."""
    if schedule is None:
        return None
    fields = _PRESETS.get(schedule, schedule).split()
    if len(fields) != 5:
        raise errors.BadInputError(
            f"retrain_schedule {schedule!r}: expected 5 cron fields (minute hour day month weekday) or one of "
            f"{', '.join(_PRESETS)}"
        )
    return " ".join(["0", *fields])


def python_of(venv: str) -> Path:
    """The interpreter of one of the pipeline environments, or a message saying how to build it."""
    python = paths.venv_python(venv)
    if not python.exists():
        raise errors.UnavailableError(f"{venv} is missing: build it with `make pipelines` (about 3 minutes)")
    return python


def portable(folder: Path) -> str:
    """A pipeline's folder as deployed artifacts name it: relative to the repository when inside it."""
    folder = Path(folder).resolve()
    try:
        return str(folder.relative_to(paths.project_root()))
    except ValueError:
        return str(folder)


def step_module(step, folder: Path) -> str:
    """Write a step defined in a notebook into `folder/<name>.py`, so a scheduler can import it; its reference.

    A scheduler runs each step in another process: the function must import what it uses itself.
    """
    (folder / f"{step.__name__}_step.py").write_text(inspect.getsource(step))
    return f"{step.__name__}_step:{step.__name__}"


def install_airflow_dag(cfg, dags_folder: Path, folder: str, step_list: list[str] = STEP_REFERENCES) -> Path:
    """Write the environment's DAG file (its settings and `retrain_schedule`) into an Airflow DAGs folder."""
    dags_folder.mkdir(parents=True, exist_ok=True)
    dag_file = dags_folder / f"{dag_id(cfg.env)}.py"
    dag_file.write_text(
        DAG_FILE.format(
            dag_id=dag_id(cfg.env),
            env=cfg.env,
            settings=pprint.pformat(cfg.params(), sort_dicts=False),
            folder=folder,
            schedule=cfg.retrain_schedule,
            steps=pprint.pformat(step_list),
        )
    )
    return dag_file


@dataclass(frozen=True)
class Installed:
    """An environment's deployed CT pipeline: its DAG file (checked to load in Airflow) and Kubeflow YAML."""

    dag_file: Path
    dag: dict  # what Airflow read from the file: dag_id, schedule, tasks in order
    kfp_yaml: Path


def deploy(cfg, timeout: float = 120) -> Installed:
    """Install the environment's CT pipeline for its schedulers (a CD job's work, `mlops-workbook deploy-pipelines`).

    The DAG goes into the environment's DAGs folder and is loaded by Airflow before anything else is written,
    so a DAG that does not import never reaches a scheduler; the Kubeflow YAML goes beside it. Runs write to
    `<workspace>/pipelines/ct`.
    """
    into = deployed_dags(cfg).parent
    folder = portable(steps.environment_folder(cfg))
    with tempfile.TemporaryDirectory() as trial:
        [dag] = load_dags([install_airflow_dag(cfg, Path(trial), folder)], timeout)
    dag_file = install_airflow_dag(cfg, into / "dags", folder)
    return Installed(dag_file, dag, compile_kfp(cfg, folder, into / f"{dag_id(cfg.env)}.yaml"))


def deployed_dags(cfg) -> Path:
    """The environment's DAGs folder: where `deploy` installs its CT DAG and its Airflow scheduler (team mode) reads."""
    return cfg.workspace_dir() / "pipelines" / "deployed" / "dags"


def _importable(dag_files: list[Path]) -> str:
    """PYTHONPATH with the DAGs' folders first: a step written there (`step_module`) imports as Airflow runs it."""
    folders = dict.fromkeys(str(Path(f).parent) for f in dag_files)
    return os.pathsep.join(filter(None, [*folders, os.environ.get("PYTHONPATH")]))


def load_dags(dag_files: list[Path], timeout: float = 120) -> list[dict]:
    """Load DAG files in Airflow as its scheduler would, all in one process; for each, what Airflow read: dag_id,
    schedule, tasks in order, and the settings and folder the tasks run with."""
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PYTHONPATH": _importable(dag_files)}
    with tempfile.TemporaryDirectory() as home:  # parsing needs no metadata database
        done = _run(
            [str(python_of(AIRFLOW_VENV)), "-m", "mlops_workbook.cd.scheduling.airflow_dag", "--parse"]
            + [str(f) for f in dag_files],
            {**env, "AIRFLOW_HOME": home},
            timeout,
            "loading the DAGs in Airflow",
            check=False,
        )
    return _summary(done, "loading the DAGs in Airflow")


def run_airflow_dag(dag_file: Path, airflow_home: Path, timeout: float = 600) -> dict:
    """Run the DAG once in-process with `dag.test()` (sqlite, no scheduler, no webserver)."""
    airflow_home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dag_file.parent),
        "PYTHONPATH": _importable([dag_file]),
    }
    python = python_of(AIRFLOW_VENV)
    if not (airflow_home / "airflow.db").exists():  # Airflow's own metadata database: a copy of an empty one
        shutil.copyfile(_empty_airflow_db(python, timeout), airflow_home / "airflow.db")
    done = _run(
        [str(python), "-m", "mlops_workbook.cd.scheduling.airflow_dag", str(dag_file)],
        env,
        timeout,
        "the DAG run",
        check=False,
    )
    return _summary(done, "the Airflow DAG run")


def _empty_airflow_db(python: Path, timeout: float) -> Path:
    """Airflow's metadata database, migrated once per Airflow version into the cache (`airflow db migrate`
    takes seconds; every DAG run's fresh home then starts from a copy)."""
    version = hashlib.sha256(paths.resolve("requirements/airflow.lock").read_bytes())  # what .venv-airflow holds

    def migrate(db: Path) -> None:
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
            _run([str(python), "-m", "airflow", "db", "migrate"], env, timeout, "airflow db migrate")
            shutil.copyfile(Path(home) / "airflow.db", db)

    return cache.once(f"airflow-{version.hexdigest()[:12]}.db", migrate)


def compile_kfp(cfg, folder: str, out: Path) -> Path:
    """The Kubeflow pipeline for the environment, compiled to YAML with its settings as defaults."""
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = out.with_suffix(".settings.json")
    settings.write_text(json.dumps(cfg.params()))
    _run(
        [
            str(python_of(KFP_VENV)),
            "-m",
            "mlops_workbook.cd.scheduling.kubeflow",
            "compile",
            str(settings),
            folder,
            str(out),
        ],
        dict(os.environ),
        120,
        "kfp compile",
    )
    settings.unlink()
    return out


def run_kfp_locally(cfg, folder: str, timeout: float = 600) -> dict:
    """Run the Kubeflow pipeline with kfp's local runner: each step in a subprocess, no cluster."""
    settings = paths.resolve(folder) / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps(cfg.params()))
    done = _run(
        [str(python_of(KFP_VENV)), "-m", "mlops_workbook.cd.scheduling.kubeflow", "run", str(settings), folder],
        dict(os.environ),
        timeout,
        "the kfp local run",
        check=False,
    )
    return _summary(done, "the Kubeflow local run")


def _run(command: list[str], env: dict, timeout: float, what: str, check: bool = True):
    env = {**env, "MPLBACKEND": "Agg"}  # a notebook's inline plotting backend does not exist over there
    return commands.run(command, what, check=check, env=env, timeout=timeout, cwd=paths.project_root())


def _summary(done, what: str):
    """The JSON the runner printed last (an object, or a list of them)."""
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0 or not last.startswith(("{", "[")):
        raise commands.failure(done, what)
    return json.loads(last)
