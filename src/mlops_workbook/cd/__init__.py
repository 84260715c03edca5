"""Continuous Deployment: the serving API, and deploying it and the pipelines per environment."""
