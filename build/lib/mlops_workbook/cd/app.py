"""The serving API: FastAPI around the model bundle.

`POST /predict` takes one row or a list of rows; its request model is generated from the
declared schema, so a bad request gets a 422 that names the field and the allowed range.
The features are computed by the same `features.build` the data pipeline uses.
Run it with `uvicorn --factory mlops_workbook.cd.app:create_app` and MODEL_DIR set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Union

import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, create_model

from mlops_workbook import bundle, schema
from mlops_workbook.ct import features

_PYTHON_TYPES = {"int64": int, "float64": float}


def _field(column: schema.Column):
    kind = _PYTHON_TYPES[column.dtype]
    constraint = Field(ge=column.min, le=column.max, description=column.description)
    if column.nullable:
        return Annotated[Union[kind, None], constraint], None
    return Annotated[kind, constraint], ...


Row = create_model("Row", __config__=ConfigDict(extra="forbid"),
                   **{name: _field(schema.BY_NAME[name]) for name in schema.FEATURES})


class Prediction(BaseModel):
    completed: int
    probability: float


class Predictions(BaseModel):
    model_version: str
    predictions: list[Prediction]


def create_app(model_dir: str | Path | None = None) -> FastAPI:
    """The app serving one bundle (MODEL_DIR by default), loaded once at start."""
    model, facts = bundle.load(model_dir or os.environ.get("MODEL_DIR", "model"))
    app = FastAPI(title="ride-completion", version=facts.version,
                  description="Will this driver complete the booking?")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model_version": facts.version}

    @app.get("/version")
    def version() -> dict:
        return {"model": facts.name, "version": facts.version, "alias": facts.alias, "run_id": facts.run_id,
                "git_commit": os.environ.get("GIT_COMMIT", "unknown")}

    @app.post("/predict")
    def predict(rows: Union[Row, list[Row]]) -> Predictions:  # type: ignore[valid-type]
        rows = rows if isinstance(rows, list) else [rows]
        table = features.build(pd.DataFrame([r.model_dump() for r in rows], columns=list(schema.FEATURES))
                               .astype({n: schema.BY_NAME[n].dtype for n in schema.FEATURES}))
        scores = model.predict_proba(table[facts.inputs])[:, 1]
        return Predictions(model_version=facts.version, predictions=[
            Prediction(completed=int(s >= 0.5), probability=round(float(s), 6)) for s in scores])

    return app
