"""The training pipeline: split → train → evaluate → log to MLflow → register a version.

Everything random takes the seed, so the same data and seed give the same model and the
same predictions: the reproducibility check in CI relies on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay, accuracy_score, f1_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlops_workbook.cm import drift
from mlops_workbook.core import environments, errors
from mlops_workbook.ct import features
from mlops_workbook.example import schema, tracking

# Named, not inferred: inferring requirements makes every log_model seconds slower.
PIP_REQUIREMENTS = [f"{p}=={version(p)}" for p in ("scikit-learn", "pandas", "numpy")]
# skops (MLflow's default format for sklearn) loads only types it is told to trust; this pipeline needs just this one.
TRUSTED_TYPES = ["numpy.dtype"]
HELD_OUT_FILE = "held_out.parquet"  # the rows a version was evaluated on, logged with its run


def split(table: pd.DataFrame, held_out_percent: int = 25) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and held-out rows, chosen by a hash of the booking id.

    A row lands on the same side every time, however much data arrives later, so a retrained
    challenger and the champion are compared on rows neither of them trained on.
    """
    held_out = pd.util.hash_array(table[schema.KEY].to_numpy()) % 100 < held_out_percent
    return table[~held_out], table[held_out]


def train(table: pd.DataFrame, seed: int, C: float = 1.0, inputs: tuple[str, ...] = features.MODEL_INPUTS) -> Pipeline:
    """Impute, scale, logistic regression: small, fast to serve, and easy to explain."""
    model = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(C=C, max_iter=1000, random_state=seed)),
        ]
    )
    return model.fit(table[list(inputs)], table[schema.LABEL])


def predict_proba(model: Pipeline, table: pd.DataFrame) -> pd.Series:
    inputs = list(model.feature_names_in_)
    return pd.Series(model.predict_proba(table[inputs])[:, 1], index=table.index, name="probability")


def evaluate(model: Pipeline, table: pd.DataFrame) -> dict[str, float]:
    """Quality on a held-out table: what the gate compares."""
    scores = predict_proba(model, table)
    labels = (scores >= 0.5).astype("int64")
    truth = table[schema.LABEL]
    return {
        "accuracy": round(accuracy_score(truth, labels), 4),
        "roc_auc": round(roc_auc_score(truth, scores), 4),
        "f1": round(f1_score(truth, labels), 4),
    }


def evaluation_plots(model: Pipeline, table: pd.DataFrame):
    """Confusion matrix and ROC curve on the held-out table, as one figure."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    labels = (predict_proba(model, table) >= 0.5).astype("int64")
    ConfusionMatrixDisplay.from_predictions(table[schema.LABEL], labels, ax=left, colorbar=False)
    RocCurveDisplay.from_predictions(table[schema.LABEL], predict_proba(model, table), ax=right)
    left.set_title("confusion matrix")
    right.set_title("ROC curve")
    fig.tight_layout()
    return fig


def signature(inputs: tuple[str, ...] = features.MODEL_INPUTS):
    """The model's input and output types, declared from the schema rather than guessed from data."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    kind = {"float64": "double", "int64": "long"}
    return ModelSignature(
        inputs=Schema([ColSpec(kind[features.dtype(n)], n) for n in inputs]),
        outputs=Schema([ColSpec("long", schema.LABEL)]),
    )


def log_and_register(
    model: Pipeline,
    params: dict,
    metrics: dict,
    eval_table: pd.DataFrame,
    registry,
    description: str,
    train_rows: pd.DataFrame,
    lineage: list[dict] | None = None,
) -> str:
    """One MLflow run with params, metrics, plots and the model; returns the new registered version.

    The drift reference of `train_rows` is logged with the run, so the app serving this version can
    tell when live inputs move away from what it learned (07_cm_monitoring). `lineage` (the feature
    manifests trained on) is logged too, so every version can say which data it saw, and the evaluation
    rows (model inputs and label), on which CI checks that the converted model answers alike (ci.conversion).
    `params` must say what data the model learned from (`data_source`): outside dev only a version that learned
    from real data serves, so one that does not say is refused before anything is logged.
    """
    if params.get("data_source") not in environments.DATA_SOURCES:
        raise errors.BadInputError(
            f"params['data_source'] is {params.get('data_source')!r}: say what data the model learned from, one of "
            f"{', '.join(environments.DATA_SOURCES)} (the config's data_source); nothing was logged"
        )
    import tempfile

    import mlflow
    import mlflow.sklearn

    inputs = tuple(model.feature_names_in_)
    with mlflow.start_run(run_name=description) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        figure = evaluation_plots(model, eval_table)
        mlflow.log_figure(figure, "evaluation.png")
        plt.close(figure)
        mlflow.log_dict(drift.Reference.of(train_rows, schema.FEATURES).to_dict(), drift.REFERENCE_FILE)
        if lineage is not None:
            mlflow.log_dict({"feature_versions": lineage}, "lineage.json")
        with tempfile.TemporaryDirectory() as folder:
            eval_table[[*inputs, schema.LABEL]].to_parquet(f"{folder}/{HELD_OUT_FILE}", index=False)
            mlflow.log_artifact(f"{folder}/{HELD_OUT_FILE}")
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature(inputs),
            pip_requirements=PIP_REQUIREMENTS,
            skops_trusted_types=TRUSTED_TYPES,
        )
    try:  # two runs registering at once may both find no model: the second one's create is refused
        registry.create_registered_model(tracking.model_name())
    except mlflow.exceptions.MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    registered = registry.create_model_version(
        tracking.model_name(),
        source=info.model_uri,
        run_id=run.info.run_id,
        description=description,
        model_id=info.model_id,
    )
    return str(registered.version)


def held_out_of(registry, version: str) -> pd.DataFrame:
    """The rows a version was evaluated on, as logged with its run (LookupError if they were not)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    run_id = registry.get_model_version(tracking.model_name(), version).run_id
    try:
        return pd.read_parquet(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/{HELD_OUT_FILE}"))
    except (MlflowException, OSError):
        raise LookupError(f"version {version} has no held-out rows ({HELD_OUT_FILE}) logged with its run") from None


def trained_on(registry, version: str) -> str | None:
    """The data a version learned from (its run's `data_source`: fake or warehouse); None if its run did not say.
    A model that learned from dev's fake rows has never been judged on real data: it serves dev only."""
    run_id = registry.get_model_version(tracking.model_name(), version).run_id
    return registry.get_run(run_id).data.params.get("data_source")


def load(reference: str) -> Pipeline:
    """A registered model by version ("3") or alias ("@champion")."""
    import mlflow.sklearn

    separator = "" if reference.startswith("@") else "/"
    return mlflow.sklearn.load_model(f"models:/{tracking.model_name()}{separator}{reference}")


@dataclass(frozen=True)
class Candidate:
    """A newly registered version, its metrics, and the held-out rows the gate scores it on."""

    version: str
    metrics: dict
    held_out: pd.DataFrame


def run(
    store,
    cfg,
    registry,
    description: str,
    partitions: list[str] | None = None,
    C: float = 1.0,
    inputs: tuple[str, ...] = features.MODEL_INPUTS,
) -> Candidate:
    """The training pipeline end to end on the store's current features: what a scheduler runs."""
    chosen = partitions or store.partitions()
    train_rows, held_out = split(store.read(chosen))
    model = train(train_rows, cfg.seed, C, inputs)
    metrics = evaluate(model, held_out)
    params = {
        "env": cfg.env,
        "data_source": cfg.data_source,
        "seed": cfg.seed,
        "C": C,
        "inputs": len(inputs),
        "partitions": len(chosen),
        "train_rows": len(train_rows),
    }
    lineage = store.manifests(chosen).to_dict("records")
    return Candidate(
        log_and_register(model, params, metrics, held_out, registry, description, train_rows, lineage),
        metrics,
        held_out,
    )
