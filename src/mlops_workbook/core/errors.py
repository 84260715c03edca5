"""One base for the errors the workbook raises on purpose, so that the CLI and the notebooks handle them alike.

Each says what went wrong and what to do about it. Where something failed that has logs (a container, a
process, a build), their last lines travel apart in `logs`: `message` is the sentence, `str()` both.
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


class BadInput(WorkbookError, ValueError):
    """A parameter, an argument or a file given to the workbook is not valid; nothing was done."""

    exit_code = 2
