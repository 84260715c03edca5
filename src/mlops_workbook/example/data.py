"""The two data sources of the running example, both deterministic for a given seed.

- `FakeSource` is what dev gets: rows drawn from the schema alone (each column uniform
  in its declared range, nulls at the allowed rate). It never touches production data.
- `Warehouse` simulates the production source that staging and prod read: a sqlite
  file with one partition per day and a realistic relation between features and label.
  From a chosen day on, it can drift, which is what monitoring must catch. A new app version pays
  drivers for long pickups and counts every offer a driver is shown: pickups get farther, a long one
  is completed more often than before (though fewer bookings are completed in all), and acceptance rates
  look 60% lower although drivers accept as many offers. The inputs move (input drift), and so does
  what they mean: a model trained before the change is wrong more often (live accuracy falls), and one
  retrained on the new days is right again.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_workbook.core import errors
from mlops_workbook.example import schema, validation

FIRST_DAY = date(2026, 1, 5)
# After the drift: acc_rate reports 40% of what drivers accept, and distance puts drivers off 60% less.
ACCEPTANCE_UNDERCOUNT, PICKUP_BONUS = 0.6, 0.6
_KEYS_PER_PARTITION = 1_000_000


def partition_names(n_partitions: int) -> list[str]:
    """The days the data arrives in, oldest first."""
    return [(FIRST_DAY + timedelta(days=i)).isoformat() for i in range(n_partitions)]


def _frame(columns: dict, n_rows: int, index: int, event_date: str) -> pd.DataFrame:
    """Assemble a batch in schema order with unique keys and schema dtypes."""
    frame = pd.DataFrame(
        {
            schema.KEY: np.arange(1, n_rows + 1, dtype="int64") + index * _KEYS_PER_PARTITION,
            schema.PARTITION: event_date,
            **columns,
        }
    )
    return frame[[c.name for c in schema.COLUMNS]].astype({c.name: c.dtype for c in schema.COLUMNS})


def fake_batch(n_rows: int, seed: int, index: int = 0) -> pd.DataFrame:
    """Fake rows drawn from the schema alone, as dev uses them.

    The label follows a made-up rule (a driver who accepts more offers completes more),
    so the pipelines have something to learn; it says nothing about real drivers.
    """
    rng = np.random.default_rng([seed, index])
    columns = {}
    for c in schema.COLUMNS:
        if c.name in (schema.KEY, schema.PARTITION, schema.LABEL):
            continue
        low, high = c.min, c.max
        values = rng.integers(low, high + 1, n_rows) if c.dtype == "int64" else rng.uniform(low, high, n_rows)
        if c.nullable:
            values = np.where(rng.random(n_rows) < c.max_null_fraction / 2, np.nan, values)
        columns[c.name] = values
    columns[schema.LABEL] = (rng.random(n_rows) < columns["acc_rate"]).astype("int64")
    return _frame(columns, n_rows, index, partition_names(index + 1)[index])


def production_batch(n_rows: int, seed: int, index: int = 0, drift: float = 0.0) -> pd.DataFrame:
    """Rows as production would see them on day `index`; `drift` in [0, 1] shifts them."""
    if not 0.0 <= drift <= 1.0:
        raise errors.BadInputError(f"drift must be between 0 and 1, got {drift}")
    rng = np.random.default_rng([seed, index, 1])
    years = np.clip(rng.gamma(2.0, 1.5, n_rows), 0, 40)
    acc = rng.beta(8, 2, n_rows)  # what drivers do; the column reports it as the app counts it
    conv = rng.beta(5, 3, n_rows)
    cancel = rng.beta(1.5, 15, n_rows)
    trips = np.clip(rng.poisson(12, n_rows), 0, 60)
    distance = np.clip(rng.lognormal(np.log(2.5 * (1 + 0.6 * drift)), 0.6, n_rows), 0, 30)
    rating = np.clip(rng.normal(4.6, 0.25, n_rows), 1, 5)
    logit = (
        1.0
        + 6.0 * (acc - 0.8)
        + 5.0 * (conv - 0.6)
        - 12.0 * (cancel - 0.09)
        - 0.7 * (1 - PICKUP_BONUS * drift) * (distance - 2.5)
        + 1.6 * (rating - 4.6)
        + 0.06 * (trips - 12)
    )
    completed = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype("int64")
    columns = {
        "driver_id": rng.integers(1000, 100_000, n_rows),
        "conv_rate": conv,
        "acc_rate": acc * (1 - ACCEPTANCE_UNDERCOUNT * drift),
        "avg_daily_trips": trips,
        "cancel_rate": cancel,
        "rating": np.where(years < 0.5, np.nan, rating),  # new drivers have no rating yet
        "years_active": years,
        "pickup_distance_km": distance,
        schema.LABEL: completed,
    }
    return _frame(columns, n_rows, index, partition_names(index + 1)[index])


class FakeSource:
    """dev's source: fake partitions generated on demand, same schema as production."""

    kind = "fake"

    def __init__(self, n_partitions: int, rows_per_partition: int, seed: int):
        self.n_partitions, self.rows_per_partition, self.seed = n_partitions, rows_per_partition, seed

    def partitions(self) -> list[str]:
        return partition_names(self.n_partitions)

    def read(self, partition: str) -> pd.DataFrame:
        return fake_batch(self.rows_per_partition, self.seed, _index_of(partition, self.partitions()))


class Warehouse:
    """The simulated production source: a sqlite file, one partition per day.

    It is built once, deterministically, and rebuilt only when asked for other
    parameters; building writes a temporary file first, so a crash leaves no half table.
    """

    kind = "warehouse"

    def __init__(
        self, path: Path, n_partitions: int, rows_per_partition: int, seed: int, drift_from: int | None = None
    ):
        self.path = Path(path)
        self.params = {
            "n_partitions": n_partitions,
            "rows_per_partition": rows_per_partition,
            "seed": seed,
            "drift_from": -1 if drift_from is None else drift_from,
        }
        if self._stored_params() != self.params:
            self._build()

    def _stored_params(self) -> dict | None:
        if not self.path.exists():
            return None
        with sqlite3.connect(self.path) as db:
            return {k: int(v) for k, v in db.execute("select key, value from meta")}

    def _build(self) -> None:
        p = self.params
        tmp = self.path.with_suffix(f".building-{os.getpid()}")  # two processes building at once: one file each
        tmp.unlink(missing_ok=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(tmp) as db:
            for i in range(p["n_partitions"]):
                drifted = 0 <= p["drift_from"] <= i
                production_batch(p["rows_per_partition"], p["seed"], i, drift=1.0 if drifted else 0.0).to_sql(
                    "bookings", db, if_exists="append", index=False
                )
            db.execute(f"create index by_day on bookings ({schema.PARTITION})")
            db.execute("create table meta (key text primary key, value integer)")
            db.executemany("insert into meta values (?, ?)", p.items())
        tmp.replace(self.path)

    def append(self, batch: pd.DataFrame) -> list[str]:
        """New days' bookings, with their outcomes, land in the warehouse (08: after a drift); the days written. The
        batch is validated first (a bad one writes nothing: every run reads every day). A day it holds already is
        replaced, in the same transaction: loading a day twice leaves it once. A rebuild for other parameters
        starts from generated days only."""
        validation.require_valid(batch)
        days = sorted(batch[schema.PARTITION].unique())
        with sqlite3.connect(self.path) as db:
            db.executemany(f"delete from bookings where {schema.PARTITION} = ?", [(day,) for day in days])
            batch.to_sql("bookings", db, if_exists="append", index=False)
        return days

    def partitions(self) -> list[str]:
        with sqlite3.connect(self.path) as db:
            rows = db.execute(f"select distinct {schema.PARTITION} from bookings order by 1")
            return [r[0] for r in rows]

    def read(self, partition: str) -> pd.DataFrame:
        _index_of(partition, self.partitions())
        with sqlite3.connect(self.path) as db:
            frame = pd.read_sql(
                f"select * from bookings where {schema.PARTITION} = ? order by {schema.KEY}", db, params=(partition,)
            )
        return frame.astype({c.name: c.dtype for c in schema.COLUMNS})


def _index_of(partition: str, known: list[str]) -> int:
    if partition not in known:
        raise errors.BadInputError(f"no partition '{partition}': this source has {known[0]} to {known[-1]}")
    return known.index(partition)


def open_source(cfg) -> FakeSource | Warehouse:
    """The environment's source: dev generates fake rows; staging and prod read the warehouse."""
    if cfg.data_source == "fake":
        return FakeSource(cfg.n_partitions, cfg.rows_per_partition, cfg.seed)
    return Warehouse(cfg.workspace_dir() / "warehouse.db", cfg.n_partitions, cfg.rows_per_partition, cfg.seed)


def live_batch(cfg, n_rows: int, index: int, drifted: bool = False) -> pd.DataFrame:
    """Requests the environment's API sees on a later day: rows like the ones it was trained on.

    `drifted` changes them the way the warehouse's drift scenario does (pickups farther, a long one completed
    more often, acceptance rates reported 60% lower), so that in every environment monitoring has
    drift to catch, live accuracy falls, and a retrain on these rows has something to learn.
    """
    if cfg.data_source != "fake":
        return production_batch(n_rows, cfg.seed, index, drift=1.0 if drifted else 0.0)
    batch = fake_batch(n_rows, cfg.seed, index)
    if drifted:
        distance = np.clip(batch["pickup_distance_km"] * 1.6, 0, 30)
        # the made-up rule changes too: the farther the pickup, the likelier it is completed now
        draw = np.random.default_rng([cfg.seed, index, 2]).random(n_rows)
        batch[schema.LABEL] = (draw < batch["acc_rate"] * (0.5 + distance / 30)).astype("int64")
        batch["acc_rate"] = batch["acc_rate"] * (1 - ACCEPTANCE_UNDERCOUNT)
        batch["pickup_distance_km"] = distance
    return batch


def as_requests(batch: pd.DataFrame) -> list[dict]:
    """A batch's rows as /predict takes them: the features only, missing values as null."""
    features = batch[list(schema.FEATURES)]
    return features.astype(object).where(features.notna(), None).to_dict("records")
