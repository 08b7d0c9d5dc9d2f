"""A raw table that breaks the contract stops the run before dbt builds anything on it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from wallet_pipeline.defs.ingestion.checks import raw_table_checks
from wallet_pipeline.defs.ingestion.specs import raw_asset_specs
from wallet_pipeline.lib.duckdb_resource import DuckDBFile
from wallet_pipeline.logic.ingestion.raw_store import raw_load
from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, load_simulation

pytestmark = pytest.mark.dbt


@dg.multi_asset(specs=raw_asset_specs("python"), name="raw_with_a_duplicate", can_subset=False)
def raw_with_a_duplicate(duckdb: DuckDBFile):  # noqa: ANN201 - test asset
    """A source that slips a duplicate transaction past the loaders' quarantine."""
    with duckdb.get_connection() as con:
        load_simulation(con, SimulatorConfig(n_wallets=300, seed=3))
        tables = con.execute("select * from raw.transactions").fetch_arrow_table()
        with raw_load(con, "test") as load:
            load.append("transactions", tables)
            load.append("transactions", tables.slice(0, 1))
    for spec in raw_asset_specs("python"):
        yield dg.MaterializeResult(asset_key=spec.key)


def test_a_failing_blocking_check_skips_every_dbt_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "w.duckdb"
    monkeypatch.setenv("WALLET_DUCKDB_PATH", str(db))
    monkeypatch.setenv("WALLET_DATA_DIR", str(tmp_path))
    from wallet_pipeline.defs.resources import build_resources
    from wallet_pipeline.defs.transform.assets import wallet_dbt_models

    result = dg.materialize(
        [raw_with_a_duplicate, *raw_table_checks, wallet_dbt_models],
        resources=build_resources(),
        raise_on_error=False,
    )

    failed = {
        f"{e.asset_key.to_user_string()}:{e.check_name}"
        for e in result.get_asset_check_evaluations()
        if not e.passed
    }
    assert failed == {"raw/transactions:unique_key"}
    built = {e.asset_key.path[0] for e in result.all_events if e.is_step_materialization}
    assert built == {"raw"}, "dbt built models on a table that failed a blocking check"
    con = duckdb.connect(str(db), read_only=True)
    assert (
        con.execute(
            "select count(*) from information_schema.schemata where schema_name = 'marts'"
        ).fetchone()[0]
        == 0
    )
    con.close()
