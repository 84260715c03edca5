"""The HTTP floor the serving bench compares the workbook's API with: the same server and options
(uvicorn, httptools, uvloop, one worker, no access log), FastAPI, and a `/predict` that parses the JSON body
and returns a constant. No validation, model, metrics or drift window: what serving any JSON API here costs.
"""

from __future__ import annotations

import sys

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from mlops_workbook.cd.serving import server

ANSWER = {"model_version": "0", "predictions": [{"completed": 1, "probability": 0.5}]}


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        await request.json()
        return JSONResponse(ANSWER)

    return app


def command(port: int) -> list[str]:
    """The floor served as the workbook's API is (server.OPTIONS), on loopback."""
    options = [*server.OPTIONS]
    options[options.index("--factory") + 1] = "bench.floor:create_app"
    return [sys.executable, "-m", "uvicorn", *options, "--host", "127.0.0.1", "--port", str(port)]
