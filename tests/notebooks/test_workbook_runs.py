"""`mlops-workbook run` executes every lesson in staging, and in prod where prod's config changes what it does,
on small data and with rollout steps held 3 s, as a user runs it. The lessons that reach the environment's
registry (team_servers.reaches_the_registry) run in prod against prod's team stack instead, in test_team_stack.py
beside the stack's other tests: prod is where one of them differs (03 reads release_mode), and in staging they would
repeat that run but for prod's keys (staging's team stack is the same code on other ports).

One test per lesson and environment, so that the test workers share the runs out; each lesson writes only
to its own sandbox, so none depends on another having run. dev is not run here: nbval executes every stored
lesson with dev's parameters (the same cells, the same values) and compares its outputs too, so a dev run
here would only repeat it. prod is run where it is not a repeat of staging either: its config differs from
staging's in data size (SMALL replaces both), workspace and port (every run moves them), rollout timings (replaced
by 3 s here), the schedule (TESTED_PER_ENV) and the keys of PROD_KEYS. A lesson runs in prod if the environment's
config it was given reaches one of those: its code reads one from it, or hands it to a module that does (PROD_READERS).
A config the lesson loads by name, whatever the environment (08, without servers, drives its loop with prod's), is
the same in both.
"""

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager

from mlops_workbook.core import environments, paths
from mlops_workbook.course import envcheck, runner, team_servers

CLI = str(Path(sys.executable).parent / "mlops-workbook")
SMALL = ["-p", "n_partitions=3", "-p", "rows_per_partition=100"]
# An instructor's CI may set pytest options of its own: the lessons' in-kernel test runs must not print them.
CALLERS_PYTEST = {"PYTEST_ADDOPTS": "-v --durations=3"}
# What prod sets apart from staging that changes what a lesson does, and the workbook modules that read those keys.
PROD_KEYS = ("release_mode", "retrain_release_mode", "mode_for_retrained_model")
PROD_READERS = ("cd/rollout/release.py",)
# Keys prod sets apart whose value a lesson only passes on: each environment's value is tested where it is read.
TESTED_PER_ENV = {"retrain_schedule": "test_pipelines.py: Airflow reads each environment's DAG, KFP compiles prod's"}
MOVED_BY_EVERY_RUN = {"env", "workspace", "serve_port", "n_partitions", "rows_per_partition"}


def reads(source: str, key: str) -> bool:
    """Whether a module's code reads a config key: `cfg.rollout` or `settings["rollout"]`, never a module path
    such as `cd.rollout.deploy`."""
    return re.search(rf"\.{key}\b(?!\.| import)|\[[\"']{key}[\"']\]", source) is not None


def code(lesson: Path) -> str:
    """A lesson's code as Python (IPython's magics and shell escapes translated, as the kernel does), without the
    parameters cell (which names every key)."""
    cells, kernel = nbformat.read(lesson, as_version=4).cells, TransformerManager()
    return "\n".join(
        kernel.transform_cell(c.source)
        for c in cells
        if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])
    )


def runs_differently_in_prod(lesson: Path) -> bool:
    """Whether prod's own keys reach the lesson through the config it is given (`environments.from_parameters`, or a
    copy of it): read from it (an attribute, or the key's name anywhere, as in `params()["release_mode"]`), read as
    a bare parameter, or the config handed to a module that reads them."""
    tree = ast.parse(code(lesson))
    modules = {m.removesuffix(".py").replace("/", ".") for m in PROD_READERS}  # cd.rollout.release, ...
    readers, functions = set(), set()  # names a lesson calls a reader module by, and its functions
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.removeprefix("mlops_workbook.") in modules:
                    readers.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mlops_workbook."):
            package = node.module.removeprefix("mlops_workbook.")
            for alias in node.names:
                if f"{package}.{alias.name}" in modules:
                    readers.add(alias.asname or alias.name)
                elif package in modules:
                    functions.add(alias.asname or alias.name)
    given: set[str] = set()  # names bound to the environment's config, or to a copy of it
    copies = ("replace", "model_copy", "validate", "load")
    while True:
        before = len(given)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call):
                called = ast.unparse(node.value.func)
                derived = any(isinstance(n, ast.Name) and n.id in given for n in ast.walk(node.value))
                if called.endswith("from_parameters") or (derived and called.endswith(copies)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    given |= {t.id for t in targets if isinstance(t, ast.Name)}
        if len(given) == before:
            break

    def hands_over_given(node) -> bool:  # the config itself or a copy, not one of its values (`cfg.seed`)
        read = {id(n.value) for n in ast.walk(node) if isinstance(n, ast.Attribute) and n.attr not in copies}
        return any(isinstance(n, ast.Name) and n.id in given and id(n) not in read for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in PROD_KEYS and ast.unparse(node.value) in given:
            return True
        if isinstance(node, ast.Name | ast.Constant) and getattr(node, "id", getattr(node, "value", None)) in PROD_KEYS:
            return True  # the bare parameter, or the key by name: `params()["release_mode"]`, getattr
        if isinstance(node, ast.Call) and any(
            hands_over_given(a) for a in [*node.args, *(k.value for k in node.keywords)]
        ):
            func = node.func
            if (isinstance(func, ast.Name) and func.id in functions) or (
                isinstance(func, ast.Attribute) and ast.unparse(func.value) in readers
            ):
                return True
    return False


SPEEDUP = environments.DEMO_SPEEDUP  # a config's rollout times are a team's: 3 * SPEEDUP is held 3 s


def short_rollout(env: str) -> dict:
    """The environment's rollout with its steps held 3 s: small like the data (a step still waits for evidence)."""
    # 3 s, held up to 6 x for 10 canary requests: 5% of users slowed by a loaded suite gave 9 in 2 s x 6 (08, in prod).
    # p99 up to the top bucket (1 s): of a 5% step's dozen requests it is the slowest, and one the loaded suite held
    # over 250 ms read as 910 (histogram_quantile interpolates in the 0.25-1 s bucket) and failed staging-08; no lesson
    # shows a slow canary (test_rollout.py has one, judged against the bound it is given)
    return {
        **environments.load(env).rollout.model_dump(),
        "step_seconds": 3 * SPEEDUP,
        "bake_seconds": 2 * SPEEDUP,
        "max_p99_ms": 999,
    }


def reaches_the_registry(lesson: Path) -> bool:
    """Whether the lesson takes the champion from the environment's registry: the team's servers, in team mode."""
    return team_servers.reaches_the_registry(code(lesson))


def runs(env: str) -> list:
    """One test parameter per lesson the environment runs here."""
    return [
        pytest.param(env, path, marks=pytest.mark.component(*envcheck.notebook_needs(path)), id=f"{env}-{path.stem}")
        for path in runner.notebooks("notebooks")
        if not reaches_the_registry(path) and (env == "staging" or runs_differently_in_prod(path))
    ]


def test_prod_differs_from_staging_only_in_keys_the_rule_knows():
    """A new key set apart in prod, or a new module reading one, must be weighed here: which lessons does it change?"""
    staging, prod = (
        {**yaml.safe_load((paths.project_root() / "configs" / f"{e}.yaml").read_text()), "rollout": short_rollout(e)}
        for e in ("staging", "prod")
    )
    differing = {k for k in staging.keys() | prod.keys() if staging.get(k) != prod.get(k)} - MOVED_BY_EVERY_RUN
    weighed = set(PROD_KEYS) | set(TESTED_PER_ENV)
    assert differing <= weighed, f"prod also differs in {differing - weighed}: add them to PROD_KEYS"
    package = paths.project_root() / "src" / "mlops_workbook"
    readers = {
        str(m.relative_to(package))
        for m in package.rglob("*.py")
        if m.name != "environments.py" and any(reads(m.read_text(), key) for key in PROD_KEYS)
    }
    assert readers == set(PROD_READERS), "a module reads a key prod sets apart: list it in PROD_READERS"
    assert [p.id for p in runs("prod")] == ["prod-00_overview"]  # and 03, against prod's team stack
    assert runs_differently_in_prod(paths.project_root() / "notebooks" / "03_cd_serving.ipynb")


@pytest.mark.parametrize(
    ("lesson_code", "differs"),
    [
        ("print(cfg.release_mode)", True),
        ("print(release_mode)", True),  # the parameter papermill injects
        ("copy = dataclasses.replace(cfg, seed=1)\nprint(copy.mode_for_retrained_model())", True),
        ("from mlops_workbook.cd.rollout import release\nrelease.ship(cfg, 'image')", True),  # a reader given cfg
        ("prod_cfg = environments.load('prod')\nprint(prod_cfg.release_mode)", False),  # prod's, in every env
        ("from mlops_workbook.cd.rollout import release\nrelease.deployments(cfg.workspace_dir())", False),
        ("print(cfg.rollout, cfg.seed)", False),
        ("print(cfg.params()['release_mode'])", True),  # the key by name
        ("copy = environments.validate({**cfg.params(), 'seed': 1})\nprint(copy.release_mode)", True),
        ("from mlops_workbook.cd.rollout.release import ship\nship(cfg.model_copy(update={}), 'image')", True),
        ("import mlops_workbook.cd.rollout.release as r\nr.ship(cfg, 'image')", True),
        ("%%bash\necho hello", False),  # a magic the kernel runs: no Python to parse
        ("files = !ls\nok = (cfg.seed\n      != 1)", False),
    ],
)
def test_a_lesson_runs_in_prod_when_the_config_it_is_given_reaches_a_key_prod_sets_apart(
    tmp_path, lesson_code, differs
):
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("release_mode = 'deployment'", metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell(
                "%load_ext mlops_workbook.course.display\n"
                "cfg: environments.EnvConfig = environments.from_parameters(globals())  # annotated: still the config"
            ),
            nbformat.v4.new_code_cell(lesson_code),
        ]
    )
    nbformat.write(notebook, tmp_path / "lesson.ipynb")
    assert runs_differently_in_prod(tmp_path / "lesson.ipynb") is differs


@pytest.mark.slow
@pytest.mark.heavy
@pytest.mark.parametrize(("env", "lesson"), runs("staging") + runs("prod"))
def test_each_lesson_runs_in_staging_and_prod(tmp_path, env, lesson):
    done = subprocess.run(
        [CLI, "run", "--env", env, "--only", lesson.stem, "-p", f"workspace={tmp_path}", *SMALL]
        + ["-p", f"rollout={json.dumps(short_rollout(env))}"]
        + ["-p", "servers=embedded"],  # team mode runs in prod, against the stack (module docstring)
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **CALLERS_PYTEST},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"workbook run: {env}" in done.stdout
    executed = nbformat.read(tmp_path / lesson.name, as_version=4)
    assert executed.metadata["papermill"]["parameters"]["env"] == env
    first_print = next(o for c in executed.cells for o in c.get("outputs", []) if o.get("name") == "stdout")
    assert f"environment {env!r}" in first_print["text"]
    printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "slowest" not in printed and " PASSED" not in printed, "a lesson's pytest took the caller's options"
