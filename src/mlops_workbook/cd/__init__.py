"""Continuous Deployment: the serving app (serving/), deploying it per environment (rollout/), deploying the CT
pipeline for its schedulers (scheduling/), the servers a team runs them on (team/), and load on a running API
(load/)."""
