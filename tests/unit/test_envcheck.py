"""The environment check tells present, broken and absent components apart; CI never skips."""

import sys

import pytest

from conftest import require
from mlops_workbook import envcheck


@pytest.fixture
def components(monkeypatch):
    fake = {
        "present": ([sys.executable, "-c", "print('v1.2')"], "-"),
        "broken": ([sys.executable, "-c", "import sys; sys.exit('daemon not running')"], "start it"),
        "absent": (["no-such-command-here"], "apt-get install it"),
    }
    monkeypatch.setattr(envcheck, "COMPONENTS", fake)


def test_component_status(components):
    assert envcheck.component_status("present") == (True, "v1.2")
    assert envcheck.component_status("broken") == (False, "installed but not working (daemon not running): start it")
    assert envcheck.component_status("absent") == (False, "not installed: apt-get install it")
    assert envcheck.components()["available"].to_dict() == {"present": True, "broken": False, "absent": False}


def test_versions_lists_the_core_libraries():
    assert envcheck.versions().loc["mlops-workbook", "version"] != "not installed"


def test_absent_component_skips_locally_but_fails_in_ci(components, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="absent is not available"):
        require("absent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run this test"):
        require("absent")
    require("present")  # no skip, no failure


def test_a_missing_component_shows_its_explanation_without_a_traceback(monkeypatch):
    monkeypatch.setitem(envcheck.COMPONENTS, "absent-tool", (["no-such-command-here"], "apt-get install absent-tool"))
    with pytest.raises(envcheck.ComponentMissing) as missing:
        envcheck.require("absent-tool")
    assert "apt-get install absent-tool" in str(missing.value) and ".ci/components" in str(missing.value)
    assert missing.value._render_traceback_() == [f"ComponentMissing: {missing.value}"]
