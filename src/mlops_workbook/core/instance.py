"""This run's share of the machine: the ports it listens on, its deploy state, its Docker names.

Every port the workbook opens is derived from one number of the environment's config, `serve_port`
(dev 8100: nginx on 8100, the blue and green copies on 8110 and 8111, Prometheus on 8190, ...). The
configured environments take 8100-8399; the test suite's own servers take 8400-8999 (see TEST_PORTS).

Two runs on one machine (two test workers, or a test run beside a learner's JupyterLab) must share none
of it. A run is one *instance*: `MLOPS_WORKBOOK_INSTANCE=k` moves every port by k × 1000 and gives the run
its own deploy-state folder, process registry and container names (its containers run the image their own
build made, so a tag another run moves does not matter). A learner's notebook in JupyterLab is instance 0, with
the ports the lessons print; the test suite claims a free instance per worker, and `mlops-workbook run`
one per notebook it runs side by side (`claim`); every kernel, CLI and server a run starts inherits its
instance through the environment.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

from mlops_workbook.core import errors

VARIABLE = "MLOPS_WORKBOOK_INSTANCE"
STRIDE = 1000
LAST = 20  # a configured serve_port is at most 45000 (environments.py): + 99 + 20 × 1000 stays below 65536
# The test suite's servers, outside the environments' ports: each test module owns one block.
TEST_PORTS = {
    "deploy": 8400,
    "rollout": 8450,
    "lab": 8600,
    "smoke-tests": 8700,
    "monitoring": 8800,
    "packaging": 8900,
    "site": 8960,
}
# On each container and image a run starts or builds: `mlops-workbook stop` removes what a finished run left.
LABEL = "org.mlops-workbook.instance"
JUPYTER_PORT = 8050  # `mlops-workbook lab`: below the environments' ports, moved by the instance like them


def number() -> int:
    """This run's instance, from MLOPS_WORKBOOK_INSTANCE (0 when unset)."""
    raw = os.environ.get(VARIABLE, "0")
    if not raw.isdigit() or int(raw) > LAST:
        raise errors.BadInputError(
            f"{VARIABLE}={raw!r}: expected a whole number from 0 to {LAST} (unset it for the ports the lessons print)"
        )
    return int(raw)


def port(base: int) -> int:
    """A port of instance 0 (a configured `serve_port`, a test's port), moved to this run's instance."""
    return base + STRIDE * number()


def suffix() -> str:
    """What this instance adds to container names ('' for instance 0)."""
    k = number()
    return f"-i{k}" if k else ""


def _locks() -> Path:
    folder = Path(tempfile.gettempdir()) / "mlops-workbook-locks"
    folder.mkdir(exist_ok=True)
    return folder


@contextlib.contextmanager
def exclusive(what: str, shared: bool = False):
    """Hold the machine-wide lock on `what`, a one-time build every instance shares (the base image, a
    wheelhouse): a second run waits, then finds it built, instead of building it at the same time.
    `shared` holders run side by side and only exclude an exclusive one (builds, and the prune that waits for them)."""
    with open(_locks() / f"{what}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield


_held: list = []  # the claimed instance's lock file stays open for the life of the process


def claim() -> int:
    """Claim a free instance from 1 up for this process and its children, and set it in the environment.

    The claim is a lock on a file in the temporary folder, held until the process exits (or dies), so
    concurrent test runs and workers each get their own; a learner's run stays on instance 0.
    """
    for k in range(1, LAST + 1):
        handle = open(_locks() / f"instance-{k}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _held.append(handle)
        os.environ[VARIABLE] = str(k)
        return k
    raise errors.UnavailableError(
        f"all {LAST} workbook instances are taken by running processes: stop a test run first"
    )


def unclaimed() -> list[int]:
    """The instances from 1 up that no running process holds: whatever is left in them, a finished or
    killed run left, and `mlops-workbook stop` may stop it."""
    free = []
    for k in range(1, LAST + 1):
        with open(_locks() / f"instance-{k}.lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            free.append(k)  # closing the file releases the lock
    return free


@contextlib.contextmanager
def using(k: int):
    """Act as instance `k` for a while (`mlops-workbook stop` visits each instance a run left)."""
    before = os.environ.get(VARIABLE)
    os.environ[VARIABLE] = str(k)
    try:
        yield
    finally:
        if before is None:
            del os.environ[VARIABLE]
        else:
            os.environ[VARIABLE] = before
