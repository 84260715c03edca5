"""Prometheus and Alertmanager for one environment, started from deploy/'s files on loopback.

The configuration a team would ship is `deploy/prometheus/` and `deploy/alertmanager/` (what
docker-compose.yml runs). Here the same files run as Debian's binaries, with only what a one-machine
demo needs changed: 127.0.0.1 addresses, 1 s scrape and evaluation, short Alertmanager waits, and
the two secrets (SMTP_PASSWORD, SLACK_WEBHOOK_URL) read from the environment into a private folder
that is deleted on stop. Nothing of it is needed by the app: if monitoring stops, serving goes on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from mlops_workbook import errors, paths, processes

DEPLOY = Path("deploy")
SECRETS = {"smtp_password": "SMTP_PASSWORD", "slack_webhook_url": "SLACK_WEBHOOK_URL"}  # file: environment variable


class MonitoringError(errors.WorkbookError, RuntimeError):
    """Prometheus or Alertmanager could not start or answer; the message says why."""


@dataclass(frozen=True)
class Ports:
    """The loopback ports of one environment's monitoring, next to its serve_port (dev 8100: 8190...)."""

    prometheus: int
    alertmanager: int
    smtp: int
    webhook: int
    retrain: int  # the CT trigger's webhook (08_capstone)

    @classmethod
    def near(cls, serve_port: int) -> Ports:
        return cls(serve_port + 90, serve_port + 93, serve_port + 25, serve_port + 94, serve_port + 95)


def shipped(name: str) -> dict:
    """One of deploy/'s files, as a dict: 'prometheus/prometheus.yml', 'alertmanager/alertmanager.yml'..."""
    return yaml.safe_load((paths.resolve(DEPLOY) / name).read_text())


RETRAIN_RECEIVER = "ct-retrain"


def with_retrain_hook(config: dict, url: str) -> dict:
    """Alertmanager's config with `InputDrift` also posted to the CT trigger's webhook at `url`.

    `continue: true` lets the alert go on to the team's route too. One notification carries every
    drifted feature (grouped by alert name), so one drift starts one retrain, not one per feature.
    """
    team = config["route"]["receiver"]
    route = {
        "receiver": RETRAIN_RECEIVER,
        "matchers": ['alertname="InputDrift"'],
        "group_by": ["alertname"],
        "continue": True,
    }
    receiver = {"name": RETRAIN_RECEIVER, "webhook_configs": [{"url": url, "send_resolved": False}]}
    return {
        **config,
        "route": {**config["route"], "routes": [route, {"receiver": team}]},
        "receivers": [*config["receivers"], receiver],
    }


def routed_to(config: dict, folder: Path, **labels: str) -> list[str]:
    """The receivers Alertmanager's own router picks for an alert with these labels (`amtool config routes test`)."""
    path = Path(folder) / "alertmanager-routes.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = subprocess.run(
        [
            "amtool",
            "config",
            "routes",
            "test",
            f"--config.file={path}",
            *(f"{name}={value}" for name, value in labels.items()),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise MonitoringError(f"amtool rejected the configuration: {result.stderr.strip() or result.stdout.strip()}")
    return sorted(result.stdout.strip().split(","))


class Monitoring:
    """`Monitoring(env, app_port, folder).start()`: Prometheus scraping the app, Alertmanager behind it."""

    def __init__(self, env: str, app_port: int, folder: Path, interval: str = "1s", retrain_url: str | None = None):
        self.env, self.app_port, self.folder, self.interval = env, app_port, Path(folder), interval
        self.retrain_url = retrain_url  # where InputDrift is posted besides the team (None: only the team)
        self.ports = Ports.near(app_port)
        self.prometheus_url = f"http://127.0.0.1:{self.ports.prometheus}"
        self.alertmanager_url = f"http://127.0.0.1:{self.ports.alertmanager}"
        self.secrets_folder: Path | None = None  # while running: one file per secret, mode 600

    def prometheus_config(self) -> dict:
        config = shipped("prometheus/prometheus.yml")
        config["global"].update(
            scrape_interval=self.interval, evaluation_interval=self.interval, external_labels={"env": self.env}
        )
        config["rule_files"] = [str(paths.resolve(DEPLOY) / "prometheus" / name) for name in config["rule_files"]]
        config["alerting"]["alertmanagers"][0]["static_configs"] = [
            {"targets": [f"127.0.0.1:{self.ports.alertmanager}"]}
        ]
        config["scrape_configs"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{self.app_port}"]}]
        return config

    def alertmanager_config(self, secrets: Path) -> dict:
        config = shipped("alertmanager/alertmanager.yml")
        config["global"].update(
            smtp_smarthost=f"127.0.0.1:{self.ports.smtp}",
            smtp_require_tls=False,
            smtp_auth_password_file=str(secrets / "smtp_password"),
            slack_api_url_file=str(secrets / "slack_webhook_url"),
        )
        config["route"].update(group_wait="1s", group_interval="2s", repeat_interval="1h")
        return with_retrain_hook(config, self.retrain_url) if self.retrain_url else config

    def start(self) -> Monitoring:
        """Stop what an earlier run left, then start Alertmanager and Prometheus and wait until ready."""
        missing = [variable for variable in SECRETS.values() if not os.environ.get(variable)]
        if missing:
            raise MonitoringError(
                f"set {' and '.join(missing)} in the environment: Alertmanager reads its "
                "secrets from there (never from a file in the repository)"
            )
        self.stop()
        self.secrets_folder = Path(tempfile.mkdtemp(prefix="alertmanager-secrets-"))
        for name, variable in SECRETS.items():
            secret = self.secrets_folder / name
            secret.touch(mode=0o600)
            secret.write_text(os.environ[variable])
        self.folder.mkdir(parents=True, exist_ok=True)
        am_config = self._write("alertmanager.yml", self.alertmanager_config(self.secrets_folder))
        self._launch(
            "alertmanager",
            [
                "prometheus-alertmanager",
                f"--config.file={am_config}",
                f"--storage.path={self.folder / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{self.ports.alertmanager}",
                "--cluster.listen-address=",
            ],
            f"{self.alertmanager_url}/-/ready",
        )
        prom_config = self._write("prometheus.yml", self.prometheus_config())
        self._launch(
            "prometheus",
            [
                "prometheus",
                f"--config.file={prom_config}",
                f"--storage.tsdb.path={self.folder / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{self.ports.prometheus}",
                "--rules.alert.resend-delay=1s",
            ],  # the default (1 min) delays the first alert
            f"{self.prometheus_url}/-/ready",
        )
        return self

    def stop(self, name: str | None = None) -> None:
        """Stop Prometheus and Alertmanager (or just one of them), whichever run started them."""
        for process in [name] if name else ["prometheus", "alertmanager"]:
            processes.stop(self._process_name(process), timeout=10)
        if name is None and self.secrets_folder is not None:
            shutil.rmtree(self.secrets_folder, ignore_errors=True)
            self.secrets_folder = None

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

    def target_up(self) -> bool:
        targets = self._get(f"{self.prometheus_url}/api/v1/targets")["data"]["activeTargets"]
        return any(t["health"] == "up" for t in targets)

    def _prometheus(self, endpoint: str, **params) -> list:
        url = f"{self.prometheus_url}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}"
        return self._get(url)["data"]["result"]

    @staticmethod
    def _get(url: str) -> dict:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as error:
            raise MonitoringError(f"{url} answered {error.code}: {error.read().decode()[:300]}") from None

    def _write(self, name: str, config: dict) -> Path:
        path = self.folder / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def _process_name(self, name: str) -> str:
        """Its name in the process registry: one Prometheus and one Alertmanager per environment."""
        return f"{self.env}-{name}"

    def _launch(self, name: str, command: list[str], ready_url: str, timeout: float = 30) -> None:
        if shutil.which(command[0]) is None:
            raise MonitoringError(
                f"{command[0]} is not installed: apt-get install --no-install-recommends "
                "prometheus prometheus-alertmanager"
            )
        log = self.folder / f"{name}.log"
        process = processes.start(self._process_name(name), command, log)
        if processes.wait_ready(process, lambda: _answers(ready_url), timeout):
            return
        tail = "\n".join(log.read_text().strip().splitlines()[-5:])
        self.stop(name)
        raise MonitoringError(f"{name} did not become ready in {timeout:g} s.", logs=tail)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False
