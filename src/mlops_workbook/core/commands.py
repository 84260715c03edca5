"""Running a command to its end, the one way the workbook does: when it fails, the error says which step failed,
why (the last exception the command printed, if any) and carries the end of what it printed.

`subprocess.run(check=True)` raises CalledProcessError, whose message names the command but drops its output;
here the output's last lines travel with the error (errors.WorkbookError's `logs`).
"""

from __future__ import annotations

import re
import shutil
import subprocess

from mlops_workbook.core import errors

LOG_LINES = 12  # of a failed command's output, what its error keeps


class CommandError(errors.RunError):
    """A command the workbook ran exited with an error or did not finish; `logs` holds the end of its output."""


class CommandMissingError(CommandError, errors.UnavailableError):
    """The program a command needs is not installed (or not on PATH)."""

    exit_code = errors.UnavailableError.exit_code


class CommandTimeoutError(CommandError):
    """A command did not finish within its time limit (it was killed)."""


def run(command: list[str], what: str, check: bool = True, timeout: float | None = None, **options):
    """Run `command` (`what` it does, for the message), its output captured, and return it (a CompletedProcess).

    CommandError if it is not installed, or (with `check`) exits with an error; CommandTimeoutError if it runs past
    `timeout` seconds. `options` go to subprocess.run (cwd, env, input).
    """
    if shutil.which(command[0]) is None:
        raise CommandMissingError(f"{what} failed: `{command[0]}` is not installed or not on PATH.")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **options)
    except subprocess.TimeoutExpired as expired:
        said = _text(expired.stdout) + _text(expired.stderr)
        raise CommandTimeoutError(
            f"{what} did not finish within {timeout:g} s: `{command[0]}` was stopped.", logs=_tail(said)
        ) from None
    if check and done.returncode != 0:
        raise failure(done, what)
    return done


def failure(done: subprocess.CompletedProcess, what: str) -> CommandError:
    """The error for a finished command that failed: its exit code, the last exception it printed, its output."""
    said = done.stdout + done.stderr
    raised = [line for line in said.splitlines() if re.match(r"([\w.]+\.)?\w+(Error|Exception)\b.*: ", line)]
    why = f": {raised[-1]}" if raised else "."
    return CommandError(f"{what} failed: `{done.args[0]}` exited with code {done.returncode}{why}", logs=_tail(said))


def _text(output: bytes | str | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def _tail(said: str) -> str:
    return "\n".join(said.strip().splitlines()[-LOG_LINES:])
