"""The project's set-up files agree with each other."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from mlops_workbook.core import paths

ROOT = paths.project_root()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_installs_from_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert f">={python.removeprefix('python=')}," in pyproject["project"]["requires-python"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == ["-c requirements/workbook.lock", "-e .[dev]"], "dependencies belong in pyproject.toml"


def test_readme_commands_are_the_ones_ci_and_make_run():
    readme = (ROOT / "README.md").read_text()
    blocks = "\n".join(re.findall(r"```bash\n(.*?)```", readme, re.S))
    assert "make run" in blocks and "make test" in blocks
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci_run and "make test-grading" in ci_run  # the suite, then nbgrader on the heavy labs
    targets = re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M)
    assert {"run", "test", "test-grading", "lab", "notebooks", "labs"} <= set(targets)


def test_the_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dev_container_builds_from_a_base_it_is_given_with_only_what_it_copies():
    folder = ROOT / ".devcontainer"
    spec = json.loads(re.sub(r"^\s*//.*$", "", (folder / "devcontainer.json").read_text(), flags=re.M))  # JSONC
    dockerfile = (folder / spec["build"]["dockerfile"]).read_text()
    assert re.search(r"^ARG BASE_IMAGE=.+\nFROM \$\{BASE_IMAGE\}$", dockerfile, re.M), "the base must be an argument"
    context = (folder / spec["build"]["context"]).resolve()
    allowed = [line[1:] for line in (context / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    copied = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert copied and sorted(copied) == sorted(allowed), "the build context lets through exactly what is copied"
    targets = set(re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), re.M))
    commands = spec["postCreateCommand"] + " && " + spec["postStartCommand"]
    assert set(re.findall(r"make ((?:[a-z]+ ?)+)", commands)[0].split()) <= targets
    assert all((ROOT / path).exists() for path in re.findall(r"bash (\S+)", commands))
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(folder / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_the_app_as_dev_s_process_copies_do():
    """One definition of how the app is served (cd/serving/server.py); the Dockerfile's CMD must say the same."""
    from mlops_workbook.cd.serving import server

    cmd = re.search(r"^CMD (\[.*?\])\s*$", (ROOT / "Dockerfile").read_text().replace("\\\n", ""), re.M | re.S)
    assert cmd, "the Dockerfile has no CMD in exec form"
    assert json.loads(cmd.group(1)) == ["uvicorn", *server.OPTIONS, "--host", "0.0.0.0", "--port", "8000"]


def _pins(requirements) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    found = (re.match(r"([\w.-]+)==([^\s;]+)", line) for line in requirements)
    return {canonicalize_name(m.group(1)): m.group(2) for m in found if m}


# Each environment the project builds, from its lock, and the extras it installs besides the core.
LOCKS = {"workbook": ("serving", "notebooks", "tests", "bench", "dev"), "airflow": ("airflow",), "kfp": ("kfp",)}


@pytest.mark.parametrize("lock", LOCKS)
def test_each_lock_holds_every_version_pyproject_declares(lock):
    """Airflow and kfp run the CT steps with the workbook's own versions; the image serves with them (its wheels are
    resolved against the workbook's lock). A pin changed in pyproject.toml without `make lock` fails here."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    declared = _pins(PYPROJECT["project"]["dependencies"]) | {
        package: version for extra in LOCKS[lock] for package, version in _pins(extras[extra]).items()
    }
    locked = _pins((ROOT / "requirements" / f"{lock}.lock").read_text().splitlines())
    assert {package: locked.get(package) for package in declared} == declared, f"requirements/{lock}.lock: make lock"


# What an environment holds besides its lock: the installer that `uv venv --seed` puts in, and the workbook itself.
NOT_LOCKED = {"pip", "setuptools", "wheel", "mlops-workbook"}


@pytest.mark.parametrize("lock", LOCKS)
def test_each_environment_holds_exactly_its_locks_versions(lock):
    """`make install pipelines` (uv) installs the lock's versions, no more and no fewer."""
    from packaging.utils import canonicalize_name

    venv = ROOT / (".venv" if lock == "workbook" else f".venv-{lock}")
    site = next(venv.glob("lib/python3.*/site-packages"), None)
    if site is None:
        pytest.skip(f"{venv.name} is not installed here: make install pipelines")
    installed = {
        canonicalize_name(m.group(1)): m.group(2)
        for m in (re.match(r"(.+)-([^-]+)\.dist-info$", d.name) for d in site.glob("*.dist-info"))
        if m
    }
    locked = _pins((ROOT / "requirements" / f"{lock}.lock").read_text().splitlines())
    extra = {p: v for p, v in installed.items() if p not in NOT_LOCKED and locked.get(p) != v}
    assert not extra, f"{venv.name} differs from requirements/{lock}.lock: {extra}"
    on_this_platform = subprocess.run(  # the lock's entries whose markers hold here
        [str(venv / "bin" / "python"), "-c", MARKERS, str(ROOT / "requirements" / f"{lock}.lock")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(set(on_this_platform) - set(installed)) == [], f"{venv.name} misses some of its lock: make install"


MARKERS = """
import sys
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
for line in open(sys.argv[1]):
    if line[:1].isalnum():
        r = Requirement(line.split("#")[0].strip())
        if not r.marker or r.marker.evaluate():
            print(canonicalize_name(r.name))
"""


# Each layer may use only the layers before it. core is shared machinery and knows nothing of the example; the
# example (schema, data, bundle, tracking) is what every stage works on; then the stages: monitoring's primitives
# (drift, live gauges) are used by training (it logs the drift reference), CI checks and packages what training
# made, CD ships what CI built; course (the CLI, the runner, labs and grading) drives them all.
LAYERS = ("core", "example", "cm", "ct", "ci", "cd", "course")
PACKAGE = ROOT / "src" / "mlops_workbook"


def _imported_layers(layer: str) -> set[tuple[str, str]]:
    """(module, imported layer) for every import of another layer in a layer's package, lazy ones included."""
    import ast

    found = set()
    for module in (PACKAGE / layer).rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mlops_workbook"):
                parts = node.module.split(".")
                names = [parts[1]] if len(parts) > 1 else [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name.split(".")[1] for a in node.names if a.name.startswith("mlops_workbook.")]
            else:
                continue
            found |= {(str(module.relative_to(PACKAGE)), name) for name in names if name != layer}
    return found


def test_every_module_sits_in_a_layer():
    """The package's top level shows its layers and nothing else."""
    top = sorted(p.name for p in PACKAGE.iterdir() if p.name != "__pycache__" and not p.name.endswith(".egg-info"))
    assert top == sorted(["__init__.py", *LAYERS]), "put a new module in the layer whose role it has"


def test_layers_depend_in_one_direction():
    backwards = [
        f"{module} imports mlops_workbook.{used}"
        for layer in LAYERS
        for module, used in sorted(_imported_layers(layer))
        if used not in LAYERS or LAYERS.index(used) > LAYERS.index(layer)
    ]
    assert not backwards, (
        f"a layer may use only the layers before it ({' ← '.join(LAYERS)}): "
        + "; ".join(backwards)
        + ". Move what both need into the earlier layer."
    )
