"""Two runs on one machine never share a port, a deploy-state folder or a container name."""

import subprocess
import sys

import pytest

from mlops_workbook.cd.rollout import deploy
from mlops_workbook.core import environments, instance


def test_every_port_moves_with_the_instance(monkeypatch):
    monkeypatch.setenv(instance.VARIABLE, "3")
    cfg = environments.load("staging")
    assert cfg.serve_port == 8200 + 3 * instance.STRIDE
    assert cfg.params()["serve_port"] == 8200, "papermill injects what configs/staging.yaml says"
    assert environments.validate(cfg.params(), "again").serve_port == cfg.serve_port, "validated again, it moves once"
    assert deploy.state_folder("staging").parts[-2:] == ("3", "staging")
    assert instance.suffix() == "-i3"


def test_a_learner_is_instance_0_with_the_ports_the_lessons_print(monkeypatch):
    monkeypatch.delenv(instance.VARIABLE, raising=False)
    assert environments.load("dev").serve_port == 8100 and instance.suffix() == ""


@pytest.mark.parametrize("value", ["abc", "-1", str(instance.LAST + 1)])
def test_a_bad_instance_says_what_is_allowed(monkeypatch, value):
    monkeypatch.setenv(instance.VARIABLE, value)
    with pytest.raises(ValueError, match=f"expected a whole number from 0 to {instance.LAST}"):
        instance.number()


def test_two_processes_claim_different_instances():
    claim = [
        sys.executable,
        "-c",
        "import time; from mlops_workbook.core import instance; print(instance.claim(), flush=True); time.sleep(30)",
    ]
    first = subprocess.Popen(claim, stdout=subprocess.PIPE, text=True)
    second = subprocess.Popen(claim, stdout=subprocess.PIPE, text=True)
    try:
        claimed = {int(first.stdout.readline()), int(second.stdout.readline())}
        assert len(claimed) == 2 and 0 not in claimed
    finally:
        for process in (first, second):
            process.kill()
            process.wait()
