"""Execute the workbook's notebooks with papermill, one environment at a time.

Each notebook gets the environment's parameters injected, runs from its own folder
(as in JupyterLab and nbval) and is saved, executed, to `<workspace>/<name>.ipynb`.
A failing notebook stops the run and is reported with its failing cell and error.
"""

from __future__ import annotations

import html
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import nbformat
import papermill
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from traitlets import Unicode, default

from mlops_workbook.core import errors, instance, paths
from mlops_workbook.core.environments import EnvConfig
from mlops_workbook.course import forked_kernels

KERNEL = "mlops-workbook"
LESSON_DIRS = ("notebooks", "solutions")


def ensure_kernel() -> str:
    """Register this interpreter as the `mlops-workbook` Jupyter kernel, started by the forking provisioner
    (`forked_kernels`), if it is not yet.

    Registering replaces the kernel's folder, which every notebook run beside it reads: it happens only when the
    registered kernel differs, under the machine-wide lock."""
    installed = bool(entry_points(group="jupyter_client.kernel_provisioners", name=forked_kernels.NAME))
    provisioner = {"provisioner_name": forked_kernels.NAME} if installed else None
    if _registered(provisioner):
        return KERNEL
    with instance.exclusive("kernelspec"):
        if not _registered(provisioner):
            from ipykernel.kernelspec import install

            folder = Path(install(kernel_name=KERNEL, display_name="Python (mlops-workbook)", prefix=sys.prefix))
            if provisioner:  # written aside, then renamed: a reader sees the old file or the new one, whole
                written = json.loads((folder / "kernel.json").read_text())
                written.setdefault("metadata", {})["kernel_provisioner"] = provisioner
                (folder / "kernel.json.partial").write_text(json.dumps(written, indent=1))
                os.replace(folder / "kernel.json.partial", folder / "kernel.json")
    return KERNEL


def _registered(provisioner: dict | None) -> bool:
    """Whether the `mlops-workbook` kernel runs this interpreter with `provisioner` (its name: Jupyter adds the
    provisioner's default `config` when it reads the spec)."""
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except (NoSuchKernel, ValueError):  # none, one naming a provisioner this environment lacks, or being written
        return False
    named = (spec.metadata.get("kernel_provisioner") or {}).get("provisioner_name")
    return spec.argv[0] == sys.executable and named == (provisioner or {}).get("provisioner_name")


def kernel_server():
    """Kernels forked from one preloaded process for what runs inside the block (`forked_kernels.serve`)."""
    return forked_kernels.serve(KernelSpecManager().get_kernel_spec(ensure_kernel()).argv)


# JupyterLab's own defaults for this environment: no consent prompt for Jupyter's news over a learner's first
# screen, no update check (both stay in Settings → Notifications for whoever wants them).
LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def quiet_jupyterlab() -> Path:
    """Write LAB_OVERRIDES into this environment's JupyterLab settings overrides (merged with what is there)."""
    overrides = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    overrides.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(overrides.read_text()) if overrides.exists() else {}
    overrides.write_text(json.dumps({**current, **LAB_OVERRIDES}, indent=2))
    return overrides


class LocalKernelManager(AsyncKernelManager):
    """Kernels this machine starts for itself talk over local sockets (IPC), not TCP: no port to take,
    and no "running over TCP without encryption" warning in the run's output."""

    transport = Unicode("ipc")

    @default("ip")
    def _socket_prefix(self) -> str:  # jupyter_client's is relative: kernels side by side would share it
        return str(Path(tempfile.gettempdir()) / f"mlops-workbook-kernel-{uuid.uuid4().hex}")

    async def _async_interrupt_kernel(self) -> None:
        """No interrupt on the way out: jupyter_client sends one before every shutdown, and a kernel that is still
        answering a message then logs "KeyboardInterrupt caught in kernel" into the run's output."""
        if not self.shutting_down:
            await super()._async_interrupt_kernel()


def _matches(nb: Path, only: list[str] | None) -> bool:
    return not only or any(nb.stem == o or nb.stem.startswith(f"{o}_") for o in only)


def notebooks(folder: str = "notebooks", only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks of a folder, in order; `only` keeps those whose number or name match."""
    found = sorted((paths.project_root() / folder).glob("[0-9][0-9]_*.ipynb"))
    unknown = [o for o in only or [] if not any(_matches(nb, [o]) for nb in found)]
    if unknown:
        raise errors.BadInputError(
            f"no notebook numbered or named {', '.join(unknown)} in {folder}/; "
            f"there are: {', '.join(nb.stem for nb in found)}"
        )
    return [nb for nb in found if _matches(nb, only)]


@dataclass(frozen=True)
class Result:
    notebook: str
    status: str
    seconds: float
    output: str


class NotebookRunError(errors.RunError):
    """Notebooks raised, or their kernels died: which ones, in which cell, with which error, what to do."""


def _failure(notebook: str, cell_index: int | None, source: str, error: str, output: Path, todo: str = "") -> str:
    shown = "\n".join(f"    {line}" for line in source.splitlines()[:8])
    return (
        f"{notebook} failed in cell {cell_index}:\n{shown}\n{error}\n"
        f"The executed notebook, as far as it ran, is {paths.show(output)}" + (f"\n{todo}" if todo else "")
    )


def _kernel_died(notebook: str, output: Path) -> str:
    """The kernel died (killed, out of memory, os._exit): the last cell papermill started is the one."""
    cells = nbformat.read(output, as_version=4).cells if output.exists() else []
    started = [i for i, c in enumerate(cells) if c.metadata.get("papermill", {}).get("start_time")]
    index = started[-1] if started else None
    return _failure(
        notebook,
        index,
        cells[index].source if index is not None else "",
        "the kernel died",
        output,
        "What it started may still run: `mlops-workbook stop` stops it, then run again.",
    )


def _previous_seconds(output: Path) -> float:
    """How long the last run of this notebook took (its executed copy's papermill record); 0 if none."""
    try:
        return float(nbformat.read(output, as_version=4).metadata["papermill"]["duration"] or 0)
    except (OSError, KeyError, TypeError, ValueError, nbformat.reader.NotJSONError):
        return 0.0


def _execute(nb: Path, output: Path, params: dict, kernel: str) -> tuple[Result, str | None]:
    """Run one notebook; its result and, if it failed, what to tell (a pool worker returns both)."""
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            nb,
            output,
            parameters=params,
            kernel_name=kernel,
            cwd=nb.parent,
            progress_bar=False,
            log_output=False,
            kernel_manager_class=LocalKernelManager,
        )
    except (papermill.PapermillExecutionError, DeadKernelError) as error:
        failed = (
            _kernel_died(nb.stem, output)
            if isinstance(error, DeadKernelError)
            else _failure(nb.stem, error.cell_index, error.source, f"{error.ename}: {error.evalue}", output)
        )
        return Result(nb.stem, "failed", time.perf_counter() - start, paths.show(output)), failed
    return Result(nb.stem, "passed", time.perf_counter() - start, paths.show(output)), None


def run(
    cfg: EnvConfig, todo: list[Path], console: Console | None = None, jobs: int = 1, last: tuple[Path, ...] = ()
) -> list[Result]:
    """Execute the notebooks for one environment, `jobs` at a time; after a failure no new one starts.

    Each notebook writes only to its own folder of the workspace, so notebooks can run side by side;
    with jobs > 1 each runs in an instance of its own, and the slowest (by the last run) start first. The notebooks
    in `last` start once every other one has finished: they change what the others read (team mode's registry).
    """
    console = console or Console()
    kernel = ensure_kernel()
    out_dir = cfg.workspace_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = {nb: out_dir / nb.name for nb in todo}
    jobs = max(1, min(jobs, len(todo)))
    results: dict[Path, Result] = {}
    failures: list[str] = []
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with kernel_server(), Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"{cfg.env}: starting", total=len(todo))

        def done(nb: Path, result: Result, failure: str | None) -> None:
            results[nb] = result
            if failure:
                failures.append(failure)
            progress.advance(task)

        if jobs == 1:
            for nb in sorted(todo, key=lambda nb: nb in last):
                progress.update(task, description=f"{cfg.env}: {nb.stem}")
                done(nb, *_execute(nb, outputs[nb], cfg.params(), kernel))
                if failures:
                    break
        else:
            waiting = sorted(todo, key=lambda nb: (nb in last, -_previous_seconds(outputs[nb])))
            progress.update(task, description=f"{cfg.env}: {jobs} notebooks at a time")
            with ProcessPoolExecutor(
                jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=instance.claim,  # each worker's notebooks get ports, deploy state, containers of their own
            ) as pool:
                running: dict = {}
                while waiting or running:
                    while waiting and len(running) < jobs and not failures:  # one per free worker: no queue
                        if waiting[0] in last and any(nb not in last for nb in running.values()):
                            break  # it waits for the others to finish
                        nb = waiting.pop(0)
                        running[pool.submit(_execute, nb, outputs[nb], cfg.params(), kernel)] = nb
                    if not running:
                        break
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        done(running.pop(future), *future.result())
    ran = [results[nb] for nb in todo if nb in results]
    console.print(summary(ran, cfg.env, skipped=len(todo) - len(ran)))
    if failures:
        raise NotebookRunError("\n\n".join(failures))
    return ran


def summary(results: list[Result], env: str, skipped: int = 0) -> Table:
    """One row per notebook; the caption says where the executed copies are (a path per row would not fit)."""
    folders = sorted({str(Path(r.output).parent) for r in results})
    caption = [f"executed copies in {', '.join(folders)}/"] if folders else []
    caption += [f"{skipped} not run after the failure"] if skipped else []
    table = Table(title=f"workbook run: {env}", caption="; ".join(caption) or None)
    for column in ("notebook", "status", "seconds"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for r in results:
        colour = "green" if r.status == "passed" else "red"
        table.add_row(r.notebook, f"[{colour}]{r.status}[/]", f"{r.seconds:.1f}")
    return table


def refresh(only: list[str] | None = None) -> list[Path]:
    """Re-execute the stored lessons and solutions in place with their dev defaults.

    nbclient, not papermill: no parameters are injected and no timing metadata is
    recorded, so a refresh changes a stored notebook only where its outputs changed. Streams are stored
    as a terminal shows them (nbconvert's CoalesceStreams): a progress bar's final state, not its
    every redraw, whose first line a reader would see at 0%.
    """
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor  # only a refresh needs nbconvert

    kernel = ensure_kernel()
    chosen = [nb for folder in LESSON_DIRS for nb in notebooks(folder) if _matches(nb, only)]
    if not chosen:
        raise errors.BadInputError(
            f"no notebook numbered or named {', '.join(only or [])} in {' or '.join(LESSON_DIRS)}/"
        )
    for path in chosen:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb,
            kernel_name=kernel,
            timeout=900,
            record_timing=False,
            kernel_manager_class=LocalKernelManager,
            resources={"metadata": {"path": str(path.parent)}},
        )
        try:
            client.execute()
        except CellExecutionError as error:  # the stored notebook is left as it was
            raise NotebookRunError(
                f"{path.parent.name}/{path.name} failed, so it was not refreshed: {error.ename}: {error.evalue}"
            ) from None
        nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})
        _bars_at_their_end(nb)
        nbformat.write(nb, path)
    return chosen


def bar_text(label: str, value: float, total: float | None, rate: str) -> str:
    """A tqdm bar as text, ten blocks wide, filled as far as its own percentage says.

    The percentage comes first: a bar whose work failed part way (a build stopped at step 6 of 23) is drawn
    full by tqdm's widget, which would contradict its 26%.
    """
    said = re.search(r"(\d+)%", label)
    share = int(said.group(1)) / 100 if said else (value / total if total else 0)
    filled = round(10 * share)
    return html.unescape(f"{label}|{'█' * filled}{' ' * (10 - filled)}|{rate}").replace("\u2007", " ")


def _bars_at_their_end(nb: nbformat.NotebookNode) -> None:
    """Give each tqdm bar's widget the text of its last state (100%, 4/4 ...) for where widgets don't render.

    A widget's text/plain is what it showed first, 0%; a page without widgets (GitHub, the HTML export)
    shows that. nbclient stored the bar's final state in the notebook's widget metadata: write it as text.
    """
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            box = state.get(view["model_id"], {}) if view else {}
            parts = [
                state.get(child.removeprefix("IPY_MODEL_"), {}) for child in box.get("state", {}).get("children", [])
            ]
            if [part.get("model_name") for part in parts] != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
                continue  # not a tqdm bar
            left, bar, right = (part["state"] for part in parts)
            output["data"]["text/plain"] = bar_text(left["value"], bar.get("value", 0), bar.get("max"), right["value"])
