"""A failing command's error names the step and carries what the command printed."""

import sys

import pytest

from mlops_workbook.core import commands, errors


def test_a_failing_command_says_what_failed_and_keeps_its_output():
    failing = [sys.executable, "-c", "import sys; print('resolving...'); sys.exit('no wheel for onnxruntime')"]
    with pytest.raises(commands.CommandFailed) as failed:
        commands.run(failing, "building the wheelhouse")
    assert isinstance(failed.value, errors.WorkbookError)
    assert failed.value.message.startswith("building the wheelhouse failed:") and "exited with code 1" in str(
        failed.value
    )
    assert failed.value.logs == "resolving...\nno wheel for onnxruntime"


def test_a_command_that_succeeds_gives_its_output():
    assert commands.run([sys.executable, "-c", "print('ok')"], "saying ok").stdout == "ok\n"
