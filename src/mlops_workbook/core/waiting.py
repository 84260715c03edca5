"""Waiting until something is true, with a deadline: every "until it answers, is gone, has fired" of the workbook.

tenacity does the polling; these two functions only say it once, in the workbook's terms.
"""

from __future__ import annotations

import inspect
import operator
import time
from collections.abc import Callable

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from mlops_workbook.core import errors


class WaitTimeoutError(errors.UnavailableError, TimeoutError):
    """What was awaited did not come true in time; the message names it."""


def within(condition: Callable[[], object], timeout: float, every: float = 0.1) -> bool:
    """Whether `condition()` came true within `timeout` seconds (asked every `every` seconds)."""
    polling = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(every), retry=retry_if_result(operator.not_))
    try:
        return bool(polling(condition))
    except RetryError:
        return False


def until(condition: Callable[[], object], timeout: float, every: float = 0.5, what: str = "") -> float:
    """Seconds until `condition()` came true; WaitTimeoutError, saying `what` was awaited (else the condition's
    docstring or source line), if not within `timeout`."""
    start = time.monotonic()
    if not within(condition, timeout, every):
        raise WaitTimeoutError(f"not true after {timeout:g} s: {what or _described(condition)}")
    return time.monotonic() - start


def _described(condition: Callable[[], object]) -> str:
    """A condition as a person reads it: its docstring, or (a lambda has none) the line that wrote it."""
    if getattr(condition, "__doc__", None) and condition.__name__ != "<lambda>":
        return condition.__doc__.strip()
    try:
        return inspect.getsource(condition).strip()
    except (OSError, TypeError):  # defined where no source is kept (a notebook's cell may not be)
        return repr(condition)
