"""Where a copy of the serving app runs: a local process (dev) or a container of the CI image.

Both serve the bundle CI's packaging step exports (the ONNX model and its facts, see example/bundle.py): a process
loads it from a folder, a container has it baked into its image.

Both targets answer the same two calls, `start` and `stop`, so the deploy logic does not care
which one an environment uses (its config's `deploy_target` decides). `start` returns only once
the copy answers `/health`; a copy that never does is stopped and reported with its logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mlops_workbook.cd.serving import server
from mlops_workbook.ci import export, packaging, serving_image
from mlops_workbook.core import errors, http_client, instance, paths, processes
from mlops_workbook.core.docker import containers, images
from mlops_workbook.ct import gate, training


@dataclass(frozen=True)
class Release:
    """What a deploy puts live: a model version, and how to start the app serving it."""

    version: str  # the model version it must serve (checked on /version)
    image: str | None = None  # containers: the CI image built around that version (its tag)
    model_dir: str | None = None  # processes: the bundle folder the app loads at start
    settings: dict = field(default_factory=dict, hash=False)  # extra environment variables for the app
    image_id: str | None = None  # containers: that very build, which a tag moved by a concurrent run cannot change
    memory_limit: str | int = containers.MEMORY_LIMIT  # containers: what the kernel lets it hold (a process: no limit)
    trained_on: str | None = None  # the data its model learned from (training.trained_on): fake serves dev only


@dataclass(frozen=True)
class Copy:
    """One running copy of the app."""

    release: Release
    port: int
    name: str
    pid: int | None = None  # processes only


def for_env(cfg, folder: Path):
    """The target the environment's `deploy_target` names."""
    if cfg.deploy_target == "process":
        return ProcessTarget(folder)
    return ContainerTarget(images.docker_client(), folder, cfg.env)


class ProcessTarget:
    """dev: the app as a local uvicorn process, serving the champion's bundle from a folder."""

    kind = "process"

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def release(self, registry) -> Release:
        """The registry's champion, exported as CI's package step does (ONNX, parity-checked), without an image."""
        version = gate.required_champion(registry)
        folder = paths.fresh_dir(self.folder / f"model-v{version}")
        export.champion(registry, folder)
        return Release(version, model_dir=str(folder), trained_on=training.trained_on(registry, version))

    def start(self, release: Release, port: int, name: str, timeout: float = 60) -> Copy:
        if _healthy(port):  # else that server's answers would pass for the new copy's
            raise errors.UnavailableError(
                f"port {port} already serves an app: stop what listens there first (`ss -ltnp | grep {port}` shows it)"
            )
        if release.model_dir is None:
            raise ValueError(f"release of version {release.version} names no model folder: processes serve a bundle")
        log = self.folder / f"{name}.log"
        env = {
            **os.environ,
            "MODEL_DIR": release.model_dir,
            "GIT_COMMIT": packaging.git_commit(),
            **release.settings,
        }
        process = processes.start(name, [*server.command(port), "--log-level", "warning"], log, env)
        if processes.wait_ready(process, lambda: _healthy(port), timeout):
            return Copy(release, port, name, process.pid)
        why = (
            f"it exited with code {process.returncode}"
            if process.poll() is not None
            else f"it did not answer /health in {timeout:g} s"
        )
        self.stop(Copy(release, port, name, process.pid))
        tail = "\n".join(log.read_text().strip().splitlines()[-5:])
        raise errors.UnhealthyError(
            f"process {name} for version {release.version} did not become healthy: {why}; it was stopped.", logs=tail
        )

    def stop(self, copy: Copy) -> None:
        processes.stop(copy.name)  # uvicorn finishes the requests in flight; found by name after a crash too


class ContainerTarget:
    """staging and prod: the image CI built, run by the Docker daemon."""

    kind = "container"

    def __init__(self, client, folder: Path, env: str):
        self.client, self.folder, self.env = client, Path(folder), env

    def release(self, registry) -> Release:
        """The registry's champion in its image: CI's package step, run here (the layer cache makes it quick). Its
        tag is this run's (instance.suffix): a job given the tag (03's CI pipeline) must find this build, not one
        another run on the machine tagged alike a moment later."""
        version = gate.required_champion(registry)
        tag = f"{serving_image.IMAGE}:{self.env}-model-v{version}{instance.suffix()}"
        built, _ = packaging.package_champion(registry, self.client, self.folder / f"v{version}", tag)
        trained_on = self.client.images.get(built.image_id or built.tag).labels.get(serving_image.TRAINED_ON_LABEL)
        return Release(version, image=built.tag, image_id=built.image_id or None, trained_on=trained_on)

    def start(self, release: Release, port: int, name: str, timeout: float = 90) -> Copy:
        if release.image is None:
            raise ValueError(f"release of version {release.version} names no image: containers run CI's image")
        containers.run(
            self.client,
            release.image_id or release.image,
            port,
            name,
            timeout,
            environment=release.settings,
            memory_limit=release.memory_limit,
        )
        return Copy(release, port, name)

    def stop(self, copy: Copy) -> None:
        if copy.pid is not None:  # the process copy of an environment that moved to containers (07 does)
            processes.stop(copy.name)
            return
        import docker.errors

        try:
            container = self.client.containers.get(copy.name + instance.suffix())  # as containers.run named it
        except docker.errors.NotFound:
            return
        container.stop(timeout=5)
        container.remove(force=True)


def _healthy(port: int) -> bool:
    return http_client.answers(f"http://127.0.0.1:{port}/health")
