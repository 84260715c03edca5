"""What the serving app watches about its model while it serves, for Prometheus to scrape.

- Input drift: the last `window` values of each feature, scored against the training reference
  of the version being served (PSI, see drift.py), as the gauge `model_input_drift_psi{feature}`.
- Live accuracy: ground truth arrives late (did the driver complete the booking?); when it does,
  the caller posts (predicted, actual) pairs to `/feedback`, and the last `window` of them give
  the gauge `model_live_accuracy`.

A request only appends to fixed-size buffers; the statistics are computed when Prometheus scrapes
(this is a custom collector), so a request pays only for the append (bench/results/latest.md measures what
watching costs the serving path in all). A window with fewer than `min_rows` values exports no PSI or accuracy:
too few rows would raise false alarms at start. The windows' sizes are exported too (`model_drift_window_rows`,
`model_live_outcomes`), so that a rule can ask for enough of them and say when there are none.
"""

from __future__ import annotations

import threading
from collections import deque
from math import nan

import numpy as np
from prometheus_client.core import GaugeMetricFamily

from mlops_workbook.cm import drift
from mlops_workbook.core import errors


class LiveMonitor:
    def __init__(self, reference: drift.Reference, window: int = 500, min_rows: int = 100):
        if not 0 < min_rows <= window:
            raise errors.BadInputError(f"need 0 < min_rows <= window, got min_rows={min_rows}, window={window}")
        self.reference, self.min_rows = reference, min_rows
        self._values = {name: deque(maxlen=window) for name in reference.features}
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._lock = threading.Lock()  # the app answers on its event loop, but a test client or sync caller may not

    def observe(self, rows: list[dict]) -> None:
        """Remember the inputs of one request, as it carried them (a missing value is None, ignored by PSI).

        Plain lists, not a DataFrame: on one row, pandas would cost more than the prediction itself.
        """
        columns = [[nan if row[name] is None else row[name] for row in rows] for name in self._values]
        with self._lock:
            for window, column in zip(self._values.values(), columns):
                window.extend(column)

    def feedback(self, predicted: list[int], actual: list[int]) -> None:
        with self._lock:
            self._outcomes.extend(p == a for p, a in zip(predicted, actual, strict=True))

    def _snapshot(self) -> dict[str, np.ndarray]:
        with self._lock:
            return {name: np.array(values) for name, values in self._values.items()}

    def psi(self, snapshot: dict[str, np.ndarray] | None = None) -> dict[str, float]:
        """PSI per feature over the window; empty until the window holds min_rows values."""
        snapshot = self._snapshot() if snapshot is None else snapshot
        return {
            name: self.reference.psi(name, values) for name, values in snapshot.items() if len(values) >= self.min_rows
        }

    def accuracy(self) -> float | None:
        with self._lock:
            outcomes = list(self._outcomes)
        return sum(outcomes) / len(outcomes) if len(outcomes) >= self.min_rows else None

    def collect(self):
        """Called by prometheus-client on each scrape of /metrics."""
        snapshot = self._snapshot()  # one copy: the PSI and the row count describe the same window
        psi = GaugeMetricFamily(
            "model_input_drift_psi",
            "PSI of each input's recent values against the training reference of the served version",
            labels=["feature"],
        )
        for name, value in self.psi(snapshot).items():
            psi.add_metric([name], value)
        yield psi
        rows = GaugeMetricFamily("model_drift_window_rows", "Values in the drift window (per feature)")
        rows.add_metric([], min((len(v) for v in snapshot.values()), default=0))
        yield rows
        with self._lock:
            known = len(self._outcomes)
        yield GaugeMetricFamily("model_live_outcomes", "Known outcomes in the live accuracy window", value=known)
        accuracy = self.accuracy()
        if accuracy is not None:
            yield GaugeMetricFamily(
                "model_live_accuracy", "Accuracy of the recent predictions whose outcome is known", value=accuracy
            )
