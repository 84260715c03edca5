"""A failing command's error names the step and carries what the command printed."""

import sys

import pytest

from mlops_workbook.core import commands, errors


def test_a_failing_command_says_what_failed_and_keeps_its_output():
    failing = [sys.executable, "-c", "import sys; print('resolving...'); sys.exit('no wheel for onnxruntime')"]
    with pytest.raises(commands.CommandError) as failed:
        commands.run(failing, "building the wheelhouse")
    assert isinstance(failed.value, errors.WorkbookError)
    assert failed.value.message.startswith("building the wheelhouse failed:") and "exited with code 1" in str(
        failed.value
    )
    assert failed.value.logs == "resolving...\nno wheel for onnxruntime"


def test_a_command_that_succeeds_gives_its_output():
    assert commands.run([sys.executable, "-c", "print('ok')"], "saying ok").stdout == "ok\n"


def test_the_error_names_the_exception_the_command_raised():
    failing = [sys.executable, "-c", "raise KeyError('run the train step first')"]
    with pytest.raises(
        commands.CommandError, match=r"training failed: .* code 1: KeyError: 'run the train step first'"
    ):
        commands.run(failing, "training")
    raised_from_a_module = [sys.executable, "-c", "import json; json.loads('')"]  # its line names the module
    with pytest.raises(commands.CommandError, match=r"code 1: json\.decoder\.JSONDecodeError: Expecting value"):
        commands.run(raised_from_a_module, "training")


def test_a_command_that_runs_too_long_is_stopped_and_says_so():
    slow = [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(30)"]
    with pytest.raises(commands.CommandTimeoutError, match=r"waiting did not finish within 0.5 s") as stopped:
        commands.run(slow, "waiting", timeout=0.5)
    assert stopped.value.logs == "started"


def test_a_missing_program_says_so_instead_of_a_file_not_found_traceback():
    with pytest.raises(commands.CommandError, match="`no-such-tool` is not installed"):
        commands.run(["no-such-tool", "--version"], "checking a tool")


def test_without_check_a_failed_command_is_returned_for_its_caller_to_read():
    done = commands.run([sys.executable, "-c", "import sys; sys.exit(3)"], "exiting", check=False)
    assert done.returncode == 3
