"""The data pipeline: validate before writing, version by content, keep the previous version on failure."""

import numpy as np
import pandas as pd
import pytest

from mlops_workbook.core import errors
from mlops_workbook.ct import data_pipeline, features
from mlops_workbook.example import data, schema, validation


@pytest.fixture
def store(tmp_path):
    return data_pipeline.FeatureStore(tmp_path / "features")


@pytest.fixture
def batch():
    return data.production_batch(300, seed=5)


def files_under(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []


def test_features_are_the_schema_features_plus_the_derived_ones(batch):
    table = features.build(batch)
    assert set(features.MODEL_INPUTS) <= set(table.columns)
    assert features.MODEL_INPUTS[: len(schema.FEATURES)] == schema.FEATURES
    expected = batch.acc_rate * (1 - batch.cancel_rate)
    assert np.allclose(table.reliability, expected)
    assert table.is_new_driver.tolist() == batch.rating.isna().astype(int).tolist()
    assert "reliability" not in batch.columns, "build must not change its input"
    assert {name: str(table[name].dtype) for name in features.MODEL_INPUTS} == {
        name: features.dtype(name) for name in features.MODEL_INPUTS
    }


def test_a_good_batch_is_written_with_its_manifest(store, batch):
    manifest = data_pipeline.process(batch, store, "2026-01-05", "warehouse")
    assert manifest.rows == 300 and manifest.partition == "2026-01-05" and manifest.source == "warehouse"
    assert manifest.version == f"v-{manifest.data_hash}"
    assert manifest.schema_hash == data_pipeline.schema_hash()
    assert store.current("2026-01-05") == manifest
    written = store.read(["2026-01-05"])
    pd.testing.assert_frame_equal(written, features.build(batch).reset_index(drop=True))


def test_rerunning_a_partition_is_idempotent(store, batch):
    first = data_pipeline.process(batch, store, "2026-01-05", "warehouse")
    before = {p: p.stat().st_mtime_ns for p in store.root.rglob("*.parquet")}
    second = data_pipeline.process(batch.copy(), store, "2026-01-05", "warehouse")
    assert second == first
    assert store.versions("2026-01-05") == [first.version]
    assert {p: p.stat().st_mtime_ns for p in store.root.rglob("*.parquet")} == before
    assert len(store.read()) == len(batch), "no duplicate rows"


def test_new_data_makes_a_new_version_that_becomes_current(store, batch):
    old = data_pipeline.process(batch, store, "2026-01-05", "warehouse")
    new = data_pipeline.process(data.production_batch(300, seed=6), store, "2026-01-05", "warehouse")
    assert new.version != old.version
    assert store.versions("2026-01-05") == sorted([old.version, new.version])
    assert store.current("2026-01-05") == new


BAD_BATCHES = {
    "missing column": (lambda b: b.drop(columns=["conv_rate"]), "missing column: conv_rate"),
    "wrong dtype": (
        lambda b: b.assign(avg_daily_trips=b.avg_daily_trips.astype(str)),
        "wrong dtype, expected 'int64': avg_daily_trips",
    ),
    "out of range": (
        lambda b: b.assign(pickup_distance_km=b.pickup_distance_km + 100),
        "outside the range [0, 30]: pickup_distance_km",
    ),
    "too many nulls": (lambda b: b.assign(rating=b.rating.where(b.index % 2 == 0)), "at most 30% nulls: rating"),
    "duplicate keys": (lambda b: b.assign(booking_id=7), "duplicate key: booking_id"),
    "empty": (lambda b: b.iloc[:0], "at least 1 row(s): (whole batch)"),
    "another day": (
        lambda b: b.assign(event_date="2026-01-06"),
        "the partition being written, 2026-01-05: event_date (300 row(s), e.g. 2026-01-06)",
    ),
    "not a day": (
        lambda b: b.assign(event_date=np.where(b.index < 2, "05/01/2026", b.event_date)),
        "the partition being written, 2026-01-05: event_date (2 row(s), e.g. 05/01/2026)",
    ),
}


@pytest.mark.parametrize("case", BAD_BATCHES)
def test_a_bad_batch_is_rejected_and_nothing_is_written(store, batch, case):
    breakage, named = BAD_BATCHES[case]
    with pytest.raises(validation.BadBatchError) as caught:
        data_pipeline.process(breakage(batch), store, "2026-01-05", "warehouse")
    assert named in str(caught.value) and "nothing was written" in str(caught.value)
    assert files_under(store.root) == []


@pytest.mark.parametrize("case", BAD_BATCHES)
def test_a_bad_batch_keeps_the_previous_version_current(store, batch, case):
    good = data_pipeline.process(batch, store, "2026-01-05", "warehouse")
    before = files_under(store.root)
    breakage, _ = BAD_BATCHES[case]
    with pytest.raises(validation.BadBatchError):
        data_pipeline.process(breakage(data.production_batch(300, seed=9)), store, "2026-01-05", "warehouse")
    assert files_under(store.root) == before
    assert store.current("2026-01-05") == good


@pytest.mark.parametrize("partition", ["05/01/2026", "2026-1-5", "2026-13-45", "latest"])
def test_a_partition_that_is_not_a_day_is_refused_and_nothing_is_written(store, batch, partition):
    with pytest.raises(errors.BadInputError, match="expected the day it holds, written YYYY-MM-DD"):
        data_pipeline.process(batch.assign(event_date=partition), store, partition, "warehouse")
    assert files_under(store.root) == []


def test_the_row_count_floor_applies(store, batch):
    with pytest.raises(validation.BadBatchError, match="at least 1000 row"):
        data_pipeline.process(batch, store, "2026-01-05", "warehouse", min_rows=1000)
    assert files_under(store.root) == []


def test_run_processes_every_partition_of_the_source(store):
    source = data.FakeSource(n_partitions=3, rows_per_partition=50, seed=1)
    manifests = data_pipeline.run(source, store)
    assert [m.partition for m in manifests] == source.partitions() == store.partitions()
    assert {m.source for m in manifests} == {"fake"}
    assert len(store.read()) == 150
    assert store.manifests()["rows"].tolist() == [50, 50, 50]


def test_reading_a_partition_that_was_never_processed_says_what_to_do(store):
    with pytest.raises(errors.UnavailableError, match="run the data pipeline first"):
        store.read(["2026-01-05"])


def test_the_schema_hash_follows_the_declaration(monkeypatch):
    before = data_pipeline.schema_hash()
    monkeypatch.setitem(features.DERIVED, "surge", "a new feature")
    assert data_pipeline.schema_hash() != before
