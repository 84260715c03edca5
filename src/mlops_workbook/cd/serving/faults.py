"""Faults put into a copy of the app on purpose, to rehearse what a rollout must catch (Istio's fault injection).

`SERVING_FAULTS="error_rate=0.3,delay_ms=300"` in a copy's environment makes that share of its /predict requests
fail with a 500, and every one answer that much later. Off unless set. The faults sit inside the app's metrics, so
Prometheus counts them as it counts any failure: the rollout's analysis cannot tell them from a real bug.
"""

from __future__ import annotations

import asyncio
import random

from starlette.responses import JSONResponse

from mlops_workbook.core import errors

KNOWN = {"error_rate": (0.0, 1.0), "delay_ms": (0.0, 10_000.0)}


def parse(text: str) -> dict[str, float]:
    """'error_rate=0.3,delay_ms=300' as numbers, each checked against its range."""
    faults = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if key not in KNOWN or number is None or not KNOWN[key][0] <= number <= KNOWN[key][1]:
            allowed = ", ".join(f"{k} in [{low:g}, {high:g}]" for k, (low, high) in KNOWN.items())
            raise errors.BadInputError(f"SERVING_FAULTS: {part!r} is not one of {allowed} (example: error_rate=0.3)")
        faults[key] = number
    return faults


class Faults:
    """ASGI middleware: /predict fails for `error_rate` of requests (seeded, so a run repeats) and waits `delay_ms`."""

    def __init__(self, app, error_rate: float = 0.0, delay_ms: float = 0.0, seed: int = 0):
        self.app, self.error_rate, self.delay = app, error_rate, delay_ms / 1000
        self.draw = random.Random(seed).random

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/predict":
            return await self.app(scope, receive, send)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.draw() < self.error_rate:
            failure = JSONResponse({"detail": "a fault put in on purpose (SERVING_FAULTS)"}, status_code=500)
            return await failure(scope, receive, send)
        return await self.app(scope, receive, send)
