"""The serving image against a naive one, how fast it starts, and how fast a code-only change rebuilds.

The naive image is what a learner would write first: the same locally built base,
`pip install mlflow scikit-learn`, and the model served by `mlflow models serve`. Both start from the
same base, so what each adds on top of it (image minus base) is what the comparison is about.
`built_images` builds both once per run (the serving section reports their sizes and start-up against its targets);
this section's own target: a code-only rebuild within 10 s.
"""

from __future__ import annotations

import functools
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from importlib.metadata import version
from pathlib import Path

import mlflow.sklearn

from mlops_workbook.ci import conversion, serving_image, wheels
from mlops_workbook.core import paths
from mlops_workbook.core.docker import containers, images
from mlops_workbook.ct import features, training
from mlops_workbook.example import bundle, data

NAIVE = Path(__file__).parent / "naive"
PORT = 8703  # bench/serving.py takes 8701 and 8702


def _naive_image(client, model, folder: Path) -> str:
    wheelhouse = folder / "context" / "wheelhouse"
    subprocess.run(
        [
            *wheels.PIP_WHEEL,
            "--wheel-dir",
            str(wheelhouse),
            f"mlflow=={version('mlflow')}",
            f"scikit-learn=={version('scikit-learn')}",
        ],
        check=True,
        capture_output=True,
    )
    mlflow.sklearn.save_model(
        model,
        folder / "context" / "model",
        pip_requirements=training.PIP_REQUIREMENTS,
        skops_trusted_types=training.TRUSTED_TYPES,
    )
    shutil.copy(NAIVE / "Dockerfile", folder / "context" / "Dockerfile")
    return images.build(client, folder / "context", "ride-completion:naive", images.BASE_IMAGE, {}).tag


def _model_dir(folder: Path):
    """A fitted pipeline and its bundle (ONNX), as CI exports one."""
    model = training.train(features.build(data.fake_batch(1000, seed=1)), seed=1)
    facts = bundle.Facts("ride-completion", "1", "champion", "bench", list(model.feature_names_in_))
    return model, bundle.save(conversion.to_onnx(model), facts, folder / "model")


@functools.cache
def built_images(starts: int = 3) -> dict:
    """Our image and the naive one, built once per `make bench` (the serving section reports them too).

    Sizes in MB, and our container's time from start to healthy (median of `starts`).
    """
    client = images.docker_client()
    images.build_base_image(client)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        model, model_dir = _model_dir(folder)
        context = serving_image.context(folder / "ours", wheels.wheelhouse(), model_dir)
        ours = images.build(client, context, "ride-completion:bench", images.BASE_IMAGE, {}).tag
        naive = _naive_image(client, model, folder / "naive")
    healthy = []
    for _ in range(starts):
        start = time.perf_counter()
        container = containers.run(client, ours, PORT, "bench-start")
        healthy.append(time.perf_counter() - start)
        container.remove(force=True)
    return {
        "base": images.size_mb(client, images.BASE_IMAGE),
        "ours": images.size_mb(client, ours),
        "naive": images.size_mb(client, naive),
        "healthy_s": statistics.median(healthy),
        "starts": starts,
    }


def run(rebuilds: int = 3) -> dict:
    client = images.docker_client()
    sizes = built_images()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        _, model_dir = _model_dir(folder)
        wheelhouse = wheels.wheelhouse()
        seconds, totals = [], []
        for _ in range(rebuilds):
            source = folder / "source"
            shutil.rmtree(source, ignore_errors=True)
            shutil.copytree(
                paths.project_root() / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
            shutil.copy(paths.project_root() / "pyproject.toml", source)
            app = source / "src/mlops_workbook/cd/serving/app.py"
            app.write_text(app.read_text() + f"\n# {uuid.uuid4()}\n")
            start = time.perf_counter()
            context = serving_image.context(folder / "changed", wheelhouse, model_dir, source=source)
            seconds.append(images.build(client, context, "ride-completion:bench-code", images.BASE_IMAGE, {}).seconds)
            totals.append(time.perf_counter() - start)
    rebuild, total = statistics.median(seconds), statistics.median(totals)
    return {
        "title": f"Packaging: image size and code-only rebuild (median of {rebuilds})",
        "rows": [
            {
                "image": "workbook (FastAPI + ONNX Runtime + bundle, locked deps)",
                "size MB": round(sizes["ours"]),
                "added to the base MB": round(sizes["ours"] - sizes["base"]),
            },
            {
                "image": "naive (pip install mlflow scikit-learn, mlflow models serve)",
                "size MB": round(sizes["naive"]),
                "added to the base MB": round(sizes["naive"] - sizes["base"]),
            },
        ],
        "notes": [
            f"both start from the same local base image ({sizes['base']:.0f} MB); the serving section holds the "
            "size and start-up targets",
            f"code-only rebuild: {total:.1f} s in all (the package's wheel, the build context, then "
            f"docker build), of which docker build {rebuild:.1f} s (dependency layers from the cache)",
        ],
        "targets": [{"target": "code-only rebuild <= 10 s, wheel and context included", "met": total <= 10}],
    }
