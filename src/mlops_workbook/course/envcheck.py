"""What this machine has: library versions, and whether the real components are there.

Notebooks that need a component (Docker, Prometheus, Alertmanager) look here first and
explain how to get it instead of failing with a traceback.
"""

from __future__ import annotations

import json
import shutil
from importlib import metadata
from pathlib import Path

import pandas as pd

from mlops_workbook.cd.team import postgres
from mlops_workbook.core import commands, errors, paths

LIBRARIES = (
    "mlops-workbook",
    "scikit-learn",
    "mlflow",
    "pandas",
    "pandera",
    "papermill",
    "nbval",
    "nbgrader",
    "docker",
    "prometheus-client",
)


def _in_venv(venv: str, package: str, distribution: str) -> list[str]:
    """Asks a pipeline environment (see cd/scheduling/pipelines.py) which version of the package it holds.

    From the installed metadata, not by importing it: Airflow takes seconds to import, and every notebook
    that deploys pipelines asks first."""
    return [
        str(paths.venv_python(venv)),
        "-c",
        f"from importlib.metadata import version; print('{package}', version('{distribution}'))",
    ]


COMPONENTS = {
    # name: (command that answers when it works, how to get it on Debian/Ubuntu)
    "docker": (["docker", "info", "--format", "{{.ServerVersion}}"], "apt-get install docker.io, then start dockerd"),
    "prometheus": (["prometheus", "--version"], "apt-get install --no-install-recommends prometheus"),
    "promtool": (["promtool", "--version"], "comes with the prometheus package"),
    "alertmanager": (
        ["prometheus-alertmanager", "--version"],
        "apt-get install --no-install-recommends prometheus-alertmanager",
    ),
    "nginx": (["nginx", "-v"], "apt-get install --no-install-recommends nginx (the deploys' front door)"),
    "airflow": (
        _in_venv(".venv-airflow", "airflow", "apache-airflow"),
        "make pipelines (Airflow in its own environment)",
    ),
    "kfp": (_in_venv(".venv-kfp", "kfp", "kfp"), "make pipelines (the Kubeflow Pipelines SDK in its own environment)"),
    "postgres": (
        [postgres.located("pg_ctl"), "--version"],
        "apt-get install --no-install-recommends postgresql (team mode: the MLflow and Airflow servers' database)",
    ),
    "gitlab-ci-local": (["gitlab-ci-local", "--version"], "npm install -g gitlab-ci-local@4.52.2"),
    "rsync": (["rsync", "--version"], "apt-get install rsync (gitlab-ci-local copies the repository with it)"),
    "chromium": (
        ["chromedriver", "--version"],
        "apt-get install --no-install-recommends chromium chromium-driver (the learner's view, tested in a browser)",
    ),
}


# Components that start servers, build images or run pipelines: a notebook or test needing one is heavy (left out
# of `make quick`). promtool and amtool (Alertmanager's) are command-line checks that answer in a second.
HEAVY = {"docker", "nginx", "prometheus", "postgres", "airflow", "kfp", "gitlab-ci-local", "chromium"}


def notebook_needs(notebook: Path | dict) -> tuple[str, ...]:
    """The components a notebook declares in its metadata (`mlops_workbook.needs`), from its file or its JSON.

    A file is read as JSON: nbformat takes a second to import, and the test collection asks for every notebook.
    """
    if not isinstance(notebook, dict):
        notebook = json.loads(Path(notebook).read_text())
    return tuple(notebook["metadata"].get("mlops_workbook", {}).get("needs", []))


def versions() -> pd.DataFrame:
    rows = []
    for name in LIBRARIES:
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    return pd.DataFrame(rows, columns=["library", "version"]).set_index("library")


def component_status(name: str) -> tuple[bool, str]:
    """(available, what it said or how to get it) for one component."""
    command, how = COMPONENTS[name]
    if shutil.which(command[0]) is None:
        return False, f"not installed: {how}"
    try:
        result = commands.run(command, f"asking {name} its version", check=False, timeout=10)
    except commands.CommandTimeoutError:
        return False, f"'{' '.join(command)}' did not answer in 10 s"
    said = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    if result.returncode != 0:
        return False, f"installed but not working ({said[-1] if said else 'no output'}): {how}"
    return True, said[0] if said else "ok"


def components() -> pd.DataFrame:
    rows = [(name, *component_status(name)) for name in COMPONENTS]
    return pd.DataFrame(rows, columns=["component", "available", "detail"]).set_index("component")


class ComponentMissingError(errors.UnavailableError):
    """A notebook needs a component this machine lacks; the message says how to get it."""

    def _render_traceback_(self) -> list[str]:
        """In a notebook, show the explanation alone: the traceback would only hide it."""
        return [f"ComponentMissingError: {self}"]


def require(name: str) -> str:
    """What the component said, or ComponentMissingError explaining how to get it."""
    available, detail = component_status(name)
    if not available:
        raise ComponentMissingError(
            f"this notebook needs {name}, which is {detail}. `sudo bash .ci/components` "
            "installs and starts every component on Debian/Ubuntu."
        )
    return detail
