"""The serving app that CD deploys: FastAPI on ONNX Runtime (app), and how one copy of it is run (server)."""

# The header that marks a load test's requests: answered and counted like any (a rollout judges them), kept out of the
# drift window. Here, not in app.py, so that a deploy command names it without loading the app.
SYNTHETIC = "X-Synthetic-Traffic"
# The front door numbers each request (nginx's $request_id) and a shadow's copy carries the same number: the two
# versions' answers to one request are joined by it (their prediction logs, app.py).
REQUEST_ID = "X-Request-ID"
