"""What papermill and a kernel cost: `mlops-workbook run --env dev --jobs 1`, and the same code without them.

1. Every lesson executed by the runner (papermill, a Jupyter kernel per notebook), one after another,
   timed per notebook.
2. The same cells run one after the other in a plain IPython shell in a fresh process (no kernel, no
   papermill; IPython only so that `%%ipytest` cells still run), with the same parameters.
The ratio of the two is what papermill and the kernel cost; target: at most 1.5x. The dev run as people
run it (`make run`, notebooks side by side) is timed in the suite section.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from rich.console import Console

from mlops_workbook.core import environments
from mlops_workbook.course import runner

# Run in a fresh process: each cell in turn, stopping at the first error, as a kernel would.
DRIVER = """
import json, os, sys, time
os.environ["MPLBACKEND"] = "Agg"
from IPython.core.interactiveshell import InteractiveShell
cells = json.load(open(sys.argv[1]))
os.chdir(sys.argv[2])
shell = InteractiveShell.instance()
start = time.perf_counter()
for cell in cells:
    shell.run_cell(cell, silent=True).raise_error()
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def _cells(notebook: Path, params: dict) -> list[str]:
    """The notebook's code, with the environment's parameters set right after its parameters cell."""
    cells = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        cells.append(cell.source)
        if "parameters" in cell.metadata.get("tags", []):
            cells.append("\n".join(f"{key} = {value!r}" for key, value in params.items()))
    return cells


def _plain(notebook: Path, params: dict, folder: Path) -> float:
    cells = folder / f"{notebook.stem}.json"
    cells.write_text(json.dumps(_cells(notebook, params)))
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(cells), str(notebook.parent)], capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0:
        raise RuntimeError(f"{notebook.stem} failed as plain code:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def run() -> dict:
    lessons = runner.notebooks("notebooks")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        cfg = environments.load("dev", {"workspace": str(folder / "papermill")})
        start = time.perf_counter()
        results = runner.run(cfg, lessons, Console(quiet=True), jobs=1)
        whole = time.perf_counter() - start
        plain_cfg = environments.load("dev", {"workspace": str(folder / "plain")})
        plain = {nb.stem: _plain(nb, plain_cfg.params(), folder) for nb in lessons}
    rows = [
        {
            "notebook": r.notebook,
            "papermill s": round(r.seconds, 1),
            "plain IPython s": round(plain[r.notebook], 1),
            "overhead": f"{r.seconds / plain[r.notebook]:.2f}x",
        }
        for r in results
    ]
    plain_total = sum(plain.values())
    rows.append(
        {
            "notebook": "all (mlops-workbook run --env dev --jobs 1)",
            "papermill s": round(whole, 1),
            "plain IPython s": round(plain_total, 1),
            "overhead": f"{whole / plain_total:.2f}x",
        }
    )
    return {
        "title": "Workbook: the dev run with papermill vs the same cells in plain IPython (one run each)",
        "rows": rows,
        "notes": [
            "each plain run is a fresh process, as each papermill run is a fresh kernel; both include imports",
            "the lessons start real components (Docker builds, nginx, Airflow, Prometheus): most of the time is "
            "theirs, and the same in both columns",
        ],
        "targets": [{"target": "papermill overhead <= 1.5x", "met": whole / plain_total <= 1.5}],
    }
