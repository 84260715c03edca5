"""Kernels forked from one process that has already imported the heavy libraries, for the suite and `make run`.

A lesson's kernel spends about 5 of its 6 CPU seconds importing scikit-learn, MLflow, pandas and IPython before its
first cell does anything; the suite starts about two hundred of them on two cores. `serve()` starts one server that
imports those libraries once (PRELOAD) and forks a kernel for each request; the `mlops-workbook` kernel's
provisioner (`ForkingProvisioner`, named in its kernel.json) asks it whenever `serve()` runs, and otherwise
starts the kernel as Jupyter always does. A learner's JupyterLab never uses it.

A forked kernel is the kernel `python -m ipykernel_launcher` would be: its own session (signals reach it and what
it starts), the requester's environment, folder and standard streams, and none of the workbook's own modules
imported (they read the environment when imported). A request whose interpreter, or whose variables read when
Python starts or a preloaded library is imported (READ_ON_IMPORT: PYTHONPATH...), differ from the server's is
refused, and the kernel starts as usual. The server stops a kernel whose requester went away, and stops (with its
kernels) when the process that started it closes its standard input or dies.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import importlib.util
import json
import os
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

from jupyter_client.provisioning import LocalProvisioner

VARIABLE = "MLOPS_WORKBOOK_KERNEL_SERVER"  # the server's socket, for the kernels' requesters; `off`: none
NAME = "mlops-workbook-forking"  # the provisioner's entry point (pyproject.toml)
# Third-party libraries only, and only those that read nothing of the environment or the notebook when imported, but
# READ_ON_IMPORT's variables and whether they run in a kernel (`_preload` says yes). tqdm.auto (which asks for
# IPython's config) and matplotlib (its rc files, backend and IPython hooks) stay out.
PRELOAD = (
    "ipykernel.ipkernel",
    "ipykernel.kernelapp",
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "scipy.stats",
    "sklearn.ensemble",
    "sklearn.impute",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.pipeline",
    "mlflow",
    "mlflow.sklearn",
    "pandera.pandas",
    "pydantic",
    "yaml",
    "docker",
    "httpx",
)
LAUNCHER = ("-m", "ipykernel_launcher")
_LENGTH = struct.Struct("!I")


# Variables read when Python starts or when a preloaded library is imported: a forked kernel has the server's values.
READ_ON_IMPORT = (
    *(
        "PYTHON",
        "PANDAS_",
        "SCIPY_",
        "SKLEARN_",
        "JOBLIB_",
        "MLFLOW_LOGGING",
        "PYZMQ_",
        "TORNADO_",
        "IPY",
        "TRAITLETS_",
    ),
    *("OMP_", "OPENBLAS_", "LANG", "LC_", "TZ", "HOME"),
)


def _read_on_import(env: dict) -> dict:
    return {k: v for k, v in env.items() if k.startswith(READ_ON_IMPORT)}


def _send(sock: socket.socket, message: dict, fds: list[int] = ()) -> None:
    data = json.dumps(message).encode()
    socket.send_fds(sock, [_LENGTH.pack(len(data)) + data], list(fds))


def _exactly(sock: socket.socket, size: int, max_fds: int = 0) -> tuple[bytes | None, list[int]]:
    data, fds = b"", []
    while len(data) < size:
        chunk, received, _, _ = socket.recv_fds(sock, size - len(data), max_fds)
        fds += received
        if not chunk:
            return None, fds
        data += chunk
    return data, fds


def _receive(sock: socket.socket, max_fds: int = 0) -> tuple[dict | None, list[int]]:
    """One message (None if the other end closed) and the descriptors that came with it; a message that follows
    stays in the socket."""
    head, fds = _exactly(sock, _LENGTH.size, max_fds)
    body = _exactly(sock, _LENGTH.unpack(head)[0])[0] if head else None
    return (json.loads(body) if body is not None else None), fds


class _ForkedKernel:
    """What LocalProvisioner asks of a `subprocess.Popen`, for a kernel the server forked."""

    stdin = stdout = stderr = None

    def __init__(self, sock: socket.socket, pid: int):
        self._sock, self.pid, self.returncode = sock, pid, None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._sock], [], [], 0)[0]:
            self._ended(_receive(self._sock)[0])
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._sock.settimeout(timeout)
            try:
                self._ended(_receive(self._sock)[0])
            except TimeoutError:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout) from None
        return self.returncode

    def _ended(self, message: dict | None) -> None:
        self.returncode = message["exit"] if message else -signal.SIGKILL  # no answer: the server is gone
        self._sock.close()

    def send_signal(self, signum: int) -> None:
        """As Popen's: nothing once the kernel has ended."""
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkingProvisioner(LocalProvisioner):
    """Jupyter's local provisioner, but the kernel is forked by the server `serve()` started, when there is one."""

    async def launch_kernel(self, cmd: list[str], **kwargs):
        address = os.environ.get(VARIABLE, "off")
        env = dict(kwargs.get("env") or os.environ)
        if not kwargs.get("independent"):
            env["JPY_PARENT_PID"] = str(os.getpid())  # as jupyter_client's launcher says who the kernel's parent is
        forked = _request(address, cmd, env, kwargs) if address != "off" else None
        if forked is None:
            return await super().launch_kernel(cmd, **kwargs)
        self.process, self.pid, self.pgid = forked, forked.pid, forked.pid
        self.cwd = kwargs.get("cwd", Path.cwd())
        return self.connection_info


def _request(address: str, cmd: list[str], env: dict, options: dict) -> _ForkedKernel | None:
    """Ask the server for a kernel; None if it is not there or refuses (the caller starts one as usual)."""
    given = [options.get(name) for name in ("stdout", "stderr")]
    if any(isinstance(s, int) and s < 0 for s in given):  # subprocess.PIPE or DEVNULL: only Popen does those
        return None
    stdin, writer = os.pipe()  # as jupyter_client's launcher gives a kernel: a pipe whose writing end is closed
    os.close(writer)
    fds = [stdin, *(s.fileno() if hasattr(s, "fileno") else n if s is None else s for n, s in enumerate(given, 1))]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    try:
        sock.connect(address)
        _send(sock, {"argv": cmd, "env": env, "cwd": os.path.abspath(options.get("cwd") or os.getcwd())}, fds)
        answer, _ = _receive(sock)
    except (OSError, ValueError):
        answer = None
    finally:
        os.close(stdin)
    if not answer or "pid" not in answer:
        sock.close()
        return None
    return _ForkedKernel(sock, answer["pid"])


@contextlib.contextmanager
def serve(kernel_argv: list[str]):
    """A kernel server, for the kernel spec's `kernel_argv`, to what runs inside the block and what it starts;
    nothing new if one is already set."""
    if os.environ.get(VARIABLE):
        yield
        return
    folder = tempfile.mkdtemp(prefix="mlops-workbook-kernels-")
    address = str(Path(folder) / "server.sock")
    server = subprocess.Popen(
        [*kernel_argv[: kernel_argv.index("-m")], "-m", __name__, address],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    said = b""
    while said not in (b"ready", None):  # a library may print while it is imported
        said = server.stdout.readline().strip() or (None if server.poll() is not None else b"")
    os.environ[VARIABLE] = address if said == b"ready" else "off"  # not ready: kernels start as usual
    try:
        yield
    finally:
        os.environ.pop(VARIABLE, None)
        server.stdin.close()  # the server's signal to stop, and to stop its kernels
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()
        with contextlib.suppress(OSError):
            os.unlink(address)
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _refusal(request: dict) -> str | None:
    """Why this server cannot be the kernel asked for, if it cannot."""
    argv, own = request["argv"], sys.orig_argv
    position = next((i for i in range(len(argv) - 1) if tuple(argv[i : i + 2]) == LAUNCHER), None)
    if position is None or os.path.abspath(argv[0]) != sys.executable:  # not resolved: another venv links the same
        return "not this interpreter's ipykernel_launcher"
    if argv[1:position] != own[1 : own.index("-m")]:
        return "other interpreter options"
    if _read_on_import(request["env"]) != _read_on_import(os.environ):
        return "other values of variables read on import"
    if not os.path.isdir(request["cwd"]):
        return "no such folder"  # Popen says so, for the requester
    return None


def _child(request: dict, fds: list[int], closing: list, grouped: int) -> None:
    """In the forked process: become the kernel `python -m ipykernel_launcher ...` would have started. Closing
    `grouped` tells the server it leads its own process group, which every signal to it is sent to."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for item in closing:
            item.close()
        os.setsid()
        os.close(grouped)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        argv = request["argv"]
        sys.argv = [importlib.util.find_spec(LAUNCHER[1]).origin, *argv[argv.index(LAUNCHER[1]) + 1 :]]
        # ipykernel reads its parent's pid from the environment when it is imported (the server had none); its
        # parent is the server, and a kernel whose server died exits
        sys.argv.append(f"--IPKernelApp.parent_handle={os.getppid()}")
        sys.modules["numpy"].random.seed()  # as `random` is reseeded in a forked child; numpy's is not
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    except BaseException:
        traceback.print_exc()
    finally:  # what the interpreter does on its way out: non-daemon threads, atexit, the streams; never return
        with contextlib.suppress(BaseException):
            threading._shutdown()
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def main(address: str) -> None:
    """The server: preload, then fork a kernel per request until its standard input closes."""
    if sys.path and os.path.realpath(sys.path[0]) == os.path.realpath(os.getcwd()):
        del sys.path[0]  # as ipykernel_launcher does: a kernel's own folder goes first, not the server's
    _preload()
    for name in [m for m in sys.modules if m.split(".")[0] == "mlops_workbook"]:
        del sys.modules[name]  # the workbook's modules are imported by each kernel, with its environment
    gc.collect()
    gc.freeze()  # what is preloaded is never collected: a kernel's collections skip it, and leave its pages shared
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(64)
    wake_read, wake_write = socket.socketpair()
    wake_write.setblocking(False)
    signal.set_wakeup_fd(wake_write.fileno())
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "request")
    selector.register(wake_read, selectors.EVENT_READ, "child")
    selector.register(sys.stdin, selectors.EVENT_READ, "stop")
    kernels: dict[int, socket.socket | None] = {}  # pid: its requester's socket, None once the requester went
    print("ready", flush=True)
    try:
        _serve(selector, listener, wake_read, kernels, [listener, wake_read, wake_write])
    finally:  # stopped, or failed: no kernel outlives the server
        for pid in kernels:
            _stop(pid)


def _serve(selector, listener: socket.socket, wake_read: socket.socket, kernels: dict, closing: list) -> None:
    while True:
        for key, _ in selector.select():
            if key.data == "stop":
                return
            if key.data == "child":
                wake_read.recv(4096)
                _reap(kernels, selector)
            elif key.data == "request":
                _fork(listener, kernels, selector, closing)
            elif kernels.get(key.data) is key.fileobj:  # a requester went away (or spoke) while its kernel runs
                selector.unregister(key.fileobj)
                key.fileobj.close()
                kernels[key.data] = None
                _stop(key.data)


def _preload() -> None:
    """Import PRELOAD as a kernel would: a library that asks IPython at import whether it runs in a kernel (pandas,
    to choose how many columns a table shows) must hear yes."""
    import builtins

    class InAKernel:
        kernel = True
        config = {"IPKernelApp": {}}

    builtins.get_ipython = InAKernel
    try:
        for name in PRELOAD:
            importlib.import_module(name)
    finally:
        del builtins.get_ipython


def _stop(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(OSError):
            kill(pid, signal.SIGKILL)


def _fork(listener: socket.socket, kernels: dict, selector, closing: list) -> None:
    conn, _ = listener.accept()
    conn.settimeout(10)  # a requester that says nothing must not hold up the others
    try:
        request, fds = _receive(conn, max_fds=3)
    except (OSError, ValueError):
        request, fds = None, []
    refusal = _refusal(request) if request else "no request"
    if refusal or len(fds) != 3:
        with contextlib.suppress(OSError):
            _send(conn, {"refused": refusal or "no standard streams"})
        conn.close()
    else:
        sys.stdout.flush()
        sys.stderr.flush()
        reading, grouped = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(reading)
            _child(request, fds, [selector, *closing, *(c for c in kernels.values() if c), conn], grouped)
        os.close(grouped)
        os.read(reading, 1)  # until the kernel has its process group: a signal sent once it has the pid reaches it
        os.close(reading)
        kernels[pid] = conn
        selector.register(conn, selectors.EVENT_READ, pid)
        with contextlib.suppress(OSError):
            _send(conn, {"pid": pid})
    for fd in fds:
        os.close(fd)


def _reap(kernels: dict, selector) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = kernels.pop(pid, None)
        if conn is not None:
            selector.unregister(conn)
            with contextlib.suppress(OSError):
                _send(conn, {"exit": os.waitstatus_to_exitcode(status)})
            conn.close()


if __name__ == "__main__":
    main(sys.argv[1])
