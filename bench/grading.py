"""Grading throughput: a class of the light labs graded one by one and side by side, here and in containers.

The light labs (00, 01, 05, 06) need no server, so they are the ones a grading container takes. The class is
each lab's solution handed in by `learners` learners; the container's cost per submission is the difference
between the contained and the plain serial runs, per submission.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from mlops_workbook.core import paths
from mlops_workbook.course import grading, verdicts

LIGHT_LABS = ("00_overview", "01_ci_testing", "05_ct_data_pipeline", "06_ct_training_pipeline")


def _class(folder: Path, learners: int) -> int:
    for i in range(learners):
        (folder / f"learner-{i}").mkdir(parents=True)
        for lab in LIGHT_LABS:
            shutil.copy(paths.project_root() / "solutions" / f"{lab}.ipynb", folder / f"learner-{i}" / f"{lab}.ipynb")
    return learners * len(LIGHT_LABS)


def run(learners: int = 2) -> dict:
    cores = os.cpu_count() or 1
    rows, seconds = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        count = _class(Path(scratch), learners)
        for contained in (False, True):
            for jobs in (1, cores):
                start = time.perf_counter()
                report = grading.class_report(Path(scratch), timeout=120, jobs=jobs, contained=contained)
                took = seconds[contained, jobs] = time.perf_counter() - start
                rows.append(
                    {
                        "where": "throwaway containers" if contained else "here (unsandboxed)",
                        "side by side": jobs,
                        "submissions": count,
                        "seconds": round(took, 1),
                        "submissions/min": round(count / took * 60, 1),
                        "all passed": bool((report["result"] == verdicts.PASSED).all()),
                    }
                )
    overhead = (seconds[True, 1] - seconds[False, 1]) / count
    speedup = seconds[True, 1] / seconds[True, cores]
    return {
        "title": f"Grading throughput: the light labs ({', '.join(lab[:2] for lab in LIGHT_LABS)}), "
        f"{count} submissions",
        "rows": rows,
        "notes": [
            f"a throwaway container costs {overhead:.1f} s per submission (contained minus plain, one at a time)",
            f"side by side on {cores} cores, contained: {speedup:.1f}x one at a time",
        ],
        "targets": [
            {"target": "every solution passes, contained or not", "met": all(r["all passed"] for r in rows)},
            {"target": "a container adds at most 3 s per submission", "met": overhead <= 3},
            {
                "target": f"side by side on {cores} cores grades at least 1.5x faster than one by one",
                "met": speedup >= 1.5,
            },
        ],
    }
