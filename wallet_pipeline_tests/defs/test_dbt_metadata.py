"""dbt models carry their row counts and column types as Dagster metadata, read after dbt exits."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

pytestmark = [pytest.mark.dbt, pytest.mark.slow]


def test_the_features_materialization_has_its_row_count_and_column_types(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WALLET_SOURCE", "simulator")
    from wallet_pipeline.defs.ingestion.assets import raw_assets_for
    from wallet_pipeline.defs.resources import build_resources
    from wallet_pipeline.defs.transform.assets import wallet_dbt_models

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [*raw_assets_for("simulator"), wallet_dbt_models],
        resources=build_resources(),
        instance=instance,
        run_config={"ops": {"simulated_chain": {"config": {"n_wallets": 1_500, "seed": 7}}}},
    )
    assert result.success

    con = duckdb.connect(str(data_dir / "wallet_pipeline.duckdb"), read_only=True)
    try:
        rows = con.execute("select count(*) from marts.wallet_features").fetchone()[0]
        columns = con.execute(
            "select column_name, data_type from duckdb_columns() "
            "where schema_name = 'marts' and table_name = 'wallet_features' order by column_index"
        ).fetchall()
        view = con.execute(
            "select schema_name, view_name from duckdb_views() where schema_name = 'staging' limit 1"
        ).fetchone()
    finally:
        con.close()

    event = instance.get_latest_materialization_event(dg.AssetKey(["marts", "wallet_features"]))
    metadata = event.asset_materialization.metadata
    assert rows > 1_000
    assert metadata["dagster/row_count"].value == rows
    schema = metadata["dagster/column_schema"].value
    assert [(c.name, c.type) for c in schema.columns] == columns
    assert ("address", "VARCHAR") in columns

    # A view gets its columns, not a count: counting it would run its whole query.
    staged = instance.get_latest_materialization_event(dg.AssetKey(list(view))).asset_materialization.metadata
    assert staged["dagster/column_schema"].value.columns
    assert "dagster/row_count" not in staged
