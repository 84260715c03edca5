"""A pytest plugin for tests written in a notebook cell (`01_ci_testing` runs them with ipytest).

ipytest runs a cell's tests from a temporary module named `t_<random hex>.py`, so pytest would report a
failure as `t_1855e329….py::test_reliability`: a name that changes on every run and means nothing to a
learner. Loaded with `-p mlops_workbook.notebook_tests`, the reports name the test alone.
"""

from __future__ import annotations

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
