"""The labels a copy gave to the requests the front door numbered, the newest kept: what a shadow's report joins two
versions' answers by (Prometheus counts each version's labels; it cannot pair one request's two answers)."""

from __future__ import annotations

from collections import OrderedDict

ROWS = 100_000  # labels kept over all requests: a shadow step's worth and more, about 100 kB whatever their sizes
MAX_NUMBER = 64  # nginx's numbers have 32 hex digits: a longer one is a client's own, not logged


class PredictionLog:
    """Request number → its labels as a string ("0110"), oldest first; bounded by the labels it keeps."""

    def __init__(self, rows: int = ROWS):
        self.rows, self.kept = rows, 0
        self._labels: OrderedDict[str, str] = OrderedDict()

    def add(self, number: str, labels: list[int]) -> None:
        if len(number) > MAX_NUMBER:
            return
        self.kept -= len(self._labels.pop(number, ""))  # a number seen again: its newer answer, as the newest
        self._labels[number] = "".join(map(str, labels))
        self.kept += len(labels)
        while self.kept > self.rows:
            self.kept -= len(self._labels.popitem(last=False)[1])

    def labels(self) -> dict[str, str]:
        return dict(self._labels)
