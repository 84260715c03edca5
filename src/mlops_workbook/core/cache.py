"""One-time work every run shares (a wheelhouse, the project's wheel, an empty migrated database), done once.

Each item lives in `runs/cache/<name>`, where the name carries a hash of what it is built from. It is built
under a machine-wide lock (a second run waits, then finds it) into a `.partial` path that is renamed into
place only when complete, so a build that died half-way is never mistaken for a finished one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from mlops_workbook.core import instance, paths


def once(name: str, build: Callable[[Path], None]) -> Path:
    """`runs/cache/<name>`, made by `build(path)` (a file or a folder) the first time it is asked for."""
    target = paths.resolve(paths.CACHE) / name
    with instance.exclusive(name):
        if not target.exists():
            partial = target.with_name(f"{name}.partial")
            shutil.rmtree(partial, ignore_errors=True)  # what a build that died half-way left
            partial.unlink(missing_ok=True)
            partial.parent.mkdir(parents=True, exist_ok=True)
            build(partial)
            os.replace(partial, target)
    return target
