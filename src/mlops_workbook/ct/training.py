"""The training pipeline: split → train → evaluate → log to MLflow → register a version.

Everything random takes the seed, so the same data and seed give the same model and the
same predictions: the reproducibility check in CI relies on it.
"""

from __future__ import annotations

from importlib.metadata import version

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay, accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlops_workbook import schema
from mlops_workbook.ct.features import MODEL_INPUTS

MODEL_NAME = "ride-completion"
# Named, not inferred: inferring requirements makes every log_model seconds slower.
PIP_REQUIREMENTS = [f"{p}=={version(p)}" for p in ("scikit-learn", "pandas", "numpy")]
# skops (MLflow's default format for sklearn) loads only types it is told to trust.
TRUSTED_TYPES = ["numpy.dtype"]


def split(table: pd.DataFrame, seed: int, test_size: float = 0.25) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A held-out evaluation split, stratified on the label."""
    return train_test_split(table, test_size=test_size, random_state=seed, stratify=table[schema.LABEL])


def train(table: pd.DataFrame, seed: int, C: float = 1.0, inputs: tuple[str, ...] = MODEL_INPUTS) -> Pipeline:
    """Impute, scale, logistic regression: small, fast to serve, and easy to explain."""
    model = Pipeline([
        ("impute", SimpleImputer(strategy="median")),
        ("scale", StandardScaler()),
        ("classify", LogisticRegression(C=C, max_iter=1000, random_state=seed)),
    ])
    return model.fit(table[list(inputs)], table[schema.LABEL])


def predict_proba(model: Pipeline, table: pd.DataFrame) -> pd.Series:
    inputs = list(model.feature_names_in_)
    return pd.Series(model.predict_proba(table[inputs])[:, 1], index=table.index, name="probability")


def evaluate(model: Pipeline, table: pd.DataFrame) -> dict[str, float]:
    """Quality on a held-out table: what the gate compares."""
    scores = predict_proba(model, table)
    labels = (scores >= 0.5).astype("int64")
    truth = table[schema.LABEL]
    return {"accuracy": round(accuracy_score(truth, labels), 4), "roc_auc": round(roc_auc_score(truth, scores), 4),
            "f1": round(f1_score(truth, labels), 4)}


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


def signature(inputs: tuple[str, ...] = MODEL_INPUTS):
    """The model's input and output types, declared from the schema rather than guessed from data."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    def kind(name: str) -> str:
        column = schema.BY_NAME.get(name)
        return "double" if column is not None and column.dtype == "float64" else "long"

    return ModelSignature(inputs=Schema([ColSpec(kind(n), n) for n in inputs]),
                          outputs=Schema([ColSpec("long", schema.LABEL)]))


def log_and_register(model: Pipeline, params: dict, metrics: dict, eval_table: pd.DataFrame,
                     client, description: str) -> str:
    """One MLflow run with params, metrics, plots and the model; returns the new registered version."""
    import mlflow
    import mlflow.sklearn

    inputs = tuple(model.feature_names_in_)
    with mlflow.start_run(run_name=description) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        figure = evaluation_plots(model, eval_table)
        mlflow.log_figure(figure, "evaluation.png")
        plt.close(figure)
        info = mlflow.sklearn.log_model(model, name="model", signature=signature(inputs),
                                        pip_requirements=PIP_REQUIREMENTS, skops_trusted_types=TRUSTED_TYPES)
    if not client.search_registered_models(filter_string=f"name = '{MODEL_NAME}'"):
        client.create_registered_model(MODEL_NAME)
    registered = client.create_model_version(MODEL_NAME, source=info.model_uri, run_id=run.info.run_id,
                                             description=description)
    return str(registered.version)


def load(reference: str) -> Pipeline:
    """A registered model by version ("3") or alias ("@champion")."""
    import mlflow.sklearn

    separator = "" if reference.startswith("@") else "/"
    return mlflow.sklearn.load_model(f"models:/{MODEL_NAME}{separator}{reference}")
