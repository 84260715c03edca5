"""Which release mode a release to prod goes by: the policy prod's config states, applied by the deploy itself."""

import pytest

from mlops_workbook.cd.rollout import release
from mlops_workbook.core import environments


@pytest.mark.parametrize(
    ("code", "live_code", "mode"),
    [
        ("abc123", "abc123", "deployment"),  # CT retrained the model; the code is what prod runs: no one waits
        ("def456", "abc123", "delivery"),  # a code change waits for a person
        ("abc123", None, "delivery"),  # nothing live in prod: the first release is a code release
        ("unknown", "unknown", "delivery"),  # a commit no one can compare is treated as a code change
        (None, None, "delivery"),
    ],
)
def test_a_model_retrained_on_the_code_prod_runs_goes_by_the_retrain_mode_and_a_code_change_by_the_release_mode(
    code, live_code, mode
):
    assert release.mode_for(environments.load("prod"), code, live_code) == mode


def test_as_release_mode_makes_a_retrained_model_wait_like_a_code_change():
    strict = environments.load("prod", {"retrain_release_mode": "as release_mode"})
    assert release.mode_for(strict, "abc123", "abc123") == "delivery"
    assert release.mode_for(environments.load("staging"), "abc123", "abc123") == "deployment"
