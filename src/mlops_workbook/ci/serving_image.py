"""The serving image's build context: what CI puts next to the Dockerfile, and a code-only change to rebuild with.

pip inside the build installs only from the wheelhouse (ci.wheels), so the build needs no network; the build
itself is Docker's (core.docker.images).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from mlops_workbook.ci import wheels
from mlops_workbook.core import paths
from mlops_workbook.core.docker.images import DOCKERFILE

IMAGE = "ride-completion"
MODEL_VERSION_LABEL = "ai.mlops-workbook.model-version"  # set by the Dockerfile from MODEL_VERSION
REVISION_LABEL = "org.opencontainers.image.revision"  # set by the Dockerfile from GIT_COMMIT: the code
TRAINED_ON_LABEL = "ai.mlops-workbook.trained-on"  # set by CI's package step: the data its model learned from
MODEL_NAME_LABEL = "ai.mlops-workbook.model-name"  # set by CI's package step: the registered model (a learner's)


def context(folder: Path, wheelhouse: Path, model_dir: Path, source: Path | None = None) -> Path:
    """Assemble the build context: Dockerfile, uv, wheelhouse, lock, the project's wheel and the model bundle."""
    folder = paths.fresh_dir(Path(folder))
    shutil.copy(paths.project_root() / DOCKERFILE, folder / DOCKERFILE)
    shutil.copy(wheels.uv_binary(), folder / "uv")
    shutil.copytree(wheelhouse / "wheels", folder / "wheelhouse")
    shutil.copy(wheelhouse / "requirements.lock", folder / "requirements.lock")
    wheels.project_wheel(source or paths.project_root(), folder / "dist")
    shutil.copytree(model_dir, folder / "model")
    return folder


def code_change(folder: Path) -> Path:
    """A copy of the project's source in `folder` with a one-line change to the serving app: a code-only commit.

    The change is new each time, so its rebuild shows what Docker's layer cache reuses, never an earlier run's build.
    """
    folder = paths.fresh_dir(Path(folder))
    root = paths.project_root()
    shutil.copytree(root / "src", folder / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(root / "pyproject.toml", folder)
    app = folder / "src/mlops_workbook/cd/serving/app.py"
    app.write_text(app.read_text() + f"\n# a code-only change ({uuid.uuid4()})\n")
    return folder
