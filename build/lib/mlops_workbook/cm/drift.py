"""Input drift per feature: the population stability index (PSI) against a training reference.

PSI compares the share of values in each bin of the reference (deciles of the training
data) with the share in the current window: sum((cur - ref) * ln(cur / ref)). Rules of
thumb: below 0.1 stable, 0.1 to 0.2 watch, above 0.2 drifted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_FLOOR = 1e-4  # an empty bin would make the logarithm infinite


def psi(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    reference, current = reference.dropna().to_numpy(), current.dropna().to_numpy()
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    ref_share = np.maximum(np.histogram(reference, edges)[0] / len(reference), _FLOOR)
    cur_share = np.maximum(np.histogram(current, edges)[0] / len(current), _FLOOR)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def report(reference: pd.DataFrame, current: pd.DataFrame, features: list[str], threshold: float) -> pd.DataFrame:
    """PSI per feature, and whether it is over the threshold."""
    scores = pd.Series({f: round(psi(reference[f], current[f]), 4) for f in features}, name="psi")
    return pd.DataFrame({"psi": scores, "drifted": scores > threshold})
