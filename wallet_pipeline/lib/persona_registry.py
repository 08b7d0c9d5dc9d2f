"""The persona model in MLflow: log a training run, register it, load the promoted version.

Every function takes the tracking URI it works on; `MlflowSession` gives the assets theirs and the
command-line predictor reads `MLFLOW_TRACKING_URI` or the data folder's default.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import tempfile
import warnings
from pathlib import Path

import pandas as pd

from wallet_pipeline.lib.mlflow_store import CHAMPION, RegistryMiss, point_mlflow_at, sqlite_model_location
from wallet_pipeline.logic.personas import PersonaModel, SelectionReport
from wallet_pipeline.logic.personas.promotion import scorecard

MODEL_NAME = "wallet_personas"
# Name of the pickled PersonaModel among the MLflow model's artifacts (read by persona_pyfunc.py).
MODEL_ARTIFACT = "persona_model"
# Where the pickle sits inside a logged model's files (pyfunc copies `artifacts` there).
_MODEL_FILE = Path("artifacts") / "persona_model.pkl"
MODEL_DESCRIPTION = (
    "Personas of Ethereum wallets (Active Retail Trader, Dormant Holder, NFT Trader, Whale, ...): "
    "rules for the unambiguous wallets, then a clustering of marts.wallet_features chosen among "
    "K-Means, GMM, HDBSCAN and agglomerative candidates by silhouette and bootstrap stability, with "
    "calibrated per-persona probabilities. Trained by the Dagster asset personas/persona_model; the "
    "'champion' alias marks the version that scores personas.wallet_personas. Each version's "
    "description gives its training data, winner and scores."
)
_PYFUNC_CODE = Path(__file__).with_name("persona_pyfunc.py")
# Stated rather than inferred (inference imports and probes the model). The pickle also needs
# wallet_pipeline itself, which is not on PyPI: load it where the project is installed.
_REQUIREMENTS = ["scikit-learn", "pandas", "numpy", "scipy"]


class PersonaModelUnavailable(RuntimeError):
    """No usable persona model: none promoted, the version is missing, or the file is not one."""


def _flat_params(model: PersonaModel) -> dict[str, str]:
    params = {k: str(v) for k, v in model.config.__dict__.items()}
    params["features"] = ",".join(model.feature_columns)
    return params


def log_persona_model(
    model: PersonaModel,
    report: SelectionReport,
    plots: dict[str, bytes],
    example: pd.DataFrame | None = None,
    training_data: pd.DataFrame | None = None,
    source: str = "marts.wallet_features",
) -> str:
    """Log params, scores, tables, plots and the model into the active MLflow run; register it.

    `example` (a few feature rows) gives the model its input/output signature. `training_data`,
    the features table the model was trained on, is logged as the run's dataset (name, digest,
    schema and row count in MLflow's "Datasets used"). The registered model and the new version get
    descriptions. Returns the new registry version.
    """
    import mlflow
    from mlflow.models import infer_signature

    if training_data is not None:
        mlflow.log_input(training_dataset(training_data, source), context="training")
    mlflow.log_params(_flat_params(model))
    card = scorecard(report)
    mlflow.log_metrics({**card, **{f"timing_{k}": v for k, v in report.timings.items()}})
    mlflow.log_metrics({f"timing_cpu_{k}": v for k, v in getattr(report, "cpu_timings", {}).items()})
    mlflow.log_metrics({k: v for k, v in report.calibration.items() if isinstance(v, int | float)})
    # The served model against plain K-Means k=4 on the same wallets (selection.baseline_comparison).
    vs = report.final.get("baseline", {})
    mlflow.log_metrics({f"vs_kmeans4_{k}": float(v) for k, v in vs.items() if isinstance(v, int | float)})
    mlflow.log_metrics(
        {
            f"population_{k.lower().replace(' ', '_').replace('-', '_')}": v
            for k, v in report.population.items()
            if isinstance(v, int | float)
        }
    )
    mlflow.set_tags(
        {
            "winner": report.winner,
            "winner_rule": report.rule[:5000],
            "dormant_days_chosen": str(report.population.get("dormant_days_chosen", ""))[:5000],
        }
    )
    mlflow.log_text(report.table.to_csv(index=False), "selection/selection_table.csv")
    # The served model (refined winner and ensemble): what the scorecard's scores describe.
    mlflow.log_text(json.dumps(report.final, indent=2, default=str), "selection/served_model.json")
    mlflow.log_text(model.profiles.to_csv(index=False), "profiles/persona_profiles.csv")
    mlflow.log_text(json.dumps(report.names, indent=2, default=str), "profiles/names.json")
    for name, png in plots.items():
        mlflow.log_artifact(_to_file(png, name), "plots")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "persona_model.pkl"
        path.write_bytes(pickle.dumps(model))
        signature = sample = None
        if example is not None and len(example):
            sample = example[[model.config.id_column, *model.feature_columns]].head(5)
            signature = infer_signature(sample, model.predict(sample))
        info = _log_pyfunc(path, signature, sample)
    version = str(info.registered_model_version)
    wallets = len(training_data) if training_data is not None else None
    client = _client(mlflow.get_tracking_uri())
    client.update_registered_model(MODEL_NAME, description=MODEL_DESCRIPTION)
    client.update_model_version(
        MODEL_NAME, version, description=version_description(model, report, wallets, source)
    )
    return version


# Rows the dataset's schema is inferred from, besides one row per column where that column is missing.
SCHEMA_ROWS = 1_000


def training_dataset(training_data: pd.DataFrame, source: str):  # noqa: ANN201 - mlflow PandasDataset
    """The run's dataset (name, digest, schema, row count) in time that grows with the table's bytes.

    MLflow 3.17's `from_pandas` calls `type()` on every cell for its digest and tests every cell for
    None in Python for the schema: 50 CPU s of the logging of a 1,000,000-row training
    (benchmarks/persona_training.py). The digest here is a hash of every row by pandas' vectorised
    hash; the schema is inferred from the first SCHEMA_ROWS rows and, for each column with a
    missing value, one row where it is missing, so the types and which columns may be missing are
    those of the whole table.
    """
    import mlflow
    from mlflow.models import infer_signature

    rows = pd.util.hash_pandas_object(training_data, index=False).to_numpy()
    digest = hashlib.md5(rows.tobytes(), usedforsecurity=False).hexdigest()[:8]
    missing = training_data.isna().to_numpy()
    with_missing = [int(missing[:, j].argmax()) for j in range(missing.shape[1]) if missing[:, j].any()]
    picked = sorted(set(range(min(SCHEMA_ROWS, len(training_data)))) | set(with_missing))
    with warnings.catch_warnings():
        # MLflow 3.17 registers its local-file source twice and warns that a plain source
        # "can be interpreted in multiple ways" (both are the same class): nothing to act on.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        dataset = mlflow.data.from_pandas(training_data, source=source, name=source, digest=digest)
    # `schema` is a cached property: set in the instance first, the per-cell pass never runs.
    dataset.__dict__["schema"] = infer_signature(training_data.iloc[picked]).inputs
    return dataset


def version_description(
    model: PersonaModel, report: SelectionReport, wallets: int | None, source: str
) -> str:
    """What a version is: its training data, the winning candidate, its personas and scores."""
    card = scorecard(report)
    data = f"{wallets:,} wallets of {source}" if wallets is not None else source
    return (
        f"Trained on {data}; model features: {', '.join(model.feature_columns)}. "
        f"Winner: {report.winner}, {len(model.personas)} personas ({', '.join(model.personas)}). "
        f"Silhouette {card['silhouette']:.3f}, bootstrap stability (ARI between refits) "
        f"{card['stability']:.3f}, smallest persona share {card['min_share']:.3f}, held-out "
        f"calibration error {card['ece_heldout']:.3f}."
    )


def add_evaluation_to_description(tracking_uri: str, version: str, ari: float, wallets: int) -> None:
    """Append the ARI against a known truth (the simulator's) to a version's description, once."""
    client = _client(tracking_uri)
    current = client.get_model_version(MODEL_NAME, version).description or ""
    note = f"Against the simulator's truth: adjusted Rand index {ari:.3f} over {wallets:,} wallets."
    kept = current.split(" Against the simulator's truth:")[0]
    client.update_model_version(MODEL_NAME, version, description=f"{kept} {note}".strip())


def _log_pyfunc(path: Path, signature, sample: pd.DataFrame | None):  # noqa: ANN001, ANN202 - mlflow types
    import mlflow

    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(_PYFUNC_CODE),
        artifacts={MODEL_ARTIFACT: str(path)},
        registered_model_name=MODEL_NAME,
        pip_requirements=_REQUIREMENTS,
        signature=signature,
        input_example=sample,
    )


def _to_file(data: bytes, name: str) -> str:
    path = Path(tempfile.mkdtemp()) / name
    path.write_bytes(data)
    return str(path)


def _client(tracking_uri: str):  # noqa: ANN202 - MlflowClient
    from mlflow import MlflowClient

    point_mlflow_at(tracking_uri)
    return MlflowClient(tracking_uri, registry_uri=tracking_uri)


def resolve_version(tracking_uri: str, ref: str = CHAMPION) -> str:
    """The registry version `ref` names: an alias (default the promoted one) or a version number."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        if ref.isdigit():
            return str(client.get_model_version(MODEL_NAME, ref).version)
        return str(client.get_model_version_by_alias(MODEL_NAME, ref).version)
    except MlflowException as exc:
        if ref == CHAMPION:
            raise PersonaModelUnavailable(
                f"no promoted persona model in the MLflow registry at {_safe(tracking_uri)}: "
                "materialize personas/persona_model first (its promotion check sets the "
                f"'{CHAMPION}' alias)"
            ) from exc
        raise PersonaModelUnavailable(
            f"persona model {MODEL_NAME!r} has no version or alias {ref!r} in {_safe(tracking_uri)}"
        ) from exc


def load_persona_model(tracking_uri: str, ref: str = CHAMPION) -> tuple[PersonaModel, str]:
    """The registered model `ref` names (default: the promoted version) and its version.

    The pickled model is read from the version's files; MLflow's pyfunc loader is not used, as it
    compares the logged requirements with the installed packages on every load (about 2 of the 14 s
    that scoring one wallet took). A local sqlite store is read directly (milliseconds instead of
    the seconds of importing MLflow and opening its store); any other store goes through MLflow.
    """
    try:
        found = sqlite_model_location(tracking_uri, MODEL_NAME, ref)
    except RegistryMiss:
        found = None  # resolve_version below raises with the reason
    if found is not None and (found[1] / _MODEL_FILE).is_file():
        version, folder = found
        return _checked(load_model_file(folder / _MODEL_FILE), version), version
    import mlflow

    version = resolve_version(tracking_uri, ref)
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{MODEL_NAME}/{version}/{_MODEL_FILE.as_posix()}", dst_path=tmp
        )
        return _checked(load_model_file(Path(local)), version), version


def _checked(model: PersonaModel, version: str) -> PersonaModel:
    if not isinstance(model, PersonaModel):
        raise PersonaModelUnavailable(f"version {version} of {MODEL_NAME} does not hold a persona model")
    return model


def load_model_file(path: Path) -> PersonaModel:
    """A persona model pickled to a file (`persona_model.pkl` of an MLflow model, or a copy)."""
    if not path.exists():
        raise PersonaModelUnavailable(f"model file {path} does not exist")
    try:
        with path.open("rb") as f:
            model = pickle.load(f)
    except (pickle.UnpicklingError, EOFError, AttributeError, ModuleNotFoundError) as exc:
        raise PersonaModelUnavailable(f"{path} is not a persona model file: {exc}") from exc
    if not isinstance(model, PersonaModel):
        raise PersonaModelUnavailable(f"{path} holds a {type(model).__name__}, not a persona model")
    return model


def version_run_id(tracking_uri: str, version: str) -> str:
    """The MLflow run that trained a registered version."""
    return _client(tracking_uri).get_model_version(MODEL_NAME, version).run_id


# Run tag naming the raw feed a version was trained on (gates.feed_of_raw: files:<folder>, dune,
# simulator): scores of models of other data are not comparable.
FEED_TAG = "wallet.feed"


def version_feed(tracking_uri: str, version: str) -> str | None:
    """The feed the run that trained `version` was tagged with; None for versions before the tag."""
    run = _client(tracking_uri).get_run(version_run_id(tracking_uri, version))
    return run.data.tags.get(FEED_TAG)


def version_scorecard(tracking_uri: str, version: str) -> dict[str, float]:
    """The promotion scores logged by the run that trained `version`."""
    client = _client(tracking_uri)
    return dict(client.get_run(version_run_id(tracking_uri, version)).data.metrics)


def profiles_with_names(model: PersonaModel) -> pd.DataFrame:
    """Profiles with the persona name of each cluster, for tables and the UI."""
    prof = model.profiles.copy()
    prof.insert(0, "persona", [model.cluster_names[int(c)] for c in prof["cluster"]])
    # The persona is shared by clusters the ensemble votes together; cluster_name tells them apart.
    prof.insert(1, "cluster_name", [model.cluster_labels[int(c)] for c in prof["cluster"]])
    return prof


def _safe(uri: str) -> str:
    """A tracking URI without credentials (http://user:pass@host)."""
    if "@" in uri and "://" in uri:
        scheme, rest = uri.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return uri


# --- Drift reference (issue 6, drift sensor): stored with each trained model, read by the sensor. ---

# The reference of the features a version was trained on, an artifact of its training run.
DRIFT_REFERENCE_ARTIFACT = "drift/drift_reference.json"
# Experiment of the drift sensor's evaluations (one MLflow run per evaluated data).
DRIFT_EXPERIMENT = "wallet_personas_drift"


def log_drift_reference(reference: dict) -> None:
    """Log `reference` (logic/automation/drift.py `feature_reference`) into the active MLflow run."""
    import mlflow

    mlflow.log_dict(reference, DRIFT_REFERENCE_ARTIFACT)


def load_drift_reference(tracking_uri: str, alias: str = CHAMPION) -> dict | None:
    """The drift reference of the version `alias` names, with `model_version` set; None when missing.

    None before the first promotion (no model holds the alias) and for versions trained before
    references were stored: the first pipeline run, or the next training, provides one.
    """
    from mlflow.exceptions import MlflowException

    try:
        version = resolve_version(tracking_uri, alias)
    except PersonaModelUnavailable:
        return None
    client = _client(tracking_uri)
    run_id = client.get_model_version(MODEL_NAME, version).run_id
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, DRIFT_REFERENCE_ARTIFACT, tmp)
        except (MlflowException, OSError):
            return None
        reference = json.loads(Path(path).read_text())
    reference["model_version"] = version
    return reference


def log_drift_evaluation(
    tracking_uri: str,
    run_name: str,
    metrics: dict[str, float],
    tags: dict[str, str],
    report: dict,
    artifact_root: str | None = None,
) -> str:
    """One MLflow run in the `wallet_personas_drift` experiment with the figures; returns its id."""
    import mlflow

    from wallet_pipeline.lib.mlflow_session import MlflowSession

    session = MlflowSession(
        tracking_uri=tracking_uri, experiment=DRIFT_EXPERIMENT, artifact_root=artifact_root
    )
    # The session's experiment set-up (artifacts beside a sqlite store) without a Dagster run.
    experiment_id = session._connect()  # noqa: SLF001
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        mlflow.log_metrics(metrics)
        mlflow.log_dict(report, "drift_report.json")
    return run.info.run_id
