"""The serving image against a naive one, and how fast a code-only change rebuilds.

The naive image is what a learner would write first: the same locally built base,
`pip install mlflow scikit-learn`, and the model served by `mlflow models serve`.
Targets: the workbook's image at most 30% of the naive one's size; a code-only rebuild within 10 s.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from importlib.metadata import version
from pathlib import Path

import mlflow.sklearn

from mlops_workbook import bundle, data, paths
from mlops_workbook.ci import packaging
from mlops_workbook.ct import features, training

NAIVE = Path(__file__).parent / "naive"


def _naive_image(client, model, folder: Path) -> str:
    wheels = folder / "context" / "wheelhouse"
    subprocess.run(
        [
            *packaging.PIP_WHEEL,
            "--wheel-dir",
            str(wheels),
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
    return packaging.build(client, folder / "context", "ride-completion:naive", packaging.BASE_IMAGE, {}).tag


def run(rebuilds: int = 3) -> dict:
    client = packaging.docker_client()
    packaging.build_base_image(client)
    model = training.train(features.build(data.fake_batch(1000, seed=1)), seed=1)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        bundle.save(
            model,
            bundle.Facts("ride-completion", "1", "champion", "bench", list(model.feature_names_in_)),
            folder / "model",
        )
        wheels = packaging.wheelhouse()
        ours = packaging.build(
            client,
            packaging.context(folder / "ours", wheels, folder / "model"),
            "ride-completion:bench",
            packaging.BASE_IMAGE,
            {},
        ).tag
        naive = _naive_image(client, model, folder / "naive")
        seconds, totals = [], []
        for _ in range(rebuilds):
            source = folder / "source"
            shutil.rmtree(source, ignore_errors=True)
            shutil.copytree(
                paths.project_root() / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
            shutil.copy(paths.project_root() / "pyproject.toml", source)
            app = source / "src/mlops_workbook/cd/app.py"
            app.write_text(app.read_text() + f"\n# {uuid.uuid4()}\n")
            start = time.perf_counter()
            context = packaging.context(folder / "changed", wheels, folder / "model", source=source)
            seconds.append(
                packaging.build(client, context, "ride-completion:bench-code", packaging.BASE_IMAGE, {}).seconds
            )
            totals.append(time.perf_counter() - start)
    size_ours, size_naive = packaging.size_mb(client, ours), packaging.size_mb(client, naive)
    rebuild, total = statistics.median(seconds), statistics.median(totals)
    return {
        "title": f"Packaging: image size and code-only rebuild (median of {rebuilds})",
        "rows": [
            {
                "image": "workbook (FastAPI + bundle, locked deps)",
                "size MB": round(size_ours),
                "share of naive": f"{size_ours / size_naive:.0%}",
            },
            {
                "image": "naive (pip install mlflow scikit-learn, mlflow models serve)",
                "size MB": round(size_naive),
                "share of naive": "100%",
            },
        ],
        "notes": [
            f"both start from the same local base image ({packaging.size_mb(client, packaging.BASE_IMAGE):.0f} MB)",
            f"code-only rebuild: {total:.1f} s in all (the package's wheel, the build context, then "
            f"docker build), of which docker build {rebuild:.1f} s (dependency layers from the cache)",
        ],
        "targets": [
            {"target": "workbook image <= 30% of the naive image", "met": size_ours <= 0.3 * size_naive},
            {"target": "code-only rebuild <= 10 s, wheel and context included", "met": total <= 10},
        ],
    }
