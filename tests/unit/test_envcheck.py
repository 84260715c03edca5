"""The environment check tells present, broken and absent components apart; CI never skips."""

import sys
from pathlib import Path

import pytest

from mlops_workbook.course import envcheck

pytest_plugins = ["pytester"]


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


def test_a_test_marked_with_an_absent_component_skips_locally_but_fails_in_ci(components, pytester, monkeypatch):
    """The suite's own conftest.py, on a test file that needs an absent and a present component."""
    pytester.makeconftest((Path(__file__).parents[2] / "conftest.py").read_text())
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.component("absent")
        def test_needs_absent():
            pass

        @pytest.mark.component("present")
        def test_needs_present():
            pass
        """
    )
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # only what conftest.py needs: pytest-xdist's hooks
    run = ("-p", "xdist.plugin", "-p", "no:cacheprovider", "-rs")
    monkeypatch.delenv("CI", raising=False)
    local = pytester.runpytest_inprocess(*run)
    local.assert_outcomes(passed=1, skipped=1)
    local.stdout.fnmatch_lines(["*absent is not available here: not installed: apt-get install it*"])
    monkeypatch.setenv("CI", "true")
    in_ci = pytester.runpytest_inprocess(*run)
    in_ci.assert_outcomes(passed=1, errors=1)
    in_ci.stdout.fnmatch_lines(["*CI must run this test*"])


def test_a_missing_component_shows_its_explanation_without_a_traceback(monkeypatch):
    monkeypatch.setitem(envcheck.COMPONENTS, "absent-tool", (["no-such-command-here"], "apt-get install absent-tool"))
    with pytest.raises(envcheck.ComponentMissingError) as missing:
        envcheck.require("absent-tool")
    assert "apt-get install absent-tool" in str(missing.value) and ".ci/components" in str(missing.value)
    assert missing.value._render_traceback_() == [f"ComponentMissingError: {missing.value}"]
