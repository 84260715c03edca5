"""Shared test helpers (at the root, so they apply to tests/ and to nbval's notebooks/ and solutions/).

A test asks for real components (Docker, Prometheus, ...) with the mark `component(name, ...)`, and every nbval
cell of a notebook whose metadata lists `mlops_workbook.needs` asks for those: before it runs (its fixtures
too), an absent component skips it locally and fails it in CI (CI=true), because `.ci/run` installs every
component and a skip there would hide a missing install step.

Every test session (each xdist worker too) claims its own instance of the workbook's ports, deploy
state and Docker names (`mlops_workbook.core.instance`), unless one is set already: two runs, or a run beside a
learner's JupyterLab (instance 0), never collide. The kernels and commands a test starts inherit it.

Two tiers: `make quick` deselects every item marked `heavy` (added here to anything that needs a
server-like component, and set by hand on whole-workbook runs); `make test` runs everything else but the
items marked `grading` (nbgrader on the labs that build images or start servers), which `make test-grading` runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mlops_workbook.core import http_client, instance, processes
from mlops_workbook.course import envcheck


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@functools.cache
def _status(component: str) -> tuple[bool, str]:
    """Asked once per test session: a component does not come or go while the suite runs."""
    return envcheck.component_status(component)


def require(component: str) -> None:
    available, detail = _status(component)
    if available:
        return
    message = f"{component} is not available here: {detail}"
    if in_ci():
        pytest.fail(f"{message}. CI must run this test: .ci/run installs and starts {component}.")
    pytest.skip(message)


def pytest_configure(config):
    # An xdist worker inherits its controller's instance: it claims its own. A pytest that a test or a notebook
    # runs inside this one (01's ipytest, 08's unit tests) keeps the instance it inherits.
    started_here = instance.VARIABLE not in os.environ
    if started_here or hasattr(config, "workerinput"):
        instance.claim()
    strict_nbval = config.getoption("nbval", False) and not config.getoption("nbval_lax", False)
    if strict_nbval and not hasattr(config, "workerinput"):
        config.pluginmanager.register(NotebookChecks(Path(config.rootpath)), "notebook-checks")
    if started_here:  # the suite itself, not a worker or a run inside a test: earlier runs' old images go
        from mlops_workbook.core.docker import images
        from mlops_workbook.course import runner

        images.prune_finished_runs()
        # Every kernel of the session (its workers', and those of the commands its tests run) is forked from one
        # process that imported the libraries once: ~0.8 CPU s a kernel instead of ~5 (forked_kernels.py).
        config._kernel_server = contextlib.ExitStack()
        config._kernel_server.enter_context(runner.kernel_server())


def pytest_unconfigure(config):
    if hasattr(config, "_kernel_server"):
        config._kernel_server.close()


# Test modules whose parametrized tests may run apart, one group per parameter (a lab, an environment).
PER_PARAMETER = {"test_labs.py": "lab", "test_nbgrader.py": "lab", "test_workbook_runs.py": "run"}
# Test modules whose tests share no module-scoped fixture (each makes its own repository): one group per test.
PER_TEST = {"test_ci_definitions.py"}


def worker_group(nodeid: str) -> str:
    """Which items one test worker must run together, in order.

    A notebook's nbval cells share one kernel. A lab's solution (nbval), its answers tried (test_labs.py), and
    nbgrader's autograde of it (test_nbgrader.py), share the lab's sandbox, runs/dev/<lab>_lab: all are
    `lab:<name>`. Each lesson's staging and prod runs, and each CI-definition test, may run beside the rest. Any
    other module's tests share its module-scoped fixtures (a registry, a running stack), so a module is one group.
    """
    path, _, rest = nodeid.partition("::")
    file = Path(path)
    if file.suffix == ".ipynb":
        return f"{'lab' if file.parent.name == 'solutions' else 'lesson'}:{file.stem}"
    parameter = re.search(r"\[([^\]]+)\]$", rest)
    if file.name in PER_PARAMETER and parameter:
        return f"{PER_PARAMETER[file.name]}:{parameter.group(1)}"
    if file.name in PER_TEST:
        return f"test:{nodeid}"
    return f"module:{file.name}"


def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist sends each worker_group to one worker (its `xdist_group` marks do not work with pytest 9)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkerGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid)

    return ByWorkerGroup(config, log)


_notebook_needs = functools.cache(envcheck.notebook_needs)  # asked once per cell of a notebook: read it once


def pytest_collection_modifyitems(items):
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb":
            for name in _notebook_needs(path):
                item.add_marker(pytest.mark.component(name))
        if _needs_heavy(item):
            item.add_marker(pytest.mark.heavy)
    _longest_first(items)


def _needs_heavy(item) -> bool:
    return any(set(mark.args) & envcheck.HEAVY for mark in item.iter_markers("component"))


def _longest_first(items) -> None:
    """Order the groups so the longest start first (make test passes --no-loadscope-reorder): whole lessons
    that start servers or build images, then the other heavy groups, then the rest, which fill the gaps at the
    end; a group's own items keep their order."""

    def weight(group: list) -> int:
        if all(item.get_closest_marker("slow") and _needs_heavy(item) for item in group):
            return 0
        return 1 if any(item.get_closest_marker("heavy") for item in group) else 2

    groups: dict[str, list] = {}
    for item in items:
        groups.setdefault(worker_group(item.nodeid), []).append(item)
    items[:] = [item for group in sorted(groups.values(), key=weight) for item in group]


class NotebookChecks:
    """What a run checked of the stored notebooks, recorded at its end for the site's stamps (one per run).

    Registered on the run itself, not its xdist workers (their reports reach it), and only when nbval compares
    outputs strictly: the hashes are taken as the run starts, so an edit during the run is not called checked.
    """

    def __init__(self, root: Path):
        from mlops_workbook.course import verification

        self.root, self.hashes, self.reports = root, verification.snapshot(root), []

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.outcome != "passed":  # a setup that failed or skipped counts too
            self.reports.append((report.nodeid, report.outcome))

    def pytest_sessionfinish(self):
        from mlops_workbook.course import verification

        results = verification.outcomes(self.reports, self.root)
        if results:
            verification.record(results, self.hashes, self.root)


def pytest_runtest_setup(item):
    for mark in item.iter_markers("component"):
        for name in mark.args:
            require(name)


@dataclasses.dataclass(frozen=True)
class JupyterLab:
    url: str  # http://127.0.0.1:<port>
    token: str
    process: subprocess.Popen

    def api(self, path: str) -> dict:
        with urllib.request.urlopen(f"{self.url}{path}?token={self.token}", timeout=2) as answer:
            return json.loads(answer.read())

    def answers(self) -> bool:
        return http_client.answers(f"{self.url}/api/status?token={self.token}")


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """JupyterLab started as `make lab` starts it (`mlops-workbook lab`), on the test port block, with a token;
    stopped with its whole process group at the end of the module (mlops_workbook.core.processes)."""
    port = instance.port(instance.TEST_PORTS["lab"])
    token = "workbook-test-token"
    state = tmp_path_factory.mktemp("jupyter")  # its runtime files and saved layouts: not a learner's
    env = {
        **os.environ,
        "JUPYTER_TOKEN": token,
        "JUPYTER_RUNTIME_DIR": str(state),
        "JUPYTERLAB_WORKSPACES_DIR": str(state),
    }
    cli = str(Path(sys.executable).parent / "mlops-workbook")
    log = state / "jupyterlab.log"
    name = "test-jupyterlab"  # in this instance's process registry: `mlops-workbook stop` finds a leftover
    process = processes.start(name, [cli, "lab", "--port", str(port), "--no-browser"], log, env)
    lab = JupyterLab(f"http://127.0.0.1:{port}", token, process)
    try:
        assert processes.wait_ready(process, lab.answers, 60), (
            f"JupyterLab did not answer in 60 s: {log.read_text()[-2000:]}"
        )
        yield lab
    finally:
        processes.stop(name, timeout=30)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Selenium; `browser.get_log("browser")` holds the console's messages."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1400,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def gated_registry(tmp_path_factory):
    """A registry as CT leaves it, made by the tests that export or deploy its versions: `make(env, overrides,
    inputs)` runs the data pipeline on `env`'s data and trains one version per entry of `inputs` (the model's input
    columns; None: all of them), each of which must pass the gate. A factory, since each test module needs its own
    sizes and versions."""
    from mlops_workbook.core import environments
    from mlops_workbook.ct import data_pipeline, gate, training
    from mlops_workbook.example import data, tracking

    def make(env: str, overrides: dict, inputs: tuple = (None,)):
        sandbox = tmp_path_factory.mktemp("registry")
        cfg = environments.load(env, overrides)
        registry = tracking.connect(None, sandbox)
        store = data_pipeline.FeatureStore(sandbox / "features")
        data_pipeline.run(data.open_source(cfg), store)
        for chosen in inputs:
            extra = {"inputs": chosen} if chosen else {}
            candidate = training.run(store, cfg, registry, "a test's version", **extra)
            assert gate.review(registry, candidate.version, candidate.held_out, cfg).passes
        return registry

    return make


# One trained model and its serving bundle per test session, for every test that serves, converts or packages *a*
# fitted model with a drift reference: training and converting take seconds, so they share this one. The fixture
# imports the training libraries itself: a run of other tests (01 and 08 run some) does not wait for them.
@dataclasses.dataclass(frozen=True)
class Trained:
    model: object  # the fitted scikit-learn pipeline
    rows: object  # the feature rows it was trained on (a DataFrame)
    reference: object  # their drift reference (cm.drift.Reference), in the bundle too
    folder: Path  # the serving bundle (version "7", alias champion)


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Trained:
    from mlops_workbook.ci import conversion
    from mlops_workbook.cm import drift
    from mlops_workbook.ct import features, training
    from mlops_workbook.example import bundle, data, schema

    rows = features.build(data.production_batch(3000, seed=4))
    model = training.train(rows, seed=4)
    reference = drift.Reference.of(rows, schema.FEATURES)
    facts = bundle.Facts(
        "ride-completion", "7", "champion", "run-7", list(model.feature_names_in_), reference.to_dict()
    )
    folder = bundle.save(conversion.to_onnx(model), facts, tmp_path_factory.mktemp("bundle"))
    return Trained(model, rows, reference, folder)
