"""Background processes are recorded, stopped by name from any later run, and die with whoever started them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from mlops_workbook.cd.rollout import deploy
from mlops_workbook.core import instance, processes, waiting

CLI = str(Path(sys.executable).parent / "mlops-workbook")
SLEEP = [sys.executable, "-c", "import time; time.sleep(600)"]


@pytest.fixture
def name(request):
    name = f"pytest-{request.node.name}"
    yield name
    processes.stop(name)


def gone(pid: int, timeout: float = 10) -> bool:
    def ended():
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    return waiting.within(ended, timeout)


def test_a_process_is_recorded_and_stopped_by_name(tmp_path, name):
    process = processes.start(name, SLEEP, tmp_path / "log")
    assert processes.running(name)
    assert processes.stop(name) is True
    assert process.poll() is not None and not processes.running(name)
    assert processes.stop(name) is False, "stopping it again is not an error"


def test_starting_a_name_again_stops_what_an_earlier_run_left(tmp_path, name):
    first = processes.start(name, SLEEP, tmp_path / "first")
    processes.start(name, SLEEP, tmp_path / "second")
    assert first.wait(10) is not None


def test_a_pid_given_to_another_process_is_never_signalled(tmp_path, name):
    bystander = subprocess.Popen(SLEEP)
    try:
        # a record left by a run long ago, whose pid the system has since given to the bystander
        (processes.registry() / f"{name}.json").write_text(
            json.dumps({"pid": bystander.pid, "started": 1.0, "command": ["old"]})
        )
        assert not processes.running(name)
        assert processes.stop(name) is False
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_a_process_dies_with_the_process_that_started_it(tmp_path):
    """A kernel killed mid-notebook: what it started in the background does not outlive it."""
    starter = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import os, sys; from mlops_workbook.core import processes\n"
                f"p = processes.start('pytest-orphan', {SLEEP!r}, {str(tmp_path / 'log')!r})\n"
                "print(p.pid, flush=True); os._exit(9)"
            ),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    pid = int(starter.stdout.split()[0])
    assert gone(pid), "the background process outlived the process that started it"
    assert not processes.running("pytest-orphan")


@pytest.mark.heavy  # starts servers and waits for each to stop: make test's, not the edit loop's
def test_the_stop_command_stops_every_process_this_instance_started(tmp_path):
    started = [processes.start(f"pytest-stop-{n}", SLEEP, tmp_path / f"log{n}").pid for n in range(2)]
    live = deploy.state_folder("pytest-stop") / "live.json"  # a deploy whose copy was one of them
    live.parent.mkdir(parents=True, exist_ok=True)
    live.write_text("{}")
    warm = live.with_name("warm.json")  # and the copy it kept warm
    warm.write_text("{}")
    done = subprocess.run([CLI, "stop"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pytest-stop-0" in done.stdout and "pytest-stop-1" in done.stdout
    assert all(gone(pid) for pid in started)
    assert not live.exists() and not warm.exists(), "an environment whose copies were stopped has none any more"


@pytest.mark.heavy  # starts servers and waits for each to stop: make test's, not the edit loop's
def test_stop_also_clears_what_a_finished_run_left_but_not_what_a_running_one_holds(tmp_path):
    """`mlops-workbook run` runs notebooks side by side in instances of their own: after it was killed,
    one `stop` clears them all, and a run still going keeps its processes."""

    def started(name: str, then: str, env: dict | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                (
                    "import os, sys, time; from mlops_workbook.core import instance, processes\n"
                    "instance.claim() if 'MLOPS_WORKBOOK_INSTANCE' not in os.environ else None\n"
                    f"with processes.detached(): p = processes.start({name!r}, {SLEEP!r}, {str(tmp_path / name)!r})\n"
                    f"print(p.pid, flush=True); {then}"
                ),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    holder = started("pytest-held", "time.sleep(120)", {k: v for k, v in os.environ.items() if k != instance.VARIABLE})
    # a run that died in the last instance: no concurrent test claims that one in between
    leaver = started("pytest-left", "os._exit(0)", {**os.environ, instance.VARIABLE: str(instance.LAST)})
    held, left = int(holder.stdout.readline()), int(leaver.stdout.readline())
    leaver.wait()
    try:
        done = subprocess.run([CLI, "stop"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert gone(left) and "pytest-left" in done.stdout, done.stdout
        assert not gone(held, timeout=1), "a process of a run that is still going was stopped"
    finally:
        holder.kill()
        holder.wait()
        psutil.Process(held).kill()
