"""The CT steps as a Kubeflow Pipelines pipeline, compiled to YAML, and run with kfp's local runner.

This module runs where the kfp SDK is installed (`.venv-kfp`, see `cd/scheduling/pipelines.py`): kfp pins
older protobuf and requests than Airflow, so each has its own environment. One component runs
any step by name, so the pipeline is the step list, in order, and nothing is copied per step.

    python -m mlops_workbook.cd.scheduling.kubeflow compile <settings.json> <folder> <out.yaml>
    python -m mlops_workbook.cd.scheduling.kubeflow run <settings.json> <folder>
"""

# (no `from __future__ import annotations`: kfp reads the component's type hints as real types)

import json
import sys
import warnings
from pathlib import Path

from kfp import compiler, dsl, local

# On a cluster, each step runs in this image: the package with its training dependencies and the kfp SDK
# (not built here). The SDK is in the image, so a step does not pip-install it each time it starts.
TRAINING_IMAGE = "ride-completion-training:latest"


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def ct_step(step: str, settings: str, folder: str, partitions: str) -> dict:
    """Run one CT step of mlops_workbook.ct.steps and return its summary.

    The settings travel as JSON text: a pipeline parameter of type dict would lose nulls and turn ints into floats;
    so do the days to learn from (`partitions`: a JSON list, or null for every day).
    """
    import json

    from mlops_workbook.ct import steps

    return getattr(steps, step)(json.loads(settings), folder, json.loads(partitions))


def pipeline_for(env: str, schedule: str | None):
    from mlops_workbook.cd.scheduling.pipelines import kubeflow_cron
    from mlops_workbook.ct import steps

    def ct_pipeline(settings: str, folder: str, partitions: str = "null"):
        previous = None
        for step in steps.STEPS:
            task = ct_step(step=step.__name__, settings=settings, folder=folder, partitions=partitions)
            task.set_display_name(step.__name__)
            task.set_caching_options(False)  # a new day's data must not be served from yesterday's cache
            if previous is not None:
                task.after(previous)
            previous = task

    cron = kubeflow_cron(schedule)
    when = f"recurring run cron_expression={cron!r} (Kubeflow's 6 fields, seconds first)" if cron else "by hand"
    description = f"Continuous Training for {env}; schedule: {when}"
    return dsl.pipeline(name=f"ct-pipeline-{env}", description=description)(ct_pipeline)


def _task_number(output: Path) -> int:
    """kfp names the tasks ct-step, ct-step-2, ct-step-3, ... in the order they were added."""
    return int(output.parent.name.removeprefix("ct-step").lstrip("-") or 1)


def main(command: str, settings_file: str, folder: str, out: str | None = None) -> int:
    settings = open(settings_file).read()
    parsed = json.loads(settings)
    pipeline = pipeline_for(parsed["env"], parsed["retrain_schedule"])
    if command == "compile":
        compiler.Compiler().compile(pipeline, out, pipeline_parameters={"settings": settings, "folder": folder})
        return 0
    # Locally every step runs in this interpreter: the image and the display names are for a cluster.
    warnings.filterwarnings("ignore", message=".*(non-Python base image|have no effect in the current local runner)")
    root = Path(folder).resolve() / "kfp-outputs"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    pipeline(settings=settings, folder=folder)  # raises if a task fails
    latest = max(root.iterdir(), key=lambda run: run.stat().st_mtime)
    tasks = sorted(latest.glob("ct-step*/executor_output.json"), key=_task_number)
    print(
        json.dumps(
            {
                "pipeline": f"ct-pipeline-{parsed['env']}",
                "state": "success",
                "tasks": [json.loads(out.read_text())["parameterValues"]["Output"] for out in tasks],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
