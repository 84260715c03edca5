"""Execute the workbook's notebooks with papermill, one environment at a time.

Each notebook gets the environment's parameters injected, runs from its own folder
(as in JupyterLab and nbval) and is saved, executed, to `<workspace>/<name>.ipynb`.
A failing notebook stops the run and is reported with its failing cell and error.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import papermill
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mlops_workbook import paths
from mlops_workbook.config import EnvConfig

KERNEL = "mlops-workbook"
LESSON_DIRS = ("notebooks", "solutions")


def ensure_kernel() -> str:
    """Register this interpreter as the `mlops-workbook` Jupyter kernel if it is not yet."""
    spec = KernelSpecManager().find_kernel_specs().get(KERNEL)
    argv = KernelSpecManager().get_kernel_spec(KERNEL).argv if spec else []
    if not argv or argv[0] != sys.executable:
        from ipykernel.kernelspec import install

        install(kernel_name=KERNEL, display_name="Python (mlops-workbook)", prefix=sys.prefix)
    return KERNEL


def _matches(nb: Path, only: list[str] | None) -> bool:
    return not only or any(nb.stem == o or nb.stem.startswith(f"{o}_") for o in only)


def notebooks(folder: str = "notebooks", only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks of a folder, in order; `only` keeps those whose number or name match."""
    found = sorted((paths.project_root() / folder).glob("[0-9][0-9]_*.ipynb"))
    unknown = [o for o in only or [] if not any(_matches(nb, [o]) for nb in found)]
    if unknown:
        raise ValueError(f"no notebook numbered or named {', '.join(unknown)} in {folder}/; "
                         f"there are: {', '.join(nb.stem for nb in found)}")
    return [nb for nb in found if _matches(nb, only)]


@dataclass(frozen=True)
class Result:
    notebook: str
    status: str
    seconds: float
    output: str


class NotebookFailed(RuntimeError):
    """A notebook raised, or its kernel died: which one, in which cell, with which error, what to do."""

    def __init__(self, notebook: str, cell_index: int | None, source: str, error: str, output: Path, todo: str = ""):
        self.notebook = notebook
        shown = "\n".join(f"    {line}" for line in source.splitlines()[:8])
        super().__init__(
            f"{notebook} failed in cell {cell_index}:\n{shown}\n{error}\n"
            f"The executed notebook, as far as it ran, is {paths.show(output)}" + (f"\n{todo}" if todo else "")
        )

    @classmethod
    def raised(cls, notebook: str, error: papermill.PapermillExecutionError, output: Path) -> NotebookFailed:
        return cls(notebook, error.cell_index, error.source, f"{error.ename}: {error.evalue}", output)

    @classmethod
    def kernel_died(cls, notebook: str, output: Path) -> NotebookFailed:
        """The kernel died (killed, out of memory, os._exit): the last cell papermill started is the one."""
        cells = nbformat.read(output, as_version=4).cells if output.exists() else []
        started = [i for i, c in enumerate(cells) if c.metadata.get("papermill", {}).get("start_time")]
        index = started[-1] if started else None
        return cls(notebook, index, cells[index].source if index is not None else "", "the kernel died", output,
                   "What it started may still run: `mlops-workbook stop` stops it, then run again.")


def run(cfg: EnvConfig, todo: list[Path], console: Console | None = None) -> list[Result]:
    """Execute the notebooks in order for one environment; stop at the first failure."""
    console = console or Console()
    kernel = ensure_kernel()
    out_dir = cfg.workspace_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"{cfg.env}: starting", total=len(todo))
        for nb in todo:
            progress.update(task, description=f"{cfg.env}: {nb.stem}")
            output = out_dir / nb.name
            start = time.perf_counter()
            try:
                papermill.execute_notebook(nb, output, parameters=cfg.params(), kernel_name=kernel,
                                           cwd=nb.parent, progress_bar=False, log_output=False)
            except (papermill.PapermillExecutionError, DeadKernelError) as error:
                results.append(Result(nb.stem, "failed", time.perf_counter() - start, paths.show(output)))
                console.print(summary(results, cfg.env))
                if isinstance(error, DeadKernelError):
                    raise NotebookFailed.kernel_died(nb.stem, output) from None
                raise NotebookFailed.raised(nb.stem, error, output) from None
            results.append(Result(nb.stem, "passed", time.perf_counter() - start, paths.show(output)))
            progress.advance(task)
    console.print(summary(results, cfg.env))
    return results


def summary(results: list[Result], env: str) -> Table:
    table = Table(title=f"workbook run: {env}")
    for column in ("notebook", "status", "seconds", "executed copy"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for r in results:
        colour = "green" if r.status == "passed" else "red"
        table.add_row(r.notebook, f"[{colour}]{r.status}[/]", f"{r.seconds:.1f}", r.output)
    return table


def refresh(only: list[str] | None = None) -> list[Path]:
    """Re-execute the stored lessons and solutions in place with their dev defaults.

    nbclient, not papermill: no parameters are injected and no timing metadata is
    recorded, so a refresh changes a stored notebook only where its outputs changed.
    """
    kernel = ensure_kernel()
    chosen = [nb for folder in LESSON_DIRS for nb in notebooks(folder) if _matches(nb, only)]
    if not chosen:
        raise ValueError(f"no notebook numbered or named {', '.join(only or [])} in {' or '.join(LESSON_DIRS)}/")
    for path in chosen:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, kernel_name=kernel, timeout=900, record_timing=False,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        nbformat.write(nb, path)
    return chosen
