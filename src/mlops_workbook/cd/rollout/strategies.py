"""How CI's cleared image goes live in an environment: what `mlops-workbook deploy --strategy` and the CI definitions'
deploy jobs run.

- blue-green: all traffic to the new copy as soon as it is healthy and passes the smoke test;
- canary: a growing share of traffic, each step judged in Prometheus (progressive.Rollout); the first version of an
  environment has nothing to be compared with and goes live whole, as Flagger initializes a canary;
- shadow: a copy of live traffic for one step; users see only the live version's answers, nothing changes.

A step is judged on the requests the canary answered, so an environment without users of its own (staging, or any
environment on a learner's machine) needs synthetic ones during the analysis: `load_test` sends them, as Flagger's
load tester does in a cluster.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from mlops_workbook.cd.load import traffic
from mlops_workbook.cd.rollout import progressive
from mlops_workbook.cd.rollout.release import Cleared
from mlops_workbook.cd.serving import SYNTHETIC
from mlops_workbook.ci import smoke
from mlops_workbook.core import errors, processes

LOAD_TEST_PAUSE = 0.01  # seconds between a synthetic user's one-row requests: up to 100 a second
LOAD_TEST_ROWS = 200  # fake rows with the real schema, sent in turn


STRATEGIES = ("blue-green", "canary", "shadow")


def ship(cleared: Cleared, strategy: str, mode: str, policy, load_test=False, client=None, show=print):
    """Ship `cleared` by `strategy` under `mode` (release.mode_for: the policy in the config) and `policy` (its
    rollout); `client` an MLflow client that tags the version with a rollout's outcome. The live Event, or None after
    a shadow, or the Paused canary that waits for a person (`decide`) under Continuous Delivery with no approver."""
    if strategy not in STRATEGIES:
        raise errors.BadInputError(f"strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}; nothing deployed")
    if load_test and strategy == "blue-green":
        raise errors.BadInputError(
            "--load-test sends synthetic users during a canary's or a shadow's analysis, and blue-green has none: "
            "choose --strategy canary or shadow, or leave --load-test out; nothing deployed"
        )
    deployment = cleared.deployment
    if strategy == "canary" and deployment.live() is None:
        show(
            f"{deployment.env}: nothing is live to compare a canary with: the first version goes live whole once "
            "healthy (as Flagger initializes a canary)"
        )
        strategy = "blue-green"
    if strategy == "blue-green":
        with processes.detached():  # the environment's nginx serves on after the command ends
            return cleared.deploy()
    # Prometheus and the synthetic users last the rollout's length: outside detached(), they stop if the command dies
    with progressive.with_prometheus(deployment, policy, client, show) as rollout, _users(deployment, load_test, show):
        with processes.detached():
            if strategy == "canary":
                with _steps_shown(rollout, show):
                    return rollout.canary(cleared.release, mode, cleared.approved_by)
            report = rollout.shadow(cleared.release)
    show(
        f"{deployment.env}: {cleared.release.image} shadowed version {report.loc['champion', 'version']}; users saw "
        "only its answers"
    )
    show(report.T.to_string())  # a column per version: every measurement on one screen
    return None


def decide(deployment, policy, person: str, approve: bool, load_test=False, client=None, show=print):
    """A person's decision on the canary paused in `deployment`: `approve` takes it to 100% once its analysis over
    one more step (judged by a Prometheus started for it) passed, the live Event; else it is rolled back, the
    DeployError that says so."""
    with progressive.with_prometheus(deployment, policy, client, show) as rollout, _users(deployment, load_test, show):
        with processes.detached(), _steps_shown(rollout, show):
            return rollout.approve(person) if approve else rollout.abort(person)


@contextmanager
def _steps_shown(rollout, show) -> Iterator[None]:
    """The rollout's steps and decisions in the block, as the history keeps them, however it ends."""
    earlier = len(rollout.history())
    try:
        yield
    finally:
        steps = rollout.table().iloc[earlier:]
        if len(steps):
            show(steps.loc[:, (steps != "").any()].to_string(index=False))  # without others' columns


@contextmanager
def _users(deployment, load_test: bool, show) -> Iterator[None]:
    """Synthetic users on the environment's port for the block's length, and what they saw, if `load_test`."""
    if not load_test:
        yield
        return
    rows = smoke.sample_rows(LOAD_TEST_ROWS, seed=0)
    marked = {SYNTHETIC: "load-test"}  # kept out of the copies' drift windows: fake rows are not users' inputs
    users = traffic.Traffic(deployment.port, rows, pause=LOAD_TEST_PAUSE, batch=1, headers=marked)
    try:
        with users:
            yield
    finally:  # also after a rollback, when what they saw matters most
        served = Counter(users.table()["version"].dropna())
        by_version = ", ".join(f"version {version}: {count}" for version, count in sorted(served.items()))
        show(f"load test: {len(users.answers)} requests ({by_version}), {users.failed()} failed")
