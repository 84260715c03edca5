"""The automation loop of 08_capstone as a timeline: which stage did what, when, and why.

Each step is printed as it happens (the notebook's story) and kept, so that the loop can be shown
at the end as one picture: the stages in lanes, the drift the monitoring saw above them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd

from mlops_workbook.core import errors

STAGES = ("CI", "CD", "CM", "CT")
COLOURS = {"CI": "tab:blue", "CD": "tab:green", "CM": "tab:red", "CT": "tab:purple"}


@dataclass(frozen=True)
class Step:
    seconds: float  # since the loop started
    stage: str
    what: str
    why: str


class Timeline:
    """`loop.mark("CD", "version 2 live in prod", "the gate promoted it")` prints the step and keeps it."""

    def __init__(self):
        self.started = time.monotonic()
        self.steps: list[Step] = []

    def now(self) -> float:
        return time.monotonic() - self.started

    def mark(self, stage: str, what: str, why: str = "") -> None:
        if stage not in STAGES:
            raise errors.BadInputError(f"unknown stage {stage!r}: one of {', '.join(STAGES)}")
        step = Step(round(self.now(), 1), stage, what, why)
        self.steps.append(step)
        print(f"{len(self.steps):>2}. {stage} | {what}" + (f"\n      why: {why}" if why else ""))

    def table(self) -> pd.DataFrame:
        return (
            pd.DataFrame(self.steps, columns=list(Step.__dataclass_fields__))
            .rename_axis("step")
            .set_axis(range(1, len(self.steps) + 1))
        )

    def plot(self, psi: pd.DataFrame, threshold: float):
        """Above: each input's PSI as Prometheus recorded it. Below: the loop's steps, one lane per stage.

        `psi` is `Monitoring.query_range(...)`: one column per feature, indexed by seconds before now.
        """
        fig, (above, below) = plt.subplots(2, 1, figsize=(11, 5.2), sharex=True, height_ratios=[2, 1.5])
        now = self.now()
        for feature in psi.columns:
            above.plot(now + psi.index, psi[feature], label=feature.removeprefix("feature="))
        above.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold}")
        above.set_ylabel("input drift (PSI)")
        above.legend(fontsize=7, ncol=3, loc="upper left")
        for number, step in enumerate(self.steps, start=1):
            lane = STAGES.index(step.stage)
            below.scatter(step.seconds, lane, color=COLOURS[step.stage], s=40, zorder=3)
            below.annotate(
                str(number),
                (step.seconds, lane),
                textcoords="offset points",
                ha="center",
                fontsize=8,
                xytext=(0, 7 if number % 2 else -13),
            )  # alternate, so that close steps stay readable
            above.axvline(step.seconds, color=COLOURS[step.stage], alpha=0.25, linewidth=1)
        below.set_yticks(range(len(STAGES)), STAGES)
        below.set_ylim(-0.6, len(STAGES) - 0.2)
        below.set_xlabel("seconds since the loop started (numbers: the steps above)")
        fig.suptitle("The automation loop: CI → CD → CM → CT → CD")
        fig.tight_layout()
        return fig
