"""A registered model version as a serving bundle (example.bundle): converted to ONNX and checked first."""

from __future__ import annotations

from pathlib import Path

from mlops_workbook.ci import conversion
from mlops_workbook.example import bundle, tracking


def version(registry, number: str, folder: Path, alias: str = "") -> tuple[bundle.Facts, conversion.Parity]:
    """A registered version as a serving bundle: its pipeline converted to ONNX and checked on its held-out rows.

    Nothing is written unless the converted model passes the parity check (conversion.ParityError says why).
    The ONNX model is also logged with the version's run (`onnx/model.onnx`), so the registry holds what shipped.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from mlops_workbook.cm import drift
    from mlops_workbook.ct import training

    found = registry.get_model_version(tracking.model_name(), number)
    model = training.load(str(found.version))
    try:
        held_out = training.held_out_of(registry, str(found.version))
    except LookupError as missing:
        raise conversion.ParityError(
            f"{missing}: it is what its conversion is checked on; register versions with "
            "mlops_workbook.ct.training.log_and_register, which logs them"
        ) from None
    onnx_model = conversion.to_onnx(model)
    parity = conversion.check(model, onnx_model, held_out)
    try:
        reference = mlflow.artifacts.load_dict(f"runs:/{found.run_id}/{drift.REFERENCE_FILE}")
    except MlflowException:  # a version registered by other means: served without drift gauges
        reference = None
    facts = bundle.Facts(
        tracking.model_name(),
        str(found.version),
        alias,
        found.run_id,
        list(model.feature_names_in_),
        reference,
    )
    bundle.save(onnx_model, facts, folder)
    registry.log_artifact(found.run_id, str(Path(folder) / bundle.MODEL_FILE), "onnx")
    return facts, parity


def champion(registry, folder: Path) -> tuple[bundle.Facts, conversion.Parity]:
    """The registry's champion as a serving bundle (see `version`)."""
    from mlops_workbook.ct import gate

    return version(registry, gate.required_champion(registry), folder, gate.CHAMPION)
