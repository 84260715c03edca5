"""A class on one tracking server: each learner's runs and model carry their name, the instructor sees every
champion in one table, and one learner's CT run moves no alias of another's."""

import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from mlops_workbook.core import environments
from mlops_workbook.ct import gate, steps
from mlops_workbook.example import tracking

CLI = str(Path(sys.executable).parent / "mlops-workbook")
SMALL = {"n_partitions": 3, "rows_per_partition": 100, "servers": "embedded"}


@pytest.fixture()
def server(tmp_path, monkeypatch):
    """The class's shared store (a sqlite file stands for the server: the names are what is tested here)."""
    monkeypatch.setattr(tracking, "_learner", tracking._learner)  # this worker's later tests connect as before
    return f"sqlite:///{tmp_path / 'class.db'}"


def ct_run(server: str, learner: str, folder: Path) -> dict:
    cfg = environments.load(
        "staging", {**SMALL, "mlflow_tracking_uri": server, "learner": learner, "workspace": str(folder)}
    )
    return steps.run_all(cfg.params(), str(folder / learner))["register"]


@pytest.mark.heavy  # two CT runs: `make test`, not the edit loop's tier
def test_each_learner_registers_under_their_name_and_moves_only_their_own_champion(server, tmp_path):
    alice = ct_run(server, "alice", tmp_path)
    bob = ct_run(server, "bob", tmp_path)  # on one shared model, bob's would be version 2 and take the alias
    assert alice["promoted"] and bob["promoted"] and alice["version"] == bob["version"] == "1", (alice, bob)
    client = mlflow.MlflowClient(server)
    for learner in ("alice", "bob"):
        assert client.get_registered_model(f"{learner}.ride-completion").aliases == {gate.CHAMPION: 1}, learner
        runs = mlflow.search_runs(experiment_names=[f"{learner}.ride-completion"])
        assert len(runs) == 1 and runs["params.env"].tolist() == ["staging"], learner
    assert "ride-completion" not in {m.name for m in client.search_registered_models()}, "a model without a prefix"
    client.create_registered_model("ride-completion")  # someone's run without a learner, not gated yet
    client.create_registered_model("carol.other-project")  # not the workbook's: not in the table

    shown = subprocess.run(
        [CLI, "class-registry", "--env", "staging", "-p", f"mlflow_tracking_uri={server}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if line.count("│") > 2}
    assert set(lines) == {"alice", "bob", "(no learner)"}, shown.stdout  # a line each, every column in full
    assert "none yet" in lines.pop("(no learner)")
    for learner, line in lines.items():
        assert f"{learner}.ride-completion" in line and "version 1" in line and "warehouse" in line, line


def test_a_learner_name_that_cannot_prefix_a_model_fails_before_any_work(tmp_path):
    said = subprocess.run(
        [CLI, "class-registry", "--env", "staging", "-p", "learner=Alice.Smith", "-p", f"workspace={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert said.returncode == 2
    assert "learner = 'Alice.Smith'" in said.stdout and "a lowercase letter, then up to 31 of a-z" in said.stdout
    assert not any(tmp_path.iterdir()), "nothing written"


def test_the_class_registry_needs_a_server_everyone_shares():
    said = subprocess.run([CLI, "class-registry", "--env", "dev"], capture_output=True, text=True, timeout=60)
    assert said.returncode == 2 and "-p mlflow_tracking_uri=http://<host>:<port>" in said.stdout, said.stdout


def test_the_class_registry_reads_a_store_that_exists(tmp_path):
    missing = tmp_path / "class.db"
    said = subprocess.run(
        [CLI, "class-registry", "--env", "staging", "-p", f"mlflow_tracking_uri=sqlite:///{missing}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert said.returncode == 2 and "no registry at" in said.stdout and not missing.exists(), said.stdout
