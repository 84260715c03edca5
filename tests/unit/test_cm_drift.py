"""PSI: near zero for the same distribution, large for a shifted one, robust to empty bins and nulls."""

import numpy as np
import pandas as pd

from mlops_workbook.cm import drift
from mlops_workbook.example import data


def test_same_distribution_is_stable():
    rng = np.random.default_rng(0)
    assert drift.psi(pd.Series(rng.normal(size=5000)), pd.Series(rng.normal(size=5000))) < 0.02


def test_a_shift_is_drift():
    rng = np.random.default_rng(0)
    assert drift.psi(pd.Series(rng.normal(size=5000)), pd.Series(rng.normal(1.0, 1, size=5000))) > 0.2


def test_empty_bins_and_nulls_give_a_finite_value():
    reference = pd.Series(np.arange(100, dtype=float))
    current = pd.Series([np.nan] * 10 + [1000.0] * 50)
    assert np.isfinite(drift.psi(reference, current))


def test_the_report_flags_the_drifted_features_of_the_warehouse():
    before = data.production_batch(3000, seed=3, index=0)
    after = data.production_batch(3000, seed=3, index=1, drift=1.0)
    features = ["acc_rate", "conv_rate", "pickup_distance_km", "years_active"]
    report = drift.report(before, after, features, threshold=0.2)
    assert report.index.tolist() == features
    assert report.loc[report.drifted].index.tolist() == ["acc_rate", "pickup_distance_km"]
