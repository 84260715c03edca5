"""Running a command to its end: when it fails, the error says which step failed and carries what it printed.

`subprocess.run(check=True)` raises CalledProcessError, whose message names the command but drops its output;
here the output's last lines travel with the error (errors.WorkbookError's `logs`).
"""

from __future__ import annotations

import subprocess

from mlops_workbook.core import errors


class CommandFailed(errors.WorkbookError, RuntimeError):
    """A command the workbook ran exited with an error; `logs` holds the end of its output."""


def run(command: list[str], what: str, **options) -> subprocess.CompletedProcess:
    """Run `command` (`what` it does, for the message), its output captured; CommandFailed if it fails."""
    done = subprocess.run(command, capture_output=True, text=True, **options)
    if done.returncode != 0:
        said = (done.stdout + done.stderr).strip().splitlines()
        raise CommandFailed(
            f"{what} failed: `{command[0]}` exited with code {done.returncode}.", logs="\n".join(said[-12:])
        )
    return done
