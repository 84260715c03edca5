"""Continuous Training: the data pipeline that prepares features, and the training pipeline.

The steps are plain functions, so the same code runs directly, in an Airflow DAG or in a
Kubeflow pipeline (04_cd_pipelines deploys them).
"""
