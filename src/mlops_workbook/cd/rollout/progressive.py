"""Progressive delivery: a new version shadows the champion, then takes a growing share of traffic, each step judged
by its own metrics in Prometheus, and is rolled back at the first step that fails (what Flagger and Argo Rollouts do
on Kubernetes, here with nginx and the environment's Prometheus).

A small state machine, every step of it printed and kept in the environment's folder (`rollouts.jsonl`); its
times are the config's, a team's, held DEMO_SPEEDUP times shorter on this one machine (`rollout.held`):

    start beside the champion (health check, smoke test)
      → canary at each share of `rollout.steps`, held `step_seconds`, then analysed  ─ a check fails → rolled back
      → Continuous Delivery: paused at the last share until a person approves       ─ `abort` → rolled back
        (`approve`), one more step held and analysed; recorded with their name      ─ a check fails → rolled back
      → 100%, the previous copy kept warm for `bake_seconds`, analysed again        ─ a check fails → rolled back
      → promoted

Under Continuous Deployment the analysis alone takes the step to 100%, as Argo Rollouts does without a `pause`
step; the pause is Argo's indefinite `pause: {}`, or Flagger's confirm-promotion gate.

Rolled back means: every request goes to the champion again at once, the candidate stops, the deploy history
records the step and the reason, and so does the registry (a tag on the version, when a client is given).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from mlops_workbook.cd.rollout.deploy import DECIDING, PAUSED, DeployError, Deployment, Event, copy_from
from mlops_workbook.cd.rollout.router import Routes
from mlops_workbook.cd.rollout.targets import Copy, Release
from mlops_workbook.cm import drift
from mlops_workbook.core import errors, http_client, processes, progress, waiting

JOB = 'job="ride-completion-copies"'  # the scrape job of the copies a rollout lists (deploy/prometheus)
SCRAPE_WITHIN = 15  # seconds for Prometheus to start scraping a listed copy
HOLD_AT_MOST = 6  # a step with too few canary requests is held up to this many times its length, then fails
# (6: on a loaded machine users send fewer requests, and a 5% step of 2 s saw 7 in 6 s)


SCORES = "score PSI vs champion"
AGREEMENT = "labels agree"


@dataclass(frozen=True)
class Check:
    """One measurement of a step against its bound."""

    name: str
    value: float
    bound: str
    passed: bool


def analyse(prometheus, track: str, policy, window: float) -> list[Check]:
    """The checks of one step, over the last `window` seconds of the series of the copy on `track` (canary, shadow):
    what Prometheus measured (`measure`), judged against the policy (`judge`). Copies are told apart by track, not by
    model version: a release that changes only the code serves the same version as the champion."""
    return judge(measure(prometheus, track, window), policy)


def measure(prometheus, track: str, window: float) -> dict[str, float]:
    """One step's measurements of the copy on `track`, as Prometheus has them: `up` when judged (0 if its last scrape
    failed, as a crashed copy's do; one scrape missed earlier, a host busy for a second, is no crash), its /predict
    requests and their 5xx, its p99 latency and the champion's (ms), the PSI of its scores against the champion's.
    NaN where there is no series."""
    seconds = f"{max(round(window), 3)}s"  # at least three scrapes (1 s apart): rate() needs two in the window
    predict = f'{JOB}, path="/predict"'

    def one(expr: str) -> float:
        found = prometheus.query(expr)
        return float(found["value"].iloc[0]) if len(found) else float("nan")

    def p99(of: str) -> float:
        quantile = "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{}}}[{}])))"
        return one(quantile.format(f'{predict}, track="{of}"', seconds)) * 1000

    return {
        "up": one(f'min(up{{{JOB}, track="{track}"}})'),
        # increase() extrapolates to the window's edges: a count of requests, given as a whole number
        "requests": round(one(f'sum(increase(http_requests_total{{{predict}, track="{track}"}}[{seconds}]))'), 0),
        "failed": one(f'sum(increase(http_requests_total{{{predict}, track="{track}", status=~"5.."}}[{seconds}]))'),
        "p99_ms": p99(track),
        "champion_p99_ms": p99("champion"),
        **score_psi(prometheus, track, seconds),
    }


def judge(measured: dict[str, float], policy) -> list[Check]:
    """One step's measurements against the policy: did the copy stay up, answer enough requests to judge (no data is
    no evidence), fail few enough of them, answer fast enough, and give scores not grossly unlike the champion's?"""
    up, requests, latency, psi, noise = (
        measured[k] for k in ("up", "requests", "p99_ms", "score_psi", "score_psi_noise")
    )
    failed = 0 if np.isnan(measured["failed"]) else measured["failed"]  # no 5xx series: none failed
    success = 1 - failed / requests if requests > 0 else float("nan")
    # a loaded machine slows every copy: the canary may be as slow as 1.5 x the champion, whatever the bound says
    champion = measured["champion_p99_ms"]
    allowed = policy.max_p99_ms if np.isnan(champion) else max(policy.max_p99_ms, 1.5 * champion)
    return [
        Check("up", up, "== 1 (its last scrape answered)", bool(up == 1)),
        Check("requests", requests, f">= {policy.min_requests}", bool(requests >= policy.min_requests)),
        Check("success rate", success, f">= {policy.min_success_rate}", bool(success >= policy.min_success_rate)),
        Check("p99 latency (ms)", latency, f"<= {allowed:.4g}", bool(latency <= allowed)),
        Check(SCORES, psi, *_within_noise(psi, noise, policy.max_score_psi)),
    ]


def _within_noise(psi: float, noise: float, bound: float) -> tuple[str, bool]:
    """A PSI over the bound rolls back only if chance alone would rarely give it (`drift.psi_noise`): on few scores,
    two samples of one model's differ by more than the bound (16 one-row requests against 500: about 3)."""
    if noise > bound:
        return f"<= {noise:.3g} (its noise on this few scores; the bound is {bound:g})", bool(psi <= noise)
    return f"<= {bound:g}", bool(psi <= bound)


def score_psi(prometheus, track: str, seconds: str) -> dict[str, float]:
    """PSI of the predicted probabilities the copy on `track` gave against those the champion gave in the same window
    (on the requests each got), from the model_score histogram each copy exports: its buckets are the bins. A
    guardrail against a grossly different model, not a measure of quality: a better model differs too. With it, the
    PSI that chance alone would reach on this many scores (`score_psi_noise`). NaN if either answered nothing."""
    counts = []
    for each in ("champion", track):
        found = prometheus.query(f'sum by (le) (increase(model_score_bucket{{{JOB}, track="{each}"}}[{seconds}]))')
        if found.empty:
            return {"score_psi": float("nan"), "score_psi_noise": float("nan")}
        cumulative = found.assign(le=found["le"].astype(float)).sort_values("le")["value"].to_numpy()
        if cumulative[-1] <= 0:
            return {"score_psi": float("nan"), "score_psi_noise": float("nan")}
        counts.append(np.diff(cumulative, prepend=0))
    return {
        "score_psi": drift.psi_of_shares(*(each / each.sum() for each in counts)),
        "score_psi_noise": drift.psi_noise(*counts),
    }


def label_agreement(champion_port: int, shadow_port: int) -> tuple[float, int]:
    """The share of rows both copies labelled alike, joined by the front door's request number (each copy's
    /predictions/log), and how many rows were paired; NaN and 0 if none (or a copy has no log: an image built before
    it). Prometheus counts each version's labels, but cannot say whether the two agreed on the same request."""
    try:
        logs = [http_client.call(port, "/predictions/log")["labels"] for port in (champion_port, shadow_port)]
    except OSError:  # 404 from an older image, as much as a copy gone
        return float("nan"), 0
    pairs = [
        (a, b)
        for number in logs[0].keys() & logs[1].keys()
        if len(logs[0][number]) == len(logs[1][number])
        for a, b in zip(logs[0][number], logs[1][number], strict=True)
    ]
    return (float(np.mean([a == b for a, b in pairs])) if pairs else float("nan")), len(pairs)


@dataclass(frozen=True)
class Paused:
    """A canary held at its last share of traffic until a person approves the step to 100% or aborts it."""

    env: str
    version: str
    percent: int

    def __str__(self) -> str:
        return (
            f"version {self.version} takes {self.percent}% of {self.env}'s traffic and waits for a person: "
            "rollout.approve(name) takes it to 100%, rollout.abort(name) rolls it back"
        )


@dataclass(frozen=True)
class _Pause:
    """What a canary holds: the two copies, the candidate's slot, and, once paused, since when (time.time())."""

    live: Copy
    candidate: Copy
    slot: str
    since: float = 0.0


@dataclass(frozen=True)
class Step:
    """One line of a rollout's record: where traffic stood, what the analysis saw, what was decided."""

    time: str
    env: str
    version: str
    step: str
    canary_percent: int
    checks: dict
    decision: str


class Rollout:
    """Rollouts in one environment: `deployment` routes and runs the copies, `monitoring` is its Prometheus (it lists
    the copies to scrape, cm.stack.Monitoring), `policy` the config's `rollout`, `client` an MLflow client that tags
    the version with the outcome (optional). `against_champion=False` leaves the scores' PSI out of the judgement
    (still measured): when drift broke the champion, its scores are no reference for its replacement, which the
    offline gate judged on the new data; health alone decides then."""

    def __init__(self, deployment: Deployment, monitoring, policy, client=None, show=print, against_champion=True):
        self.deployment, self.monitoring, self.policy, self.client = deployment, monitoring, policy, client
        self.against_champion = against_champion
        self.show = show  # each step's line, as it happens
        self.log = deployment.folder / "rollouts.jsonl"
        self.created = time.time()  # a pause older than this Rollout was judged by another Prometheus

    def canary(self, release: Release, mode: str, approved_by: str | None = None) -> Event | Paused:
        """Take `release` from 0% of traffic through the policy's steps, or roll it back (DeployError). Under
        Continuous Deployment (`mode`), the analysis alone takes it on to 100%: the live Event. Under Continuous
        Delivery it waits at the last step for a person: Paused, until `approve` or `abort` (by this Rollout or any
        other of the environment: the pause is kept in its folder); an approver named here (`approved_by`: who
        started a manual CI job) approves as soon as the last step passed."""
        if mode not in ("delivery", "deployment"):
            raise errors.BadInputError(
                f"mode {mode!r}: a rollout is 'delivery' or 'deployment' (the environment's release_mode)"
            )
        self.deployment.refuse_while_paused()
        live = self.deployment.live()
        if live is None:
            raise errors.BadInputError(
                f"nothing is live in {self.deployment.env}: a canary needs a champion to compare with; "
                "deploy the first version with the blue-green strategy"
            )
        slot = self.deployment.free_slot()
        self._watch(live, (release, self.deployment.slot_port(slot)), "canary")
        try:
            candidate = self.deployment.start_beside(release, slot)
        except (errors.WorkbookError, OSError) as error:
            self._watch(live)
            self._note(release, "start", 0, {}, f"rolled back: {error}")
            raise self.deployment.rejected(release, slot, error) from error
        pause = _Pause(live, candidate, slot)
        waits = mode == "delivery" and not (approved_by and approved_by.strip())
        with self._or_roll_back(pause):
            self.deployment.smoke_check(candidate)
            self._seen(live, candidate, "canary")
            for percent in self.policy.steps:
                self._hold(live, candidate, percent)
            if waits:  # kept before the block ends: an interrupt until then gives the champion every request again
                self._save(pause, percent)
        if mode == "deployment":
            return self._to_full_traffic(pause, "continuous deployment: the analysis", None)
        if not waits:  # approved before the evidence: only the analysis could have stopped it
            return self._to_full_traffic(pause, f"approved by {approved_by} when the rollout started", approved_by)
        self._note(release, "paused", percent, {}, "continuous delivery: waiting for a person to approve(name)")
        return Paused(self.deployment.env, release.version, percent)

    def approve(self, approved_by: str) -> Event:
        """A person takes the paused canary to 100%: one more step is held, and its analysis over the wait and that
        step must pass too."""
        pause, percent = self._waiting(approved_by)
        step, since = f"canary {percent}%, paused", max(pause.since, self.created)
        with self._or_roll_back(pause, approved_by):
            self._watch(pause.live, (pause.candidate.release, pause.candidate.port), "canary")
            if since > pause.since:  # paused by another command: this Prometheus learns the copies first
                try:
                    self._seen(pause.live, pause.candidate, "canary")
                except errors.WorkbookError as unseen:
                    raise _Failed(f"up 0: {unseen.message}", step, percent) from unseen
                since = time.time()  # its evidence starts once it scrapes both
            # one more step held (longer while the canary has too few requests), judged with the wait before it
            self._held(
                pause.candidate,
                "canary",
                self.policy.held(self.policy.step_seconds),
                f"canary, {percent} in 100 requests, once more",
            )
            self._judge(pause.candidate, step, percent, time.time() - since)
        return self._to_full_traffic(pause, f"approved by {approved_by}", approved_by)

    def abort(self, by: str) -> DeployError:
        """A person refuses the paused canary: rolled back as a failed check would be. The DeployError that says so
        (not raised: a refusal is an answer, not a failure of the code)."""
        pause, percent = self._waiting(by)
        return self._roll_back(pause, _Failed(f"refused by {by}", f"canary {percent}%, paused", percent), None)

    def _to_full_traffic(self, pause: _Pause, approval: str, approved_by: str | None) -> Event:
        release = pause.candidate.release
        with self._or_roll_back(pause, approved_by):
            self._note(release, "approval", self.policy.steps[-1], {}, f"to 100%: {approval}")
            self._bake(pause.live, pause.candidate)
            self.deployment.take_over(pause.candidate, pause.live, keep_warm=False)  # the bake was its warm time
        self._watch(pause.candidate)
        why = f"canary {' → '.join(map(str, self.policy.steps))} → 100% passed its analysis; {approval}"
        self._note(release, "promoted", 100, {}, "live; the previous copy stopped")
        self._tag(release, f"promoted: {why}")
        event = self.deployment.record(release, pause.slot, "live", why, approved_by)
        self._decided()
        return event

    @contextmanager
    def _or_roll_back(self, pause: _Pause, approved_by: str | None = None) -> Iterator[None]:
        """A failed check (or a copy gone) rolls the canary back; an interrupt (a kernel stopped mid-step) gives the
        champion every request again, recorded too. Either way a person's claim on a pause ends with the record."""
        try:
            yield
        except (_Failed, errors.WorkbookError, AssertionError, OSError) as failure:
            raise self._roll_back(pause, failure, approved_by) from failure
        except BaseException:
            self._restore(pause.live, pause.candidate)
            release = pause.candidate.release
            self._note(release, "interrupted", 0, {}, "rolled back: every request went to the champion again")
            self.deployment.record(release, pause.slot, "rejected", "interrupted: rolled back to the champion", None)
            self._decided()
            raise

    def _waiting(self, person: str) -> tuple[_Pause, int]:
        """The paused canary a person decides on, and its share, claimed (one decision at a time: the pause is
        renamed, which only one of two people at once can do) until its outcome is recorded; nothing changes if none
        waits or no one is named."""
        if not person or not person.strip():
            raise errors.BadInputError("name the person who decides on the step to 100%; nothing changed")
        folder = self.deployment.folder
        try:
            os.rename(folder / PAUSED, folder / DECIDING)
        except FileNotFoundError:
            self.deployment.refuse_while_paused()  # another person's decision is under way: it says so
            raise errors.BadInputError(
                f"no canary is waiting for an approval in {self.deployment.env}: a canary pauses before 100% under "
                "continuous delivery (rollout.canary(release, mode='delivery')); nothing changed"
            ) from None
        saved = json.loads((folder / DECIDING).read_text())
        copies = (copy_from(saved["live"]), copy_from(saved["candidate"]))
        return _Pause(*copies, saved["slot"], saved["since"]), saved["percent"]

    def _decided(self) -> None:
        """A person's claim on a pause (`_waiting`) ends once the outcome is recorded: nothing is refused for it."""
        (self.deployment.folder / DECIDING).unlink(missing_ok=True)

    def _save(self, pause: _Pause, percent: int) -> None:
        """The pause, written whole or not at all (another process reads it)."""
        saved = {"live": asdict(pause.live), "candidate": asdict(pause.candidate), "slot": pause.slot}
        state = {**saved, "percent": percent, "since": time.time()}
        written = self.deployment.folder / f".{PAUSED}.{os.getpid()}"
        written.write_text(json.dumps(state))
        os.replace(written, self.deployment.folder / PAUSED)

    def shadow(self, release: Release, seconds: float | None = None) -> pd.DataFrame:
        """Run `release` as a shadow for `seconds` as this machine waits them (default: one step, as held here): it
        gets a copy of every /predict, users get only the champion's answers. Then it stops. The report compares the
        two on the same requests."""
        self.deployment.refuse_while_paused()
        live = self.deployment.live()
        if live is None:
            raise errors.BadInputError(f"nothing is live in {self.deployment.env}: a shadow needs a champion")
        slot = self.deployment.free_slot()
        self._watch(live, (release, self.deployment.slot_port(slot)), "shadow")
        try:
            candidate = self.deployment.start_beside(release, slot)
        except (errors.WorkbookError, OSError) as error:
            self._watch(live)
            raise self.deployment.rejected(release, slot, error) from error
        window = seconds or self.policy.held(self.policy.step_seconds)
        try:
            self.deployment.smoke_check(candidate)
            self._seen(live, candidate, "shadow")
            self.deployment.router.route(Routes(live.port, shadow=candidate.port))
            held = self._held(candidate, "shadow", window, f"shadow of version {release.version}")
            report = self._report(live, candidate, held)
        except (errors.WorkbookError, AssertionError, OSError) as failure:
            self._note(release, "shadow", 0, {}, f"stopped: {failure}")
            raise self.deployment.rejected(release, slot, failure) from failure
        finally:
            self._restore(live, candidate)
        measured = report.loc["shadow"].drop("version").to_dict()
        self._note(release, "shadow", 0, measured, "shadow only: no user saw its answers")
        return report

    def history(self) -> pd.DataFrame:
        """Every step of every rollout in this environment, oldest first."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        rows = [json.loads(line) for line in lines]
        return pd.DataFrame(rows, columns=list(Step.__dataclass_fields__))

    def table(self) -> pd.DataFrame:
        """The history as a person reads it: one row per step, one column per measurement ('' where none)."""
        steps = self.history()
        shown = [{name: _shown(value) for name, value in checks.items()} for checks in steps["checks"]]
        measured = pd.DataFrame(shown, index=steps.index, dtype=object)
        table = pd.concat([steps[["version", "step", "canary_percent"]], measured, steps[["decision"]]], axis=1)
        return table.rename(columns={"canary_percent": "canary %"}).fillna("")

    def _hold(self, live: Copy, candidate: Copy, percent: int) -> None:
        self.deployment.router.route(Routes(live.port, candidate.port, percent))
        # no % in a progress bar's name: tqdm's notebook widget would take it for the bar's own
        window = self._held(
            candidate, "canary", self.policy.held(self.policy.step_seconds), f"canary, {percent} in 100 requests"
        )
        self._judge(candidate, f"canary {percent}%", percent, window)

    def _bake(self, live: Copy, candidate: Copy) -> None:
        """100% to the candidate, the champion still running: a failure now goes back without a start."""
        self.deployment.router.route(Routes(candidate.port))
        window = self._held(
            candidate, "canary", self.policy.held(self.policy.bake_seconds), "canary, all requests, previous copy warm"
        )
        self._judge(candidate, "100% (bake)", 100, window)

    def _held(self, candidate: Copy, track: str, seconds: float, what: str) -> float:
        """Hold the step `seconds`, and longer (up to HOLD_AT_MOST times) while the candidate has answered fewer than
        `min_requests`: on little traffic a step waits for evidence, and without it fails. The step's length."""
        started = time.monotonic()
        self._wait(seconds, what)
        while time.monotonic() - started < HOLD_AT_MOST * seconds:
            window = f"{max(round(time.monotonic() - started), 3)}s"
            seen = self.monitoring.query(
                f'sum(increase(http_requests_total{{{JOB}, path="/predict", track="{track}"}}[{window}]))'
            )
            if len(seen) and seen["value"].iloc[0] >= self.policy.min_requests:
                break
            time.sleep(1)
        return time.monotonic() - started

    def _judge(self, candidate: Copy, step: str, percent: int, window: float) -> None:
        # one scrape more than the step: increase() counts from the window's first sample, and a failure before it
        # (the step's first request, say) would not count; the sample from before the step does
        checks = analyse(self.monitoring, "canary", self.policy, window + self.monitoring.interval_seconds)
        if percent == 100:  # the champion answers nobody now: there is nothing to compare with
            checks = [c for c in checks if c.name != SCORES]
        measured = {c.name: c.value for c in checks}
        judged = checks if self.against_champion else [c for c in checks if c.name != SCORES]  # measured only
        failed = [c for c in judged if not c.passed]
        if failed:
            why = "; ".join(f"{c.name} {c.value:.4g} (needs {c.bound})" for c in failed)
            raise _Failed(why, step, percent, measured)
        unjudged = "" if self.against_champion or percent == 100 else "; scores measured, not judged"
        self._note(candidate.release, step, percent, measured, f"passed: next step{unjudged}")

    def _roll_back(self, pause: _Pause, failure: Exception, approved_by: str | None) -> DeployError:
        live, candidate = pause.live, pause.candidate
        started = time.perf_counter()
        self._restore(live, candidate)
        seconds = time.perf_counter() - started
        step, percent = getattr(failure, "step", "0% (before any traffic)"), getattr(failure, "percent", 0)
        reason = failure.message if isinstance(failure, errors.WorkbookError) else str(failure)
        measured = {**getattr(failure, "measured", {}), "rollback (s)": round(seconds, 3)}
        self._note(candidate.release, step, percent, measured, f"rolled back: {reason}")
        self._tag(candidate.release, f"rolled back at {step}: {reason}")
        rejected = self.deployment.rejected(
            candidate.release, pause.slot, DeployError(f"rolled back at {step}: {reason}"), approved_by
        )
        self._decided()
        return rejected

    def _restore(self, live: Copy, candidate: Copy) -> None:
        """Every request to the champion at once (once nginx's old workers are gone, the candidate gets none), then
        the candidate stops and Prometheus forgets it, whatever failed on the way."""
        try:
            self.deployment.router.route(Routes(live.port))
            self.deployment.router.wait_settled()
        finally:
            self.deployment.target.stop(candidate)
            self._watch(live)

    def _watch(self, live: Copy, candidate: tuple[Release, int] | None = None, track: str = "") -> None:
        """Tell Prometheus which copies to scrape directly, each labelled with its version and track: the champion,
        and the candidate's (release, port), listed before it starts (Prometheus applies a new target up to 5 s
        after it is listed)."""
        copies = {live.port: {"version": live.release.version, "track": "champion"}}
        if candidate is not None:
            copies[candidate[1]] = {"version": candidate[0].version, "track": track}
        self.monitoring.list_copies(copies)

    def _seen(self, live: Copy, candidate: Copy, track: str) -> None:
        """Wait until Prometheus scrapes both copies: a step it cannot see would be judged on no data (a champion
        just deployed is new to it too)."""
        for copy, on in ((live, "champion"), (candidate, track)):
            waiting.until(
                lambda copy=copy, on=on: self.monitoring.target_up(copy.port, track=on),
                SCRAPE_WITHIN,
                what=f"Prometheus to scrape version {copy.release.version} ({on}) on port {copy.port}",
            )

    def _wait(self, seconds: float, what: str) -> None:
        ticks = max(round(seconds), 1)
        for _ in progress.bar(range(ticks), desc=what, unit="second"):
            time.sleep(seconds / ticks)
        time.sleep(self.monitoring.interval_seconds)  # the step's last scrape lands in the window

    def _report(self, live: Copy, shadow: Copy, window: float) -> pd.DataFrame:
        """The champion and the shadow side by side, on the same requests (the shadow got a copy of each), and how
        often the shadow's label agreed with the champion's on a row both answered."""
        rows = {
            track: {"version": copy.release.version} | {c.name: _shown(c.value) for c in checks}
            for track, copy in (("champion", live), ("shadow", shadow))
            for checks in [analyse(self.monitoring, track, self.policy, window)]
        }
        agreed, paired = label_agreement(live.port, shadow.port)
        rows["champion"] |= {AGREEMENT: 1 if paired else float("nan"), "rows paired": paired}
        rows["shadow"] |= {AGREEMENT: _shown(agreed), "rows paired": paired}
        return pd.DataFrame(rows).T.rename_axis("track")

    def _note(self, release: Release, step: str, percent: int, checks: dict, decision: str) -> None:
        line = Step(
            datetime.now(UTC).isoformat(timespec="milliseconds"),  # a plot of the rollout marks its steps
            self.deployment.env,
            release.version,
            step,
            percent,
            checks,
            decision,
        )
        with self.log.open("a") as log:
            log.write(json.dumps(asdict(line)) + "\n")
        measured = ", ".join(
            f"{name} {value:.0f}" if float(value).is_integer() else f"{name} {value:.3g}"  # 6280, not 6.28e+03
            for name, value in checks.items()
            if isinstance(value, float | int)
        )
        self.show(f"version {release.version} · {step}: {measured + ' · ' if measured else ''}{decision}")

    def _tag(self, release: Release, outcome: str) -> None:
        if self.client is not None:
            from mlops_workbook.example import tracking

            self.client.set_model_version_tag(
                tracking.model_name(), release.version, f"rollout.{self.deployment.env}", outcome[:5000]
            )


@contextmanager
def with_prometheus(deployment: Deployment, policy, client=None, show=print) -> Iterator[Rollout]:
    """A Rollout with the environment's Prometheus started beside it for its length, as a terminal's or a CI job's
    deploy runs it (Prometheus alone: an analysis needs no Alertmanager), and stopped however the rollout ends."""
    from mlops_workbook.cm import stack

    if deployment.live() is None:
        raise errors.BadInputError(
            f"nothing is live in {deployment.env}: a shadow needs a live version to compare with; deploy the first "
            f"one whole (mlops-workbook deploy --env {deployment.env} --strategy blue-green or canary)"
        )
    if processes.running(f"{deployment.env}-prometheus"):
        raise errors.UnavailableError(
            f"{deployment.env}'s Prometheus is running already, started by a notebook: run the rollout from there, "
            "or stop it first (mlops-workbook stop)"
        )
    monitoring = stack.Monitoring(deployment.env, deployment.port, deployment.folder / "monitoring", alerting=False)
    monitoring.start()
    try:
        yield Rollout(deployment, monitoring, policy, client, show)
    finally:
        monitoring.stop()


def _shown(value):
    """A measurement as a table shows it: a whole number as one (155 requests, a success rate of 1), the rest to 3
    decimals."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else round(value, 3)
    return value


class _Failed(Exception):
    """A step's analysis (or the approval) said no: what failed, at which step, and what was measured."""

    def __init__(self, why: str, step: str, percent: int, measured: dict | None = None):
        super().__init__(why)
        self.step, self.percent, self.measured = step, percent, measured or {}
