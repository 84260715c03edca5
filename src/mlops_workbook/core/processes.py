"""The background processes the workbook starts (app copies, Prometheus, Alertmanager, nginx): one way to
start, find and stop them.

Each is started in its own session, so its pid is also its process group: stopping the group stops what
it spawned too. Each is recorded in this instance's registry (`runs/processes/<instance>/<name>.json`: pid,
start time, command), so a later run, or `mlops-workbook stop`, stops what an earlier one left even when its
kernel died, and a pid the system has since given to another process is never signalled. A process started
here also gets SIGTERM when the process that started it dies (a kernel killed mid-notebook), unless it is
started `detached()`.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import psutil

from mlops_workbook.core import instance, paths, waiting

REGISTRY = Path("runs/processes")
_PR_SET_PDEATHSIG = 1


def registry() -> Path:
    folder = paths.resolve(REGISTRY) / str(instance.number())
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux for SIGTERM when the parent dies."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_detached = False


@contextlib.contextmanager
def detached():
    """Processes started inside outlive this process: a command-line deploy leaves its service running
    (`mlops-workbook stop`, or the environment's next deploy, stops it)."""
    global _detached
    _detached = True
    try:
        yield
    finally:
        _detached = False


def start(name: str, command: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    """Start `command` in the background as `name` (output to `log`), after stopping what an earlier run
    left under that name."""
    stop(name)
    with Path(log).open("w") as out:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=None if _detached else _die_with_parent,
        )
    record(name, process.pid, command)
    return process


def record(name: str, pid: int, command: list[str]) -> None:
    """Register a process started in its own session (nginx's master, for one) under `name`."""
    entry = {"pid": pid, "started": psutil.Process(pid).create_time(), "command": command}
    (registry() / f"{name}.json").write_text(json.dumps(entry))


def wait_ready(process: subprocess.Popen, ready: Callable[[], bool], timeout: float) -> bool:
    """Whether `ready()` came true within `timeout` seconds while the process kept running."""
    return waiting.within(lambda: process.poll() is not None or ready(), timeout) and process.poll() is None


def find(name: str) -> psutil.Process | None:
    """The recorded process if it still runs, and is the one recorded (same start time)."""
    path = registry() / f"{name}.json"
    if not path.exists():
        return None
    entry = json.loads(path.read_text())
    try:
        process = psutil.Process(entry["pid"])
        if process.create_time() == entry["started"] and process.status() != psutil.STATUS_ZOMBIE:
            return process
    except psutil.NoSuchProcess:
        pass
    return None


def running(name: str) -> bool:
    return find(name) is not None


def stop(name: str, timeout: float = 5, sig: int = signal.SIGTERM) -> bool:
    """Stop the recorded process group `name`: `sig` (a server finishes what is in flight), SIGKILL if it is
    still there after `timeout`. Whether it was running."""
    process = find(name)
    (registry() / f"{name}.json").unlink(missing_ok=True)
    if process is None:
        return False
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return False
    if not _gone(process, timeout):
        os.killpg(process.pid, signal.SIGKILL)
        _gone(process, timeout)
    return True


def _gone(process: psutil.Process, timeout: float) -> bool:
    """Whether it exited within `timeout` (a zombie has: only its parent can reap it, and does if that is us)."""

    def exited() -> bool:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            return True
        with contextlib.suppress(psutil.Error):
            process.wait(0)  # our own child: reap it
        return True

    return waiting.within(exited, timeout, every=0.05)


def tail(log: Path, lines: int = 8) -> str:
    """The last lines of a process's log: what an error about it carries (empty if it wrote none)."""
    log = Path(log)
    return "\n".join(log.read_text(errors="replace").strip().splitlines()[-lines:]) if log.exists() else ""


def stop_all() -> list[str]:
    """Stop every process this instance's registry holds; their names."""
    return [path.stem for path in sorted(registry().glob("*.json")) if stop(path.stem)]
