"""The serving image's Python packages, built on the host: a wheelhouse at the lock's versions, the project's wheel.

pip inside `docker build` installs only from these files (the machine reaches no index from a build), and both
are cached by content, so an unchanged lock or unchanged code reuses what was built.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from importlib.metadata import requires, version
from pathlib import Path

from packaging.requirements import Requirement

from mlops_workbook.core import cache, commands, paths

LOCK = "requirements/workbook.lock"  # the image's versions are the training environment's (make lock)
PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "--quiet"]  # wheels built by this environment's pip


def serving_requirements() -> list[str]:
    """The serving app's direct dependencies (pyproject.toml's `serving` extra), pinned to this (training)
    environment's versions."""
    declared = [Requirement(r) for r in requires("mlops-workbook") or []]
    serving = [r.name for r in declared if r.marker and r.marker.evaluate({"extra": "serving"})]
    return [f"{name}=={version(name)}" for name in serving]


def wheelhouse() -> Path:
    """Wheels for the serving dependencies and theirs, at the versions of the workbook's lock.

    Cached by content (runs/cache): the same requirements and lock reuse the same folder.
    """
    lock = paths.resolve(LOCK)
    requirements = serving_requirements()
    key = hashlib.sha256(("\n".join(requirements) + lock.read_text()).encode()).hexdigest()[:12]

    def build(target: Path) -> None:
        target.mkdir(parents=True)
        commands.run(
            [*PIP_WHEEL, "--wheel-dir", str(target / "wheels"), "--constraint", str(lock), *requirements],
            "building the serving wheelhouse at the lock's versions",
        )
        (target / "requirements.lock").write_text(lock_of(target / "wheels"))

    return cache.once(f"wheelhouse-{key}", build)


def lock_of(wheels: Path) -> str:
    """`name==version` for every wheel: the exact set the image installs."""
    pins = sorted({"{}=={}".format(*w.name.split("-")[:2]) for w in wheels.glob("*.whl")}, key=str.lower)
    return "\n".join(pins) + "\n"


def _project_files(source: Path) -> list[Path]:
    """What the project's wheel is built from: `src/` (no bytecode or build metadata), pyproject.toml, README."""
    code = [
        f
        for f in sorted((Path(source) / "src").rglob("*"))
        if f.is_file() and "__pycache__" not in f.parts and not any(p.endswith(".egg-info") for p in f.parts)
    ]
    return code + [f for f in (Path(source) / "pyproject.toml", Path(source) / "README.md") if f.exists()]


def project_wheel(source: Path, folder: Path) -> Path:
    """The workbook package itself as a wheel (installed in the image without its dependencies).

    It is built from a clean copy of its files, so nothing stale (a `build/` folder, bytecode) gets in and
    nothing is written into the source tree; and cached by their content, so the same code is built once.
    """
    files = _project_files(source)
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.relative_to(source)}\0".encode() + f.read_bytes() + b"\0")
    cached = cache.once(
        f"project-wheel-{digest.hexdigest()[:12]}", lambda folder: _build_project_wheel(Path(source), files, folder)
    )
    shutil.rmtree(folder, ignore_errors=True)
    Path(folder).mkdir(parents=True)
    wheel = next(cached.glob("*.whl"))
    return Path(shutil.copy(wheel, Path(folder) / wheel.name))


def _build_project_wheel(source: Path, files: list[Path], folder: Path) -> None:
    with tempfile.TemporaryDirectory() as clean:
        for f in files:
            (Path(clean) / f.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, Path(clean) / f.relative_to(source))
        # a fixed timestamp makes the same code give the same wheel, so Docker's layer cache can hit
        commands.run(
            [*PIP_WHEEL, "--no-deps", "--wheel-dir", str(folder), clean],
            "building the project's wheel",
            env={**os.environ, "SOURCE_DATE_EPOCH": "315532800"},
        )


def uv_binary() -> Path:
    """The installer the image's build runs: uv's binary from this environment (the `notebooks` extra pins it)."""
    from uv import find_uv_bin

    return Path(find_uv_bin())
