"""Shared test helpers (at the root, so they apply to tests/ and to nbval's notebooks/ and solutions/).

`require(component)` is how a test asks for a real component (Docker, Prometheus, ...):
locally an absent component skips the test; in CI (CI=true) it fails it, because
`.ci/run` installs every component and a skip there would hide a missing install step.
A test marked `component(name)`, and every nbval cell of a notebook whose metadata lists
`mlops_workbook.needs`, asks for its components before it runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from mlops_workbook import envcheck


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(component: str) -> None:
    available, detail = envcheck.component_status(component)
    if available:
        return
    message = f"{component} is not available here: {detail}"
    if in_ci():
        pytest.fail(f"{message}. CI must run this test: .ci/run installs and starts {component}.")
    pytest.skip(message)


def notebook_needs(path: Path) -> list[str]:
    """The components a notebook declares it needs (metadata `mlops_workbook.needs`)."""
    return list(nbformat.read(path, as_version=4).metadata.get("mlops_workbook", {}).get("needs", []))


def needs_marks(path: Path) -> list:
    return [pytest.mark.component(name) for name in notebook_needs(path)]


def pytest_collection_modifyitems(items):
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb":
            for mark in needs_marks(path):
                item.add_marker(mark)


def pytest_runtest_setup(item):
    for mark in item.iter_markers("component"):
        require(mark.args[0])
