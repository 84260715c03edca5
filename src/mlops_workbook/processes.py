"""Stopping the background processes the workbook starts (app copies, Prometheus, Alertmanager).

Each is started in its own session, so its pid is also its process group: stopping the group
stops whatever it spawned too. A pid may come from an earlier run's record, not our own child.
"""

from __future__ import annotations

import os
import signal
import time


def alive(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # our child, exited and now reaped
    except ChildProcessError:
        pass  # started by another process (the CLI, an earlier kernel)
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def stop(pid: int, timeout: float = 5) -> None:
    """SIGTERM to the group (a server finishes what is in flight), SIGKILL if still there after `timeout`."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)
