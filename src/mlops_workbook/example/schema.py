"""The declared schema of the running example: one booking offered to one driver.

Everything that touches data reads this declaration: validation, the dev fake-data
generator, the simulated production source and (later) the serving API's request
model. Changing a column here changes it everywhere, which is the point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas only for `as_table`: the serving image has no pandas
    import pandas as pd


@dataclass(frozen=True)
class Column:
    """One column: its type, the values it may take and how often it may be missing."""

    name: str
    dtype: str  # a pandas dtype name: "int64", "float64" or "str"
    description: str
    min: float | None = None
    max: float | None = None
    max_null_fraction: float = 0.0  # 0.0: never null

    @property
    def nullable(self) -> bool:
        return self.max_null_fraction > 0


KEY = "booking_id"
PARTITION = "event_date"
LABEL = "completed"

COLUMNS: tuple[Column, ...] = (
    Column(KEY, "int64", "unique id of the booking offer", min=1),
    Column(PARTITION, "str", "day of the offer, YYYY-MM-DD: the partition the data arrives in"),
    Column("driver_id", "int64", "the driver the booking was offered to", min=1000, max=99999),
    Column("conv_rate", "float64", "share of the driver's offers that became trips (30 days)", 0, 1),
    Column("acc_rate", "float64", "share of offers the driver accepted (30 days)", 0, 1),
    Column("avg_daily_trips", "int64", "trips per active day (30 days)", 0, 60),
    Column("cancel_rate", "float64", "share of accepted trips the driver cancelled", 0, 1),
    Column("rating", "float64", "average passenger rating; missing for new drivers", 1, 5, max_null_fraction=0.3),
    Column("years_active", "float64", "time since the driver joined", 0, 40),
    Column("pickup_distance_km", "float64", "distance from the driver to the pickup point", 0, 30),
    Column(LABEL, "int64", "label: 1 if the booking was completed", 0, 1),
)

BY_NAME = {column.name: column for column in COLUMNS}
FEATURES: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.name not in (KEY, PARTITION, LABEL, "driver_id"))


def _bound(value: float | None) -> str:
    """A range bound as people write it: 1000, not 1000.0; '-' where there is none, not NaN."""
    return "-" if value is None else f"{value:g}"


def as_table() -> pd.DataFrame:
    """The schema as a table, for people to read."""
    import pandas as pd

    return pd.DataFrame(
        {
            "column": c.name,
            "dtype": c.dtype,
            "min": _bound(c.min),
            "max": _bound(c.max),
            "nullable": c.nullable,
            "role": "label" if c.name == LABEL else "feature" if c.name in FEATURES else "id",
            "description": c.description,
        }
        for c in COLUMNS
    ).set_index("column")
