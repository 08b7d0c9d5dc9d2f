"""A gate that fails stops what reads the table, and the last good tables stay."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from wallet_pipeline_tests.defs.runs import Run

pytestmark = [pytest.mark.dbt, pytest.mark.slow]


def _execute(folder: Path, instance: dg.DagsterInstance, wallets: int) -> dg.ExecuteInProcessResult:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WALLET_DATA_DIR", str(folder))
        mp.setenv("WALLET_DUCKDB_PATH", str(folder / "wallet_pipeline.duckdb"))
        mp.setenv("WALLET_DUCKDB_MEMORY_LIMIT", "2GB")
        mp.setenv("WALLET_SOURCE", "simulator")
        from wallet_pipeline.definitions import defs

        definitions = defs()
        selection = dg.AssetSelection.all() - dg.AssetSelection.groups("personas")
        keys = list(selection.resolve(definitions.resolve_asset_graph()))
        return definitions.resolve_job_def("full_pipeline_job").execute_in_process(
            instance=instance,
            run_config={"ops": {"simulated_chain": {"config": {"n_wallets": wallets, "seed": 3}}}},
            asset_selection=keys,
            raise_on_error=False,
        )


def test_features_falling_by_more_than_half_stop_the_graph_and_keep_the_last_clusters(tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    good = _execute(tmp_path, instance, wallets=1_500)
    assert good.success
    run = Run(tmp_path, good)
    clusters_before = run.sql("select * from entities.clusters order by cluster_id")

    shrunk = _execute(tmp_path, instance, wallets=400)
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
