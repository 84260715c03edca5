"""Team mode: the servers staging and prod run on where a team works (PostgreSQL, MLflow's tracking server and
registry on it, Airflow's scheduler on it), started per environment by `mlops-workbook up`."""
