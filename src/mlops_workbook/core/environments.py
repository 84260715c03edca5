"""Environment configuration: what differs between dev, staging and prod.

`configs/<env>.yaml` holds the parameters papermill injects into every notebook. They
are validated here, before anything runs: an unknown environment, a missing, unknown
or mistyped key, or an impossible value fails at once with a message that names the
key, the value and what is allowed.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from mlops_workbook.core import errors, instance, paths

ENVIRONMENTS = ("dev", "staging", "prod")
# A config states the times a team runs with; the workbook, on one machine, waits DEMO_SPEEDUP times shorter (the
# canary's holds here, the alert rules' windows in cm.stack_config): a team minute is a demo second.
DEMO_SPEEDUP = 60
DataSource = Literal["fake", "warehouse"]
DATA_SOURCES = get_args(DataSource)  # what a model can say it learned from (a run's data_source)
# Team mode's servers (cd/team), next to the environment's serve_port like every other of its ports; the `up` that
# starts them records where they listen (TEAM_RECORD, in the stack's folder) for the runs of other instances.
TEAM_PORTS = {"postgres": 50, "mlflow": 51, "airflow": 52}
TEAM_RECORD = "ports.json"


class ConfigError(errors.BadInputError):
    """The parameters are not valid; nothing has been executed or written."""


class Rollout(BaseModel):
    """How a new model version earns full traffic (cd/rollout/progressive): the canary's steps, and what the canary
    must show Prometheus at each one. Times are the team's; the workbook holds them DEMO_SPEEDUP times shorter
    (`held`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    steps: list[int] = Field(min_length=1, description="the canary's shares of traffic in %, rising, each 1 to 99")
    step_seconds: float = Field(
        ge=2 * DEMO_SPEEDUP,
        le=86400,
        description="how long a team holds each step, then analyses it (seconds; held "
        f"{DEMO_SPEEDUP} times shorter here)",
    )
    min_requests: int = Field(
        ge=1,
        description="fewer canary requests in a step (held up to 6 x longer for them): it fails, no evidence",
    )
    min_success_rate: float = Field(ge=0, le=1, description="share of the canary's /predict answers that are not 5xx")
    max_p99_ms: float = Field(
        gt=0,
        lt=1000,
        description="the canary's 99th percentile /predict latency (or 1.5 x the champion's, if more), below the "
        "app's top latency bucket (1 s)",
    )
    max_score_psi: float = Field(gt=0, description="PSI of the canary's predicted probabilities against the champion's")
    bake_seconds: float = Field(
        ge=2 * DEMO_SPEEDUP,
        le=86400,
        description="how long a team keeps the previous copy warm at 100%, the canary analysed again (seconds; held "
        f"{DEMO_SPEEDUP} times shorter here)",
    )

    def held(self, seconds: float) -> float:
        """A team's hold (step_seconds, bake_seconds) as the workbook waits it on one machine."""
        return seconds / DEMO_SPEEDUP

    @model_validator(mode="after")
    def _rising_shares(self) -> Rollout:
        if any(not 0 < share < 100 for share in self.steps) or self.steps != sorted(set(self.steps)):
            raise ValueError(
                f"rollout.steps = {self.steps}: give rising shares between 1 and 99, for example [5, 25, 50] "
                "(100% is the promotion that follows them)"
            )
        return self


class EnvConfig(BaseModel):
    """The parameters of one environment, as papermill injects them."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    env: Literal["dev", "staging", "prod"]
    data_source: DataSource = Field(
        description="fake: rows drawn from the schema; warehouse: the simulated production source"
    )
    n_partitions: int = Field(ge=2, le=60, description="daily partitions to read")
    rows_per_partition: int = Field(ge=50, le=200_000)
    seed: int = Field(ge=0)
    workspace: str = Field(min_length=1, description="folder the notebooks write to")
    mlflow_tracking_uri: str | None = Field(
        description="null: the registry `servers` says; a URI: that tracking server (a shared host, a class's)"
    )
    learner: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_-]{0,31}$",
        description=(
            "a class on one tracking server: your name, which your experiment and registered model carry "
            "(alice.ride-completion): a lowercase letter, then up to 31 of a-z, 0-9, - and _; null: no prefix"
        ),
    )
    servers: Literal["embedded", "team"] = Field(
        default="embedded",
        description=(
            "embedded: a sqlite registry in each notebook's sandbox and in-process DAG runs; team: the environment's "
            "PostgreSQL, MLflow server and Airflow scheduler (`mlops-workbook up`)"
        ),
    )
    deploy_target: Literal["process", "container"]
    serve_port: int = Field(
        ge=1024,
        le=45000,
        description=(
            "the API's port; the environment's other ports sit next to it, and a run's instance moves them all"
        ),
    )
    release_mode: Literal["delivery", "deployment"]
    retrain_release_mode: Literal["delivery", "deployment", "as release_mode"] = Field(
        default="as release_mode",
        description="how a model CT retrained on code already released goes to prod (a code change: release_mode)",
    )
    min_accuracy: float = Field(ge=0, le=1)
    min_roc_auc: float = Field(ge=0, le=1)
    promotion_margin: float = Field(ge=0, le=0.5)
    promotion_confidence: float = Field(
        gt=0, lt=1, description="how sure the gate must be that a ROC AUC gain clears the margin (a paired bootstrap)"
    )
    guardrail_tolerance: float = Field(
        ge=0, le=0.2, description="how far accuracy and F1 may fall below the champion's when ROC AUC gains"
    )
    drift_psi_threshold: float = Field(gt=0, le=10)
    rollout: Rollout
    retrain_schedule: str | None = Field(
        pattern=r"^(@(hourly|daily|weekly|monthly)|(\S+\s+){4}\S+)$",
        description="when the deployed CT pipeline runs: @daily, @weekly, ... or a 5-field cron; null: by hand",
    )

    _port_shift: int = PrivateAttr(default=0)  # what this run's instance added to the configured serve_port

    @model_validator(mode="after")
    def _in_this_instance(self) -> EnvConfig:
        """serve_port (and every port next to it) moves to this run's instance; params() gives the configured one."""
        self._port_shift = instance.port(0)
        object.__setattr__(self, "serve_port", self.serve_port + self._port_shift)  # frozen to everyone else
        return self

    @model_validator(mode="after")
    def _dev_runs_no_servers(self) -> EnvConfig:
        if self.env == "dev" and self.servers == "team":
            raise ValueError(
                "servers = 'team' is not allowed in dev: dev runs embedded, with no servers (a learner's laptop); "
                "point it at a shared server with mlflow_tracking_uri instead"
            )
        return self

    @model_validator(mode="after")
    def _dev_has_no_real_data(self) -> EnvConfig:
        if self.env == "dev" and self.data_source != "fake":
            raise ValueError(
                "data_source = 'warehouse' is not allowed in dev: dev has no access "
                "to production data; use 'fake' (same schema, generated rows)"
            )
        return self

    def params(self) -> dict[str, Any]:
        """The parameters to inject into a notebook: as configured (validating them again moves the port once)."""
        return {**self.model_dump(), "serve_port": self.serve_port - self._port_shift}

    def workspace_dir(self) -> Path:
        return paths.resolve(self.workspace)

    def mode_for_retrained_model(self) -> str:
        """The release mode of a version CT retrained, the code unchanged: the team's policy, stated here."""
        return self.release_mode if self.retrain_release_mode == "as release_mode" else self.retrain_release_mode

    def team_folder(self) -> Path:
        """Where the environment's team stack keeps its data (cd/team)."""
        return self.workspace_dir() / "team"

    def team_port(self, server: str) -> int:
        """A team-mode server's port (postgres, mlflow, airflow): where the environment's stack listens, as the `up`
        that started it recorded (lessons run side by side, each in an instance of its own, reach the same
        servers), else next to this run's serve_port."""
        return self.team_recorded().get(server) or self.serve_port + TEAM_PORTS[server]

    def team_recorded(self) -> dict:
        """Where the `up` that started this configuration's stack recorded its servers; {} if none did (or the
        record is another configuration's)."""
        recorded = self.team_folder() / TEAM_RECORD
        record = json.loads(recorded.read_text()) if recorded.exists() else {}
        return record if record.get("serve_port") == self.serve_port - self._port_shift else {}

    def tracking_uri(self) -> str | None:
        """Where runs and models go: the configured server, the team's, or None (the embedded sqlite store)."""
        if self.mlflow_tracking_uri or self.servers == "embedded":
            return self.mlflow_tracking_uri
        return f"http://127.0.0.1:{self.team_port('mlflow')}"


def _section(key: str) -> type[BaseModel]:
    """The model that declares `key`: EnvConfig, or the section a dotted key ('rollout.steps') lies in."""
    model = EnvConfig
    for part in key.split(".")[:-1]:
        inner = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            break
        model = inner
    return model


def _allowed(key: str) -> str:
    """What a key accepts, in words, from its declaration ('rollout.steps.0', an item: its list's)."""
    parts = [p for p in key.split(".") if not p.isdigit()]
    field = _section(".".join(parts)).model_fields[parts[-1]]
    kind = field.annotation
    words = {
        int: "an integer",
        float: "a number",
        str: "text",
        str | None: "text or null",
        list[int]: "a list of integers",
    }
    if kind in words:
        allowed = words[kind]
    elif isinstance(kind, type) and issubclass(kind, BaseModel):
        allowed = "a mapping of " + ", ".join(kind.model_fields)
    else:  # a Literal
        allowed = "one of " + ", ".join(repr(v) for v in kind.__args__)
    for limit in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if hasattr(limit, attr):
                allowed += f" {sign} {getattr(limit, attr)}"
    return allowed + (f" ({field.description})" if field.description else "")


def _explain(error: ValidationError, source: str) -> ConfigError:
    lines = []
    for e in error.errors():
        key = ".".join(str(part) for part in e["loc"])
        if e["type"] == "missing":
            lines.append(f"- missing key '{key}': add it, {_allowed(key)}")
        elif e["type"] == "extra_forbidden":
            known = _section(key).model_fields
            close = difflib.get_close_matches(key.rsplit(".", 1)[-1], known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            lines.append(f"- unknown key '{key}'{hint}; allowed keys: {', '.join(known)}")
        elif not key or e["type"] == "value_error":
            lines.append(f"- {e['msg'].removeprefix('Value error, ')}")
        else:
            lines.append(f"- {key} = {e['input']!r}: {e['msg']}; allowed: {_allowed(key)}")
    return ConfigError(
        f"invalid parameters in {source}:\n"
        + "\n".join(lines)
        + "\nFix it and run again; nothing was executed or written."
    )


def validate(values: dict[str, Any], source: str) -> EnvConfig:
    """Check a dict of parameters; `source` names where they came from, for the message."""
    try:
        return EnvConfig(**values)
    except ValidationError as error:
        raise _explain(error, source) from None


def config_path(env: str) -> Path:
    if env not in ENVIRONMENTS:
        raise ConfigError(
            f"unknown environment '{env}': choose one of {', '.join(ENVIRONMENTS)} (one file each in configs/)"
        )
    return paths.project_root() / "configs" / f"{env}.yaml"


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs from the command line; values are read as YAML (8 → int, null → None)."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"override '{pair}' is not key=value (example: -p rows_per_partition=100)")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def load(env: str, overrides: dict[str, Any] | None = None) -> EnvConfig:
    """The environment's parameters from configs/<env>.yaml, with optional overrides."""
    path = config_path(env)
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ConfigError(f"configs/{path.name} must be a mapping of key: value lines")
    if values.get("env", env) != env:
        raise ConfigError(f"configs/{path.name} says env: {values['env']!r}; it must say env: {env}")
    source = f"configs/{path.name}" + (" with overrides " + ", ".join(overrides) if overrides else "")
    return validate({**values, **(overrides or {})}, source)


def from_parameters(namespace: dict[str, Any]) -> EnvConfig:
    """Validate a notebook's parameters (its globals after the `parameters` cell)."""
    return validate({k: namespace[k] for k in EnvConfig.model_fields if k in namespace}, "the notebook's parameters")
