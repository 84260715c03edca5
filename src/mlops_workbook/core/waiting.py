"""Waiting until something is true, with a deadline: every "until it answers, is gone, has fired" of the workbook.

tenacity does the polling; these two functions only say it once, in the workbook's terms.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed


def within(condition: Callable[[], object], timeout: float, every: float = 0.1) -> bool:
    """Whether `condition()` came true within `timeout` seconds (asked every `every` seconds)."""
    polling = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(every), retry=retry_if_result(operator.not_))
    try:
        return bool(polling(condition))
    except RetryError:
        return False


def until(condition: Callable[[], object], timeout: float, every: float = 0.5) -> float:
    """Seconds until `condition()` came true; TimeoutError, naming the condition, if not within `timeout`."""
    start = time.monotonic()
    if not within(condition, timeout, every):
        what = getattr(condition, "__doc__", None) or condition
        raise TimeoutError(f"not true after {timeout:g} s: {what}")
    return time.monotonic() - start
