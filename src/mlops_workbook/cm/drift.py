"""Input drift per feature: the population stability index (PSI) against a training reference.

PSI compares the share of values in each bin of the reference (deciles of the training
data) with the share in the current window: sum((cur - ref) * ln(cur / ref)). Rules of
thumb: below 0.1 stable, 0.1 to 0.2 watch, above 0.2 drifted.

The reference (bin edges and shares per feature) is small, so training logs it with every
model version and the serving app scores its live window against the version it serves.
The report adds scipy's two-sample Kolmogorov-Smirnov test, a second opinion that needs no bins.
`Reference` needs only numpy: the serving app uses it, and its image has neither pandas nor scipy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

_FLOOR = 1e-4  # an empty bin would make the logarithm infinite
REFERENCE_FILE = "drift_reference.json"  # the artifact name in each training run


@dataclass(frozen=True)
class Reference:
    """Per feature: the inner bin edges (training deciles) and the share of training rows in each bin."""

    edges: dict[str, list[float]]
    shares: dict[str, list[float]]

    @classmethod
    def of(cls, table: pd.DataFrame, features, bins: int = 10) -> Reference:
        edges, shares = {}, {}
        for name in features:
            values = table[name].dropna().to_numpy(dtype=float)
            inner = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)))[1:-1]
            edges[name] = inner.round(6).tolist()
            shares[name] = _shares(values, edges[name]).round(6).tolist()
        return cls(edges, shares)

    @property
    def features(self) -> list[str]:
        return list(self.edges)

    def psi(self, feature: str, current) -> float:
        """PSI of `current` values (nulls ignored) against this feature's reference; NaN if none."""
        current = np.asarray(current, dtype=float)
        current = current[~np.isnan(current)]
        if current.size == 0:
            return float("nan")
        return psi_of_shares(self.shares[feature], _shares(current, self.edges[feature]))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, saved: dict) -> Reference:
        return cls(saved["edges"], saved["shares"])


def _shares(values: np.ndarray, inner_edges: list[float]) -> np.ndarray:
    """Share of values per bin; the outer bins are open, so every value lands somewhere."""
    counts = np.bincount(np.searchsorted(inner_edges, values, side="right"), minlength=len(inner_edges) + 1)
    return counts / max(len(values), 1)


def psi_of_shares(reference, current) -> float:
    """PSI of two distributions given as shares per bin (an empty bin counts as a tiny share, not as zero)."""
    return float(_psi(np.asarray(reference, dtype=float), np.asarray(current, dtype=float)))


def _psi(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """PSI over the last axis: of one pair of distributions, or of many pairs at once."""
    ref, cur = np.maximum(reference, _FLOOR), np.maximum(current, _FLOOR)
    return np.sum((cur - ref) * np.log(cur / ref), axis=-1)


def psi_noise(reference_counts, current_counts, level: float = 0.99, draws: int = 2000) -> float:
    """The PSI that chance alone exceeds `1 - level` of the time between two samples of these sizes drawn from one
    distribution (their pooled shares): for a canary's scores, about 3 on 16 against 500, 0.1 on 500 against 500. A
    PSI under it says nothing, however large. Simulated with the same floor as `psi_of_shares`, and seeded."""
    ref, cur = np.asarray(reference_counts, dtype=float), np.asarray(current_counts, dtype=float)
    if ref.sum() <= 0 or cur.sum() <= 0:
        return float("nan")
    pooled = (ref + cur) / (ref.sum() + cur.sum())
    rng = np.random.default_rng(0)
    a, b = (rng.multinomial(int(n), pooled, size=draws) / n for n in (ref.sum(), cur.sum()))
    return float(np.quantile(_psi(a, b), level))


def psi(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    """PSI of one feature's current values against its reference values."""
    import pandas as pd

    frame = pd.DataFrame({"x": reference})
    return Reference.of(frame, ["x"], bins).psi("x", current.to_numpy(dtype=float))


def report(reference: pd.DataFrame, current: pd.DataFrame, features: list[str], threshold: float) -> pd.DataFrame:
    """Per feature: PSI, whether it is over the threshold, and the KS test's statistic and p-value (as people read
    a p-value: 0.534, or < 0.001 however small)."""
    import pandas as pd
    from scipy import stats

    ref = Reference.of(reference, features)
    rows = {}
    for name in features:
        ks = stats.ks_2samp(reference[name].dropna(), current[name].dropna())
        rows[name] = {
            "psi": round(ref.psi(name, current[name]), 4),
            "ks_statistic": round(float(ks.statistic), 4),
            "ks_pvalue": f"{ks.pvalue:.3f}" if ks.pvalue >= 0.001 else "< 0.001",
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.insert(1, "drifted", table["psi"] > threshold)
    return table


def plot(reference: pd.DataFrame, current: pd.DataFrame, features: list[str]):
    """Histograms of each feature: the training reference against the current window."""
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, axes = plt.subplots(1, len(features), figsize=(4.2 * len(features), 3), squeeze=False)
    for ax, name in zip(axes[0], features):
        both = pd.concat([reference[name], current[name]]).dropna()
        bins = np.linspace(both.min(), both.max(), 30)
        ax.hist(reference[name].dropna(), bins, density=True, alpha=0.5, label="training reference")
        ax.hist(current[name].dropna(), bins, density=True, alpha=0.5, label="current")
        ax.set_title(name)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig
