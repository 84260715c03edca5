"""The rules that turn what an exercise's cells raised into a verdict and a hint.

One set of rules for both places a learner meets them: the checker (grading.py, from a run's stored
errors) and a lab run in JupyterLab (feedback.py, from what the kernel just ran), so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

PASSED, UNSOLVED, WRONG, TIMED_OUT, CRASHED = "passed", "not yet solved", "wrong", "timed out", "crashed"
TAMPERED = "tampered"

# The checker interrupts a cell that runs past the timeout; the kernel answers KeyboardInterrupt
# (or nothing, and nbclient reports CellTimeout). In JupyterLab it is the learner who interrupts.
INTERRUPTED = ("KeyboardInterrupt", "CellTimeout")


@dataclass(frozen=True)
class ExerciseResult:
    """One exercise of a lab, as the checker judged it: passed, not yet solved, wrong or timed out, and why."""

    exercise: str
    status: str
    hint: str = ""


@dataclass(frozen=True)
class Raised:
    """An error one of the exercise's cells raised: in the learner's answer or in the locked check."""

    name: str
    value: str
    in_check: bool


def judge(exercise: str, raised: list[Raised], earlier: list[ExerciseResult], endless: str) -> ExerciseResult:
    """The verdict on one exercise from its cells' errors, answers first; `earlier` are the exercises before it.

    `endless` is the hint for an interrupted cell (the checker knows its timeout, JupyterLab does not).
    """
    if not raised:
        return ExerciseResult(exercise, PASSED)
    first = raised[0]
    if first.name in INTERRUPTED:
        return ExerciseResult(exercise, TIMED_OUT, endless)
    if first.name == "NotImplementedError":
        return ExerciseResult(exercise, UNSOLVED, "replace `raise NotImplementedError()` with your answer")
    unfinished = [o.exercise for o in earlier if o.status != PASSED]
    if first.in_check and first.name == "NameError" and unfinished:
        return ExerciseResult(exercise, UNSOLVED, f"finish {', '.join(unfinished)} first")
    if first.in_check and first.name == "AssertionError":
        return ExerciseResult(exercise, WRONG, first.value or "the check failed")
    where = "the check" if first.in_check else "your code"
    return ExerciseResult(exercise, WRONG, f"{where} raised {first.name}: {first.value}")
