"""Continuous Monitoring: drift statistics, metrics and alerts on the running model."""
