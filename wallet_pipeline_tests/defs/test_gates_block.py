"""A gate that fails stops what reads the table, and the last good tables stay."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from wallet_pipeline_tests.defs.runs import Run, execute, simulator_config

pytestmark = [pytest.mark.dbt, pytest.mark.slow]
WITHOUT_PERSONAS = dg.AssetSelection.all() - dg.AssetSelection.groups("personas")


def test_features_falling_by_more_than_half_stop_the_graph_and_keep_the_last_clusters(tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    good = execute(tmp_path, simulator_config(1_500, 3), WITHOUT_PERSONAS, instance=instance)
    assert good.success
    run = Run(tmp_path, good)
    clusters_before = run.sql("select * from entities.clusters order by cluster_id")

    shrunk = execute(tmp_path, simulator_config(400, 3), WITHOUT_PERSONAS, instance=instance)
    assert not shrunk.success, "the run should fail: a blocking check failed"
    gate = [e for e in shrunk.get_asset_check_evaluations() if e.check_name == "row_count_kept"]
    failed = [e for e in gate if e.asset_key == dg.AssetKey(["marts", "wallet_features"])]
    assert failed and not failed[0].passed
    assert "fell from" in failed[0].description
    keys = {
        e.event_specific_data.materialization.asset_key for e in shrunk.get_asset_materialization_events()
    }
    assert dg.AssetKey(["graph", "wallet_edges"]) not in keys
    assert dg.AssetKey(["entities", "clusters"]) not in keys
    assert run.sql("select * from entities.clusters order by cluster_id").equals(clusters_before)


def test_a_small_export_after_the_simulator_is_other_data_not_a_table_that_lost_rows(tmp_path: Path) -> None:
    from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, write_etl_files

    instance = dg.DagsterInstance.ephemeral()
    assert execute(tmp_path, simulator_config(1_500, 3), WITHOUT_PERSONAS, instance=instance).success
    export = tmp_path / "export"
    write_etl_files(SimulatorConfig(seed=4, n_wallets=1_200), export, fmt="csv")
    env = {"WALLET_SOURCE": "files", "WALLET_FILES_DIR": str(export)}

    small = execute(tmp_path, {}, WITHOUT_PERSONAS, instance=instance, env=env)

    assert small.success
    gate = {e.asset_key: e for e in small.get_asset_check_evaluations() if e.check_name == "row_count_kept"}
    features = gate[dg.AssetKey(["marts", "wallet_features"])]
    assert features.passed and "no earlier row count" in features.description
    # The same folder rewritten by an export that lost most wallets is a table that lost rows.
    shutil.rmtree(export)
    write_etl_files(SimulatorConfig(seed=4, n_wallets=200), export, fmt="csv")
    shrunk = execute(tmp_path, {}, WITHOUT_PERSONAS, instance=instance, env=env)
    assert not shrunk.success
    failed = [
        e for e in shrunk.get_asset_check_evaluations() if e.check_name == "row_count_kept" and not e.passed
    ]
    assert failed and f"files:{export.resolve()}" in failed[0].description
    assert "WALLET_GATE_MAX_ROW_DROP=1" in failed[0].description
