"""The Grafana dashboard of the serving API, generated with grafanalib from one list of panels.

The same PANELS are what 07_cm_monitoring plots from Prometheus, so the notebook and the dashboard
show the same queries. `python -m mlops_workbook.cm.dashboard` writes the JSON that Grafana loads
through deploy/grafana/provisioning (docker-compose.yml mounts both); a test keeps it in step.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from grafanalib import core
from grafanalib._gen import DashboardEncoder

from mlops_workbook.core import paths

JOB = 'job="ride-completion"'
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}  # as deploy/grafana/provisioning/datasources names it
OUTPUT = Path("deploy/grafana/dashboards/ride-completion.json")


@dataclass(frozen=True)
class Panel:
    title: str
    expr: str
    unit: str  # Grafana's unit name
    legend: str = ""
    threshold: float | None = None  # drawn as a red line: where the alert rule fires
    count: str = ""  # what a unitless ("short") value counts, for the plot's axis


# Grafana picks a readable scale for its units itself; the notebook's plots do it here: (factor, axis label).
_SCALES = {"s": (1e3, "ms"), "bytes": (1e-6, "MB"), "reqps": (1, "per second"), "percentunit": (100, "%")}


PANELS = [
    # the service
    Panel(
        "Requests per second by status",
        f"sum by (status) (rate(http_requests_total{{{JOB}}}[1m]))",
        "reqps",
        "{{status}}",
    ),
    Panel(
        "p99 latency of /predict",
        "histogram_quantile(0.99, sum by (le) "
        f'(rate(http_request_duration_seconds_bucket{{{JOB}, path="/predict"}}[1m])))',
        "s",
        "p99",
        0.25,
    ),
    Panel("Requests in flight", f"http_requests_in_flight{{{JOB}}}", "short", "in flight", count="requests"),
    Panel("CPU used", f"rate(process_cpu_seconds_total{{{JOB}}}[1m])", "short", "cores", 0.8, count="cores"),
    Panel("Memory (resident)", f"process_resident_memory_bytes{{{JOB}}}", "bytes", "memory"),
    # the model
    Panel(
        "Predictions per second by class",
        f"sum by (completed) (rate(model_predictions_total{{{JOB}}}[1m]))",
        "reqps",
        "completed={{completed}}",
    ),
    Panel(
        "Median predicted probability",
        f"histogram_quantile(0.5, sum by (le) (rate(model_score_bucket{{{JOB}}}[1m])))",
        "percentunit",
        "median",
    ),
    Panel("Input drift (PSI) per feature", f"model_input_drift_psi{{{JOB}}}", "short", "{{feature}}", 0.2, "PSI"),
    Panel("Live accuracy (late ground truth)", f"model_live_accuracy{{{JOB}}}", "percentunit", "accuracy", 0.6),
]


def _panel(panel: Panel, index: int) -> core.TimeSeries:
    steps = [{"color": "green", "value": None}]
    if panel.threshold is not None:
        steps.append({"color": "red", "value": panel.threshold})
    return core.TimeSeries(
        title=panel.title,
        dataSource=DATASOURCE,
        unit=panel.unit,
        targets=[core.Target(expr=panel.expr, legendFormat=panel.legend, refId="A", datasource=DATASOURCE)],
        thresholdsStyleMode="line" if panel.threshold is not None else "off",
        thresholds=steps,
        gridPos=core.GridPos(h=8, w=8, x=8 * (index % 3), y=8 * (index // 3)),
    )


def build() -> core.Dashboard:
    return core.Dashboard(
        title="ride-completion: service and model",
        uid="ride-completion",
        tags=["mlops-workbook"],
        refresh="5s",
        timezone="utc",
        time=core.Time("now-15m", "now"),
        panels=[_panel(panel, i) for i, panel in enumerate(PANELS)],
    ).auto_panel_ids()


def plot(
    monitoring,
    seconds: float,
    panels: list[Panel] = PANELS,
    marks: dict[str, float] | None = None,
    rate_window: str = "1m",
):
    """The panels as matplotlib charts, from Prometheus's query_range API (what Grafana would draw).

    `marks` are moments to show on every chart, as {label: seconds ago}. A run shorter than the
    panels' one-minute rate window can pass a shorter `rate_window`, else its rates only ramp up.
    """
    import matplotlib.pyplot as plt

    rows = -(-len(panels) // 3)
    fig, axes = plt.subplots(rows, 3, figsize=(13, 2.8 * rows), sharex=True, squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        series = monitoring.query_range(panel.expr.replace("[1m]", f"[{rate_window}]"), seconds)
        factor, unit = _SCALES.get(panel.unit, (1, panel.count))
        for column in series:
            ax.plot(series.index, series[column] * factor, label=_legend(panel.legend, str(column)))
        if panel.threshold is not None:
            ax.axhline(panel.threshold * factor, color="red", linestyle="--", linewidth=1)
        ax.set_ylabel(unit, fontsize=8)
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)  # 152 MB, not 1.52e8 + 0.002
        peak = series.max().max() if not series.empty else 0  # NaN when every point is missing
        highest = max(0 if peak != peak else peak * factor, (panel.threshold or 0) * factor)
        ax.set_ylim(0, (highest or 1) * 1.15)  # from zero: a 1% change in memory must not look like a cliff
        for label, ago in (marks or {}).items():
            ax.axvline(-ago, color="grey", linestyle=":", linewidth=1)
            ax.annotate(
                label,
                (-ago, 1),
                xycoords=("data", "axes fraction"),
                fontsize=7,
                rotation=90,
                va="top",
                ha="right",
                color="grey",
            )
        ax.set_title(panel.title, fontsize=9)
        if len(series.columns) > 1:  # one line needs no legend: the title says what it is
            ax.legend(fontsize=7, loc="upper left", ncol=2 if len(series.columns) > 3 else 1, frameon=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("seconds ago")
    fig.tight_layout()
    return fig


def _legend(template: str, column: str) -> str:
    """A series' legend as Grafana writes it from `legendFormat`: "{{feature}}" of "feature=acc_rate" is "acc_rate"."""
    labels = dict(pair.split("=", 1) for pair in column.split(",") if "=" in pair)
    return re.sub(r"\{\{(\w+)\}\}", lambda found: labels.get(found.group(1), found.group(0)), template) or column


def as_json() -> str:
    return json.dumps(build().to_json_data(), cls=DashboardEncoder, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    target = paths.resolve(OUTPUT)
    target.write_text(as_json())
    print(f"wrote {paths.show(target)}")
