"""The serving app that CD deploys: FastAPI on ONNX Runtime (app), and how one copy of it is run (server)."""
