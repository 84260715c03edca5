"""From staging to prod: Continuous Delivery or Continuous Deployment, one config switch.

`release_mode: deployment` puts a release in prod automatically once it is live in staging.
`release_mode: delivery` stops before prod until a person approves; who approved, and when, is
recorded in prod's deploy history. Either way, nothing reaches prod that did not pass staging.
A model CT retrained on the code prod already runs goes by `retrain_release_mode` (mode_for): the team's policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlops_workbook.cd.rollout import targets
from mlops_workbook.cd.rollout.deploy import DeployError, Deployment, Event
from mlops_workbook.cd.rollout.targets import Release
from mlops_workbook.core import environments, errors


@dataclass(frozen=True)
class Decision:
    goes_to_prod: bool
    reason: str


def may_go_to_prod(mode: str, staging_passed: bool, approved_by: str | None) -> Decision:
    """The approval gate: may a release that went to staging now go to prod?"""
    if not staging_passed:
        return Decision(False, "it did not pass staging: nothing goes to prod")
    if mode == "deployment":
        return Decision(True, "continuous deployment: it passed staging, so it goes out")
    if approved_by and approved_by.strip():
        return Decision(True, f"continuous delivery: approved by {approved_by}")
    return Decision(
        False,
        "continuous delivery: waiting for a person to approve "
        "(papermill -p approved_by <name>, or mlops-workbook deploy --approved-by <name>; a canary beside a live "
        "version waits for them at its last step: mlops-workbook deploy --strategy canary, then mlops-workbook "
        "approve --by <name>)",
    )


def pauses_for_a_person(mode: str, staging_passed: bool, approved_by: str | None) -> Decision:
    """A canary's gate: under Continuous Delivery, with no approval yet, it goes as far as its last share of prod's
    traffic and waits there for a person (progressive.Rollout.approve); otherwise may_go_to_prod's."""
    decision = may_go_to_prod(mode, staging_passed, approved_by)
    if decision.goes_to_prod or not staging_passed:
        return decision
    return Decision(True, "continuous delivery: a canary, held at its last share of traffic until a person approves")


def mode_for(cfg, code: str | None, live_code: str | None) -> str:
    """The release mode a release goes by, as the environment's config states the team's policy: a model CT
    retrained on the code the environment already runs (the same commit, another version) by retrain_release_mode,
    anything else by release_mode (a code change; so is a release whose commit is unknown or has edits no commit
    holds: packaging.git_commit)."""
    known = code not in (None, "", "unknown") and not code.endswith("-dirty")  # -dirty: code no commit names
    return cfg.mode_for_retrained_model() if known and code == live_code else cfg.release_mode


def by_policy(prod: Deployment, release: Release, staging_passed: bool, approved_by, gate=may_go_to_prod):
    """Prod's policy applied to `release`: the mode it goes by (mode_for, its code against the live copy's) and the
    gate's decision, which says when it is a retrained model's."""
    live = prod.live()
    mode = mode_for(prod.cfg, code_of(release), live and code_of(live.release))
    decision = gate(mode, staging_passed, approved_by)
    if mode != prod.cfg.release_mode:
        decision = Decision(decision.goes_to_prod, f"a model retrained on the code prod runs, {decision.reason}")
    return mode, decision


def candidates_from(cfg) -> environments.EnvConfig:
    """Whose CT pipeline a release to staging and prod comes from: the environment's own when it trains on real
    data; from dev, whose models learned from fake rows and never leave it, staging's (embedded: dev runs no
    servers)."""
    if cfg.data_source != "fake":
        return cfg
    return environments.load(
        "staging", {"workspace": cfg.workspace, "servers": "embedded", "mlflow_tracking_uri": None}
    )


def deployments(folder: Path) -> dict[str, Deployment]:
    """staging and prod with their real configs, emptied of what an earlier run left (copies' files in `folder`)."""
    stages = {}
    for name in ("staging", "prod"):
        env_cfg = environments.load(name)
        stages[name] = Deployment(env_cfg, targets.for_env(env_cfg, folder))
        stages[name].reset()
    return stages


@dataclass(frozen=True)
class Promotion:
    """What one promotion did: the staging deploy, the decision about prod, and the prod deploy if it went."""

    staging: Event | None
    decision: Decision
    prod: Event | None


def promote(
    release: Release,
    staging: Deployment,
    prod: Deployment,
    mode: str | None = None,
    approved_by: str | None = None,
    gate=may_go_to_prod,
    canary=None,
) -> Promotion:
    """Deploy to staging, then to prod if the gate says so (`gate` is may_go_to_prod unless a lab passes its own):
    blue/green, or with `canary` (a progressive.Rollout of prod) by its steps, each judged by prod's Prometheus.
    `mode` None: prod's config decides (mode_for), by whether the release holds the code prod runs."""
    if canary is not None and (canary.deployment.env, canary.deployment.folder) != (prod.env, prod.folder):
        raise errors.BadInputError(
            f"the canary given rolls out to {canary.deployment.env}, not to prod: make it with prod's Deployment "
            "(progressive.Rollout(prod, ...)); nothing deployed"
        )
    staged = staging.serving(release)  # already live in staging: not deployed twice
    if staged is None:
        try:
            staged = staging.deploy(release)
        except DeployError:
            pass  # the failure is in staging's history; prod is not touched
    if mode is None:
        mode, decision = by_policy(prod, release, staged is not None, approved_by, gate)
    else:
        decision = gate(mode, staged is not None, approved_by)
    if not decision.goes_to_prod:
        return Promotion(staged, decision, None)
    if canary is not None:
        return Promotion(staged, decision, canary.canary(release, mode, approved_by))
    return Promotion(staged, decision, prod.deploy(release, approved_by=approved_by, why=decision.reason))


@dataclass(frozen=True)
class Cleared:
    """CI's image, cleared to go to an environment: where it goes, what it serves, why, and who approved it."""

    deployment: Deployment
    release: Release
    mode: str  # the release mode it goes by (mode_for)
    why: str = ""
    approved_by: str | None = None

    def deploy(self) -> Event:
        """Blue/green: all of the environment's traffic, as soon as the new copy is healthy."""
        return self.deployment.deploy(self.release, approved_by=self.approved_by, why=self.why)


def clear_image(cfg, image: str, approved_by: str | None, staging_cfg, canary: bool = False) -> Cleared:
    """A terminal's (or a pipeline job's) release of CI's image to staging or prod, through the same gates, whatever
    the strategy that then ships it: prod takes only an image that is live in staging (`staging_cfg` says where),
    and in delivery mode only with an approval; a `canary` beside a live version may go without one, to wait at its
    last share for a person."""
    import docker.errors

    from mlops_workbook.cd.rollout.targets import ContainerTarget
    from mlops_workbook.ci import serving_image
    from mlops_workbook.core.docker import images
    from mlops_workbook.example import tracking

    if cfg.deploy_target != "container":
        raise errors.BadInputError(
            f"{cfg.env} runs the app as a {cfg.deploy_target}, from its notebook's registry: deploy it "
            "from notebooks/03_cd_serving.ipynb. This command deploys CI's image to staging or prod."
        )
    client = images.docker_client()
    try:
        built = client.images.get(image)
    except docker.errors.ImageNotFound:
        raise errors.UnavailableError(
            f"no image {image} here: build it first (mlops-workbook ci package --tag {image})"
        ) from None
    labels, target = built.labels, ContainerTarget(client, cfg.workspace_dir() / "copies", cfg.env)
    chosen = Release(
        labels.get(serving_image.MODEL_VERSION_LABEL, "unknown"),
        image,
        image_id=built.id,  # that very build: its tag may move, its code may not (code_of)
        trained_on=labels.get(serving_image.TRAINED_ON_LABEL),
    )
    if chosen.trained_on in (None, "unknown") and cfg.env != "dev":
        raise errors.BadInputError(
            f"{image} does not say what data its model learned from ({serving_image.TRAINED_ON_LABEL}), so it does "
            f"not go to {cfg.env}: build it with `mlops-workbook ci package --env staging --tag {image}`"
        )
    packaged_from, ours = labels.get(serving_image.MODEL_NAME_LABEL), tracking.named(cfg.learner)
    if packaged_from not in (None, ours):  # its rollout would tag, and a rollback move, the other model's version
        raise errors.BadInputError(
            f"{image} serves {packaged_from}'s version {chosen.version}, and this deploy is {ours}'s "
            f"(learner: {cfg.learner}): deploy an image CI packaged from your model, with your `learner`"
        )
    if cfg.env != "prod":
        return Cleared(Deployment(cfg, target), chosen, cfg.release_mode)
    prod, staging = Deployment(cfg, target), Deployment(staging_cfg, target)
    gate = pauses_for_a_person if canary and prod.live() is not None else may_go_to_prod
    mode, decision = by_policy(prod, chosen, staging.serving(chosen) is not None, approved_by, gate)
    if not decision.goes_to_prod:
        raise DeployError(f"{image} does not go to prod: {decision.reason}")
    approver = approved_by if mode == "delivery" else None  # under deployment, nobody approves
    return Cleared(prod, chosen, mode, decision.reason, approver)


def code_of(release: Release) -> str | None:
    """The commit of the code a release's image holds (its revision label); None for a process (no image) or an
    image no longer here."""
    import docker.errors

    from mlops_workbook.ci import serving_image
    from mlops_workbook.core.docker import images

    if not (release.image_id or release.image):
        return None
    try:
        return (
            images.docker_client()
            .images.get(release.image_id or release.image)
            .labels.get(serving_image.REVISION_LABEL)
        )
    except docker.errors.ImageNotFound:
        return None
