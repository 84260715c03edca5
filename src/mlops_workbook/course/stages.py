"""The map of automation stages: what each one automates, and with which tools.

The lesson names the usual tools; the last columns say what this workbook runs for
real on one machine, and in which notebook. The overview notebook shows this table,
and its lab checks a learner's answers against it.
"""

from __future__ import annotations

import pandas as pd

STAGES = pd.DataFrame(
    [
        (
            "CI",
            "Continuous Integration",
            "run the tests (code, data, model reproducibility)",
            "GitLab CI or Jenkins",
            "pytest, gitlab-ci-local",
            "01_ci_testing",
        ),
        (
            "CI",
            "Continuous Integration",
            "package code, model and environment into an image",
            "GitLab CI or Jenkins",
            "Docker (docker SDK)",
            "02_ci_packaging",
        ),
        (
            "CD",
            "Continuous Delivery",
            "deploy the serving API",
            "GitLab CI or Jenkins",
            "FastAPI, Docker",
            "03_cd_serving",
        ),
        (
            "CD",
            "Continuous Delivery",
            "deploy the pipelines",
            "GitLab CI or Jenkins",
            "Airflow DAG, Kubeflow Pipelines YAML",
            "04_cd_pipelines",
        ),
        (
            "CT",
            "Continuous Training",
            "run the data pipeline that prepares features",
            "Airflow or Kubeflow Pipelines",
            "pandera, the package's steps",
            "05_ct_data_pipeline",
        ),
        (
            "CT",
            "Continuous Training",
            "run the training pipeline that trains the model",
            "Airflow or Kubeflow Pipelines",
            "scikit-learn, MLflow registry",
            "06_ct_training_pipeline",
        ),
        (
            "CM",
            "Continuous Monitoring",
            "watch and alert on model performance and system resources",
            "Prometheus and Grafana",
            "Prometheus, Alertmanager, Grafana JSON",
            "07_cm_monitoring",
        ),
    ],
    columns=["stage", "name", "what is automated", "tools the lesson names", "run here with", "notebook"],
)

TASKS = {
    "a pull request changes how `reliability` is computed: it must not merge until its tests pass": "CI",
    "the same code, data and seed give other predictions on the CI runner than on a laptop": "CI",
    "code, model and locked packages must ship as one artifact that staging and prod both run": "CI",
    "the registry's champion moved to version 4: the API must start serving it without dropping a request": "CD",
    "a new Airflow DAG file, with prod's schedule, must reach prod's scheduler": "CD",
    "yesterday's bookings landed in the warehouse overnight: check them and turn them into features": "CT",
    "version 5 scores below the champion on the same held-out rows: version 4 must keep serving": "CT",
    "live accuracy on last week's bookings fell to 55%: the team must hear of it": "CM",
    "the API's memory climbs towards its container's limit": "CM",
}
"""Situations, and the stage whose automation handles each: the overview lab's answer key. None is a line of
the map above; each needs what the stage is for (a pipeline's DAG is deployed by CD, a worse model is kept out by
CT's gate)."""
