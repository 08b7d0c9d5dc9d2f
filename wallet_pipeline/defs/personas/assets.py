"""Persona assets: train and register a model, promote it behind a check, score every wallet.

persona_model (MLflow run + registry version) -> persona_model_promotion (blocking check, moves
the `champion` alias) -> wallet_personas, persona_profiles (scored with the champion) ->
persona_evaluation (simulator only: against ground_truth.wallets).
"""

import base64
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from wallet_pipeline import settings
from wallet_pipeline.cli import PROGRESS_PREFIX  # such log lines also go to the terminal
from wallet_pipeline.lib.duckdb_resource import DuckDBFile
from wallet_pipeline.lib.mlflow_session import MlflowSession

# The persona code (scikit-learn, MLflow, matplotlib) is imported inside the asset bodies: at module
# level it added about 3 s to every load of the definitions (`python -X importtime`), which every
# run, code server and `dagster` command pays, whether or not it touches personas.

GROUP = "personas"
FEATURES = dg.AssetKey(["marts", "wallet_features"])
FEATURES_TABLE = "marts.wallet_features"
TRUTH = dg.AssetKey(["ground_truth", "wallets"])
PERSONA_MODEL = dg.AssetKey([GROUP, "persona_model"])


class PersonaTrainingConfig(dg.Config):
    """Knobs of a training run; the defaults are what the schedules use."""

    seed: int = Field(default=0, description="Seed of sampling, fits and bootstraps.")
    dormant_days: str = Field(
        default="auto",
        description=(
            "Days without a sent transaction after which a wallet is Dormant Holder: 'auto' (learned "
            "as 0.8 of the window the population's recency spans), a number, or 'off'."
        ),
    )
    selection_sample: int = Field(default=10_000, description="Wallets the candidate models are fitted on.")


class PromotionConfig(dg.Config):
    """Margins by which a new model may be worse than the champion and still be promoted."""

    silhouette_margin: float = 0.05
    stability_margin: float = 0.05
    calibration_error_margin: float = 0.05


def _dormant_days(value: str) -> float | str | None:
    if value in ("auto", "off"):
        return None if value == "off" else value
    try:
        return float(value)
    except ValueError:
        raise dg.Failure(f"dormant_days must be 'auto', 'off' or a number of days, not {value!r}") from None


# Dagster's UI draws a Markdown value inline only below 1,000 characters; longer ones hide behind
# "[Show Markdown]". A PNG as a data: URI is tens of kilobytes, so the picture is written beside the
# run's compute logs and the Markdown links it through the webserver's `/logs/<key>/<ext>` route,
# which serves files of the local compute log manager (the default of a local DAGSTER_HOME).
_INLINE_MD_LIMIT = 1000
_PLOTS_FOLDER = "persona_plots"


def _image(context: dg.AssetExecutionContext, png: bytes, name: str, alt: str) -> dg.MetadataValue:
    """An inline picture in the Dagster UI; a data: URI where no local compute log folder exists."""
    from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager

    manager = context.instance.compute_log_manager
    stem = name.removesuffix(".png")
    if isinstance(manager, LocalComputeLogManager):
        key = [context.run_id, _PLOTS_FOLDER, stem]
        path = Path(manager.get_captured_local_path(key, "png"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        markdown = f"![{alt}](/logs/{'/'.join(key)}/png)"
        if len(markdown) < _INLINE_MD_LIMIT:
            return dg.MetadataValue.md(markdown)
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


# Seconds and wallets of one training on a 2-core machine (the default simulator's 23,789 wallets,
# 25.8 s, in a fresh-clone CI run on 2026-12-07 after selection was made to screen candidates):
# the estimate before the first training of a Dagster instance.
_FIRST_ESTIMATE = (25.8, 23_789)


def _training_estimate(context: dg.AssetExecutionContext, wallets: int, sample: int) -> str:
    """A line that says how long training may take, from the last training of this instance.

    Model selection fits candidates on a sample of at most `sample` wallets, so its time follows
    the sample; the rest (refinement, naming, calibration) follows the wallet count.
    """
    event = context.instance.get_latest_materialization_event(PERSONA_MODEL)
    meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
    seconds = meta["seconds"].value if "seconds" in meta else None
    population = meta["population"].value if "population" in meta else None
    if isinstance(seconds, dict) and isinstance(population, dict) and population.get("wallets"):
        total, before = float(seconds.get("total", 0.0)), int(population["wallets"])
        selection = float(seconds.get("selection", 0.0))
        source = f"the last training took {total:.0f} s on {before:,} wallets"
    else:
        total, before = _FIRST_ESTIMATE
        selection = 0.0
        source = f"first training here; {total:.0f} s on {before:,} wallets was measured on a 2-core machine"
    estimate = selection * min(wallets, sample) / min(before, sample) + (total - selection) * wallets / before
    return f"training the persona model on {wallets:,} wallets: about {estimate:.0f} s ({source})"


def _champion(mlflow: MlflowSession):  # noqa: ANN202 - (PersonaModel, version)
    """The promoted model and its version; a run fails with the registry's reason without one."""
    from wallet_pipeline.lib.persona_registry import PersonaModelUnavailable, load_persona_model

    try:
        return load_persona_model(mlflow.tracking_uri)
    except PersonaModelUnavailable as exc:
        raise dg.Failure(str(exc)) from None


def _previous_model(mlflow: MlflowSession, log: dg.DagsterLogManager, feed: str | None):  # noqa: ANN202
    """The champion (a PersonaModel), whose names the new model inherits.

    None before the first promotion, and when the champion was trained on another feed: its names
    belong to other data.
    """
    from wallet_pipeline.lib.persona_registry import (
        MODEL_NAME,
        PersonaModelUnavailable,
        load_persona_model,
        version_feed,
    )

    try:
        model, version = load_persona_model(mlflow.tracking_uri)
    except PersonaModelUnavailable:
        return None
    other = version_feed(mlflow.tracking_uri, version)
    if other is not None and feed is not None and other != feed:
        log.info(f"{MODEL_NAME} version {version} was trained on {other}, not {feed}: names start afresh")
        return None
    log.info(f"new clusters are matched to the names of {MODEL_NAME} version {version}")
    return model


@dg.asset(
    key=PERSONA_MODEL,
    deps=[FEATURES],
    group_name=GROUP,
    kinds={"sklearn", "mlflow"},
)
def persona_model(
    context: dg.AssetExecutionContext,
    config: PersonaTrainingConfig,
    duckdb: DuckDBFile,
    mlflow: MlflowSession,
) -> dg.MaterializeResult:
    """The persona model, trained on marts.wallet_features and registered in MLflow.

    Rules first, then a Yeo-Johnson pipeline, model selection over K-Means, GMM, HDBSCAN and
    agglomerative clustering, the winner refitted on every modelled wallet and voting with its
    refitted bootstrap refits (an ensemble), calibrated probabilities and names. The run is logged
    to MLflow and a new version of the `wallet_personas` model is registered; the promotion check
    decides its use.
    """
    from mlflow import set_tag

    from wallet_pipeline.lib.persona_registry import FEED_TAG, log_drift_reference, log_persona_model
    from wallet_pipeline.logic.automation.drift import drift_columns, feature_reference, persona_reference
    from wallet_pipeline.logic.automation.gates import feed_of_raw
    from wallet_pipeline.logic.personas import PersonaConfig, PersonaInputError, train_personas
    from wallet_pipeline.logic.personas.plots import projection_png, radar_png
    from wallet_pipeline.logic.personas.promotion import scorecard
    from wallet_pipeline.logic.personas.store import FeaturesUnavailable, read_features, replace_table

    with duckdb.get_connection() as con:
        try:
            features = read_features(con)
        except FeaturesUnavailable as exc:
            raise dg.Failure(str(exc)) from None
        feed = feed_of_raw(con)
    context.log.info(PROGRESS_PREFIX + _training_estimate(context, len(features), config.selection_sample))
    previous = _previous_model(mlflow, context.log, feed)
    persona_config = PersonaConfig(
        seed=config.seed,
        dormant_days=_dormant_days(config.dormant_days),
        selection_sample=config.selection_sample,
    )
    try:
        model, report = train_personas(features, persona_config, previous=previous)
    except PersonaInputError as exc:
        # The registry is untouched: the promoted model keeps scoring.
        raise dg.Failure(f"marts.wallet_features cannot train the persona model: {exc}") from None
    plots = {
        "projection.png": projection_png(model, features, seed=config.seed),
        "persona_radar.png": radar_png(model),
    }
    # Drift reference (issue 6): what the model was trained on, for persona_drift_sensor.
    drift_reference = feature_reference(features, drift_columns(model, features.columns), seed=config.seed)
    drift_reference["personas"] = persona_reference(model, features, seed=config.seed)
    with mlflow.run(PERSONA_MODEL.to_user_string(), context.run_id) as run:
        version = log_persona_model(
            model, report, plots, example=features.head(20), training_data=features, source=FEATURES_TABLE
        )
        log_drift_reference(drift_reference)
        set_tag(FEED_TAG, feed or "unknown")
    selection = report.table.assign(model_version=version)
    with duckdb.get_connection() as con:
        replace_table(con, "persona_selection", selection)
    card = scorecard(report)
    shown = ["candidate", "k", "silhouette", "davies_bouldin", "calinski_harabasz", "bic", "stability"]
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "mlflow_run_id": run.info.run_id,
            "mlflow_run": dg.MetadataValue.url(mlflow.run_url(run.info.experiment_id, run.info.run_id)),
            "drift_reference_fingerprint": drift_reference["fingerprint"],
            "winner": report.winner,
            "winner_rule": dg.MetadataValue.md(report.rule),
            "served_model": dg.MetadataValue.json(report.final),
            **{k: dg.MetadataValue.float(round(v, 4)) for k, v in card.items()},
            "temperature": round(float(report.calibration["temperature"]), 4),
            "personas": dg.MetadataValue.json(dict(enumerate(model.cluster_names))),
            "population": dg.MetadataValue.json(report.population),
            "selection_table": dg.MetadataValue.md(
                report.table.sort_values("silhouette", ascending=False)[shown + ["winner"]]
                .round(4)
                .to_markdown(index=False)
            ),
            "seconds": dg.MetadataValue.json(report.timings),
            "cpu_seconds": dg.MetadataValue.json(report.cpu_timings),
            "projection": _image(
                context, plots["projection.png"], "projection.png", "t-SNE projection of modelled wallets"
            ),
            "radar": _image(context, plots["persona_radar.png"], "persona_radar.png", "persona profiles"),
        }
    )


@dg.asset_check(
    asset=PERSONA_MODEL,
    blocking=True,
)
def persona_model_promotion(
    context: dg.AssetCheckExecutionContext, config: PromotionConfig, mlflow: MlflowSession
) -> dg.AssetCheckResult:
    """Promotes the new persona model (alias `champion`) unless it is worse than the champion.

    "Worse" is by more than the configured margins (logic/personas/promotion.py). A refusal fails
    this blocking check, so scoring does not run and the champion stays as it is. A champion
    trained on another feed (another export folder, the simulator) is not compared: scores on
    other data say nothing of this model, and refusing it would score this data with a model of
    other data. The candidate is then judged on the floors alone, as a first model is.
    """
    from wallet_pipeline.lib.persona_registry import MODEL_NAME, version_feed, version_scorecard
    from wallet_pipeline.logic.personas.promotion import PromotionMargins, decide_promotion

    event = context.instance.get_latest_materialization_event(PERSONA_MODEL)
    if event is None or event.asset_materialization is None:
        return dg.AssetCheckResult(passed=False, description="persona_model has never been materialized")
    candidate_version = str(event.asset_materialization.metadata["model_version"].value)
    champion_version = mlflow.champion_version(MODEL_NAME)
    candidate = version_scorecard(mlflow.tracking_uri, candidate_version)
    champion = (
        None
        if champion_version in (None, candidate_version)
        else version_scorecard(mlflow.tracking_uri, champion_version)
    )
    margins = PromotionMargins(
        silhouette=config.silhouette_margin,
        stability=config.stability_margin,
        calibration_error=config.calibration_error_margin,
    )
    feeds = (
        (
            version_feed(mlflow.tracking_uri, champion_version),
            version_feed(mlflow.tracking_uri, candidate_version),
        )
        if champion is not None
        else (None, None)
    )
    other_data = None not in feeds and feeds[0] != feeds[1]
    decision = decide_promotion(candidate, None if other_data else champion, margins)
    if other_data:
        decision.reasons.insert(
            0,
            f"champion version {champion_version} was trained on {feeds[0]}, this model on {feeds[1]}: "
            "not compared",
        )
    if decision.promote:
        mlflow.promote(MODEL_NAME, candidate_version)
    return dg.AssetCheckResult(
        passed=decision.promote,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(decision.reasons),
        metadata={
            "candidate_version": candidate_version,
            "champion_version_before": champion_version or "none",
            "champion_version_now": candidate_version if decision.promote else (champion_version or "none"),
            "comparison": dg.MetadataValue.md(decision.comparison.round(4).to_markdown(index=False)),
        },
    )


@dg.asset(
    key=[GROUP, "wallet_personas"],
    deps=[PERSONA_MODEL, FEATURES],
    group_name=GROUP,
    kinds={"duckdb"},
)
def wallet_personas(
    context: dg.AssetExecutionContext, duckdb: DuckDBFile, mlflow: MlflowSession
) -> dg.MaterializeResult:
    """personas.wallet_personas: each wallet's persona, confidence and every persona's probability.

    Scored with the promoted (champion) model version, whichever run trained it.
    """
    from wallet_pipeline.lib.persona_registry import MODEL_NAME
    from wallet_pipeline.logic.personas import PersonaInputError
    from wallet_pipeline.logic.personas.store import read_features, replace_table, scored_table

    model, version = _champion(mlflow)
    with duckdb.get_connection() as con:
        try:
            if settings.get_engine() == "spark":
                predictions = _score_on_spark(con, model)
            else:
                predictions = model.predict(read_features(con))
        except PersonaInputError as exc:
            raise dg.Failure(f"champion {version} cannot score marts.wallet_features: {exc}") from None
        table = scored_table(predictions, version)
        rows = replace_table(con, "wallet_personas", table)
    counts = table["persona"].value_counts()
    context.log.info(f"scored {rows:,} wallets with {MODEL_NAME} version {version}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "model_version": version,
            "mean_confidence": round(float(table["confidence"].mean()), 4),
            "wallets_per_persona": dg.MetadataValue.md(
                counts.rename_axis("persona").reset_index(name="wallets").to_markdown(index=False)
            ),
        }
    )


def _score_on_spark(con, model):  # noqa: ANN001, ANN202 - DuckDB connection, PersonaModel -> DataFrame
    """Every wallet of the features Spark built, scored on Spark; the predictions in address order."""
    from wallet_pipeline.logic.spark.landing import table_dir
    from wallet_pipeline.logic.spark.scoring import score_parquet
    from wallet_pipeline.logic.spark.session import local_session

    folder = settings.spark_dir()
    scored = folder / "scored" / "wallet_personas"
    features = table_dir(folder / "warehouse", FEATURES_TABLE)
    score_parquet(local_session(settings.data_dir(), folder=folder), features, model, scored)
    return con.sql(f"select * from read_parquet('{scored}/*.parquet') order by address").df()


@dg.asset(
    key=[GROUP, "persona_profiles"],
    deps=[PERSONA_MODEL],
    group_name=GROUP,
    kinds={"duckdb"},
)
def persona_profiles(
    context: dg.AssetExecutionContext, duckdb: DuckDBFile, mlflow: MlflowSession
) -> dg.MaterializeResult:
    """personas.persona_profiles: what each persona of the champion model looks like.

    Per cluster and column: the median in original units, its population percentile and the
    non-zero share, with a radar chart of the model's features.
    """
    from wallet_pipeline.lib.persona_registry import profiles_with_names
    from wallet_pipeline.logic.personas.plots import radar_png
    from wallet_pipeline.logic.personas.store import replace_table

    model, version = _champion(mlflow)
    table = profiles_with_names(model).assign(model_version=version)
    with duckdb.get_connection() as con:
        rows = replace_table(con, "persona_profiles", table)
    summary = table[table["column"].isin(model.feature_columns)].pivot_table(
        index="persona", columns="column", values="median", aggfunc="median"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "model_version": version,
            "medians_of_model_features": dg.MetadataValue.md(summary.round(4).to_markdown()),
            "radar": _image(context, radar_png(model), "persona_radar.png", "persona profiles"),
        }
    )


@dg.asset(
    key=[GROUP, "persona_evaluation"],
    deps=[dg.AssetKey([GROUP, "wallet_personas"]), TRUTH],
    group_name=GROUP,
    kinds={"duckdb", "mlflow"},
)
def persona_evaluation(duckdb: DuckDBFile, mlflow: MlflowSession) -> dg.MaterializeResult:
    """personas.persona_evaluation: the scored personas against the simulator's truth.

    Adjusted Rand index and per-class precision and recall, and in personas.persona_reliability
    the stated confidence against how often the persona is right (logic/personas/evaluation.py),
    also logged to the MLflow run that trained the scored version.
    """
    from wallet_pipeline.logic.personas.evaluation import evaluate_personas
    from wallet_pipeline.logic.personas.store import replace_table

    with duckdb.get_connection() as con:
        scored = con.sql(
            "select address, persona, confidence, model_version from personas.wallet_personas"
        ).df()
        truth = con.sql("select address, persona from ground_truth.wallets").df()
        result = evaluate_personas(scored, truth)
        version = str(scored["model_version"].iloc[0])
        stamp = {"model_version": version, "evaluated_at": datetime.now(UTC).replace(tzinfo=None)}
        replace_table(con, "persona_evaluation", result.per_class.assign(ari=result.ari, **stamp))
        replace_table(con, "persona_reliability", result.reliability.assign(**stamp))
    _log_evaluation(mlflow, version, result)
    return dg.MaterializeResult(
        metadata={
            "adjusted_rand_index": dg.MetadataValue.float(round(result.ari, 4)),
            "model_version": version,
            "wallets": result.wallets,
            "per_class": dg.MetadataValue.md(result.per_class.round(3).to_markdown(index=False)),
            "confusion": dg.MetadataValue.md(result.confusion.to_markdown()),
            "confidence_vs_truth": dg.MetadataValue.json(
                {k: round(v, 4) for k, v in result.confidence.items()}
            ),
            "reliability": dg.MetadataValue.md(result.reliability.round(4).to_markdown(index=False)),
        }
    )


def _log_evaluation(mlflow: MlflowSession, version: str, result) -> None:  # noqa: ANN001
    """Evaluation metrics go to the MLflow run that trained the scored version."""
    import mlflow as mlflow_api

    from wallet_pipeline.lib.persona_registry import add_evaluation_to_description, version_run_id

    add_evaluation_to_description(mlflow.tracking_uri, version, result.ari, result.wallets)
    with mlflow.resume(version_run_id(mlflow.tracking_uri, version)):
        metrics = {"eval_ari": result.ari}
        for row in result.per_class.itertuples():
            for name in ("precision", "recall"):
                value = getattr(row, name)
                if pd.notna(value):
                    metrics[f"eval_{name}_{row.truth_class}"] = float(value)
        metrics |= {f"eval_confidence_{k}": float(v) for k, v in result.confidence.items() if pd.notna(v)}
        mlflow_api.log_metrics(metrics)
        mlflow_api.log_text(result.confusion.to_csv(), "evaluation/confusion.csv")
        mlflow_api.log_text(result.reliability.to_csv(index=False), "evaluation/reliability.csv")


def persona_assets(source: str) -> list[dg.AssetsDefinition]:
    """The persona assets of a source; only the simulator has a truth to evaluate against."""
    assets = [persona_model, wallet_personas, persona_profiles]
    return [*assets, persona_evaluation] if source == "simulator" else assets


persona_checks = [persona_model_promotion]
