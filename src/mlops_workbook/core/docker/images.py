"""Docker images: the locally made base image, a build with its progress and log, what an image holds, cleanup.

The build needs no network: the base image is made locally (debootstrap + `docker import`, since this machine
can't pull images); what goes into an image's context is its stage's (ci.serving_image). Everything goes through
the docker SDK; a failing step is reported with its log, never as a bare exception.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlops_workbook.core import commands, errors, instance, progress

BASE_IMAGE = "mlops-workbook/base:bookworm"
DOCKERFILE = "Dockerfile"
BUILT_LABEL = "org.mlops-workbook.built"  # on every image the workbook builds: the only ones `prune` may remove
BUILDS = "docker-builds"  # the lock builds share and a prune takes alone
_STRIPPED = ("usr/share/doc", "usr/share/man", "usr/share/locale", "var/cache/apt", "var/lib/apt/lists")


class BuildError(errors.RunError):
    """A Dockerfile step failed; the message shows the step and the end of its log."""


def docker_client():
    import docker

    return docker.from_env(timeout=600)


def build_base_image(client, tag: str = BASE_IMAGE) -> str:
    """Debian bookworm (minbase) with python3 and venv, imported as `tag` unless it exists already."""
    with instance.exclusive("base-image"):
        if not _exists(client, tag):
            _build_base_image(client, tag)
    return tag


def _exists(client, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _build_base_image(client, tag: str) -> None:
    for tool in ("debootstrap", "tar"):
        if shutil.which(tool) is None:
            raise errors.UnavailableError(f"{tool} is needed to build the base image: apt-get install {tool}")
    with tempfile.TemporaryDirectory() as folder:
        rootfs = Path(folder) / "rootfs"
        commands.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm",
                str(rootfs),
            ],
            "making the base image's root file system (debootstrap bookworm, from Debian's mirror)",
        )
        for stripped in _STRIPPED:  # docs, manuals, translations and apt's caches: not needed to run
            shutil.rmtree(rootfs / stripped, ignore_errors=True)
        archive = Path(folder) / "rootfs.tar"
        commands.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], "packing the base image's files")
        repository, _, name = tag.rpartition(":")
        client.api.import_image_from_file(str(archive), repository=repository, tag=name)


@dataclass(frozen=True)
class Built:
    tag: str
    seconds: float
    steps: list[str]  # the Dockerfile's instructions, in order
    rebuilt: list[str]  # those that ran (the rest came from the layer cache)
    image_id: str = ""  # this build's image: what to run, even if another run has since moved the tag


def build(
    client,
    context_dir: Path,
    tag: str,
    base_image: str,
    labels: dict[str, str],
    cache: bool = True,
    dockerfile: str = DOCKERFILE,
    facts: dict[str, str] | None = None,
) -> Built:
    """`docker build` through the SDK, with a progress bar over the Dockerfile's steps.

    `cache=False` runs every step, as on a machine that never built the image (a cold build). `dockerfile` names
    another Dockerfile in the context (a lab's). `facts` become labels of the image too (a deploy reads them).
    """
    log: list[str] = []
    start, steps, cached, image_id = time.perf_counter(), [], set(), ""
    with instance.exclusive(BUILDS, shared=True):  # a prune waits: no image this build uses as cache goes
        stream = client.api.build(
            path=str(context_dir),
            dockerfile=dockerfile,
            tag=tag,
            rm=True,
            forcerm=True,
            decode=True,
            nocache=not cache,
            buildargs={"BASE_IMAGE": base_image, **labels},
            labels={**own_labels(), **(facts or {})},
        )
        bar = None  # drawn from the first step on, when the number of steps is known
        try:
            for chunk in stream:
                text = chunk.get("stream", "")
                log.append(text)
                found = re.match(r"Step (\d+)/(\d+) : (.*)", text)
                if found:
                    steps.append(found.group(3).strip())
                    bar = bar or progress.bar(total=int(found.group(2)), desc=f"docker build {tag}", unit="step")
                    bar.update(int(found.group(1)) - bar.n)
                if "Using cache" in text:
                    cached.add(len(steps) - 1)
                image_id = chunk.get("aux", {}).get("ID", image_id)
                if "error" in chunk:
                    raise BuildError(_failure(steps, chunk["error"], log))
        finally:
            if bar is not None:
                bar.close()
    rebuilt = [step for i, step in enumerate(steps) if i not in cached]
    return Built(tag, time.perf_counter() - start, steps, rebuilt, image_id)


def _failure(steps: list[str], error: str, log: list[str]) -> str:
    """The failed step, its exit code and the last lines it printed (without the builder's own noise)."""
    code = re.search(r"non-zero code: (\d+)", error)
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in "".join(log).splitlines()]
    said = [
        line
        for line in lines
        if line
        and not line.startswith(
            ("--->", "Removing intermediate", "Step ", "Processing ", "Running in", "Looking in links", "Using Python")
        )
    ]
    step = steps[-1] if steps else "?"
    return (
        f"docker build failed at step {len(steps)} ({step[:70]}{'...' if len(step) > 70 else ''})"
        + (f" with exit code {code.group(1)}" if code else f": {error.strip()}")
        + ". Its last lines:\n"
        + "\n".join(said[-6:])
    )


def own_labels() -> dict[str, str]:
    """What marks an image as the workbook's, built by this run's instance."""
    return {BUILT_LABEL: "true", instance.LABEL: str(instance.number())}


def prune(client, instances: list[int]) -> float:
    """Remove the dangling images that these instances built: a rebuilt tag's previous image and the layers only it
    used. Docker keeps any image a container still runs; an instance's deploy history starts images only of its own
    builds, so pruning a finished run's leaves a running one's alone. The build stages newer builds repeated go too
    (`stale_stages`). One prune at a time on the machine (Docker refuses a second). Returns the MB of layers freed
    (Docker's own disk accounting)."""
    import docker.errors

    owners = {str(k) for k in instances}
    with instance.exclusive(BUILDS):  # no build is using an image as its cache meanwhile
        before = client.df()["LayersSize"]
        rebuilt = client.images.list(filters={"dangling": True, "label": BUILT_LABEL})
        for image in [i for i in rebuilt if i.labels.get(instance.LABEL) in owners] + stale_stages(client):
            try:
                client.images.remove(image.id)
            except docker.errors.APIError:  # a container runs it
                continue
        return max(0, before - client.df()["LayersSize"]) / 1e6


def prune_finished_runs() -> float:
    """`prune` the instances no running process holds (what finished or killed runs left), if Docker answers;
    the MB freed. A run starts with it, so that repeated runs do not fill the disk."""
    import docker.errors

    try:
        client = docker_client()
    except docker.errors.DockerException:  # no Docker here: nothing to prune
        return 0.0
    return prune(client, instance.unclaimed())


KEPT_STAGES = 2  # of each build stage, the newest images kept: the current code's cache and a code change's


def stage_images(client) -> list[tuple[object, tuple[str, ...]]]:
    """The untagged images a multi-stage build leaves (its first stages: Docker labels only the last) on the
    workbook's base image, newest first, each with its stage: its steps, whatever files they copied. A labelled
    image is a build's result, not a stage: `prune` leaves a running instance's alone (its rollback may need it)."""
    import docker.errors

    try:
        base = client.images.get(BASE_IMAGE).id
    except docker.errors.ImageNotFound:
        return []
    found = []
    for image in sorted(client.images.list(filters={"dangling": True}), key=lambda i: i.attrs["Created"], reverse=True):
        if BUILT_LABEL in (image.labels or {}):
            continue
        history = image.history()
        if base in {step["Id"] for step in history}:  # else not built on the workbook's base: not ours
            found.append((image, tuple(re.sub(r"(COPY|ADD) \w+:\w+", r"\1", step["CreatedBy"]) for step in history)))
    return found


def stale_stages(client) -> list:
    """The stage images beyond the KEPT_STAGES newest of each stage: every cold build and every code change adds
    one, and the newest stay as the next build's cache."""
    kept: dict[tuple, int] = {}
    stale = []
    for image, stage in stage_images(client):
        kept[stage] = kept.get(stage, 0) + 1
        if kept[stage] > KEPT_STAGES:
            stale.append(image)
    return stale


def layers(client, tag: str) -> pd.DataFrame:
    """The image's layers, newest first: the instruction that made each and its size."""
    rows = []
    for layer in client.images.get(tag).history():
        instruction = re.sub(r"^/bin/sh -c (#\(nop\) )?\s*", "", layer.get("CreatedBy", ""))
        instruction = re.sub(r"\b(file|dir):[0-9a-f]{64}", "(files)", instruction) or "(base image)"
        rows.append({"instruction": instruction[:90], "size": f"{layer['Size'] / 1e6:.1f} MB"})
    return pd.DataFrame(rows)


def size_mb(client, tag: str) -> float:
    return client.images.get(tag).attrs["Size"] / 1e6
