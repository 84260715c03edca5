"""CI's package step: the registry's champion, the serving code and a locked environment as one tested image.

The parts are separate modules: export (the model bundle), wheels (the packages), serving_image (the build
context), core.docker's images (the build) and containers (running it), and smoke (checking it). This module puts
them in the order a CI job runs them.
"""

from __future__ import annotations

from pathlib import Path

from mlops_workbook.ci import export, serving_image, smoke, wheels
from mlops_workbook.core import commands, paths
from mlops_workbook.core.docker import containers, images
from mlops_workbook.example import bundle


def git_commit() -> str:
    """The commit being packaged (what the image's revision label says), "<commit>-dirty" when the package's code
    differs from it (`src/` edited, not committed: the image holds code no commit names), or "unknown" outside git."""
    root = paths.project_root()
    result = commands.run(["git", "rev-parse", "HEAD"], "reading the commit", check=False, cwd=root)
    if result.returncode != 0:
        return "unknown"
    edited = commands.run(["git", "diff", "--quiet", "HEAD", "--", "src"], "comparing src/", check=False, cwd=root)
    return result.stdout.strip() + ("-dirty" if edited.returncode == 1 else "")


def package_champion(registry, client, folder: Path, tag: str) -> tuple[images.Built, bundle.Facts]:
    """Export the registry's champion and build the serving image around it (as `tag`)."""
    folder = paths.fresh_dir(Path(folder))
    from mlops_workbook.ct import training

    facts, _ = export.champion(registry, folder / "model")
    trained_on = training.trained_on(registry, facts.version) or "unknown"  # a deploy outside dev refuses "fake"
    images.build_base_image(client)
    built = images.build(
        client,
        serving_image.context(folder / "context", wheels.wheelhouse(), folder / "model"),
        tag,
        images.BASE_IMAGE,
        {"GIT_COMMIT": git_commit(), "MODEL_VERSION": facts.version},
        facts={serving_image.TRAINED_ON_LABEL: trained_on, serving_image.MODEL_NAME_LABEL: facts.name},
    )
    return built, facts


def package(cfg, sandbox: Path, tag: str, port: int) -> tuple[images.Built, bundle.Facts]:
    """CI's package job: the version the environment's registry calls champion (CT registered and gated it; CI
    trains nothing), built into the image with this commit's code and smoke-tested."""
    from mlops_workbook.ct import gate, steps

    registry = steps.open_registry(cfg)
    gate.required_champion(registry)  # none: say which step makes one, before Docker is asked for anything
    client = images.docker_client()
    built, facts = package_champion(registry, client, sandbox / "image", tag)
    container = containers.run(client, tag, port, f"smoke-{cfg.env}")
    try:
        smoke.check(port, smoke.sample_rows(3, cfg.seed), facts.version)
    finally:
        container.remove(force=True)
    return built, facts
