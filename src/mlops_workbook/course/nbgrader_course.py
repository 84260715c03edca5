"""An nbgrader course whose source is the workbook's solutions, for instructors who already grade with nbgrader.

nbgrader's own commands then do the rest: `generate_assignment` makes the labs (the same cells as `labs/`),
`autograde` restores the locked cells and gives each check cell's points when it runs without an error.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mlops_workbook.core import errors, paths
from mlops_workbook.course import labs

# nbgrader's default of 30 s per cell is too short for the labs that build an image or start a server.
CONFIG = """\
# nbgrader's configuration for the workbook's labs (written by `mlops-workbook course`).
import os
import tempfile
import uuid

c = get_config()
c.CourseDirectory.root = {root!r}
c.Execute.timeout = {timeout}  # seconds per cell: labs 02, 03 and 04 build images and start servers
# Kernels talk over local sockets, not TCP ports: two autogrades side by side never race for a port. The sockets'
# prefix is absolute (a kernel runs in its notebook's folder) and this run's own.
c.KernelManager.transport = "ipc"
c.KernelManager.ip = os.path.join(tempfile.gettempdir(), f"nbgrader-kernel-{{uuid.uuid4().hex}}")
"""


def write(folder: Path, timeout: int = 300) -> list[Path]:
    """`folder/source/<lab>/<lab>.ipynb` for every solution, and an nbgrader_config.py that points at it.

    Run nbgrader from `folder` (its commands find nbgrader_config.py there). An existing course keeps its
    gradebook and submissions; its sources are replaced by the workbook's.
    """
    folder = Path(folder).resolve()
    if folder.is_relative_to(paths.project_root()):
        raise errors.BadInputError(
            f"{paths.show(folder)} is inside the workbook, and a course's gradebook holds learners' names: "
            "put the course elsewhere, e.g. ~/courses/mlops"
        )
    written = []
    for solution, _ in labs.lab_pairs():
        target = folder / "source" / solution.stem / solution.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(solution, target)
        written.append(target)
    (folder / "nbgrader_config.py").write_text(CONFIG.format(root=str(folder), timeout=timeout))
    return written
