"""The features the model sees, computed by one function for training and for serving alike.

One function in both places is what prevents training/serving skew: the API calls
`build` on a request exactly as the data pipeline calls it on a partition.
"""

from __future__ import annotations

import pandas as pd

from mlops_workbook import schema

DERIVED = {
    "reliability": "offers accepted and not cancelled: acc_rate * (1 - cancel_rate)",
    "is_new_driver": "1 when the driver has no rating yet",
}
DERIVED_DTYPES = {"reliability": "float64", "is_new_driver": "int64"}
MODEL_INPUTS: tuple[str, ...] = (*schema.FEATURES, *DERIVED)


def dtype(name: str) -> str:
    """The pandas dtype of a model input, declared or derived."""
    return DERIVED_DTYPES[name] if name in DERIVED_DTYPES else schema.BY_NAME[name].dtype


def build(batch: pd.DataFrame) -> pd.DataFrame:
    """The schema's features plus the derived ones (ids and label are kept when present)."""
    features = batch.copy()
    features["reliability"] = batch["acc_rate"] * (1 - batch["cancel_rate"])
    features["is_new_driver"] = batch["rating"].isna().astype("int64")
    return features
