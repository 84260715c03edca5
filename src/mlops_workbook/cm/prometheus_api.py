"""Prometheus's HTTP API, read the way the lessons read it: PromQL results and alerts as tables."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pandas as pd

from mlops_workbook.cm.stack_config import MonitoringError, seconds


class PrometheusAPI:
    """Queries to the Prometheus at `url`, whose scrape interval is `interval` (the step of a range query)."""

    def __init__(self, url: str, interval: str = "1s"):
        self.prometheus_url, self.interval = url, interval
        self.interval_seconds = seconds(interval)  # a bad duration fails here, not at the first query

    def query(self, expr: str) -> pd.DataFrame:
        """An instant PromQL query: one row per series, its labels and value."""
        result = self._prometheus("query", query=expr)
        return pd.DataFrame([{**s["metric"], "value": float(s["value"][1])} for s in result])

    def query_range(self, expr: str, seconds: float, step: str | None = None) -> pd.DataFrame:
        """The last `seconds` of a PromQL expression: one column per series, indexed by seconds ago."""
        end = time.time()
        result = self._prometheus("query_range", query=expr, start=end - seconds, end=end, step=step or self.interval)
        columns = {}
        for s in result:
            label = ",".join(
                f"{k}={v}" for k, v in s["metric"].items() if k not in ("__name__", "job", "instance", "env")
            )
            columns[label or expr] = pd.Series({round(float(t) - end, 1): float(v) for t, v in s["values"]})
        return pd.DataFrame(columns).rename_axis("seconds")

    def alerts(self, name: str | None = None) -> pd.DataFrame:
        """Prometheus's view of its alerts now (those named `name`, if given): name, feature, state (pending or
        firing). A lesson about drift asks for InputDrift: a loaded machine may also be slow, and say so."""
        alerts = self._get(f"{self.prometheus_url}/api/v1/alerts")["data"]["alerts"]
        alerts = [a for a in alerts if name is None or a["labels"]["alertname"] == name]
        return pd.DataFrame(
            [
                {"alert": a["labels"]["alertname"], "feature": a["labels"].get("feature", ""), "state": a["state"]}
                for a in alerts
            ],
            columns=["alert", "feature", "state"],
        )

    def target_up(self, port: int | None = None, **labels: str) -> bool:
        """Whether Prometheus scrapes a target (the one on `port` with these `labels`, if given) and its last scrape
        succeeded."""
        targets = self._get(f"{self.prometheus_url}/api/v1/targets")["data"]["activeTargets"]
        return any(
            t["health"] == "up"
            and (port is None or t["labels"]["instance"].endswith(f":{port}"))
            and all(t["labels"].get(name) == value for name, value in labels.items())
            for t in targets
        )

    def _prometheus(self, endpoint: str, **params) -> list:
        url = f"{self.prometheus_url}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}"
        return self._get(url)["data"]["result"]

    @staticmethod
    @staticmethod
    def _get(url: str) -> dict:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as error:
            raise MonitoringError(f"{url} answered {error.code}: {error.read().decode()[:300]}") from None
