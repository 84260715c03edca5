"""The features the model sees, each derived one defined once, for training and for serving alike.

One definition in both places is what prevents training/serving skew. Each formula is written with
operations that pandas columns and numpy arrays share, so the data pipeline applies it to a partition
(`build`, DataFrames) and the API to a request's rows (`build_array`, one float array, no pandas).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mlops_workbook.example import schema

if TYPE_CHECKING:
    import pandas as pd


def reliability(acc_rate, cancel_rate):
    """Offers accepted and not cancelled."""
    return acc_rate * (1 - cancel_rate)


def is_new_driver(rating):
    """1 when the driver has no rating yet."""
    return np.isnan(rating).astype("int64")


# name: (formula, the declared columns it reads, dtype)
DERIVED = {
    "reliability": (reliability, ("acc_rate", "cancel_rate"), "float64"),
    "is_new_driver": (is_new_driver, ("rating",), "int64"),
}
MODEL_INPUTS: tuple[str, ...] = (*schema.FEATURES, *DERIVED)


def dtype(name: str) -> str:
    """The pandas dtype of a model input, declared or derived."""
    return DERIVED[name][2] if name in DERIVED else schema.BY_NAME[name].dtype


def build(batch: pd.DataFrame) -> pd.DataFrame:
    """The schema's features plus the derived ones (ids and label are kept when present)."""
    features = batch.copy()
    for name, (formula, reads, kind) in DERIVED.items():
        features[name] = formula(*(batch[column] for column in reads)).astype(kind)
    return features


def build_array(declared: np.ndarray) -> np.ndarray:
    """Rows of `schema.FEATURES` (missing as NaN) → rows of `MODEL_INPUTS`, as float32 for the ONNX model."""
    column = {name: declared[:, i] for i, name in enumerate(schema.FEATURES)}
    derived = [formula(*(column[c] for c in reads)) for formula, reads, _ in DERIVED.values()]
    return np.column_stack([declared, *derived]).astype(np.float32, copy=False)
