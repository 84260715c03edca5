"""Executing a lab for the checker: here, or in a throwaway container for code nobody has read.

`here` runs the notebook with nbclient, in a kernel of this environment. `contained` runs the same function in
a container made for one submission, from the local base image (no pull): no network, every file read-only but
its own workspace (a size-limited tmpfs), a user that is not root and has no capabilities, limits on memory,
processes, CPU and time, and nothing of the grader's environment: no home, no variables, no Docker socket, no
other submission. The workbook's code and environment are mounted read-only (only `src/`, `configs/`, the
virtual environment, its interpreter and the empty MLflow store), and the notebook goes in on stdin and comes
back on stdout.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import uuid
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from mlops_workbook.core import commands, errors, instance, paths
from mlops_workbook.course import tampering

WORKSPACE = "/grading/workspace"  # the only folder a contained submission may write (its lab's `workspace`)
LIMITS = {"memory": "1g", "processes": 128, "cpus": "1", "workspace": "256m", "tmp": "64m"}
# The workbook's own set-up cells import and start what a lab needs: on a loaded machine that outlasts a timeout
# chosen to stop a learner's endless loop, and a lab whose set-up timed out cannot be checked at all.
SETUP_TIMEOUT = 120
USER_ID = 10002
DOCKER_FAILED = (125, 126, 127)  # `docker run`'s own exit codes: the container never ran its command
# The base image's /root is closed to other users; an interpreter installed under it (pyenv) must stay reachable.
RECIPE = f"""FROM {{base}}
RUN chmod 0711 /root && useradd --no-create-home --home-dir /tmp --uid {USER_ID} learner
"""


def cell_timeout(cell, timeout: int) -> int:
    """`timeout` for the cells a learner's code runs in; the set-up's own cells get at least SETUP_TIMEOUT."""
    return timeout if tampering.is_exercise(cell) else max(timeout, SETUP_TIMEOUT)


def here(nb: nbformat.NotebookNode, timeout: int, cwd: Path, kernel_name: str, manager=None) -> nbformat.NotebookNode:
    """Run every cell (errors recorded, not raised); a cell past its cell_timeout is interrupted; a dead kernel
    ends it."""
    client = notebook_client(nb, cwd, kernel_name, manager, timeout_func=lambda cell: cell_timeout(cell, timeout))
    try:
        client.execute()
    except DeadKernelError:  # os._exit, out of memory...: the cells after it keep no execution count
        pass
    return nb


def notebook_client(nb, cwd: Path, kernel_name: str, manager=None, **timing) -> NotebookClient:
    """An nbclient that records errors instead of raising them and interrupts a cell past its timeout (`timing`:
    nbclient's `timeout` or `timeout_func`), running from `cwd`."""
    return NotebookClient(
        nb,
        kernel_name=kernel_name,
        allow_errors=True,
        record_timing=False,
        interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeout", "evalue": "", "traceback": []},
        resources={"metadata": {"path": str(cwd)}},
        **({"kernel_manager_class": manager} if manager else {}),
        **timing,
    )


def image() -> str:
    """The grading image, built once from the local base image (packaging builds that base)."""
    import docker.errors

    from mlops_workbook.core.docker import images

    try:
        client = images.docker_client()
    except docker.errors.DockerException as error:
        raise errors.UnavailableError(
            f"grading in containers needs Docker, which does not answer ({error}): start it (`bash .ci/components` "
            "installs it), or check on a throwaway machine with --no-sandbox"
        ) from None
    base = images.build_base_image(client)
    recipe = RECIPE.format(base=base)
    tag = f"mlops-workbook/grader:{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"
    if not client.images.list(name=tag):
        client.images.build(fileobj=io.BytesIO(recipe.encode()), tag=tag, pull=False, rm=True)
    return tag


def _read_only_mounts() -> list[str]:
    """What a contained lab may read: the workbook's code, configs and labs, this environment and its interpreter, and
    the empty MLflow store a lab copies (built here first: the container cannot add to the cache)."""
    from mlops_workbook.example import tracking

    root = paths.project_root()
    wanted = [root / d for d in ("src", "configs", "labs")]  # labs: their own code, which an answer is not
    wanted += [Path(sys.prefix), Path(sys.base_prefix), tracking.empty_store()]
    return [f"--volume={p.resolve()}:{p.resolve()}:ro" for p in wanted]


def contained(nb: nbformat.NotebookNode, timeout: int, image_tag: str) -> nbformat.NotebookNode:
    """`here`, in a throwaway container (see the module's docstring); the notebook as far as it ran.

    A container that is killed (its memory, its time) returns the notebook unexecuted from where it stopped:
    the checker then says the lab crashed.
    """
    name = f"mlops-workbook-grading-{uuid.uuid4().hex[:12]}"
    command = [
        "docker", "run", "--rm", "--interactive", f"--name={name}",
        f"--label={instance.LABEL}={instance.number()}",  # `mlops-workbook stop` removes a leftover
        "--network=none", "--read-only", f"--user={USER_ID}", "--cap-drop=ALL", "--security-opt=no-new-privileges",
        f"--memory={LIMITS['memory']}", f"--memory-swap={LIMITS['memory']}", f"--pids-limit={LIMITS['processes']}",
        f"--cpus={LIMITS['cpus']}",
        f"--tmpfs=/tmp:size={LIMITS['tmp']},mode=1777",
        f"--tmpfs={WORKSPACE}:size={LIMITS['workspace']},uid={USER_ID},mode=0700",
        "--env=HOME=/tmp", "--env=MPLBACKEND=Agg", "--env=PYTHONDONTWRITEBYTECODE=1", f"--workdir={WORKSPACE}",
        *_read_only_mounts(),
        image_tag,
        str(Path(sys.prefix) / "bin" / "python"), "-m", "mlops_workbook.course.execution", str(timeout),
    ]  # fmt: skip
    budget = 60 + sum(cell_timeout(c, timeout) for c in nb.cells if c.cell_type == "code")
    try:
        done = commands.run(command, "the grading container", check=False, input=nbformat.writes(nb), timeout=budget)
    except commands.CommandTimeoutError:
        commands.run(["docker", "kill", name], "stopping the grading container", check=False)
        return nb
    if done.returncode in DOCKER_FAILED:
        raise errors.UnavailableError("the grading container did not start", logs=done.stderr.strip()[-2000:])
    if done.returncode != 0 or not done.stdout.strip():
        return nb  # killed (memory) or broken before it could answer
    return nbformat.reads(done.stdout, as_version=4)


def main(timeout: str) -> int:
    """Inside the container: the notebook from stdin, executed, to stdout. The kernel's own output goes to stderr,
    so nothing a learner's code prints can corrupt the answer."""
    nb = nbformat.read(sys.stdin, as_version=4)
    answer = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # what the kernel and its children inherit as stdout
    nbformat.write(here(nb, int(timeout), Path(WORKSPACE), "python3"), answer)
    answer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
