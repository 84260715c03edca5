"""What one simulated client does in `loadtest.run`: POST the same body to one path, with no pause.

Only the Locust process imports this file (Locust patches the standard library with gevent when it
loads, which the workbook's own process must not get). It stops Locust once LOADTEST_REQUESTS were sent.
"""

import json
import os
from pathlib import Path

import gevent
from locust import FastHttpUser, constant, events, task

_sent, _environment = 0, None


class Caller(FastHttpUser):
    """One simulated client: POST the same body (LOADTEST_BODY) to LOADTEST_PATH, with no pause between requests."""

    wait_time = constant(0)

    def on_start(self):
        self.body, self.path = json.loads(os.environ["LOADTEST_BODY"]), os.environ["LOADTEST_PATH"]

    @task
    def predict(self):
        self.client.post(self.path, json=self.body)


@events.init.add_listener
def _remember(environment, **_):
    global _environment
    _environment = environment


@events.request.add_listener
def _stop_at_the_limit(**_):
    global _sent
    _sent += 1
    if _sent == int(os.environ["LOADTEST_REQUESTS"]):
        gevent.spawn(_environment.runner.quit)  # from its own greenlet: this one is a client's


@events.quitting.add_listener
def _report(environment, **_):
    """What Locust measured over every request, as JSON for `loadtest.run`."""
    total = environment.stats.total
    Path(os.environ["LOADTEST_REPORT"]).write_text(
        json.dumps(
            {
                "requests": total.num_requests,
                "failures": total.num_failures,
                "requests_per_s": total.total_rps,
                "p50_ms": total.get_response_time_percentile(0.5),
                "p99_ms": total.get_response_time_percentile(0.99),
            }
        )
    )
