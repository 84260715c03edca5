"""Package the model, the serving code and a locked environment into a Docker image, and smoke-test it.

The build needs no network: the base image is made locally (debootstrap + `docker import`, since
this machine can't pull images), and pip inside the build installs only from a wheelhouse built
on the host. Everything goes through the docker SDK; a failing step or an unhealthy container is
reported with its log, never as a bare exception.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from importlib.metadata import requires, version
from pathlib import Path

import pandas as pd
from packaging.requirements import Requirement
from tqdm.auto import tqdm

from mlops_workbook import bundle, cache, errors, instance, paths, waiting
from mlops_workbook.ci import conversion

BASE_IMAGE = "mlops-workbook/base:bookworm"
IMAGE = "ride-completion"
DOCKERFILE = "Dockerfile"
PORT = 8000  # inside the container
# Each serving container's memory limit: about twice what the app holds after 10,000 requests (bench/), so
# the MemoryNearLimit rule (deploy/prometheus/rules.yml) warns before the kernel kills it.
MEMORY_LIMIT = "256m"
INSTANCE_LABEL = "org.mlops-workbook.instance"  # which run started a container (mlops_workbook.instance)
MODEL_VERSION_LABEL = "ai.mlops-workbook.model-version"  # set by the Dockerfile from MODEL_VERSION
LOCK = "requirements/workbook.lock"  # the image's versions are the training environment's (make lock)
_STRIPPED = ("usr/share/doc", "usr/share/man", "usr/share/locale", "var/cache/apt", "var/lib/apt/lists")


PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "--quiet"]  # wheels built by this environment's pip


class BuildFailed(errors.WorkbookError, RuntimeError):
    """A Dockerfile step failed; the message shows the step and the end of its log."""


class Unhealthy(errors.WorkbookError, RuntimeError):
    """The container did not become healthy; the message carries its logs (it was removed)."""


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
            raise BuildFailed(f"{tool} is needed to build the base image: apt-get install {tool}")
    with tempfile.TemporaryDirectory() as folder:
        rootfs = Path(folder) / "rootfs"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm",
                str(rootfs),
            ],
            check=True,
            capture_output=True,
        )
        for stripped in _STRIPPED:  # docs, manuals, translations and apt's caches: not needed to run
            shutil.rmtree(rootfs / stripped, ignore_errors=True)
        archive = Path(folder) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], check=True)
        repository, _, name = tag.rpartition(":")
        client.api.import_image_from_file(str(archive), repository=repository, tag=name)


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
        subprocess.run(
            [*PIP_WHEEL, "--wheel-dir", str(target / "wheels"), "--constraint", str(lock), *requirements],
            check=True,
            capture_output=True,
            text=True,
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
        subprocess.run(
            [*PIP_WHEEL, "--no-deps", "--wheel-dir", str(folder), clean],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "SOURCE_DATE_EPOCH": "315532800"},
        )


def context(folder: Path, wheels: Path, model_dir: Path, source: Path | None = None) -> Path:
    """Assemble the build context: Dockerfile, wheelhouse, lock, the project's wheel and the model bundle."""
    folder = paths.fresh_dir(Path(folder))
    shutil.copy(paths.project_root() / DOCKERFILE, folder / DOCKERFILE)
    shutil.copytree(wheels / "wheels", folder / "wheelhouse")
    shutil.copy(wheels / "requirements.lock", folder / "requirements.lock")
    project_wheel(source or paths.project_root(), folder / "dist")
    shutil.copytree(model_dir, folder / "model")
    return folder


@dataclass(frozen=True)
class Built:
    tag: str
    seconds: float
    steps: list[str]  # the Dockerfile's instructions, in order
    rebuilt: list[str]  # those that ran (the rest came from the layer cache)
    image_id: str = ""  # this build's image: what to run, even if another run has since moved the tag


def build(client, context_dir: Path, tag: str, base_image: str, labels: dict[str, str]) -> Built:
    """`docker build` through the SDK, with a progress bar over the Dockerfile's steps."""
    log: list[str] = []
    start, steps, cached, image_id = time.perf_counter(), [], set(), ""
    stream = client.api.build(
        path=str(context_dir),
        tag=tag,
        rm=True,
        forcerm=True,
        decode=True,
        buildargs={"BASE_IMAGE": base_image, **labels},
    )
    with tqdm(desc=f"docker build {tag}", unit="step") as bar:
        for chunk in stream:
            text = chunk.get("stream", "")
            log.append(text)
            found = re.match(r"Step (\d+)/(\d+) : (.*)", text)
            if found:
                steps.append(found.group(3).strip())
                bar.total = int(found.group(2))
                bar.update(int(found.group(1)) - bar.n)
            if "Using cache" in text:
                cached.add(len(steps) - 1)
            image_id = chunk.get("aux", {}).get("ID", image_id)
            if "error" in chunk:
                raise BuildFailed(_failure(steps, chunk["error"], log))
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
            ("--->", "Removing intermediate", "Step ", "Processing ", "Running in", "Looking in links")
        )
    ]
    step = steps[-1] if steps else "?"
    return (
        f"docker build failed at step {len(steps)} ({step[:70]}{'...' if len(step) > 70 else ''})"
        + (f" with exit code {code.group(1)}" if code else f": {error.strip()}")
        + ". Its last lines:\n"
        + "\n".join(said[-6:])
    )


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


def run(
    client,
    tag: str,
    port: int,
    name: str,
    timeout: float = 90,
    environment: dict | None = None,
    memory_limit: str | int = MEMORY_LIMIT,
):
    """Start the image on 127.0.0.1:`port` and wait for Docker's health check to say healthy.

    The container is named `name` plus this run's instance suffix (the returned container says it).
    An unhealthy or exited container raises Unhealthy with its logs, and is removed.
    """
    import docker.errors

    name += instance.suffix()

    try:
        client.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass
    container = client.containers.run(
        tag,
        name=name,
        detach=True,
        environment=environment or {},
        labels={INSTANCE_LABEL: str(instance.number())},
        ports={f"{PORT}/tcp": ("127.0.0.1", port)},
        mem_limit=memory_limit,
    )

    def settled() -> bool:  # healthy, or never going to be
        container.reload()
        state = container.attrs["State"]
        return state.get("Health", {}).get("Status") in ("healthy", "unhealthy") or state["Status"] == "exited"

    waiting.within(settled, timeout, every=0.1)  # Docker answers a status query in milliseconds
    if container.attrs["State"].get("Health", {}).get("Status") == "healthy":
        return container
    logs = container.logs(tail=30).decode(errors="replace").strip()
    state = container.attrs["State"]
    container.remove(force=True)
    why = (
        f"it exited with code {state['ExitCode']}"
        if state["Status"] == "exited"
        else "its health check failed"
        if state.get("Health", {}).get("Status") == "unhealthy"
        else f"it was not healthy after {timeout:g} s"
    )
    raise Unhealthy(f"container {name} from {tag} did not become healthy: {why}; it was removed.", logs=logs)


def remove_containers(client) -> list[str]:
    """Remove every container this instance started (whatever notebook, test or crashed run left it); their names."""
    found = client.containers.list(all=True, filters={"label": f"{INSTANCE_LABEL}={instance.number()}"})
    for container in found:
        container.remove(force=True)
    return [container.name for container in found]


def call(port: int, path: str, body=None) -> dict:
    """GET (or POST `body` as JSON) on the running container; the parsed JSON answer."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method="POST" if body is not None else "GET",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


class SmokeTestFailed(errors.WorkbookError):
    """The copy is up but answers wrongly: it must not take traffic."""


def smoke_test(port: int, rows: list[dict], expected_version: str) -> dict:
    """Health, version and one prediction per row: what a deploy checks before it takes traffic."""
    health = call(port, "/health")
    served = call(port, "/version")
    answer = call(port, "/predict", rows)
    predictions = answer.get("predictions", [])
    problems = []
    if health.get("status") != "ok":
        problems.append(f"/health said {health}")
    if served.get("version") != expected_version:
        problems.append(f"serving version {served.get('version')}, expected {expected_version}")
    if len(predictions) != len(rows):
        problems.append(f"{len(rows)} rows sent, {len(predictions)} answers")
    if not all(0 <= p.get("probability", -1) <= 1 for p in predictions):
        problems.append(f"a probability outside [0, 1]: {answer}")
    if problems:
        raise SmokeTestFailed(f"smoke test on port {port} failed: " + "; ".join(problems))
    return answer


def export(registry, version: str, folder: Path, alias: str = "") -> tuple[bundle.Facts, conversion.Parity]:
    """A registered version as a serving bundle: its pipeline converted to ONNX and checked on its held-out rows.

    Nothing is written unless the converted model passes the parity check (conversion.ParityFailed says why).
    The ONNX model is also logged with the version's run (`onnx/model.onnx`), so the registry holds what shipped.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from mlops_workbook.cm import drift
    from mlops_workbook.ct import training

    found = registry.get_model_version(training.MODEL_NAME, version)
    model = training.load(str(found.version))
    try:
        logged = mlflow.artifacts.download_artifacts(f"runs:/{found.run_id}/{training.HELD_OUT_FILE}")
        held_out = pd.read_parquet(logged)
    except (MlflowException, OSError):
        raise conversion.ParityFailed(
            f"version {version} has no held-out rows ({training.HELD_OUT_FILE}) to check its conversion on: "
            "register versions with mlops_workbook.ct.training.log_and_register, which logs them"
        ) from None
    onnx_model = conversion.to_onnx(model)
    parity = conversion.check(model, onnx_model, held_out)
    try:
        reference = mlflow.artifacts.load_dict(f"runs:/{found.run_id}/{drift.REFERENCE_FILE}")
    except MlflowException:  # a version registered by other means: served without drift gauges
        reference = None
    facts = bundle.Facts(
        training.MODEL_NAME,
        str(found.version),
        alias,
        found.run_id,
        list(model.feature_names_in_),
        reference,
    )
    bundle.save(onnx_model, facts, folder)
    registry.log_artifact(found.run_id, str(Path(folder) / bundle.MODEL_FILE), "onnx")
    return facts, parity


def export_champion(registry, folder: Path) -> tuple[bundle.Facts, conversion.Parity]:
    """The registry's champion as a serving bundle (see export)."""
    from mlops_workbook.ct import gate

    return export(registry, gate.required_champion(registry), folder, gate.CHAMPION)


def git_commit() -> str:
    """The commit being packaged (what the image's revision label says), or "unknown" outside git."""
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=paths.project_root(), capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def sample_rows(n: int, seed: int) -> list[dict]:
    """Request bodies for a smoke test: fake rows from the schema, missing values as null."""
    from mlops_workbook import data

    return data.as_requests(data.fake_batch(n, seed))


def package_champion(registry, client, folder: Path, tag: str) -> tuple[Built, bundle.Facts]:
    """Export the registry's champion and build the serving image around it (as `tag`)."""
    folder = paths.fresh_dir(Path(folder))
    facts, _ = export_champion(registry, folder / "model")
    build_base_image(client)
    built = build(
        client,
        context(folder / "context", wheelhouse(), folder / "model"),
        tag,
        BASE_IMAGE,
        {"GIT_COMMIT": git_commit(), "MODEL_VERSION": facts.version},
    )
    return built, facts


def package(cfg, sandbox: Path, tag: str, port: int) -> tuple[Built, bundle.Facts]:
    """CI's package job: train and gate a model, export the champion, build the image, smoke-test it."""
    from mlops_workbook import data, tracking
    from mlops_workbook.ct import data_pipeline, gate, training

    registry = tracking.connect(cfg.mlflow_tracking_uri, sandbox)
    store = data_pipeline.FeatureStore(sandbox / "features")
    data_pipeline.run(data.open_source(cfg), store)
    candidate = training.run(store, cfg, registry, "packaged by CI")
    gate.review(registry, candidate.version, candidate.held_out, cfg)
    client = docker_client()
    built, facts = package_champion(registry, client, sandbox / "image", tag)
    container = run(client, tag, port, f"smoke-{cfg.env}")
    try:
        smoke_test(port, sample_rows(3, cfg.seed), facts.version)
    finally:
        container.remove(force=True)
    return built, facts
