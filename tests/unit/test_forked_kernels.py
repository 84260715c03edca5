"""A kernel forked from the preloaded server is the kernel Jupyter would have started, and goes when it should."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
from jupyter_client.manager import KernelManager

from mlops_workbook.course import forked_kernels, runner

# What a lesson could tell apart once it imported its libraries: where it runs, what it reads, how pandas and
# matplotlib show things, which warnings it sees (as a set: the libraries' filters come before or after the kernel's,
# and none of them overlap).
PROBE = f"for name in {forked_kernels.PRELOAD!r}:\n    __import__(name)\n" + textwrap.dedent(
    """
    import json, os, subprocess, sys, warnings
    import matplotlib, matplotlib.pyplot, pandas
    app = get_ipython().kernel.parent
    print(json.dumps({
        "cwd": os.getcwd(), "variable": os.environ.get("PROBE_VARIABLE"), "path": sys.path,
        "argv": sys.argv[1:], "executable": sys.executable, "own_session": os.getsid(0) == os.getpid(),
        "parent_handle": app.parent_handle > 0, "backend": matplotlib.get_backend(),
        "max_columns": pandas.get_option("display.max_columns"), "width": pandas.get_option("display.width"),
        "warnings": sorted(str(f) for f in warnings.filters), "stdout": type(sys.stdout).__name__,
        "flags": list(sys.flags), "pid": os.getpid(), "ppid": os.getppid(), "stdin_closed": sys.stdin.closed,
        "cat": subprocess.run(["cat"], capture_output=True, timeout=20).returncode,  # its input is at its end
    }))
    """
)


@pytest.fixture(scope="module")
def server():
    if os.environ.get(forked_kernels.VARIABLE) == "off":
        pytest.skip("this run starts kernels as Jupyter does (MLOPS_WORKBOOK_KERNEL_SERVER=off)")
    with runner.kernel_server():
        yield os.environ[forked_kernels.VARIABLE]


def forked(km: KernelManager) -> bool:
    return isinstance(km.provisioner.process, forked_kernels._ForkedKernel)


def started(tmp_path, env: dict | None = None) -> KernelManager:
    km = KernelManager(kernel_name=runner.ensure_kernel())
    km.start_kernel(cwd=str(tmp_path), env={**os.environ, "PROBE_VARIABLE": "probe", **(env or {})})
    return km


def probe(km: KernelManager) -> dict:
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        printed = []
        client.execute_interactive(PROBE, timeout=60, output_hook=lambda m: printed.append(m["content"].get("text")))
        return json.loads("".join(t for t in printed if t))
    finally:
        client.stop_channels()


def test_a_forked_kernel_is_the_kernel_jupyter_would_start(server, tmp_path, monkeypatch):
    one = started(tmp_path)
    try:
        assert forked(one)
        seen_forked = probe(one)
    finally:
        one.shutdown_kernel(now=False)
    assert one.provisioner.process is None, "the kernel's end reached its manager"
    with monkeypatch.context() as without:
        without.delenv(forked_kernels.VARIABLE)
        plain = started(tmp_path)
        try:
            assert isinstance(plain.provisioner.process, subprocess.Popen)
            seen_plain = probe(plain)
        finally:
            plain.shutdown_kernel(now=True)
    assert psutil.Process(seen_forked.pop("ppid")).cmdline()[-1] == server  # it was forked, by the server
    assert seen_plain.pop("ppid") == os.getpid()
    assert seen_forked.pop("pid") != seen_plain.pop("pid")
    argv_forked, argv_plain = seen_forked.pop("argv"), seen_plain.pop("argv")
    assert argv_plain == ["-f", argv_plain[1]]
    assert argv_forked == ["-f", argv_forked[1], argv_forked[2]] and argv_forked[2].startswith("--IPKernelApp.parent_")
    assert seen_forked == seen_plain
    assert seen_forked["cwd"] == str(tmp_path) and seen_forked["variable"] == "probe" and seen_forked["own_session"]


def test_an_interrupt_reaches_a_forked_kernel(server, tmp_path):
    km = started(tmp_path)
    assert forked(km)
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        asked = client.execute("import time; time.sleep(60)")
        time.sleep(1)
        km.interrupt_kernel()
        reply = client.get_shell_msg(timeout=20)
        assert reply["parent_header"]["msg_id"] == asked
        assert reply["content"]["ename"] == "KeyboardInterrupt"
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_kernel_whose_requester_dies_is_stopped(server, tmp_path):
    requester = textwrap.dedent(
        f"""
        import os
        from jupyter_client.manager import KernelManager
        km = KernelManager(kernel_name={runner.KERNEL!r})
        km.start_kernel(cwd={str(tmp_path)!r})
        print(type(km.provisioner.process).__name__, km.provisioner.pid, flush=True)
        os._exit(0)  # gone without shutting its kernel down
        """
    )
    done = subprocess.run([sys.executable, "-c", requester], capture_output=True, text=True, timeout=120, check=True)
    kind, pid = done.stdout.split()
    assert kind == "_ForkedKernel"
    with contextlib.suppress(psutil.NoSuchProcess):  # already gone
        psutil.Process(int(pid)).wait(timeout=15)
    assert not psutil.pid_exists(int(pid))


def test_a_forked_kernel_that_died_takes_an_interrupt_and_a_shutdown_as_a_dead_process_does(server, tmp_path):
    km = started(tmp_path)
    assert forked(km)
    os.killpg(km.provisioner.pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while km.provisioner.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert km.provisioner.process.poll() == -signal.SIGKILL
    km.interrupt_kernel()  # a Popen that ended ignores signals: so does this
    km.shutdown_kernel(now=True)


def test_a_kernel_that_needs_other_start_up_variables_starts_as_usual(server, tmp_path):
    km = started(tmp_path, {"PYTHONPATH": str(tmp_path)})
    try:
        assert isinstance(km.provisioner.process, subprocess.Popen)
        assert str(tmp_path) in probe(km)["path"]
    finally:
        km.shutdown_kernel(now=True)
