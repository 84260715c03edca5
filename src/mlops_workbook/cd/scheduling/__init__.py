"""Deploying the CT pipeline for its schedulers: install and check it (pipelines), the Airflow DAG (airflow_dag) and the
Kubeflow pipeline (kubeflow), each of those two run inside its own environment.
"""
