"""The serving image, built and run on the real Docker daemon.

One image is built per session from a freshly trained bundle; the broken cases build their own.
"""

from __future__ import annotations

import collections
import re
import shutil
import time
import urllib.request
import uuid
from datetime import datetime

import pytest

from mlops_workbook.ci import serving_image, smoke, wheels
from mlops_workbook.core import errors, http_client, instance, paths
from mlops_workbook.core.docker import containers, images
from mlops_workbook.example import bundle

pytestmark = pytest.mark.component("docker")
TAG = f"ride-completion:pytest{instance.suffix()}"
PORT = instance.port(instance.TEST_PORTS["packaging"])


@pytest.fixture(scope="module")
def docker_client():
    client = images.docker_client()
    images.build_base_image(client)
    return client


@pytest.fixture(scope="module")
def model_dir(trained):
    return trained.folder  # version 7


@pytest.fixture(scope="module")
def built(docker_client, model_dir, tmp_path_factory):
    context = serving_image.context(tmp_path_factory.mktemp("context"), wheels.wheelhouse(), model_dir)
    return images.build(docker_client, context, TAG, images.BASE_IMAGE, {"GIT_COMMIT": "0123abc", "MODEL_VERSION": "7"})


def test_the_image_runs_healthy_and_serves(docker_client, built):
    container = containers.run(docker_client, TAG, PORT, "pytest-serving")
    try:
        answer = smoke.check(PORT, smoke.sample_rows(5, seed=5), expected_version="7")
        assert len(answer["predictions"]) == 5
        assert http_client.call(PORT, "/version")["git_commit"] == "0123abc"
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/metrics") as answer:  # for the MemoryNearLimit rule
            assert "process_memory_limit_bytes 2.68435456e+08" in answer.read().decode()
    finally:
        container.remove(force=True)


def test_the_image_is_labelled_non_root_health_checked_and_free_of_secrets(docker_client, built):
    image = docker_client.images.get(TAG)
    config = image.attrs["Config"]
    assert config["Labels"]["org.opencontainers.image.revision"] == "0123abc"
    assert config["Labels"]["ai.mlops-workbook.model-version"] == "7"
    assert config["User"] == "10001"
    assert config["Healthcheck"]["Test"][0] == "CMD"
    history = " ".join(layer.get("CreatedBy", "") for layer in image.history()) + " ".join(config["Env"])
    for secret in ("PASSWORD", "SECRET", "TOKEN", "WEBHOOK", "hooks.slack.com"):
        assert secret.lower() not in history.lower()
    listing = docker_client.containers.run(TAG, ["sh", "-c", "ls / /srv/model; test ! -d /build"], remove=True).decode()
    assert "model.onnx" in listing and "build" not in listing.split()


def test_the_image_serves_with_onnx_runtime_and_holds_no_training_library(docker_client, built):
    """The served model is the ONNX graph: scikit-learn, scipy, pandas, MLflow (and pip) stay out of the image."""
    probe = "import importlib.util as u; print([m for m in {} if u.find_spec(m)])"
    training_side = ("sklearn", "scipy", "pandas", "mlflow", "skops", "pip", "setuptools")
    found = docker_client.containers.run(TAG, ["python3", "-c", probe.format(training_side)], remove=True)
    assert found.decode().strip() == "[]"
    serving_side = ("onnxruntime", "uvloop", "httptools")
    found = docker_client.containers.run(TAG, ["python3", "-c", probe.format(serving_side)], remove=True)
    assert found.decode().strip() == str(list(serving_side))


def test_a_code_only_change_rebuilds_only_the_code_layers(docker_client, built, model_dir, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(paths.project_root() / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(paths.project_root() / "pyproject.toml", source)
    app = source / "src/mlops_workbook/cd/serving/app.py"
    app.write_text(app.read_text() + f"\n# a code-only change, unique to this run: {uuid.uuid4()}\n")
    context = serving_image.context(tmp_path / "context", wheels.wheelhouse(), model_dir, source=source)
    again = images.build(
        docker_client, context, TAG + "-code", images.BASE_IMAGE, {"GIT_COMMIT": "0123abc", "MODEL_VERSION": "7"}
    )
    assert not [step for step in again.rebuilt if "requirements.lock" in step and step.startswith("RUN")]
    assert any(step.startswith("COPY dist/") for step in again.rebuilt)
    assert built.steps == again.steps


def test_a_failing_step_is_reported_with_its_log(docker_client, model_dir, tmp_path):
    context = serving_image.context(tmp_path / "context", wheels.wheelhouse(), model_dir)
    next((context / "wheelhouse").glob("onnxruntime-*.whl")).unlink()  # a wheel missing from the wheelhouse
    with pytest.raises(images.BuildError) as failure:
        images.build(docker_client, context, TAG + "-broken", images.BASE_IMAGE, {})
    message = str(failure.value)
    lines = re.sub(r"\\\n", " ", (paths.project_root() / images.DOCKERFILE).read_text()).splitlines()
    instructions = [line for line in lines if line.strip() and not line.startswith("#")]  # Docker's steps
    step = next(n for n, line in enumerate(instructions, 1) if line.startswith("RUN python3 -m venv"))
    assert f"failed at step {step} (RUN python3 -m venv" in message and "exit code 1" in message
    assert "onnxruntime" in message.lower()


def test_an_unhealthy_container_is_reported_with_its_logs_and_removed(docker_client, model_dir, tmp_path):
    broken_model = tmp_path / "model"
    shutil.copytree(model_dir, broken_model)
    (broken_model / bundle.MODEL_FILE).unlink()
    context = serving_image.context(tmp_path / "context", wheels.wheelhouse(), broken_model)
    images.build(docker_client, context, TAG + "-nomodel", images.BASE_IMAGE, {})
    with pytest.raises(errors.UnhealthyError, match="is not a model bundle"):
        containers.run(docker_client, TAG + "-nomodel", PORT + 1, "pytest-unhealthy", timeout=60)
    assert not docker_client.containers.list(all=True, filters={"name": "pytest-unhealthy"})


def test_rebuilt_images_are_pruned_so_disk_use_stays_flat(docker_client, model_dir, tmp_path):
    """Each rebuild of a tag leaves its previous image dangling, and each code change a stage image; `images.prune`
    (what `mlops-workbook stop` and the start of a run call) removes this instance's and keeps the newest stages
    (the next build's cache), so repeated runs do not add up."""
    ours = {"label": [images.BUILT_LABEL, f"{instance.LABEL}={instance.number()}"]}

    def rebuild(n: int) -> tuple[int, int, int]:
        source = serving_image.code_change(tmp_path / f"source-{n}")
        context = serving_image.context(tmp_path / f"context-{n}", wheels.wheelhouse(), model_dir, source=source)
        images.build(docker_client, context, TAG + "-again", images.BASE_IMAGE, {})
        dangling = docker_client.images.list(filters={**ours, "dangling": True})
        pruning = time.time()  # stage images other tests build from now on are not this prune's to judge
        images.prune(docker_client, [instance.number()])
        assert not docker_client.images.list(filters={**ours, "dangling": True})
        stages = collections.Counter(
            stage for image, stage in images.stage_images(docker_client) if created(image) < pruning
        )
        assert stages, "the newest stage images, the next build's cache, were removed too"
        assert max(stages.values()) <= images.KEPT_STAGES, "old stage images were kept"
        kept = docker_client.images.list(filters=ours)
        return len(dangling), len(kept), sum(image.attrs["Size"] for image in kept)

    rebuild(1)
    dangling, kept, size = rebuild(2)
    assert dangling >= 1, "the second build moved the tag: its first image was left dangling"
    _, kept_again, size_again = rebuild(3)
    assert kept_again == kept and abs(size_again - size) < 1e6, "repeated rebuilds kept adding images"


def created(image) -> float:
    """When Docker made the image, in seconds since the epoch (its RFC 3339 time has nanoseconds)."""
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", image.attrs["Created"]).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()
