"""Data tests: the declared schema, dev's fake data and the simulated production source."""

import sqlite3

import numpy as np
import pandas as pd
import pytest

from mlops_workbook.core import environments, errors
from mlops_workbook.example import data, schema, validation


def test_features_are_the_columns_a_model_learns_from():
    assert schema.KEY not in schema.FEATURES and schema.LABEL not in schema.FEATURES
    assert set(schema.FEATURES) < set(schema.BY_NAME)
    assert list(schema.as_table().index) == [c.name for c in schema.COLUMNS]


@pytest.mark.parametrize(
    "make",
    [
        lambda: data.fake_batch(300, seed=1, index=2),
        lambda: data.production_batch(300, seed=1, index=2),
        lambda: data.production_batch(300, seed=1, index=2, drift=1.0),
    ],
)
def test_every_generated_batch_passes_the_schema(make):
    batch = make()
    assert validation.validate(batch).ok, validation.validate(batch)
    assert batch[schema.PARTITION].unique().tolist() == [data.partition_names(3)[2]]


def test_generators_are_deterministic_for_a_seed():
    assert data.fake_batch(100, seed=3).equals(data.fake_batch(100, seed=3))
    assert not data.fake_batch(100, seed=3).equals(data.fake_batch(100, seed=4))
    assert data.production_batch(100, seed=3).equals(data.production_batch(100, seed=3))


def test_fake_data_respects_the_declared_null_share():
    batch = data.fake_batch(5000, seed=0)
    for column in schema.COLUMNS:
        assert batch[column.name].isna().mean() <= column.max_null_fraction


def test_production_label_depends_on_the_features():
    batch = data.production_batch(20_000, seed=0)
    near = batch[batch.pickup_distance_km < 2][schema.LABEL].mean()
    far = batch[batch.pickup_distance_km > 6][schema.LABEL].mean()
    assert near > far + 0.2


def test_drift_moves_inputs_and_what_they_mean():
    before = data.production_batch(5000, seed=0, index=0)
    after = data.production_batch(5000, seed=0, index=0, drift=1.0)
    assert after.pickup_distance_km.median() > 1.4 * before.pickup_distance_km.median()
    assert after.acc_rate.mean() < 0.5 * before.acc_rate.mean()  # undercounted
    far = [batch[batch.pickup_distance_km > 5][schema.LABEL].mean() for batch in (before, after)]
    assert far[1] > far[0] + 0.15, far  # long pickups now pay: completed more often
    with pytest.raises(errors.BadInputError, match="between 0 and 1"):
        data.production_batch(10, seed=0, drift=2)


def test_warehouse_serves_partitions_as_generated(tmp_path):
    wh = data.Warehouse(tmp_path / "wh.db", n_partitions=4, rows_per_partition=80, seed=5, drift_from=3)
    assert wh.partitions() == data.partition_names(4)
    assert wh.read(wh.partitions()[1]).equals(data.production_batch(80, seed=5, index=1))
    assert wh.read(wh.partitions()[3]).equals(data.production_batch(80, seed=5, index=3, drift=1.0))
    assert [p.name for p in tmp_path.iterdir()] == ["wh.db"]  # no half-built file left behind
    with pytest.raises(errors.BadInputError, match="2026-01-05 to 2026-01-08"):
        wh.read("2025-12-31")


def test_new_days_land_in_the_warehouse_once_and_stay_there(tmp_path):
    wh = data.Warehouse(tmp_path / "wh.db", n_partitions=2, rows_per_partition=50, seed=5)
    new_days = pd.concat([data.production_batch(30, seed=5, index=9 + day, drift=1.0) for day in range(2)])
    assert wh.append(new_days) == data.partition_names(11)[9:]
    assert wh.append(new_days) == data.partition_names(11)[9:]  # loaded twice: each day once
    reopened = data.Warehouse(tmp_path / "wh.db", n_partitions=2, rows_per_partition=50, seed=5)  # not rebuilt
    assert reopened.partitions() == data.partition_names(2) + data.partition_names(11)[9:]
    assert reopened.read(data.partition_names(11)[10]).equals(data.production_batch(30, seed=5, index=10, drift=1.0))
    broken = data.production_batch(30, seed=5, index=12).assign(rating=9.0)  # out of its 1 to 5 range
    with pytest.raises(errors.BadInputError, match="rating"):
        wh.append(broken)
    assert data.partition_names(13)[12] not in wh.partitions()  # nothing of it written


def test_warehouse_is_built_once_and_rebuilt_for_other_parameters(tmp_path):
    path = tmp_path / "wh.db"
    data.Warehouse(path, 3, 60, seed=1)
    with sqlite3.connect(path) as db:
        db.execute("create table marker (x)")  # a rebuild replaces the file, and this with it
    data.Warehouse(path, 3, 60, seed=1)
    tables = "select name from sqlite_master where type = 'table'"
    with sqlite3.connect(path) as db:
        assert ("marker",) in db.execute(tables).fetchall()
    bigger = data.Warehouse(path, 5, 60, seed=1)
    assert len(bigger.partitions()) == 5
    with sqlite3.connect(path) as db:
        assert ("marker",) not in db.execute(tables).fetchall()


def test_each_environment_reads_its_own_source(tmp_path):
    dev = environments.load("dev")
    assert isinstance(data.open_source(dev), data.FakeSource)
    staging = environments.load("staging", {"workspace": str(tmp_path), "rows_per_partition": 60, "n_partitions": 2})
    source = data.open_source(staging)
    assert isinstance(source, data.Warehouse) and source.path == tmp_path / "warehouse.db"
    day = source.read(source.partitions()[0])
    assert len(day) == 60 and np.isfinite(day.pickup_distance_km).all()
