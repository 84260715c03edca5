"""Health-gated deploys of the serving app for one environment (blue/green behind the router).

The live copy runs in one slot; a deploy starts the new release in the other slot, beside it.
Only a copy that is healthy and passes the smoke test takes over the environment's port; anything
else is stopped and the old copy never stops serving. After a switch the old copy stays up, warm,
until the next deploy needs its slot: a rollback to it is a switch of the router, not a cold start.
Every attempt is recorded, and a rollback to the model version served before is one call.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from mlops_workbook.cd.rollout.router import Router, RouterError
from mlops_workbook.cd.rollout.targets import Copy, Release
from mlops_workbook.ci import smoke
from mlops_workbook.core import environments, errors, http_client, instance, paths, waiting

SLOTS = ("blue", "green")
# What a model may have learned from to serve outside dev: the config's data sources but dev's fake rows.
REAL_DATA = tuple(source for source in environments.DATA_SOURCES if source != "fake")
STATE = Path("runs/environments")  # <instance>/<env>: its live copy, router and history (git-ignored)
PAUSED = "paused.json"  # a canary waiting for a person (cd/rollout/progressive): its copies, slot, share, since when
DECIDING = "deciding.json"  # the same, claimed by a person's approve or abort until its outcome is recorded


def state_folder(env: str) -> Path:
    """Where an environment's deploy state lives: one place per instance, like the ports it holds."""
    return paths.resolve(STATE) / str(instance.number()) / env


def forget_live_copies() -> None:
    """After everything was stopped (`mlops-workbook stop`): no environment of this instance has a live, warm or
    paused copy (a paused canary is recorded as not deployed)."""
    for folder in (paths.resolve(STATE) / str(instance.number())).glob("*/"):
        for name in ("live.json", "warm.json"):
            (folder / name).unlink(missing_ok=True)
        end_pause(folder, folder.name)


def end_pause(folder: Path, env: str) -> None:
    """Once its copies stopped, a paused canary (or one whose decision was cut short) is recorded in the deploy
    history as not deployed, and its pause cleared: nothing else is refused for it any more."""
    for name, why in (
        (PAUSED, "stopped while its canary was paused at {}%: nobody approved the step to 100%"),
        (DECIDING, "stopped while a person's decision on its canary, at {}%, was under way"),
    ):
        state = folder / name
        if state.exists():
            saved = json.loads(state.read_text())
            release = copy_from(saved["candidate"]).release
            _write_history(folder, _event(env, release, saved["slot"], "rejected", why.format(saved["percent"]), None))
            state.unlink()


def _event(env: str, release: Release, slot: str, outcome: str, reason: str, approved_by: str | None) -> Event:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return Event(
        now,
        env,
        release.version,
        release.image,
        release.model_dir,
        slot,
        outcome,
        reason,
        approved_by,
        release.image_id,
    )


def _write_history(folder: Path, event: Event) -> None:
    with (folder / "history.jsonl").open("a") as log:
        log.write(json.dumps(asdict(event)) + "\n")


class DeployError(errors.RunError):
    """The new release was not put live; the message says why and what still serves."""


@dataclass(frozen=True)
class Event:
    """One line of an environment's deploy history."""

    time: str
    env: str
    version: str
    image: str | None
    model_dir: str | None
    slot: str
    outcome: str  # live | rejected
    reason: str
    approved_by: str | None = None
    image_id: str | None = None  # the very build that ran (see Release.image_id)


def copy_from(saved: dict) -> Copy:
    """A copy as a state file keeps it (dataclasses.asdict)."""
    return Copy(Release(**saved["release"]), **{k: v for k, v in saved.items() if k != "release"})


def health_gated_switch(start, check, take_over, retire):
    """Start the new copy beside the old one; only if it passes its checks does it take over.

    `start()` returns the new copy (or raises if it never becomes healthy); `check(copy)` raises if the
    copy answers wrongly; `take_over(copy)` sends the traffic to it; `retire(copy)` stops a copy.
    """
    new = start()
    try:
        check(new)
    except Exception:
        retire(new)
        raise
    take_over(new)
    return new


class Deployment:
    """One environment's serving: the router on `serve_port`, and the app in a blue or a green slot."""

    def __init__(self, cfg, target, folder: Path | None = None):
        self.cfg, self.env, self.port, self.target = cfg, cfg.env, cfg.serve_port, target
        self.folder = Path(folder) if folder is not None else state_folder(cfg.env)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.router = Router(self.folder / "router", cfg.serve_port, cfg.env)
        self.rows = smoke.sample_rows(3, cfg.seed)  # the smoke test's requests

    def slot_port(self, slot: str) -> int:
        return self.port + 10 + SLOTS.index(slot)

    def live(self) -> Copy | None:
        return self._saved("live.json")

    def warm(self) -> Copy | None:
        """The copy that served before the last switch, still running: what a rollback switches back to."""
        return self._saved("warm.json")

    def retire_warm(self) -> None:
        """Stop the warm copy: the next copy needs its slot (or nobody will roll back to it now)."""
        warm = self.warm()
        if warm is not None:
            self.target.stop(warm)
            (self.folder / "warm.json").unlink()

    def _saved(self, name: str) -> Copy | None:
        state = self.folder / name
        return copy_from(json.loads(state.read_text())) if state.exists() else None

    def paused(self) -> dict | None:
        """The canary paused for a person's approval, as its rollout saved it (another process may approve it), with
        `deciding` true once a person's approve or abort claimed it."""
        for name in (PAUSED, DECIDING):
            state = self.folder / name
            if state.exists():
                return {**json.loads(state.read_text()), "deciding": name == DECIDING}
        return None

    def refuse_while_paused(self) -> None:
        """Nothing else starts while a canary waits for a person: it holds a slot and a share of the traffic."""
        saved = self.paused()
        if saved is None:
            return
        version, share = saved["candidate"]["release"]["version"], saved["percent"]
        if saved["deciding"]:
            raise errors.BadInputError(
                f"a person's decision on version {version}'s canary ({share}% of {self.env}'s traffic) is under way, "
                f"or was cut short (then `mlops-workbook stop` ends it); nothing started"
            )
        raise errors.BadInputError(
            f"version {version}'s canary is paused at {share}% of {self.env}'s traffic, waiting for a person: "
            f"approve or abort it first (`mlops-workbook approve --env {self.env} --by <name>`, or `abort`; "
            "progressive.Rollout's approve(name), abort(name)); nothing started"
        )

    def free_slot(self) -> str:
        """The slot a new copy starts in: the one the live copy does not hold."""
        live = self.live()
        return "green" if live is not None and live.name.endswith("blue") else "blue"

    def start_beside(self, release: Release, slot: str) -> Copy:
        """Start `release` in `slot`, beside the live copy; it takes no traffic yet. The warm copy holds that slot
        (a shadow or a canary takes it too): it stops first. Outside dev only a model known to have learned from
        real data serves (one from fake data, or whose data no one recorded, was never judged on real rows):
        refused before anything stops."""
        self.refuse_while_paused()
        if self.env != "dev" and release.trained_on not in REAL_DATA:
            said = (
                "its model learned from fake data (dev's), so it serves dev only"
                if release.trained_on == "fake"
                else f"version {release.version} does not say it learned from real data (trained_on "
                f"{release.trained_on!r}: its run's data_source, or its image's label), so it serves dev only"
            )
            raise errors.BadInputError(
                f"{said}; release a version CT trained on {self.env}'s data (`mlops-workbook retrain --env {self.env}`)"
            )
        self.retire_warm()
        port = self.slot_port(slot)
        self.target.stop(self._slot_copy(slot))  # a copy of ours that a crashed run left there, in no state file
        if not port_free(port):
            raise errors.UnavailableError(f"port {port} ({slot}) is taken by something else: stop it first")
        return self.target.start(release, port, self._slot_copy(slot).name)

    def smoke_check(self, copy: Copy) -> None:
        smoke.check(copy.port, self.rows, copy.release.version)

    def take_over(self, new: Copy, live: Copy | None, keep_warm: bool = True) -> None:
        """Send every request to `new` (back to `live` on failure); `live` then stays up, warm for a rollback, or
        with `keep_warm=False` stops once nginx no longer uses it."""
        try:
            self.router.point_to(new.port)
            self._wait_until_served(new.release.version)
            self.router.wait_settled()
        except RouterError:
            if live is not None and self.router.upstream() != live.port:
                self.router.point_to(live.port)  # back to the copy that worked
            self.target.stop(new)
            raise
        (self.folder / "live.json").write_text(json.dumps(asdict(new)))
        if live is not None and keep_warm:
            (self.folder / "warm.json").write_text(json.dumps(asdict(live)))
        elif live is not None:
            self.target.stop(live)

    def deploy(
        self, release: Release, approved_by: str | None = None, why: str = "", switch=health_gated_switch
    ) -> Event:
        """Put `release` live if it earns it; DeployError (the old copy still serving) if not."""
        self.refuse_while_paused()
        live, slot = self.live(), self.free_slot()
        try:
            switch(
                lambda: self.start_beside(release, slot),
                self.smoke_check,
                lambda new: self.take_over(new, live),
                self.target.stop,
            )
        except (errors.WorkbookError, AssertionError, OSError) as error:  # a check passed in may assert
            raise self.rejected(release, slot, error, approved_by) from error
        return self.record(release, slot, "live", why or "passed its health check and smoke test", approved_by)

    def rejected(self, release: Release, slot: str, error: Exception, approved_by: str | None = None) -> DeployError:
        """Record that `release` was not put live, and the error that says so and what still serves."""
        said = (error.message if isinstance(error, errors.WorkbookError) else str(error)).strip()
        reason = (said.splitlines()[0].rstrip(".") if said else type(error).__name__) + "."
        self.record(release, slot, "rejected", reason, approved_by)
        live = self.live()
        serving = f"Version {live.release.version} still serves" if live else "Nothing was serving"
        return DeployError(
            f"version {release.version} was not deployed to {self.env}: {reason} {serving} on port {self.port}.",
            logs=getattr(error, "logs", ""),
        )

    def rollback(self, client) -> Event:
        """Serve the model version that was live before this one again: `champion` moves back, then the router
        switches to the warm copy of it (or, when none is warm, a deploy starts one)."""
        from mlops_workbook.ct import gate, training
        from mlops_workbook.example import tracking

        self.refuse_while_paused()
        live = self.live()
        earlier = [
            e
            for e in self.history().itertuples()
            if e.outcome == "live" and live is not None and e.version != live.release.version
        ]
        if not earlier:
            raise DeployError(f"nothing to roll back to in {self.env}: no other version was ever live here")
        previous = earlier[-1]
        warm = self.warm()
        if warm is not None and not (warm.release.version == previous.version and self._answers(warm)):
            self.retire_warm()  # another version's, or dead (killed, out of memory): no switch to it
            warm = None
        gate.point(client, gate.CHAMPION, previous.version)
        client.set_model_version_tag(
            tracking.model_name(),
            live.release.version,
            "rolled_back",
            f"{self.env}: replaced by version {previous.version}",
        )
        if warm is not None:
            (self.folder / "warm.json").unlink()  # it goes live now, or stops (a crash: start_beside stops it)
            started = time.perf_counter()
            try:
                self.take_over(warm, live, keep_warm=False)  # the version rolled back from is nobody's fallback
            except RouterError:
                pass  # take_over stopped it and live still serves: a cold start below
            else:
                took = time.perf_counter() - started
                why = f"rollback from version {live.release.version}: the warm copy took over in {took:.1f} s"
                return self.record(warm.release, warm.name.rsplit("-", 1)[-1], "live", why, None)
        event = self.deploy(
            Release(
                previous.version,
                previous.image,
                previous.model_dir,
                image_id=previous.image_id if isinstance(previous.image_id, str) else None,
                trained_on=training.trained_on(client, previous.version),  # what it learned from, as when it went live
            ),
            why=f"rollback from version {live.release.version}: a cold start, as no copy of it was warm",
        )
        self.retire_warm()  # the version rolled back from is nobody's fallback
        return event

    def serving(self, release: Release) -> Event | None:
        """The event that put `release` live, if it is the live one now."""
        live = self.live()
        if live is None or live.release != release:
            return None
        last = self.history().query("outcome == 'live'").iloc[-1].to_dict()
        return Event(**{key: (None if pd.isna(value) else value) for key, value in last.items()})

    def history(self) -> pd.DataFrame:
        log = self.folder / "history.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        return pd.DataFrame([json.loads(line) for line in lines], columns=list(Event.__dataclass_fields__))

    def stop(self) -> None:
        """Stop the live copy, the warm one, any other in a slot (a canary paused for an approval, recorded as not
        deployed, or one a crashed run left), and the router (the history stays)."""
        try:
            self.retire_warm()
            live = self.live()
            if live is not None:
                self.target.stop(live)
                (self.folder / "live.json").unlink()
            for slot in SLOTS:
                self.target.stop(self._slot_copy(slot))
            end_pause(self.folder, self.env)
        finally:
            self.router.stop()

    def reset(self) -> None:
        """An empty environment: whatever a previous run left is stopped, the histories cleared."""
        self.stop()
        for log in self.folder.glob("*.jsonl"):  # the deploy history, and the rollouts' steps (cd/rollout/progressive)
            log.unlink()

    def record(self, release: Release, slot: str, outcome: str, reason: str, approved_by: str | None) -> Event:
        event = _event(self.env, release, slot, outcome, reason, approved_by)
        _write_history(self.folder, event)
        return event

    def _slot_copy(self, slot: str) -> Copy:
        """Whatever copy of this environment runs in `slot`, found by its name (to stop it)."""
        return Copy(Release("?"), self.slot_port(slot), f"ride-completion-{self.env}-{slot}")

    @staticmethod
    def _answers(copy: Copy) -> bool:
        """`copy` is up and serves the version it was started with."""
        try:
            return http_client.call(copy.port, "/version")["version"] == copy.release.version
        except OSError:
            return False

    def _wait_until_served(self, version: str, timeout: float = 10) -> None:
        def served() -> bool:
            try:
                return http_client.call(self.port, "/version")["version"] == version
            except OSError:
                return False

        if not waiting.within(served, timeout):
            raise RouterError(f"the router on port {self.port} did not serve version {version} within {timeout:g} s")


def port_free(port: int) -> bool:
    """Whether nothing listens on the port on loopback (a copy that was stopped has let it go)."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0
