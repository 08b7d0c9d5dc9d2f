"""Sensors: `persona_drift_sensor` retrains the persona model when the features drift.

Every tick (at most hourly) the sensor reads the columns the champion model reads from
marts.wallet_features, read-only, and measures them against the drift reference stored with the
champion (logic/automation/drift.py). Past the thresholds it requests `persona_retrain_job` (the
personas group and everything downstream) with the reason in the run's tags. The figures of every
evaluation go to an MLflow run of the experiment `wallet_personas_drift` and to an observation of
`personas/persona_model` (its metadata plots them over time in the UI).

Each (champion version, data fingerprint) pair is evaluated once: the cursor holds the last pair
and the run key is derived from it, so the same data never fires twice, and a retrain whose model
is refused by the promotion check does not loop: the champion and the data are the pair already seen.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from wallet_pipeline.defs.automation.jobs import persona_retrain_job
from wallet_pipeline.lib.duckdb_resource import DuckDBFile
from wallet_pipeline.lib.mlflow_session import MlflowSession
from wallet_pipeline.logic.automation.drift import DriftInputError, DriftReport, DriftThresholds

PERSONAS_GROUP = "personas"
PERSONA_MODEL = dg.AssetKey([PERSONAS_GROUP, "persona_model"])
FEATURES_TABLE = "marts.wallet_features"
TRIGGER_TAG = "wallet_pipeline/trigger"
REASON_TAG = "wallet_pipeline/drift_reason"
VERSION_TAG = "wallet_pipeline/drift_model_version"
FINGERPRINT_TAG = "wallet_pipeline/drift_fingerprint"
MLFLOW_RUN_TAG = "wallet_pipeline/drift_mlflow_run"
NO_CHAMPION = "no promoted model yet: the first pipeline run trains one"
# Run tags are shown whole in the UI's run list; the full reason is in the MLflow run and observation.
_MAX_TAG = 500


class FeaturesNotReadable(RuntimeError):
    """The features cannot be read now: the file is locked by a writer, missing, or lacks the table."""


def _features_database(pipeline_database: str) -> str:
    """The snapshot published beside the pipeline's file, else the pipeline's file itself.

    No run ever locks a snapshot, and it holds the last features that passed their gates.
    """
    from wallet_pipeline import settings
    from wallet_pipeline.logic.publish.snapshot import current_snapshot

    pipeline = Path(pipeline_database).resolve()
    folder = settings.snapshot_dir() if pipeline == settings.duckdb_path() else pipeline.parent / "snapshots"
    snapshot = current_snapshot(folder)
    return str(snapshot) if snapshot is not None else pipeline_database


def read_features_readonly(database: str, columns: list[str]) -> pd.DataFrame:
    """`address` and `columns` of marts.wallet_features, read through a read-only connection.

    The connection is closed before returning: while it is open a writer cannot take the file.
    """
    if not Path(database).exists():
        raise FeaturesNotReadable(f"{database} does not exist yet: the first pipeline run creates it")
    try:
        con = duckdb.connect(database, read_only=True)
    except duckdb.IOException as exc:
        # DuckDB refuses readers while another process writes; the next tick tries again.
        raise FeaturesNotReadable(
            f"{database} is being written by another process, trying again at the next tick "
            f"({str(exc).splitlines()[0]})"
        ) from None
    try:
        selected = ", ".join(f'"{c}"' for c in ["address", *columns])
        return con.sql(f"select {selected} from {FEATURES_TABLE}").df()
    except duckdb.CatalogException:
        raise FeaturesNotReadable(
            f"{FEATURES_TABLE} does not exist in {database}: materialize the dbt models"
        ) from None
    except duckdb.BinderException as exc:
        raise DriftInputError(
            f"{FEATURES_TABLE} lacks columns the champion's drift reference monitors: "
            f"{str(exc).splitlines()[0]}"
        ) from None
    finally:
        con.close()


def _active_run(instance: dg.DagsterInstance) -> str | None:
    """Id of a run that is starting or running (it may hold the DuckDB write lock), if any."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            statuses=[
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
                dg.DagsterRunStatus.CANCELING,
            ]
        ),
        limit=1,
    )
    return records[0].dagster_run.run_id if records else None


def _cursor(version: str, fingerprint: str) -> str:
    return json.dumps({"model_version": version, "fingerprint": fingerprint}, sort_keys=True)


def _observation(
    report: DriftReport,
    version: str,
    retrain: bool,
    reason: str,
    thresholds: DriftThresholds,
    mlflow_run: str,
) -> dg.AssetObservation:
    figures = report.features.set_index("feature")
    metadata: dict[str, object] = {
        "champion_version": version,
        "data_fingerprint": report.fingerprint_current,
        "retrain_requested": retrain,
        "reason": reason,
        "rows_current": report.rows_current,
        "rows_reference": report.rows_reference,
        "thresholds": dg.MetadataValue.json(thresholds.__dict__),
        "drift_mlflow_run_id": mlflow_run,
        "features": dg.MetadataValue.md(report.features.round(4).to_markdown(index=False)),
        **{f"psi_{f}": dg.MetadataValue.float(round(float(v), 6)) for f, v in figures["psi"].items()},
    }
    if report.persona is not None:
        if report.persona.share is not None:
            metadata["persona_change_share"] = dg.MetadataValue.float(report.persona.share)
        if report.persona.mix_shift is not None:
            metadata["persona_mix_shift"] = dg.MetadataValue.float(report.persona.mix_shift)
        metadata["persona_moves"] = dg.MetadataValue.json(report.persona.moves)
    return dg.AssetObservation(asset_key=PERSONA_MODEL, metadata=metadata)


def build_persona_drift_sensor(
    thresholds: DriftThresholds | None = None,
    minimum_interval_seconds: int = 3600,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """The drift sensor with the given thresholds (settings give them from the environment).

    RUNNING by default: the pipeline runs unattended, and the sensor is idle until a champion
    exists, evaluates each (model, data) pair once and stays out of running runs' way.
    """
    limits = thresholds or DriftThresholds()

    @dg.sensor(
        name="persona_drift_sensor",
        job=persona_retrain_job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            "Compares marts.wallet_features with the champion persona model's training features "
            "(PSI and KS per feature, persona change share) and requests persona_retrain_job past "
            f"the thresholds: PSI >= {limits.psi:g} with KS p < {limits.ks_pvalue:g} on at least "
            f"{limits.min_features} feature(s), or persona change >= {limits.persona_change:g}."
        ),
    )
    def persona_drift_sensor(
        context: dg.SensorEvaluationContext, duckdb: DuckDBFile, mlflow: MlflowSession
    ) -> dg.SensorResult | dg.SkipReason:
        from wallet_pipeline.lib.persona_registry import (
            PersonaModelUnavailable,
            load_drift_reference,
            load_persona_model,
            log_drift_evaluation,
            resolve_version,
        )
        from wallet_pipeline.logic.automation.drift import compare, data_fingerprint

        busy = _active_run(context.instance)
        if busy:
            return dg.SkipReason(f"run {busy} is in progress and may be writing the features: next tick")
        try:
            resolve_version(mlflow.tracking_uri)
        except PersonaModelUnavailable:
            return dg.SkipReason(NO_CHAMPION)
        reference = load_drift_reference(mlflow.tracking_uri)
        if reference is None:
            return dg.SkipReason(
                "the champion persona model has no drift reference (trained before references were "
                "stored): the next training of personas/persona_model stores one"
            )
        version = str(reference["model_version"])
        columns = list(reference["columns"])
        try:
            current = read_features_readonly(_features_database(duckdb.database), columns)
        except (FeaturesNotReadable, DriftInputError) as exc:
            return dg.SkipReason(str(exc))
        fingerprint = data_fingerprint(current, columns)
        cursor = _cursor(version, fingerprint)
        if context.cursor == cursor:
            return dg.SkipReason(f"already evaluated: these features against champion version {version}")
        if fingerprint == reference["fingerprint"]:
            return dg.SensorResult(
                skip_reason=f"features unchanged since champion version {version} was trained", cursor=cursor
            )
        # By version, not alias: the model must be the one the reference belongs to.
        model, _ = load_persona_model(mlflow.tracking_uri, version)
        try:
            report = compare(reference, current, model=model)
        except DriftInputError as exc:
            return dg.SensorResult(skip_reason=f"drift not measurable: {exc}", cursor=cursor)
        retrain, reason = report.should_retrain(limits)
        run_key = f"persona-drift-v{version}-{fingerprint[:16]}"
        try:
            mlflow_run = log_drift_evaluation(
                mlflow.tracking_uri,
                run_name=run_key,
                metrics=report.metrics(),
                tags={
                    "model_version": version,
                    "fingerprint": fingerprint,
                    "retrain": str(retrain).lower(),
                    "reason": reason[:5000],
                },
                report={**report.to_dict(), "thresholds": limits.__dict__, "reason": reason},
                artifact_root=mlflow.artifact_root,
            )
        except Exception as exc:  # noqa: BLE001 - a tracking store that is down must not stop a retrain
            context.log.warning(f"drift figures not logged to MLflow: {type(exc).__name__}: {exc}")
            mlflow_run = "not logged"
        context.log.info(f"drift against champion version {version}: {reason}")
        observation = _observation(report, version, retrain, reason, limits, mlflow_run)
        if not retrain:
            return dg.SensorResult(skip_reason=reason, cursor=cursor, asset_events=[observation])
        request = dg.RunRequest(
            run_key=run_key,
            tags={
                TRIGGER_TAG: "drift",
                REASON_TAG: reason if len(reason) <= _MAX_TAG else reason[: _MAX_TAG - 1] + "…",
                VERSION_TAG: version,
                FINGERPRINT_TAG: fingerprint[:16],
                MLFLOW_RUN_TAG: mlflow_run,
            },
        )
        return dg.SensorResult(run_requests=[request], cursor=cursor, asset_events=[observation])

    return persona_drift_sensor


persona_drift_sensor = build_persona_drift_sensor()
