"""deploy/'s monitoring files, and what a run on one machine changes in them.

The configuration a team would ship is `deploy/prometheus/` and `deploy/alertmanager/` (what
docker-compose.yml runs). A local run (cm.stack) keeps those files and changes only what one machine
needs: 127.0.0.1 addresses and ports next to the app's, 1 s scrape and evaluation, the rules' times
sped up (`demo_rules`), short Alertmanager waits, the secrets read from files it writes, and
(08_capstone) a route that also posts InputDrift to the CT trigger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from mlops_workbook.core import commands, errors, paths
from mlops_workbook.core.environments import DEMO_SPEEDUP  # its rules' times, as the canary's holds

DEPLOY = Path("deploy")
SECRETS = {"smtp_password": "SMTP_PASSWORD", "slack_webhook_url": "SLACK_WEBHOOK_URL"}  # file: environment variable
RETRAIN_RECEIVER = "ct-retrain"
DEMO_INTERVAL = "1s"  # the local stack's scrape and evaluation interval
COUNTER = re.compile(r"^\w+_(total|bucket|count|sum)\b")  # Prometheus's naming convention for counters
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


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
    """The shipped Prometheus config, scraping the app on `app_port` every `interval`, alerting to `ports`, the
    copies a rollout lists in the folder `copies`, and the demo's rules beside that folder."""
    config = shipped("prometheus/prometheus.yml")
    config["global"].update(scrape_interval=interval, evaluation_interval=interval, external_labels={"env": env})
    config["rule_files"] = [str(copies.parent / "rules.yml")]  # demo_rules, written there by cm.stack
    config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{ports.alertmanager}"]}]
    config["scrape_configs"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{app_port}"]}]
    config["scrape_configs"][1]["file_sd_configs"][0]["files"] = [str(copies / "*.json")]
    return config


def seconds(duration: str) -> float:
    """A Prometheus duration ("90s", "5m", "1h30m") in seconds."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration)
    if not parts or "".join(number + unit for number, unit in parts) != duration:
        raise errors.BadInputError(f"{duration!r} is not a Prometheus duration: write it like 90s, 5m or 1h30m")
    return sum(int(number) * UNITS[unit] for number, unit in parts)


def duration(seconds: float) -> str:
    """`seconds` as a Prometheus duration, to the millisecond."""
    milliseconds = round(seconds * 1000)
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


def faster(duration_text: str, speedup: float) -> str:
    return duration(seconds(duration_text) / speedup)


def demo_rules(rules: dict, speedup: float = DEMO_SPEEDUP) -> dict:
    """The team's rules (rules.yml, as a dict) for the demo: every `for:` and every range window divided by
    `speedup`, nothing else changed (thresholds, guards and texts are the team's)."""

    def sped_up(rule: dict) -> dict:
        if "keep_firing_for" in rule or re.search(r"\boffset\b|\[[^\]]*:", rule["expr"]):
            raise errors.BadInputError(
                f"{rule['alert']}: demo_rules speeds up `for:` and [range] windows only; an offset, a subquery or "
                "keep_firing_for would stay at the team's speed: add it to demo_rules first"
            )
        expr = re.sub(r"\[(\w+)\]", lambda window: f"[{faster(window.group(1), speedup)}]", rule["expr"])
        return {**rule, "expr": expr} | ({"for": faster(rule["for"], speedup)} if "for" in rule else {})

    return {"groups": [{**group, "rules": [sped_up(rule) for rule in group["rules"]]} for group in rules["groups"]]}


def local_rules() -> dict:
    """The rules the local stack runs: the shipped ones, sped up."""
    return demo_rules(shipped("prometheus/rules.yml"))


def demo_hold(alert: str) -> float:
    """How long the local stack's rule `alert` must hold before it fires, in seconds."""
    rules = local_rules()
    return seconds(next(rule["for"] for group in rules["groups"] for rule in group["rules"] if rule["alert"] == alert))


def demo_rule_tests(tests: dict, speedup: float = DEMO_SPEEDUP) -> dict:
    """rules_test.yml (as a dict) for the demo's rules: the same cases with time divided by `speedup`. A counter
    also grows `speedup` times less per step, so that its rate per second is the same at both speeds (the rules
    compare rates with thresholds such as 0.8 cores)."""

    def series(item: dict) -> dict:
        if not COUNTER.match(item["series"]):
            return item
        return {**item, "values": " ".join(f"{value / speedup:.17g}" for value in expand(item["values"]))}

    def case(test: dict) -> dict:
        return {
            **test,
            "interval": faster(test["interval"], speedup),
            "input_series": [series(item) for item in test["input_series"]],
            "alert_rule_test": [
                {**check, "eval_time": faster(check["eval_time"], speedup)} for check in test.get("alert_rule_test", [])
            ],
        }

    return {
        **tests,
        "evaluation_interval": faster(tests["evaluation_interval"], speedup),
        "tests": [case(test) for test in tests["tests"]],
    }


def expand(values: str) -> list[float]:
    """promtool's series notation, numbers only ("0+90x3 5x1" is 0 90 180 270 5 5), as the list it stands for."""
    expanded = []
    for item in values.split():
        match = re.fullmatch(r"(-?[\d.e]+)(?:([+-][\d.e]+)?x(\d+))?", item)
        if match is None:
            raise errors.BadInputError(f"{item!r}: a counter's values must be numbers, like 0+90x120 or 5x10")
        start, step, times = float(match[1]), float(match[2] or 0), int(match[3] or 0)
        expanded += [start + i * step for i in range(times + 1)] if match[3] else [start]
    return expanded


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
