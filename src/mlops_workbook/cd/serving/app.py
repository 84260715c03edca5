"""The serving API: FastAPI around the model bundle, answering from ONNX Runtime.

`POST /predict` takes one row or a list of rows; its request model is generated from the
declared schema, so a bad request gets a 422 that names the field and the allowed range. Numbers
must be numbers: a string, true/false, NaN or Infinity is refused, and a body larger than the
row limit can need gets a 413 before it is read in full.
The request path has no pandas: the rows become one float array, the derived features come from
the same `features` formulas the data pipeline uses, and the ONNX model scores the array.
`GET /metrics` exports traffic, latency and prediction metrics for Prometheus, plus the input drift
and live accuracy that cm.live computes (07_cm_monitoring); `POST /feedback` takes late ground truth.
`GET /predictions/log` gives the labels of the last requests the front door numbered (prediction_log): Prometheus
counts, it cannot join one request's answers from two versions, which a shadow's label agreement needs; the front
door does not forward it (a copy's port does).
Run it with `uvicorn --factory mlops_workbook.cd.serving.app:create_app` and MODEL_DIR set to a bundle folder
(see example/bundle.py). DRIFT_WINDOW sets how many recent values (per feature, and outcomes) the drift and
accuracy gauges use; 0 turns both off.
The endpoints are `async`: scoring a row takes microseconds, less than a hop to a worker thread.
"""

from __future__ import annotations

import gc
import math
import os
import time
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from fastapi import FastAPI, Header
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from mlops_workbook.cd.serving import REQUEST_ID, SYNTHETIC, faults, prediction_log
from mlops_workbook.cm import drift, live
from mlops_workbook.ct import features
from mlops_workbook.example import bundle, schema

_PYTHON_TYPES = {"int64": int, "float64": float}
KNOWN_PATHS = {"/health", "/version", "/predict", "/feedback", "/metrics", "/predictions/log"}
DRIFT_WINDOW = 500


def _not_a_bool(value):
    """JSON's true/false are not numbers here, although Python would count them as 1 and 0."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true or false")
    return value


def _a_number(value):
    """A number, not text that looks like one ("0.5"); an integer may be written 3.0, as JSON Schema allows."""
    if isinstance(value, str):
        raise ValueError(f"expected a number, not the text {value!r}")
    return _not_a_bool(value)


def _field(column: schema.Column):
    kind = _PYTHON_TYPES[column.dtype]
    finite = {"allow_inf_nan": False} if kind is float else {}
    number = Annotated[kind, Field(ge=column.min, le=column.max, **finite), BeforeValidator(_a_number)]
    if column.nullable:
        return Annotated[number | None, Field(description=column.description)], None
    return Annotated[number, Field(description=column.description)], ...


Row = create_model(
    "Row", __config__=ConfigDict(extra="forbid"), **{name: _field(schema.BY_NAME[name]) for name in schema.FEATURES}
)


MAX_ROWS = 1000  # one request's work stays bounded (its latency per batch size: bench/results/latest.md)
MAX_BODY = MAX_ROWS * 1024  # bytes: a row is under 400 bytes of JSON, so this leaves room for any formatting
# Besides 200 and 422 (FastAPI documents those itself), what a body can get: every status listed is sent.
BODY_ERRORS = {
    400: {"description": "the body is not text at all (FastAPI cannot decode it); text that is not JSON gets a 422"},
    413: {"description": f"the body is larger than {MAX_BODY} bytes: send at most {MAX_ROWS} rows"},
}
Rows = Annotated[list[Row], Field(min_length=1, max_length=MAX_ROWS)]  # type: ignore[valid-type]


class Prediction(BaseModel):
    completed: int
    probability: float


class Predictions(BaseModel):
    model_version: str
    predictions: list[Prediction]


class Outcome(BaseModel):
    """A prediction's outcome, known later: what the model said and what happened."""

    model_config = ConfigDict(extra="forbid")
    predicted: Annotated[Literal[0, 1], BeforeValidator(_not_a_bool)]
    actual: Annotated[Literal[0, 1], BeforeValidator(_not_a_bool)]


# Where Linux says how much memory this process's container may use: cgroup v2, then v1.
CGROUP_MEMORY_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def memory_limit(files=CGROUP_MEMORY_LIMITS) -> int | None:
    """The container's memory limit in bytes; None for a process without one (v2 says "max", v1 a huge number)."""
    for file in files:
        try:
            text = Path(file).read_text().strip()
        except OSError:
            continue
        return int(text) if text.isdigit() and int(text) < 1 << 50 else None
    return None


class Metrics:
    """What `/metrics` exports for Prometheus: the service's traffic and the model's outputs.

    Each app has its own registry, so two apps in one process (tests, notebooks) don't collide.
    """

    def __init__(self):
        disable_created_metrics()  # no `*_created` series: Prometheus does not need them, and they double the count
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # CPU seconds, memory, open files of this process
        limit = memory_limit()
        if limit is not None:  # what the MemoryNearLimit rule compares the resident memory with
            Gauge("process_memory_limit_bytes", "Memory this process's container may use", registry=self.registry).set(
                limit
            )
        self.requests = Counter(
            "http_requests_total", "HTTP requests by path and status code", ["path", "status"], registry=self.registry
        )
        # The series a rollout's analysis reads exist from the start, at 0: a series born with its first failure would
        # hide that failure from rate() and increase(), which count from a series' first sample on
        for status in ("200", "500"):
            self.requests.labels("/predict", status)
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer a request",
            ["path"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
        self.in_flight = Gauge("http_requests_in_flight", "Requests being answered now", registry=self.registry)
        self.predictions = Counter(
            "model_predictions_total", "Predictions by predicted class", ["completed"], registry=self.registry
        )
        self.scores = Histogram(
            "model_score",
            "Predicted probability of completion",
            buckets=tuple(i / 10 for i in range(1, 11)),
            registry=self.registry,
        )


class Measured:
    """Counts and times every HTTP request for /metrics.

    A plain ASGI middleware: `@app.middleware("http")` would run each request through an extra
    task and stream, which costs more than the model's own prediction on one row.
    """

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics
        # each label set's child metric looked up once, not per request
        self.latency = {path: metrics.latency.labels(path) for path in [*KNOWN_PATHS, "other"]}
        self.requests = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"  # bounded label values
        status = 500  # what the client gets if the app fails before answering

        async def send_and_note_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            self.metrics.in_flight.dec()
            self.latency[path].observe(time.perf_counter() - start)
            if (path, status) not in self.requests:
                self.requests[path, status] = self.metrics.requests.labels(path, str(status))
            self.requests[path, status].inc()


def _printable(value):
    """An echoed input as JSON can carry it: NaN and Infinity are not JSON, so they are echoed as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _printable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_printable(item) for item in value]
    return value


async def unprocessable(request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, except that an input of NaN or Infinity is echoed as text instead of failing with a 500."""
    return JSONResponse({"detail": _printable(jsonable_encoder(error.errors()))}, status_code=422)


def create_app(model_dir: str | Path | None = None, drift_window: int | None = None) -> FastAPI:
    """The app serving one model bundle (default: MODEL_DIR, else ./model), loaded once at start.

    Drift is tracked over the last `drift_window` values per feature (default: DRIFT_WINDOW from the
    environment, else 500; 0 turns it off) when the version carries its training reference.
    """
    session, facts = bundle.load(Path(model_dir or os.environ.get("MODEL_DIR", "model")))
    inputs = [list(features.MODEL_INPUTS).index(name) for name in facts.inputs]  # the model's columns, in order
    onnx_input = session.get_inputs()[0].name
    window = int(os.environ.get("DRIFT_WINDOW", DRIFT_WINDOW)) if drift_window is None else drift_window
    app = FastAPI(title="ride-completion", version=facts.version, description="Will this driver complete the booking?")
    app.add_exception_handler(RequestValidationError, unprocessable)
    metrics = Metrics()
    monitor = None
    if window > 0 and facts.reference:
        monitor = live.LiveMonitor(drift.Reference.from_dict(facts.reference), window, min(100, window))
        metrics.registry.register(monitor)

    injected = faults.parse(os.environ.get("SERVING_FAULTS", ""))
    if injected:  # inside Measured (added first, so it runs second): the metrics count what the faults do
        app.add_middleware(faults.Faults, **injected)
    app.add_middleware(Measured, metrics=metrics)
    predicted = [metrics.predictions.labels("0"), metrics.predictions.labels("1")]  # by class, looked up once
    labelled = prediction_log.PredictionLog()

    @app.get("/metrics", include_in_schema=False)
    async def export_metrics() -> Response:
        """What Prometheus scrapes: the text format, computed now (drift and accuracy included)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "model_version": facts.version}

    @app.get("/version")
    async def version() -> dict:
        return {
            "model": facts.name,
            "version": facts.version,
            "alias": facts.alias,
            "run_id": facts.run_id,
            "git_commit": os.environ.get("GIT_COMMIT", "unknown"),
        }

    @app.post("/predict", response_model=Predictions, responses=BODY_ERRORS, max_body_size=MAX_BODY)
    async def predict(
        rows: Row | Rows,  # type: ignore[valid-type]
        synthetic: Annotated[str | None, Header(alias=SYNTHETIC, description="a load test's request")] = None,
        request_id: Annotated[
            str | None, Header(alias=REQUEST_ID, description="the front door's number for it")
        ] = None,
    ) -> Response:
        records = [r.model_dump() for r in (rows if isinstance(rows, list) else [rows])]
        if monitor and synthetic is None:  # a load test's rows say nothing of what users send
            monitor.observe(records)
        declared = np.array(
            [[math.nan if row[name] is None else row[name] for name in schema.FEATURES] for row in records],
            dtype=np.float64,
        )
        scores = session.run(None, {onnx_input: features.build_array(declared)[:, inputs]})[1][:, 1]
        for score in scores:
            metrics.scores.observe(score)
            predicted[int(score >= 0.5)].inc()
        answer = Predictions(
            model_version=facts.version,
            predictions=[Prediction(completed=int(s >= 0.5), probability=round(float(s), 6)) for s in scores],
        )
        if request_id is not None:
            labelled.add(request_id, [p.completed for p in answer.predictions])
        # serialized here, once: returned as a model, FastAPI would validate it again against response_model
        return Response(answer.model_dump_json(), media_type="application/json")

    @app.post("/feedback", responses=BODY_ERRORS, max_body_size=MAX_BODY)
    async def feedback(outcomes: Annotated[list[Outcome], Field(min_length=1, max_length=MAX_ROWS)]) -> dict:
        """Late ground truth for earlier predictions; feeds the live accuracy gauge."""
        if monitor:
            monitor.feedback([o.predicted for o in outcomes], [o.actual for o in outcomes])
        return {"accepted": len(outcomes), "live_accuracy": monitor.accuracy() if monitor else None}

    @app.get("/predictions/log")
    async def labels_by_request() -> dict:
        """The predicted labels ("0110") of the last requests the front door numbered, by number (prediction_log)."""
        return {"model_version": facts.version, "labels": labelled.labels()}

    gc.freeze()  # what start-up allocated (the model, the app) is never collected: later collections skip it
    return app
