"""Training is reproducible, logs what the registry needs, and the gate never promotes a version that scores worse."""

from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest

from mlops_workbook.cm import drift
from mlops_workbook.core import errors
from mlops_workbook.ct import features, gate, training
from mlops_workbook.example import data, schema, tracking


@pytest.fixture(scope="module")
def table():
    return features.build(data.production_batch(2000, seed=21))


@pytest.fixture(scope="module")
def halves(table):
    return training.split(table)


def test_a_row_stays_on_its_side_of_the_split_as_data_grows(table):
    train, held_out = training.split(table)
    assert 0.2 < len(held_out) / len(table) < 0.3 and not set(train.index) & set(held_out.index)
    assert abs(train[schema.LABEL].mean() - held_out[schema.LABEL].mean()) < 0.05
    more = pd.concat([table, features.build(data.production_batch(2000, seed=22, index=1))], ignore_index=True)
    _, held_out_later = training.split(more)
    assert set(held_out[schema.KEY]) == set(held_out_later[schema.KEY]) & set(table[schema.KEY])


def test_same_data_and_seed_give_the_same_predictions(halves):
    train, held_out = halves
    first = training.predict_proba(training.train(train, seed=3), held_out)
    second = training.predict_proba(training.train(train.copy(), seed=3), held_out)
    assert np.array_equal(first.to_numpy(), second.to_numpy())


def test_the_model_learns_the_relation(halves):
    train, held_out = halves
    metrics = training.evaluate(training.train(train, seed=3), held_out)
    assert set(metrics) == {"accuracy", "roc_auc", "f1"}
    assert metrics["roc_auc"] > 0.7, metrics


def test_the_signature_is_declared_from_the_schema():
    spec = {c.name: c.type.name for c in training.signature().inputs.inputs}
    assert list(spec) == list(features.MODEL_INPUTS)
    assert spec["acc_rate"] == "double" and spec["avg_daily_trips"] == "long" and spec["is_new_driver"] == "long"
    assert spec["reliability"] == "double"


def test_pip_requirements_are_pinned_explicitly():
    assert [r.split("==")[0] for r in training.PIP_REQUIREMENTS] == ["scikit-learn", "pandas", "numpy"]
    assert all("==" in r for r in training.PIP_REQUIREMENTS)


METRICS = {"accuracy": 0.8, "roc_auc": 0.85}


@pytest.mark.parametrize(
    "challenger, champion, promote, reason",
    [
        (METRICS, None, True, "first model to pass the thresholds"),
        ({"accuracy": 0.8, "roc_auc": 0.87}, METRICS, True, "beats the champion's ROC AUC 0.8500 by 0.0200"),
        (METRICS, METRICS, False, "a gain of +0.0000 is not above the margin 0.01"),
        ({"accuracy": 0.8, "roc_auc": 0.855}, METRICS, False, "is not above the margin 0.01"),
        ({"accuracy": 0.8, "roc_auc": 0.80}, METRICS, False, "a gain of -0.0500"),
        ({"accuracy": 0.6, "roc_auc": 0.95}, METRICS, False, "accuracy 0.6000 is below the minimum 0.7"),
        ({"accuracy": 0.8, "roc_auc": 0.7}, None, False, "ROC AUC 0.7000 is below the minimum 0.75"),
    ],
)
def test_the_gate_rule(challenger, champion, promote, reason):
    decision = gate.decide(challenger, champion, min_accuracy=0.7, min_roc_auc=0.75, margin=0.01)
    assert decision.passes is promote and reason in decision.reason


@pytest.fixture
def empty_registry(tmp_path):
    registry = tracking.connect(None, tmp_path)
    yield registry
    mlflow.set_tracking_uri(None)


def register(model, halves, registry, note):
    train, held_out = halves
    return training.log_and_register(
        model,
        {"note": note, "data_source": "fake"},
        training.evaluate(model, held_out),
        held_out,
        registry,
        note,
        train,
    )


# The gate's settings, as an environment's config gives them.
GATE = SimpleNamespace(
    min_accuracy=0.5, min_roc_auc=0.55, promotion_margin=0.0, promotion_confidence=0.9, guardrail_tolerance=0.01, seed=0
)


@pytest.mark.slow
def test_a_version_that_does_not_say_what_data_it_learned_from_is_refused_before_anything_is_logged(
    empty_registry, halves
):
    train, held_out = halves
    model = training.train(train, seed=0)
    with pytest.raises(errors.BadInputError, match="say what data the model learned from, one of fake, warehouse"):
        training.log_and_register(
            model, {"seed": 0}, training.evaluate(model, held_out), held_out, empty_registry, "x", train
        )
    assert empty_registry.search_registered_models() == [] and mlflow.search_runs(output_format="list") == []


@pytest.mark.slow
def test_review_with_a_better_an_equal_and_a_worse_challenger(empty_registry, halves):
    train, held_out = halves
    cfg = GATE
    weak = training.train(train, seed=3, inputs=("pickup_distance_km",))
    full = training.train(train, seed=3)

    v1 = register(weak, halves, empty_registry, "weak")
    assert gate.review(empty_registry, v1, held_out, cfg).passes
    assert gate.champion_version(empty_registry) == v1

    v2 = register(full, halves, empty_registry, "better")
    assert gate.review(empty_registry, v2, held_out, cfg).passes
    assert gate.champion_version(empty_registry) == v2

    v3 = register(training.train(train, seed=3), halves, empty_registry, "equal")
    decision = gate.review(empty_registry, v3, held_out, cfg)
    assert not decision.passes and "not above the margin" in decision.reason

    v4 = register(weak, halves, empty_registry, "worse")
    assert not gate.review(empty_registry, v4, held_out, cfg).passes

    assert gate.champion_version(empty_registry) == v2, "a worse or equal model is never promoted"
    tags = empty_registry.get_model_version(tracking.model_name(), v4).tags
    assert tags["gate"] == "rejected" and "gain of -" in tags["gate_reason"]
    aliases = {v: empty_registry.get_model_version(tracking.model_name(), v).aliases for v in (v1, v2, v3, v4)}
    assert aliases[v2] == [gate.CHAMPION] and all(not aliases[v] for v in (v1, v3, v4)), (
        "challenger names a version only while it is under review; a rejected one keeps its tags, not the alias"
    )


def test_the_gates_roc_auc_is_sklearns_on_each_resample_ties_included():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    truth = rng.integers(0, 2, (5, 200))
    scores = np.round(truth * 0.4 + rng.random((5, 200)), 1)  # rounded: many ties
    expected = [roc_auc_score(t, s) for t, s in zip(truth, scores)]
    assert np.allclose(gate.roc_auc(truth, scores, axis=-1), expected, rtol=0, atol=1e-12)
    assert np.isnan(gate.roc_auc(np.ones(10), rng.random(10)))  # one class only: no AUC


def test_a_gain_inside_the_rows_noise_is_not_a_gain():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 300)
    champion = truth * 0.3 + rng.random(300)  # a model with some signal
    nudged = champion + rng.normal(0, 0.02, 300)  # the same model, retrained: a tiny, random difference
    better = truth * 0.9 + rng.random(300)  # a model with much more signal
    assert gate.gain_lower_bound(truth, nudged, champion, 0.9, seed=1) < 0
    assert gate.gain_lower_bound(truth, better, champion, 0.9, seed=1) > 0.05
    assert gate.gain_lower_bound(truth, better, champion, 0.9, seed=1) == gate.gain_lower_bound(
        truth, better, champion, 0.9, seed=1
    )
    sure, surer = (gate.gain_lower_bound(truth, better, champion, c, seed=1) for c in (0.8, 0.99))
    assert surer < sure, "the surer the gate must be, the less gain it can vouch for"


def test_a_champion_that_no_longer_reaches_the_minimums_gives_way_to_one_that_does():
    broken = {"accuracy": 0.44, "roc_auc": 0.786, "f1": 0.13}  # 08: drift broke its threshold, not its ranking
    retrained = {"accuracy": 0.75, "roc_auc": 0.79, "f1": 0.74}
    decision = gate.decide(retrained, broken, 0.7, 0.75, 0.005)
    assert decision.passes and "the champion no longer reaches the minimums" in decision.reason
    assert not gate.decide({**retrained, "accuracy": 0.69}, broken, 0.7, 0.75, 0.005).passes  # it must qualify itself


def test_the_gate_rejects_a_noisy_gain_and_a_gain_that_costs_accuracy_or_f1():
    accepted = gate.Decision(True, "beats the champion's ROC AUC")
    old = {"accuracy": 0.73, "roc_auc": 0.80, "f1": 0.72}
    new = {"accuracy": 0.73, "roc_auc": 0.81, "f1": 0.72}
    noisy = gate.beyond_noise_and_guardrails(accepted, new, old, -0.004, GATE, 280)
    assert not noisy.passes and "within the rows' noise" in noisy.reason and "at least -0.0040" in noisy.reason
    assert "90% sure over 1000 paired resamples of 280 held-out rows" in noisy.reason
    assert gate.beyond_noise_and_guardrails(accepted, new, old, 0.002, GATE, 280).passes
    strict = SimpleNamespace(**{**vars(GATE), "promotion_margin": 0.005})  # the sure gain must clear the margin
    assert not gate.beyond_noise_and_guardrails(accepted, new, old, 0.004, strict, 280).passes
    assert gate.beyond_noise_and_guardrails(accepted, new, old, 0.006, strict, 280).passes
    for metric in ("accuracy", "f1"):
        worse = {**new, metric: old[metric] - 0.0101}
        refused = gate.beyond_noise_and_guardrails(accepted, worse, old, 0.002, GATE, 280)
        assert not refused.passes and refused.reason.startswith(f"{metric} ") and "guardrail 0.01" in refused.reason
        within = {**new, metric: old[metric] - 0.0099}
        assert gate.beyond_noise_and_guardrails(accepted, within, old, 0.002, GATE, 280).passes


@pytest.mark.slow
def test_a_gate_whose_champion_moved_during_its_review_promotes_nothing(empty_registry, halves):
    train, held_out = halves
    cfg = GATE
    first = register(training.train(train, seed=3), halves, empty_registry, "first")
    other = register(training.train(train, seed=3), halves, empty_registry, "another gate's")

    def meanwhile(*metrics):  # while this review decides, another gate promotes its version
        empty_registry.set_registered_model_alias(tracking.model_name(), gate.CHAMPION, other)
        return gate.Decision(True, "first model to pass the thresholds")

    decision = gate.review(empty_registry, first, held_out, cfg, rule=meanwhile)
    assert not decision.passes and f"the champion moved to version {other}" in decision.reason
    assert gate.champion_version(empty_registry) == other


@pytest.mark.slow
def test_a_registered_model_loads_back_with_the_same_predictions(empty_registry, halves):
    train, held_out = halves
    model = training.train(train, seed=3)
    version = register(model, halves, empty_registry, "roundtrip")
    loaded = training.load(version)
    assert np.array_equal(training.predict_proba(loaded, held_out), training.predict_proba(model, held_out))
    run = mlflow.get_run(empty_registry.get_model_version(tracking.model_name(), version).run_id)
    assert run.data.metrics["roc_auc"] == training.evaluate(model, held_out)["roc_auc"]
    artifacts = [a.path for a in empty_registry.list_artifacts(run.info.run_id)]
    assert "evaluation.png" in artifacts and drift.REFERENCE_FILE in artifacts


@pytest.mark.slow
def test_reviews_side_by_side_share_challenger_and_one_whose_promotion_collides_promotes_nothing(
    empty_registry, halves, monkeypatch
):
    from mlflow.exceptions import MlflowException

    train, held_out = halves
    mine = register(training.train(train, seed=3), halves, empty_registry, "mine")
    theirs = register(training.train(train, seed=3), halves, empty_registry, "under another review")
    write, collided = empty_registry.set_registered_model_alias, []

    def collides_once_each(name, alias, version):  # as MLflow on PostgreSQL answers the later of two writers
        if alias not in collided:
            collided.append(alias)
            raise MlflowException("UPDATE statement on table 'registered_model_aliases' expected to update 1 row(s)")
        write(name, alias, version)

    def meanwhile(*metrics):  # another review starts beside this one and takes `challenger`
        write(tracking.model_name(), gate.CHALLENGER, theirs)
        return gate.Decision(True, "first model to pass the thresholds")

    monkeypatch.setattr(empty_registry, "set_registered_model_alias", collides_once_each)
    decision = gate.review(empty_registry, mine, held_out, GATE, rule=meanwhile)
    assert collided == [gate.CHALLENGER, gate.CHAMPION]  # challenger: written again; champion: not
    assert not decision.passes and "another gate promoted a version at the same moment" in decision.reason
    assert gate.champion_version(empty_registry) is None
    assert gate.champion_version(empty_registry, gate.CHALLENGER) == theirs  # it withdrew only its own candidacy
