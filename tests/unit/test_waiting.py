"""A wait that runs out of time says what it waited for, as a workbook error."""

import pytest

from mlops_workbook.core import errors, waiting


def test_a_lambda_that_never_comes_true_is_named_by_its_source_line():
    with pytest.raises(waiting.WaitTimeoutError, match=r"not true after 0.2 s: .*lambda: 1 \+ 1 == 3") as late:
        waiting.until(lambda: 1 + 1 == 3, 0.2, every=0.05)
    assert isinstance(late.value, errors.UnavailableError) and isinstance(late.value, TimeoutError)


def test_what_was_awaited_can_be_said_in_words():
    with pytest.raises(waiting.WaitTimeoutError, match="the app answers /health"):
        waiting.until(lambda: False, 0.1, every=0.05, what="the app answers /health")


def test_a_condition_that_comes_true_gives_the_seconds_it_took():
    assert waiting.until(lambda: True, 1) < 1
