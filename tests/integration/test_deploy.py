"""Health-gated deploys for real: nginx in front, app copies as processes (dev) and as containers (staging, prod).

One registry per module holds version 1 (without the rate features) and version 2 (all features, champion).
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_workbook.cd.load import loadtest, traffic
from mlops_workbook.cd.rollout import deploy, release, targets
from mlops_workbook.ci import export, packaging, serving_image, smoke, wheels
from mlops_workbook.core import environments, http_client, instance, processes, waiting
from mlops_workbook.core.docker import images
from mlops_workbook.ct import features, gate
from mlops_workbook.example import tracking

pytestmark = pytest.mark.component("nginx")
CLI = str(Path(sys.executable).parent / "mlops-workbook")
PORTS = instance.TEST_PORTS["deploy"]  # dev here, staging + 100, prod + 200 (a config moves them to this instance)
TAG = f"ride-completion:pytest{instance.suffix()}"
OLDER = tuple(name for name in features.MODEL_INPUTS if name not in ("conv_rate", "acc_rate"))
HELD_2_S = 2 * environments.DEMO_SPEEDUP  # a rollout step a team holds 2 minutes: 2 s here


@pytest.fixture(scope="module")
def registry(gated_registry):
    # 300 rows a day: enough held-out rows for the gate to be sure the newer version gains (200 is borderline)
    return gated_registry("staging", {"n_partitions": 3, "rows_per_partition": 300}, (OLDER, features.MODEL_INPUTS))


@pytest.fixture(scope="module")
def pinned(registry, tmp_path_factory):
    """A process release of version 1 or 2: its bundle, exported as CI's package step does."""
    folder = tmp_path_factory.mktemp("bundles")
    for version in ("1", "2"):
        export.version(registry, version, folder / version)
    return lambda version: targets.Release(version, model_dir=str(folder / version))


def environment(env: str, folder: Path, port: int, target) -> deploy.Deployment:
    cfg = environments.load(env, {"serve_port": port, "workspace": str(folder)})
    deployment = deploy.Deployment(cfg, target, folder / "environments" / env)
    deployment.reset()
    return deployment


def served_version(port: int) -> str:
    return http_client.call(port, "/version")["version"]


@pytest.fixture
def dev(registry, tmp_path):
    deployment = environment("dev", tmp_path, PORTS, targets.ProcessTarget(tmp_path / "logs"))
    yield deployment
    deployment.stop()


def test_a_process_deploy_switches_versions_without_dropping_a_request(dev, pinned):
    dev.deploy(pinned("1"))
    old = dev.live()
    with traffic.Traffic(dev.port, smoke.sample_rows(2, 1)) as users:
        event = dev.deploy(pinned("2"))
        # users keep calling across the switch: on a loaded machine their next request may come a moment after it
        waiting.until(lambda: "2" in set(users.table()["version"]), 30, what="a user's request answered by version 2")
    assert (event.outcome, served_version(dev.port)) == ("live", "2")
    assert users.failed() == 0 and {"1", "2"} <= set(users.table()["version"])
    assert dev.warm() == old and not deploy.port_free(old.port), "the old copy stays up, warm, for a rollback"


def test_a_release_that_cannot_start_never_takes_traffic(dev, pinned):
    dev.deploy(pinned("2"))
    broken = targets.Release("2", model_dir="/no/such/model")
    with traffic.Traffic(dev.port, smoke.sample_rows(2, 1)) as users, pytest.raises(deploy.DeployError) as failed:
        dev.deploy(broken)
    assert "Version 2 still serves" in str(failed.value) and "not a model bundle" in str(failed.value)
    assert users.failed() == 0 and served_version(dev.port) == "2"
    assert list(dev.history()["outcome"]) == ["live", "rejected"]
    assert [deploy.port_free(dev.slot_port(slot)) for slot in deploy.SLOTS].count(False) == 1, (
        "only the live copy holds a slot"
    )


def test_a_copy_that_answers_the_wrong_version_is_stopped_and_never_takes_over(dev, pinned):
    dev.deploy(pinned("1"))
    with pytest.raises(deploy.DeployError, match="serving version 2, expected 1"):
        dev.deploy(targets.Release("1", model_dir=pinned("2").model_dir))
    assert served_version(dev.port) == "1"
    assert [deploy.port_free(dev.slot_port(slot)) for slot in deploy.SLOTS].count(False) == 1


def test_rollback_to_the_previous_model_version_is_one_call_and_a_switch_to_its_warm_copy(dev, pinned, registry):
    dev.deploy(pinned("1"))
    dev.deploy(dev.target.release(registry))  # the champion, exported now
    assert served_version(dev.port) == "2" and dev.warm().release.version == "1"
    event = dev.rollback(registry)
    assert (event.version, served_version(dev.port)) == ("1", "1")
    assert event.reason.startswith("rollback from version 2: the warm copy took over in"), event.reason
    assert dev.warm() is None and [deploy.port_free(dev.slot_port(s)) for s in deploy.SLOTS].count(False) == 1
    assert gate.champion_version(registry) == "1"
    assert "replaced by version 1" in registry.get_model_version(tracking.model_name(), "2").tags["rolled_back"]
    registry.set_registered_model_alias(tracking.model_name(), gate.CHAMPION, "2")  # as the module found it


def test_a_rollback_with_no_warm_copy_starts_one_from_cold(dev, pinned, registry):
    dev.deploy(pinned("1"))
    dev.deploy(dev.target.release(registry))
    with pytest.raises(deploy.DeployError):
        dev.deploy(targets.Release("2", model_dir="/no/such/model"))  # its slot was the warm copy's
    assert dev.warm() is None and served_version(dev.port) == "2"
    event = dev.rollback(registry)
    assert (event.version, served_version(dev.port)) == ("1", "1") and "a cold start" in event.reason
    assert dev.warm() is None, "the version rolled back from is nobody's fallback"
    registry.set_registered_model_alias(tracking.model_name(), gate.CHAMPION, "2")  # as the module found it


def test_a_rollback_never_switches_to_a_warm_copy_that_died(dev, pinned, registry):
    dev.deploy(pinned("1"))
    dev.deploy(dev.target.release(registry))
    processes.stop(dev.warm().name)  # killed while warm (out of memory, say): still named in warm.json
    with traffic.Traffic(dev.port, smoke.sample_rows(2, 1)) as users:
        event = dev.rollback(registry)
    assert (event.version, served_version(dev.port)) == ("1", "1") and "a cold start" in event.reason
    assert users.failed() == 0, "users never reached the dead copy"
    registry.set_registered_model_alias(tracking.model_name(), gate.CHAMPION, "2")  # as the module found it
    registry.set_registered_model_alias(tracking.model_name(), gate.CHAMPION, "2")  # as the module found it


def test_a_model_that_learned_from_fake_data_serves_dev_only_and_is_refused_elsewhere_before_anything_starts(
    dev, registry, tmp_path
):
    release = targets.ProcessTarget(tmp_path / "export").release(registry)
    assert release.trained_on == "warehouse"  # the registry's versions learned from staging's data (their runs say)
    fake = dataclasses.replace(release, trained_on="fake")
    staging = environment("staging", tmp_path, PORTS + 100, targets.ProcessTarget(tmp_path / "logs"))
    with pytest.raises(deploy.DeployError, match=r"learned from fake data \(dev's\), so it serves dev only"):
        staging.deploy(fake)
    assert staging.live() is None and deploy.port_free(staging.slot_port("blue"))  # nothing was started
    unsaid = dataclasses.replace(release, trained_on=None)  # a version whose run did not record its data
    with pytest.raises(deploy.DeployError, match="does not say it learned from real data"):
        staging.deploy(unsaid)
    assert staging.live() is None and list(staging.history()["outcome"]) == ["rejected", "rejected"]
    assert dev.deploy(fake).outcome == "live"


def test_a_bounded_load_from_another_process_gets_no_errors(dev, pinned):
    dev.deploy(pinned("2"))
    load = loadtest.run(dev.port, smoke.sample_rows(1, 3), requests=600, users=4)
    assert load["failures"] == 0 and load["requests"] >= 600, load


def test_nothing_to_roll_back_to_is_a_clear_error(dev, pinned, registry):
    dev.deploy(pinned("2"))
    with pytest.raises(deploy.DeployError, match="nothing to roll back to"):
        dev.rollback(registry)
    assert gate.champion_version(registry) == "2"


def test_the_app_keeps_serving_what_it_loaded_when_its_bundle_goes_away(dev, registry, tmp_path):
    release = dev.target.release(registry)
    dev.deploy(release)
    Path(release.model_dir).rename(tmp_path / "bundle-gone")
    answer = http_client.call(dev.port, "/predict", smoke.sample_rows(3, 2))
    assert len(answer["predictions"]) == 3 and answer["model_version"] == "2"


@pytest.fixture(scope="module")
def tagged(registry, tmp_path_factory):
    """CI's images of version 1 and version 2: {version: tag}."""
    client = images.docker_client()
    made = {}
    for version in ("1", "2"):
        registry.set_registered_model_alias(tracking.model_name(), gate.CHAMPION, version)
        made[version], _ = packaging.package_champion(
            registry, client, tmp_path_factory.mktemp(f"v{version}"), f"{TAG}-v{version}"
        )
    return {version: built.tag for version, built in made.items()}


def released(version: str, image: str) -> targets.Release:
    """A release of CI's image that says what its model learned from, as the image's label does (outside dev a
    release that does not say is refused)."""
    trained_on = images.docker_client().images.get(image).labels.get(serving_image.TRAINED_ON_LABEL)
    return targets.Release(version, image, trained_on=trained_on)


def derived(image: str, suffix: str, line: str) -> str:
    """CI's image with one more Dockerfile line, tagged `<image>-<suffix>`."""
    tag = f"{image}-{suffix}"
    recipe = f"FROM {image}\n{line}\n".encode()
    images.docker_client().images.build(fileobj=io.BytesIO(recipe), tag=tag, pull=False, rm=True)
    return tag


def relabelled(image: str, trained_on: str) -> str:
    """CI's image, its label saying its model learned from `trained_on`."""
    return derived(image, trained_on, f"LABEL {serving_image.TRAINED_ON_LABEL}={trained_on}")


def faulty(image: str, error_rate: float) -> str:
    """CI's image with a bug: `error_rate` of its /predict requests fail (the app's fault injection)."""
    return derived(image, "faulty", f"ENV SERVING_FAULTS=error_rate={error_rate}")


@pytest.fixture
def staging_and_prod(tagged, tmp_path):
    target = targets.ContainerTarget(images.docker_client(), tmp_path / "copies", "pytest")
    pair = environment("staging", tmp_path, PORTS + 100, target), environment("prod", tmp_path, PORTS + 200, target)
    yield pair
    for deployment in pair:
        deployment.stop()


@pytest.mark.component("docker")
def test_a_container_deploy_switches_images_and_a_broken_image_never_takes_over(staging_and_prod, tagged, tmp_path):
    staging, _ = staging_and_prod
    staging.deploy(released("1", tagged["1"]))
    with traffic.Traffic(staging.port, smoke.sample_rows(2, 1)) as users:
        staging.deploy(released("2", tagged["2"]))
    assert users.failed() == 0 and served_version(staging.port) == "2"
    client = images.docker_client()
    broken = tmp_path / "broken-model"
    broken.mkdir()  # an image whose model folder is empty: the app can't start
    images.build(
        client,
        serving_image.context(tmp_path / "context", wheels.wheelhouse(), broken),
        f"{TAG}-broken",
        images.BASE_IMAGE,
        {},
    )
    with pytest.raises(deploy.DeployError, match="did not become healthy"):
        staging.deploy(targets.Release("3", f"{TAG}-broken", trained_on="warehouse"))
    assert served_version(staging.port) == "2"
    ours = client.containers.list(filters={"label": f"{instance.LABEL}={instance.number()}"})
    assert len([c for c in ours if c.name.startswith("ride-completion-staging-")]) == 1


@pytest.mark.component("docker")
def test_continuous_delivery_waits_for_an_approval_and_records_it(staging_and_prod, tagged):
    staging, prod = staging_and_prod
    chosen = released("2", tagged["2"])
    waiting = release.promote(chosen, staging, prod, mode="delivery")
    assert waiting.staging.outcome == "live" and waiting.prod is None and "waiting" in waiting.decision.reason
    assert prod.live() is None
    approved = release.promote(chosen, staging, prod, mode="delivery", approved_by="ana")
    assert approved.prod.approved_by == "ana" and served_version(prod.port) == "2"
    assert list(staging.history()["outcome"]) == ["live"], "staging is not deployed twice"
    assert prod.history().iloc[-1]["approved_by"] == "ana" and prod.history().iloc[-1]["time"]


@pytest.mark.component("docker")
def test_continuous_deployment_goes_to_prod_once_staging_passes(staging_and_prod, tagged):
    staging, prod = staging_and_prod
    outcome = release.promote(released("1", tagged["1"]), staging, prod, mode="deployment")
    assert outcome.prod.outcome == "live" and outcome.prod.approved_by is None and served_version(prod.port) == "1"


@pytest.mark.component("docker")
def test_nothing_reaches_prod_when_staging_fails(staging_and_prod, tagged):
    staging, prod = staging_and_prod
    outcome = release.promote(
        targets.Release("1", tagged["2"], trained_on="warehouse"), staging, prod, mode="deployment"
    )  # version 2's image, said to serve version 1: its smoke test fails in staging
    assert outcome.staging is None and outcome.prod is None and "did not pass staging" in outcome.decision.reason
    assert prod.live() is None


@pytest.mark.component("docker")
def test_the_deploy_command_gates_prod_on_staging_and_an_approval_and_rolls_out_by_strategy(registry, tagged, tmp_path):
    short = {**environments.load("staging").rollout.model_dump(), "steps": [10, 50], "step_seconds": HELD_2_S}

    def run_cli(*args):
        return subprocess.run(
            [CLI, *args, "-p", f"workspace={tmp_path}"]
            + ["-p", f"rollout={json.dumps({**short, 'bake_seconds': HELD_2_S})}"],
            capture_output=True,
            text=True,
            timeout=300,
        )

    def deploy_cli(env, *extra, version="2", image=None):
        return run_cli("deploy", "--env", env, "--image", image or tagged[version], *extra)

    try:
        early = deploy_cli("prod", "--approved-by", "ana")
        assert early.returncode == 1 and "did not pass staging" in early.stdout
        fake = deploy_cli("staging", image=relabelled(tagged["2"], "fake"))  # CI's image of a dev model
        assert fake.returncode == 1 and "learned from fake data (dev's), so it serves dev only" in fake.stdout
        unsaid = deploy_cli("staging", image=relabelled(tagged["2"], "unknown"))  # built by other means
        assert unsaid.returncode == 2 and "does not say what data its model learned from" in unsaid.stdout
        theirs = deploy_cli("staging", "-p", "learner=bob")  # on a class's server: bob deploys the unprefixed model's
        assert theirs.returncode == 2, theirs.stdout + theirs.stderr
        assert "serves ride-completion's version 2, and this deploy is bob.ride-completion's" in theirs.stdout
        first = deploy_cli("staging", "--strategy", "canary")  # nothing live to compare with: it goes live whole
        assert first.returncode == 0 and "the first version goes live whole" in first.stdout, (
            first.stdout + first.stderr
        )
        waiting = deploy_cli("prod")
        assert waiting.returncode == 1 and "waiting for a person to approve" in waiting.stdout
        done = deploy_cli("prod", "--approved-by", "ana")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "approved by ana" in done.stdout and served_version(environments.load("prod").serve_port) == "2"
        port = environments.load("staging").serve_port
        with traffic.Traffic(port, smoke.sample_rows(21 * 40, 7), pause=0.01, batch=40) as users:  # as in test_rollout
            shadowed = deploy_cli("staging", "--strategy", "shadow", version="1")
        assert shadowed.returncode == 0, shadowed.stdout + shadowed.stderr
        assert "shadowed version 2" in shadowed.stdout and served_version(port) == "2"
        paired = re.search(r"^rows paired\s+(\d+)\s+(\d+)$", shadowed.stdout, flags=re.MULTILINE)  # the report
        assert paired and int(paired[2]) > 0, shadowed.stdout  # the two versions' answers to the same rows, joined
        assert set(users.table()["version"].dropna()) == {"2"}, "users saw the shadow's answers"
        # no users now: the load test's synthetic ones give the analysis its evidence; the outcome goes to the registry
        canary = deploy_cli(
            "staging",
            "--strategy",
            "canary",
            "--load-test",
            "-p",
            f"mlflow_tracking_uri={registry.tracking_uri}",
            version="1",
        )
        assert canary.returncode == 0, canary.stdout + canary.stderr
        assert re.search(r"canary 10 → 50 → 100% passed its analysis", canary.stdout) and served_version(port) == "1"
        tested = re.search(r"load test: (\d+) requests \(version 1: (\d+), version 2: (\d+)\), 0 failed", canary.stdout)
        assert tested and 0 < int(tested[3]) < int(tested[1]), canary.stdout  # both answered, none failed
        outcome = registry.get_model_version(tracking.model_name(), "1").tags["rollout.staging"]
        assert outcome.startswith("promoted: canary 10 → 50 → 100% passed its analysis"), outcome
        # a bug that fails 30% of requests (its first draw, the smoke test's, passes): back at the first step
        buggy = deploy_cli("staging", "--strategy", "canary", "--load-test", image=faulty(tagged["2"], 0.3))
        assert buggy.returncode == 1 and "rolled back at canary 10%" in buggy.stdout, buggy.stdout + buggy.stderr
        assert served_version(port) == "1"
        steps = re.findall(r"^\s*2\s+(canary \d+%)\s.*$", buggy.stdout, flags=re.MULTILINE)  # the printed table
        assert steps == ["canary 10%"], buggy.stdout
        tested = re.search(r"load test: (\d+) requests \(.*\), (\d+) failed", buggy.stdout)
        assert tested and 0 < int(tested[2]) <= 0.1 * int(tested[1]), buggy.stdout  # at most the step's share
        # version 1's image holds the code prod runs (the same commit): a model CT retrained, which prod's policy
        # (retrain_release_mode: deployment) ships once staging passed, with no one to approve it
        retrained = deploy_cli("prod", version="1")
        assert retrained.returncode == 0, retrained.stdout + retrained.stderr
        assert "a model retrained on the code prod runs, continuous deployment" in retrained.stdout, retrained.stdout
        assert served_version(environments.load("prod").serve_port) == "1"
        # a code change (another commit) under prod's Continuous Delivery, by canary with no approver yet: it waits at
        # its last share for a person, whose command approves it after one more step's analysis
        changed = derived(tagged["2"], "changed", f"LABEL {serving_image.REVISION_LABEL}=another-commit")
        assert deploy_cli("staging", image=changed).returncode == 0
        unapproved = deploy_cli("prod", "--strategy", "canary", "--approved-by", "", image=changed)  # a CI job's
        assert unapproved.returncode == 1 and "waiting for a person to approve" in unapproved.stdout  # no approval
        paused = deploy_cli("prod", "--strategy", "canary", "--load-test", image=changed)
        assert paused.returncode == 0 and "waits for a person" in paused.stdout, paused.stdout + paused.stderr
        prod_port = environments.load("prod").serve_port
        assert {served_version(prod_port) for _ in range(20)} == {"1", "2"}, "paused at its last share, 50%"
        meanwhile = deploy_cli("prod", "--approved-by", "ana", image=changed)  # blue-green: all of the traffic
        assert meanwhile.returncode == 2 and "paused at 50%" in meanwhile.stdout, meanwhile.stdout + meanwhile.stderr
        refused = run_cli("approve", "--env", "prod", "--by", " ")
        assert refused.returncode == 2 and "name the person" in refused.stdout, refused.stdout + refused.stderr
        approved = run_cli("approve", "--env", "prod", "--by", "ana", "--load-test")
        assert approved.returncode == 0, approved.stdout + approved.stderr
        assert "canary 50%, paused" in approved.stdout and "approved by ana" in approved.stdout, approved.stdout
        assert served_version(prod_port) == "2"
        nothing = run_cli("abort", "--env", "prod", "--by", "ben")
        assert nothing.returncode == 2 and "no canary is waiting" in nothing.stdout, nothing.stdout + nothing.stderr
    finally:
        for env in ("staging", "prod"):
            cfg = environments.load(env, {"workspace": str(tmp_path)})
            deploy.Deployment(cfg, targets.ContainerTarget(images.docker_client(), tmp_path, env)).stop()
