"""A pytest plugin for tests written in a notebook cell (`01_ci_testing` runs them with ipytest).

ipytest runs a cell's tests from a temporary module named `t_<random hex>.py`, so pytest would report a
failure as `t_1855e329….py::test_reliability`: a name that changes on every run and means nothing to a
learner. Loaded with `-p mlops_workbook.course.notebook_tests`, the reports name the test alone.
`configure()` sets ipytest up with it, for the lesson's cells.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

import pytest

_TEMPORARY_MODULE = re.compile(r"(^|/)t_[0-9a-f]{32}\.py$")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if _TEMPORARY_MODULE.search(report.id.path):
        # pytest shows a report's path relative to the directory it was started in: a "file" named after the test,
        # in that directory, shows as the test's name alone.
        config = item.config
        here = config.invocation_params.dir
        inside = here.is_relative_to(config.rootpath)
        report.nodeid = (
            str(PurePosixPath(here.relative_to(config.rootpath).as_posix()) / item.name) if inside else item.name
        )
    return report


# The pytest settings a caller's environment can carry into the kernel (an instructor's CI that sets
# `PYTEST_ADDOPTS=--durations=10`, say): each would change what a cell prints, and nbval compares that.
CALLER_SETTINGS = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")


def configure() -> None:
    """ipytest for a lesson's test cells: short reports named by test, the same whoever runs the notebook."""
    import ipytest

    for name in CALLER_SETTINGS:
        os.environ.pop(name, None)
    ipytest.autoconfig(
        addopts=[
            "--color=no",
            "-q",
            "--tb=no",
            "-rf",
            "-p",
            "no:cacheprovider",
            "-p",
            __name__,
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
        ],
        display_columns=100,  # a notebook's width: a progress line padded wider wraps
        rewrite_asserts=False,
    )
