"""The model we ship answers like the model we trained: convert to ONNX, and check parity before packaging.

The serving image runs the registered scikit-learn pipeline as an ONNX graph on ONNX Runtime: one row
in microseconds instead of milliseconds, and an image without scikit-learn, scipy or pandas. A conversion
can be wrong (an operator not supported, a float32 rounding that flips a label), so CI scores the held-out
rows with both and packages the ONNX model only if they agree: the same labels, probabilities within 1e-5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlops_workbook.core import errors

TOLERANCE = 1e-5  # largest difference in a probability that still counts as the same answer
INPUT = "inputs"  # the ONNX graph's one input: float32 rows of the model's inputs, in `feature_names_in_` order


class ParityError(errors.RunError):
    """The converted model answers differently from the trained one: it must not be packaged."""


@dataclass(frozen=True)
class Parity:
    rows: int
    max_difference: float  # largest |probability(ONNX) - probability(scikit-learn)|
    labels_differing: int


def to_onnx(model) -> bytes:
    """The fitted pipeline as a serialized ONNX graph (probabilities as a plain matrix, not a list of maps)."""
    from skl2onnx import to_onnx as convert
    from skl2onnx.common.data_types import FloatTensorType

    graph = convert(
        model,
        initial_types=[(INPUT, FloatTensorType([None, model.n_features_in_]))],
        options={id(model): {"zipmap": False}},
    )
    return graph.SerializeToString()


def check(model, onnx_model: bytes, held_out) -> Parity:
    """Score `held_out` (a feature table) with both models; ParityError says where they disagree."""
    import onnxruntime

    inputs = list(model.feature_names_in_)
    session = onnxruntime.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(None, {INPUT: held_out[inputs].to_numpy(dtype=np.float32)})
    expected = model.predict_proba(held_out[inputs])
    difference = np.abs(probabilities - expected).max(axis=1)
    differing = labels != model.predict(held_out[inputs])
    parity = Parity(len(held_out), float(difference.max(initial=0)), int(differing.sum()))
    if parity.labels_differing or parity.max_difference > TOLERANCE:
        worst = int(difference.argmax())
        onnx_says, sklearn_says = (p[worst].astype(float).round(6).tolist() for p in (probabilities, expected))
        raise ParityError(
            f"the ONNX model answers unlike the trained one on {len(held_out)} held-out rows: "
            f"{parity.labels_differing} labels differ, largest probability difference {parity.max_difference:.2g} "
            f"(allowed {TOLERANCE:g}), worst on row {worst}: ONNX {onnx_says} vs scikit-learn {sklearn_says}. "
            "Check that every step of the pipeline has a skl2onnx converter and that the inputs are in the "
            "model's order; it was not packaged."
        )
    return parity
