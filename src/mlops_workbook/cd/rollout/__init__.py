"""Deploying the serving app: where a copy runs (targets), the front door (router), health-gated blue/green deploys
(deploy), staging to prod by delivery or deployment (release), and the CI/CD definition run by a CI tool (ci_pipeline).
"""
