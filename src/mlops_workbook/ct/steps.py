"""The CT pipeline as four steps a scheduler can run one by one: features → train → evaluate → register.

Each step takes the environment's settings (its config as a plain dict, as a scheduler stores it) and a
workspace folder, reads what the step before it wrote there, writes its own output there, and
returns a small JSON summary: what Airflow passes between tasks (XCom) and what Kubeflow logs.
Run directly, in order, they are the embedded default: no scheduler at all (`run_all`).
`partitions` (a run's days; every day of the source by default) is what a run is asked to learn from: after a
drift, the days since it (08), passed as the run's conf in Airflow.

A scheduler runs each step in a fresh process (Kubeflow) and imports this module just to list them: each
step imports the heavy libraries it needs (scikit-learn, skops, MLflow) itself.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlops_workbook.core import environments, errors, http_client, paths
from mlops_workbook.ct import data_pipeline
from mlops_workbook.example import data

CANDIDATE, METRICS = "candidate.skops", "metrics.json"
FOLDER = Path("pipelines") / "ct"  # in an environment's workspace: where its deployed CT pipeline works


def environment_folder(cfg) -> Path:
    """Where the environment's CT pipeline works; with the embedded defaults, its registry is there too."""
    return cfg.workspace_dir() / FOLDER


def open_registry(cfg, folder: Path | None = None):
    """The environment's registry, where CT registers and gates and CI takes the champion from: the team's (or
    configured) server, else the embedded store in the CT pipeline's folder."""
    from mlops_workbook.example import tracking

    uri = cfg.tracking_uri()
    if uri and uri.startswith("http") and not http_client.answers(f"{uri}/health"):  # else MLflow retries for minutes
        start = f"start it with `mlops-workbook up --env {cfg.env}`" if not cfg.mlflow_tracking_uri else "is it up?"
        raise errors.UnavailableError(f"{cfg.env}'s tracking server does not answer on {uri}: {start}")
    folder = Path(folder or environment_folder(cfg))
    folder.mkdir(parents=True, exist_ok=True)
    return tracking.connect(uri, folder, cfg.learner)


def champion_registry(cfg, folder: Path):
    """The registry a lesson takes the champion from (what CI packages, what CD deploys), and a sentence that says
    where it came from. With servers (team mode, or a configured tracking server): the environment's, where CT
    registered and gated it; none there is an error that names the command that makes one. Embedded: the lesson
    runs alone, so the CT pipeline's steps run once into a registry of its own in `folder`."""
    from mlops_workbook.ct import gate

    if cfg.tracking_uri():
        registry = open_registry(cfg)
        version = gate.required_champion(registry)
        return registry, f"version {version}: the champion CT registered in {cfg.env}'s registry ({cfg.tracking_uri()})"
    registry = open_registry(cfg, folder)
    if gate.champion_version(registry) is None:
        said = run_all(cfg.params(), str(folder))["register"]
        if not said["promoted"]:
            raise gate.NoChampionError(f"CT's version {said['version']} was not promoted: {said['reason']}")
    version = gate.champion_version(registry)
    return registry, f"version {version}: the champion of {cfg.env}'s CT pipeline, run here (no servers: embedded)"


def _setup(settings: dict, folder: str):
    cfg = environments.validate(settings, "the pipeline's parameters")  # a bad parameter fails before any work
    folder = paths.resolve(folder)  # relative: to the repository, so deployed pipelines name no machine's paths
    folder.mkdir(parents=True, exist_ok=True)
    return cfg, folder, data_pipeline.FeatureStore(folder / "features")


def required_days(cfg, partitions: list[str] | None) -> list[str] | None:
    """The days a run is asked to learn from, each once, all in the environment's source; None: every day."""
    if partitions is None:
        return None
    if not partitions:
        raise errors.BadInputError("the run asks for no day: name at least one, or none at all for every day")
    source = data.open_source(cfg)
    known = source.partitions()
    unknown = sorted(set(partitions) - set(known))
    if unknown:
        raise errors.BadInputError(
            f"the run asks for {', '.join(unknown)}, which {cfg.env}'s source ({source.kind}) does not have: it has "
            f"{known[0]} to {known[-1]}; nothing was written"
        )
    return list(dict.fromkeys(partitions))


def _days(cfg, partitions: list[str] | None) -> list[str]:
    return required_days(cfg, partitions) or data.open_source(cfg).partitions()


def _held_out(store: data_pipeline.FeatureStore, days: list[str]):
    from mlops_workbook.ct import training

    return training.split(store.read(days))


def prepare_features(settings: dict, folder: str, partitions: list[str] | None = None) -> dict:
    """Read the run's days of the source (every day by default), validate them, build and store their features.

    A day the source does not have fails the run before anything is written."""
    cfg, _, store = _setup(settings, folder)
    manifests = data_pipeline.run(data.open_source(cfg), store, _days(cfg, partitions))
    return {"partitions": [m.partition for m in manifests], "rows": sum(m.rows for m in manifests)}


def train(settings: dict, folder: str, partitions: list[str] | None = None) -> dict:
    """Fit the model on the training side of the split; the candidate is saved for the next steps."""
    import skops.io

    from mlops_workbook.ct import training

    cfg, folder, store = _setup(settings, folder)
    train_rows, _ = _held_out(store, _days(cfg, partitions))
    skops.io.dump(training.train(train_rows, cfg.seed), folder / CANDIDATE)
    return {"train_rows": len(train_rows)}


def _output_of(step: str, path: Path) -> Path:
    if not path.exists():
        raise errors.UnavailableError(f"{path.name} is missing from the pipeline's folder: run the {step} step first")
    return path


def _candidate(folder: Path):
    import skops.io

    from mlops_workbook.ct import training

    return skops.io.load(_output_of("train", folder / CANDIDATE), trusted=training.TRUSTED_TYPES)


def evaluate(settings: dict, folder: str, partitions: list[str] | None = None) -> dict:
    """Score the candidate on the held-out rows (the same rows the gate uses)."""
    from mlops_workbook.ct import training

    cfg, folder, store = _setup(settings, folder)
    metrics = training.evaluate(_candidate(folder), _held_out(store, _days(cfg, partitions))[1])
    (folder / METRICS).write_text(json.dumps(metrics))
    return metrics


def register(settings: dict, folder: str, partitions: list[str] | None = None) -> dict:
    """Log the candidate to MLflow, register it, and let the champion/challenger gate decide.

    What it says includes the gate's scores of both versions on the same held-out rows, so a reader needs no access
    to the run's folder."""
    from mlops_workbook.ct import gate, training

    cfg, folder, store = _setup(settings, folder)
    chosen = _days(cfg, partitions)
    train_rows, held_out = _held_out(store, chosen)
    registry = open_registry(cfg, folder)
    run_params = {
        "env": cfg.env,
        "data_source": cfg.data_source,
        "seed": cfg.seed,
        "partitions": len(chosen),
        "train_rows": len(train_rows),
    }
    metrics = json.loads(_output_of("evaluate", folder / METRICS).read_text())
    version = training.log_and_register(
        _candidate(folder),
        run_params,
        metrics,
        held_out,
        registry,
        "CT pipeline run",
        train_rows,
        store.manifests(chosen).to_dict("records"),
    )
    decision = gate.review(registry, version, held_out, cfg)
    scores = decision.scores.to_dict("index")  # {"version 4 (new)": {"roc_auc": ...}, "version 3 (champion)": ...}
    return {"version": version, "promoted": decision.passes, "reason": decision.reason, "scores": scores}


STEPS = (prepare_features, train, evaluate, register)


def run_all(settings: dict, folder: str, partitions: list[str] | None = None) -> dict[str, dict]:
    """The embedded default: the steps in order, in this process."""
    return {step.__name__: step(settings, folder, partitions) for step in STEPS}
