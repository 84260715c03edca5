"""Tests written in a notebook cell are reported by name, not by ipytest's temporary module."""

pytest_plugins = ["pytester"]


def test_a_failure_in_a_temporary_module_is_named_by_its_test(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    cell = pytester.makepyfile(
        **{"t_" + "0123456789abcdef" * 2: "def test_reliability():\n    assert False, 'it broke'\n"}
    )
    other = pytester.makepyfile(test_other="def test_kept():\n    assert False\n")
    plugin = ("-p", "mlops_workbook.course.notebook_tests", "-p", "no:cacheprovider", "-rf")
    result = pytester.runpytest_inprocess(*plugin, cell, other)  # ipytest names its module's file, as here
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["FAILED test_reliability - AssertionError: it broke*", "FAILED test_other.py::test_kept*"]
    )
