"""The serving bundle: a registered model version as the serving app needs it, and nothing more.

CI's packaging step exports the registry's champion into a folder: `model.onnx` (the fitted pipeline
converted to ONNX, checked for parity with the original, see ci.conversion) and `model.json` (name,
version, alias, run, inputs, and the drift reference of its training rows). The image serves that
folder with ONNX Runtime: no MLflow, scikit-learn, scipy or pandas, so it is small and starts fast.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from mlops_workbook.core import errors

MODEL_FILE, FACTS_FILE = "model.onnx", "model.json"


@dataclass(frozen=True)
class Facts:
    name: str
    version: str
    alias: str
    run_id: str
    inputs: list[str]  # the columns the model reads, in order
    reference: dict | None = None  # the drift reference of its training rows (cm.drift.Reference), if logged


def save(onnx_model: bytes, facts: Facts, folder: Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MODEL_FILE).write_bytes(onnx_model)
    (folder / FACTS_FILE).write_text(json.dumps(asdict(facts), indent=2) + "\n")
    return folder


def load(folder: Path):
    """(ONNX Runtime session, facts) from a bundle folder; a clear error when the folder is not one.

    One thread per session: a request is a few rows, and the container's cores belong to its replicas.
    """
    import onnxruntime

    folder = Path(folder)
    missing = [name for name in (MODEL_FILE, FACTS_FILE) if not (folder / name).exists()]
    if missing:
        raise errors.BadInputError(
            f"{folder} is not a model bundle (missing {', '.join(missing)}): "
            "export one with mlops_workbook.ci.export.champion"
        )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"])
    return session, Facts(**json.loads((folder / FACTS_FILE).read_text()))
