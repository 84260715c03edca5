"""Shared test helpers.

`require(component)` is how a test asks for a real component (Docker, Prometheus, ...):
locally an absent component skips the test; in CI (CI=true) it fails it, because
`.ci/run` installs every component and a skip there would hide a missing install step.
"""

from __future__ import annotations

import os

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
