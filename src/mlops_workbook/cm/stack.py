"""Prometheus and Alertmanager for one environment, run as Debian's binaries on loopback from deploy/'s files.

cm.stack_config makes the configuration (the shipped files, with what one machine changes), this module runs the two
servers (started, waited for, stopped, whatever run left them), and cm.prometheus_api asks Prometheus. The two
secrets (SMTP_PASSWORD, SLACK_WEBHOOK_URL) are read from the environment into a private folder that is deleted
on stop. Nothing of it is needed by the app: if monitoring stops, serving goes on.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import yaml

from mlops_workbook.cm import stack_config
from mlops_workbook.cm.prometheus_api import PrometheusAPI
from mlops_workbook.core import errors, http_client, processes


class Monitoring(PrometheusAPI):
    """`Monitoring(env, app_port, folder).start()`: Prometheus scraping the app, Alertmanager behind it; then ask it
    (PrometheusAPI: query, query_range, alerts)."""

    def __init__(
        self,
        env: str,
        app_port: int,
        folder: Path,
        retrain_url: str | None = None,
        alerting: bool = True,
    ):
        self.ports = stack_config.Ports.near(app_port)
        # the demo's interval, fixed: the rules are sped up for it (stack_config.demo_rules)
        super().__init__(f"http://127.0.0.1:{self.ports.prometheus}", stack_config.DEMO_INTERVAL)
        self.env, self.app_port, self.folder = env, app_port, Path(folder)
        self.retrain_url = retrain_url  # where InputDrift is posted besides the team (None: only the team)
        self.alerting = alerting  # False: Prometheus alone (a rollout's analysis needs no Alertmanager, no secrets)
        self.alertmanager_url = f"http://127.0.0.1:{self.ports.alertmanager}"
        self.secrets_folder: Path | None = None  # while running: one file per secret, mode 600

    def prometheus_config(self) -> dict:
        config = stack_config.prometheus(self.env, self.app_port, self.ports, self.interval, self.folder / "copies")
        if not self.alerting:
            config.pop("alerting")
        return config

    def write_prometheus_config(self) -> Path:
        """prometheus.yml in the folder, and beside it the rules it names: the team's, sped up for the demo."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write("rules.yml", stack_config.local_rules())
        return self._write("prometheus.yml", self.prometheus_config())

    def list_copies(self, copies: dict[int, dict[str, str]]) -> None:
        """Scrape these copies of the app directly, {port: labels}, instead of those listed before (a rollout's
        canary, shadow and champion, labelled with version and track). Prometheus reads the file as it changes and
        scrapes a new target within about 5 s (its discovery's pace)."""
        listed = self.folder / "copies" / "rollout.json"
        listed.parent.mkdir(parents=True, exist_ok=True)
        targets = [{"targets": [f"127.0.0.1:{port}"], "labels": labels} for port, labels in copies.items()]
        staged = listed.with_suffix(".tmp")  # written whole, then moved: Prometheus never reads half a file
        staged.write_text(json.dumps(targets))
        staged.replace(listed)

    def alertmanager_config(self, secrets: Path) -> dict:
        return stack_config.alertmanager(self.ports, secrets, self.retrain_url)

    def start(self) -> Monitoring:
        """Stop what an earlier run left, then start Alertmanager (unless `alerting` is off) and Prometheus and wait
        until ready."""
        missing = [variable for variable in stack_config.SECRETS.values() if not os.environ.get(variable)]
        if self.alerting and missing:
            raise errors.UnavailableError(
                f"set {' and '.join(missing)} in the environment: Alertmanager reads its "
                "secrets from there (never from a file in the repository)"
            )
        self.stop()
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.alerting:
            self._start_alertmanager()
        self.list_copies({})  # the folder must exist before Prometheus starts: it watches it for changes
        prom_config = self.write_prometheus_config()
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

    def _start_alertmanager(self) -> None:
        self.secrets_folder = Path(tempfile.mkdtemp(prefix="alertmanager-secrets-"))
        for name, variable in stack_config.SECRETS.items():
            secret = self.secrets_folder / name
            secret.touch(mode=0o600)
            secret.write_text(os.environ[variable])
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

    def stop(self, name: str | None = None) -> None:
        """Stop Prometheus and Alertmanager (or just one of them), whichever run started them."""
        for process in [name] if name else ["prometheus", "alertmanager"]:
            processes.stop(self._process_name(process), timeout=10)
        if name is None and self.secrets_folder is not None:
            shutil.rmtree(self.secrets_folder, ignore_errors=True)
            self.secrets_folder = None

    def _write(self, name: str, config: dict) -> Path:
        path = self.folder / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def _process_name(self, name: str) -> str:
        """Its name in the process registry: one Prometheus and one Alertmanager per environment."""
        return f"{self.env}-{name}"

    def _launch(self, name: str, command: list[str], ready_url: str, timeout: float = 30) -> None:
        if shutil.which(command[0]) is None:
            raise errors.UnavailableError(
                f"{command[0]} is not installed: apt-get install --no-install-recommends "
                "prometheus prometheus-alertmanager"
            )
        log = self.folder / f"{name}.log"
        process = processes.start(self._process_name(name), command, log)
        if processes.wait_ready(process, lambda: http_client.answers(ready_url), timeout):
            return
        self.stop(name)
        raise stack_config.MonitoringError(
            f"{name} did not become ready in {timeout:g} s.", logs=processes.tail(log, 5)
        )
