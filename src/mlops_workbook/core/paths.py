"""Where the workbook lives on disk, and how paths are shown to people.

Notebooks run from notebooks/, solutions/, labs/ or an instructor's folder; all of
them find the repository through the installed package, so configs/ and runs/ are
found from anywhere. Paths shown in outputs are relative to the repository, so that
stored outputs never carry one machine's folders.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mlops_workbook
from mlops_workbook.core import errors

CACHE = Path("runs/cache")  # one-time work every run and environment shares (see cache.py)


def project_root() -> Path:
    """The clone the package is installed from (editable install: src/mlops_workbook → ../..)."""
    root = Path(mlops_workbook.__file__).resolve().parents[2]
    if not (root / "configs").is_dir():
        raise errors.UnavailableError(
            f"configs/ not found next to the installed package ({root}). Install the workbook "
            "from its clone with `make install` (or `pip install -e .`)."
        )
    return root


def resolve(path: str | Path) -> Path:
    """A path from a config, taken relative to the repository unless absolute."""
    path = Path(path)
    return path if path.is_absolute() else project_root() / path


def show(path: str | Path) -> str:
    """A path as stored outputs may show it: relative to the repository, or just its name."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(project_root()))
    except ValueError:
        return f"<outside the repo>/{path.name}"


def fresh_dir(path: Path) -> Path:
    """Empty the folder (creating it if needed): a notebook's sandbox starts clean every run."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def venv_python(venv: str) -> Path:
    """The interpreter of one of the repository's extra environments (`.venv-airflow`, `.venv-kfp`)."""
    return project_root() / venv / "bin" / "python"
