"""Behavioural tests of the running example's model (as Made-With-ML's tests/model): it moves the way the
domain says when one input moves, ignores what it must ignore, and answers for every row the schema allows."""

import numpy as np
import pandas as pd
import pytest

from mlops_workbook.ct import features, training
from mlops_workbook.example import data, schema


@pytest.fixture(scope="module")
def model():
    return training.train(features.build(data.production_batch(3000, seed=21)), seed=21)


@pytest.fixture(scope="module")
def rows():
    return data.production_batch(200, seed=22)


def scores(model, batch: pd.DataFrame) -> np.ndarray:
    return training.predict_proba(model, features.build(batch)).to_numpy()


@pytest.mark.parametrize(
    ("feature", "change", "direction"),
    [
        ("acc_rate", 0.15, +1),  # drivers who accept more complete more
        ("cancel_rate", 0.15, -1),  # ... who cancel more complete less
        ("pickup_distance_km", 5.0, -1),  # a far pickup is completed less
        ("rating", 0.5, +1),
    ],
)
def test_one_input_moves_the_score_the_way_the_domain_says(model, rows, feature, change, direction):
    column = schema.BY_NAME[feature]
    moved = rows.copy()
    moved[feature] = (rows[feature] + change).clip(column.min, column.max)
    difference = scores(model, moved) - scores(model, rows)
    changed = moved[feature] != rows[feature]
    assert (np.sign(difference[changed]) == direction).mean() > 0.95, f"{feature} +{change}: {difference[changed]}"


def test_what_is_not_an_input_changes_nothing(model, rows):
    """Booking and driver ids, the day, and the row's place in a batch are not evidence."""
    other = rows.copy()
    other[schema.KEY] = other[schema.KEY] + 1_000_000
    other["driver_id"] = other["driver_id"][::-1].to_numpy()
    other[schema.PARTITION] = "2030-01-01"
    np.testing.assert_allclose(scores(model, other), scores(model, rows))
    shuffled = rows.sample(frac=1, random_state=0)
    np.testing.assert_allclose(scores(model, shuffled), scores(model, rows.loc[shuffled.index]))


def test_a_new_driver_without_a_rating_gets_a_score(model, rows):
    new = rows.head(20).assign(rating=np.nan)
    assert np.isfinite(scores(model, new)).all() and ((0 < scores(model, new)) & (scores(model, new) < 1)).all()
