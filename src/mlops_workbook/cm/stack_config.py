"""deploy/'s monitoring files, and what a run on one machine changes in them.

The configuration a team would ship is `deploy/prometheus/` and `deploy/alertmanager/` (what
docker-compose.yml runs). A local run (cm.stack) keeps those files and changes only what one machine
needs: 127.0.0.1 addresses and ports next to the app's, 1 s scrape and evaluation, short Alertmanager
waits, the secrets read from files it writes, and (08_capstone) a route that also posts InputDrift to
the CT trigger.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from mlops_workbook.core import commands, errors, paths

DEPLOY = Path("deploy")
SECRETS = {"smtp_password": "SMTP_PASSWORD", "slack_webhook_url": "SLACK_WEBHOOK_URL"}  # file: environment variable
RETRAIN_RECEIVER = "ct-retrain"


class MonitoringError(errors.RunError):
    """Prometheus or Alertmanager could not start, answer or take a configuration; the message says why."""


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


def prometheus(env: str, app_port: int, ports: Ports, interval: str, copies: Path) -> dict:
    """The shipped Prometheus config, scraping the app on `app_port` every `interval`, alerting to `ports`, and the
    copies a rollout lists in the folder `copies`."""
    config = shipped("prometheus/prometheus.yml")
    config["global"].update(scrape_interval=interval, evaluation_interval=interval, external_labels={"env": env})
    config["rule_files"] = [str(paths.resolve(DEPLOY) / "prometheus" / name) for name in config["rule_files"]]
    config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{ports.alertmanager}"]}]
    config["scrape_configs"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{app_port}"]}]
    config["scrape_configs"][1]["file_sd_configs"][0]["files"] = [str(copies / "*.json")]
    return config


def alertmanager(ports: Ports, secrets: Path, retrain_url: str | None = None) -> dict:
    """The shipped Alertmanager config, mailing through `ports.smtp`, its secrets read from files in `secrets`."""
    config = shipped("alertmanager/alertmanager.yml")
    config["global"].update(
        smtp_smarthost=f"127.0.0.1:{ports.smtp}",
        smtp_require_tls=False,
        smtp_auth_password_file=str(secrets / "smtp_password"),
        slack_api_url_file=str(secrets / "slack_webhook_url"),
    )
    config["route"].update(group_wait="1s", group_interval="2s", repeat_interval="1h")
    return with_retrain_hook(config, retrain_url) if retrain_url else config


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
    command = ["amtool", "config", "routes", "test", f"--config.file={path}"]
    result = commands.run(
        [*command, *(f"{name}={value}" for name, value in labels.items())], "amtool's test of the alert routes"
    )
    return sorted(result.stdout.strip().split(","))
