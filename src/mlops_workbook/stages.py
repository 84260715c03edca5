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
    "run the unit tests": "CI",
    "check the model gives the same predictions as on our machine": "CI",
    "build the Docker image": "CI",
    "deploy the serving API": "CD",
    "install the training DAG in the scheduler": "CD",
    "validate a new data partition and build features": "CT",
    "retrain the model on new data": "CT",
    "email the team when inputs drift": "CM",
    "watch CPU and memory of the API": "CM",
}
"""Everyday tasks and the stage that automates each: the overview lab's answer key."""
