"""The errors the workbook raises on purpose, so that the CLI and the notebooks handle them alike.

Each says what went wrong and what to do about it, and belongs to one of three kinds: the input was bad (nothing
was done), something a step needs is missing or unhealthy (install or start it), or a step ran and failed (its
logs say why). Every class is named for what went wrong and ends in `Error`. Where something failed that has logs
(a container, a process, a build), their last lines travel apart in `logs`: `message` is the sentence, `str()` both.
"""

from __future__ import annotations


class WorkbookError(Exception):
    """What went wrong and how to fix it; `logs`, the last lines of whatever failed, if any."""

    exit_code = 1  # the command line's: the work failed

    def __init__(self, message: str, logs: str = ""):
        super().__init__(message)
        self.logs = logs

    @property
    def message(self) -> str:
        return self.args[0]

    def __str__(self) -> str:
        return f"{self.message} Its last logs:\n{self.logs}" if self.logs else self.message


class BadInputError(WorkbookError, ValueError):
    """A parameter, an argument, a file or a batch given to the workbook is not valid; nothing was done."""

    exit_code = 2


class UnavailableError(WorkbookError, RuntimeError):
    """Something a step needs is missing, not ready or unhealthy: a component, a server, an earlier step's output."""

    exit_code = 3


class UnhealthyError(UnavailableError):
    """A server the workbook started (a process or a container) did not become healthy; its logs say why."""


class RunError(WorkbookError, RuntimeError):
    """A step ran and failed: a command, a build, a notebook, a check the work did not pass."""
