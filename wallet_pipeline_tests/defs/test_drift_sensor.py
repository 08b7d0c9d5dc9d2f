"""persona_drift_sensor with Dagster's sensor context, a real MLflow store and a DuckDB file."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest

from wallet_pipeline.defs.automation.sensors import (
    NO_CHAMPION,
    PERSONA_MODEL,
    REASON_TAG,
    TRIGGER_TAG,
    persona_drift_sensor,
    persona_retrain_job,
)
from wallet_pipeline.lib.duckdb_resource import DuckDBFile
from wallet_pipeline.lib.mlflow_session import MlflowSession, default_tracking_uri
from wallet_pipeline.lib.persona_registry import (
    DRIFT_EXPERIMENT,
    MODEL_NAME,
    load_drift_reference,
    log_drift_reference,
    log_persona_model,
)
from wallet_pipeline.logic.automation.drift import drift_columns, feature_reference, persona_reference
from wallet_pipeline.logic.personas import train_personas
from wallet_pipeline_tests.logic.test_personas import FAST, _table


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, str]:
    """A persona model trained, logged with its drift reference and promoted, as persona_model does."""
    table = _table()
    model, report = train_personas(table, FAST)
    reference = feature_reference(table, drift_columns(model, table.columns))
    reference["personas"] = persona_reference(model, table)
    session = MlflowSession(tracking_uri=default_tracking_uri(tmp_path_factory.mktemp("mlflow")))
    with session.run(PERSONA_MODEL.to_user_string(), "dagster-run-1"):
        version = log_persona_model(model, report, {})
        log_drift_reference(reference)
    session.promote(MODEL_NAME, version)
    return table, session.tracking_uri


def _write_features(path: Path, table: pd.DataFrame) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        con.register("features_frame", table)
        con.execute("create or replace table marts.wallet_features as select * from features_frame")


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def _tick(instance: dg.DagsterInstance, database: Path, tracking_uri: str, cursor: str | None = None):  # noqa: ANN202
    # The DuckDB resource is a context manager (in a run it holds the writer lock), as the daemon opens it.
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={
            "duckdb": DuckDBFile(database=str(database)),
            "mlflow": MlflowSession(tracking_uri=tracking_uri),
        },
    ) as context:
        return persona_drift_sensor.evaluate_tick(context)


def _shifted(table: pd.DataFrame) -> pd.DataFrame:
    """The NFT traders stop trading NFTs and everyone's DEX trades triple."""
    return table.assign(
        nft_transfers=np.where(table["group"] == "nft", 0, table["nft_transfers"]),
        dex_trades=table["dex_trades"] * 3 + 1,
    )


def test_the_sensor_requests_a_retrain_on_shifted_data_with_the_reason_and_records_the_figures(
    champion, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    table, uri = champion
    db = tmp_path / "w.duckdb"
    _write_features(db, _shifted(table))
    tick = _tick(instance, db, uri)
    [request] = tick.run_requests
    assert request.tags[TRIGGER_TAG] == "drift"
    assert request.tags[REASON_TAG].startswith("PSI >= 0.2 on ")
    assert "dex_trades" in request.tags[REASON_TAG]
    assert request.run_key.startswith("persona-drift-v1-")
    assert json.loads(tick.cursor)["model_version"] == "1"
    [observation] = tick.asset_events
    assert observation.asset_key == PERSONA_MODEL
    assert observation.metadata["retrain_requested"].value is True
    assert observation.metadata["psi_dex_trades"].value > 0.2
    # The same figures in MLflow, in their own experiment.
    runs = mlflow.search_runs(experiment_names=[DRIFT_EXPERIMENT], output_format="list")
    logged = next(r for r in runs if r.info.run_id == request.tags["wallet_pipeline/drift_mlflow_run"])
    assert logged.data.metrics["psi_dex_trades"] == pytest.approx(
        observation.metadata["psi_dex_trades"].value
    )
    assert {"ks_dex_trades", "persona_change_share"} <= set(logged.data.metrics)


def test_the_sensor_does_not_fire_twice_for_the_same_data(champion, tmp_path: Path, instance) -> None:
    table, uri = champion
    db = tmp_path / "w.duckdb"
    _write_features(db, _shifted(table))
    first = _tick(instance, db, uri)
    assert len(first.run_requests) == 1
    again = _tick(instance, db, uri, cursor=first.cursor)
    assert not again.run_requests
    assert again.skip_message == "already evaluated: these features against champion version 1"
    # New data (one more changed value) is evaluated again.
    changed = _shifted(table)
    changed.loc[0, "dex_trades"] += 1
    _write_features(db, changed)
    third = _tick(instance, db, uri, cursor=first.cursor)
    assert len(third.run_requests) == 1
    assert third.run_requests[0].run_key != first.run_requests[0].run_key


def test_the_sensor_stays_quiet_on_unchanged_and_on_undrifted_data(
    champion, tmp_path: Path, instance
) -> None:
    table, uri = champion
    db = tmp_path / "w.duckdb"
    _write_features(db, table)
    unchanged = _tick(instance, db, uri)
    assert not unchanged.run_requests
    assert unchanged.skip_message == "features unchanged since champion version 1 was trained"
    # New values drawn from the same groups: evaluated, recorded, below the thresholds.
    _write_features(db, _table(seed=1))
    fresh = _tick(instance, db, uri, cursor=unchanged.cursor)
    assert not fresh.run_requests
    assert fresh.skip_message.startswith("below thresholds: largest PSI")
    [observation] = fresh.asset_events
    assert observation.metadata["retrain_requested"].value is False


def test_without_a_champion_the_sensor_skips_saying_the_first_run_trains_one(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    db = tmp_path / "w.duckdb"
    _write_features(db, _table())
    uri = default_tracking_uri(tmp_path / "empty")
    assert load_drift_reference(uri) is None
    tick = _tick(instance, db, uri)
    assert not tick.run_requests
    assert tick.skip_message == NO_CHAMPION


def test_the_sensor_skips_while_another_process_writes_the_database(
    champion, tmp_path: Path, instance
) -> None:
    table, uri = champion
    db = tmp_path / "w.duckdb"
    _write_features(db, _shifted(table))
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True); "
            "time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert writer.stdout.readline().strip() == "open"
        tick = _tick(instance, db, uri)
    finally:
        writer.kill()
        writer.wait()
    assert not tick.run_requests
    assert "is being written by another process, trying again at the next tick" in tick.skip_message
    assert tick.cursor is None
    # Once the writer is gone the same data is evaluated.
    assert len(_tick(instance, db, uri).run_requests) == 1


def test_the_sensor_skips_while_a_run_is_in_progress(champion, tmp_path: Path, instance) -> None:
    table, uri = champion
    db = tmp_path / "w.duckdb"
    _write_features(db, _shifted(table))
    instance.add_run(
        dg.DagsterRun(job_name="full_pipeline_job", run_id="r-1", status=dg.DagsterRunStatus.STARTED)
    )
    tick = _tick(instance, db, uri)
    assert not tick.run_requests
    assert tick.skip_message == "run r-1 is in progress and may be writing the features: next tick"


def test_the_retrain_job_selects_the_personas_group_and_everything_downstream(data_dir: Path) -> None:
    from wallet_pipeline.defs.entities.assets import entity_assets, entity_checks
    from wallet_pipeline.defs.graph.assets import graph_assets
    from wallet_pipeline.defs.personas.assets import persona_assets, persona_checks
    from wallet_pipeline.defs.resources import build_resources
    from wallet_pipeline.defs.transform.assets import wallet_dbt_models

    job = dg.Definitions(
        assets=[wallet_dbt_models, *persona_assets("simulator"), *graph_assets, *entity_assets("simulator")],
        asset_checks=[*persona_checks, *entity_checks],
        sensors=[persona_drift_sensor],
        resources=build_resources(),
    ).resolve_job_def(persona_retrain_job.name)
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    personas = {"persona_model", "wallet_personas", "persona_profiles", "persona_evaluation"}
    assert {f"personas/{name}" for name in personas} <= keys
    # Upstream stays as it is: the retrain reads today's features, it does not rebuild them.
    assert not any(k.startswith(("raw/", "staging/", "intermediate/", "marts/", "graph/")) for k in keys)
    assert "persona_model_promotion" in {c.name for c in job.asset_layer.asset_graph.asset_check_keys}
