"""dbt models (staging, intermediate, marts) as Dagster assets; dbt tests become asset checks."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import duckdb as duckdb_lib
from dagster_dbt import DbtCliResource, dbt_assets

from wallet_pipeline import settings
from wallet_pipeline.defs.transform.project import wallet_dbt_project
from wallet_pipeline.lib.dbt_translator import WalletDbtTranslator
from wallet_pipeline.lib.duckdb_resource import DuckDBFile
from wallet_pipeline.logic.spark.landing import built_tables, land_raw, read_back
from wallet_pipeline.logic.transform.table_facts import TableFacts, read_table_facts


@dbt_assets(
    manifest=wallet_dbt_project().manifest_path,
    dagster_dbt_translator=WalletDbtTranslator(),
    project=wallet_dbt_project(),
)
def wallet_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBFile
) -> Iterator[Any]:
    """Builds and tests the dbt models, from staging views to the wallet_features mart.

    Each model's row count and column types go on its materialization (`dagster/row_count`,
    `dagster/column_schema`). dagster-dbt's `fetch_row_counts` queries the database while dbt
    still runs, and DuckDB admits no reader next to dbt's writer; so the events are held until
    dbt has exited, then read once on a read-only connection. The UI sees this step's events at
    its end instead of model by model; dbt's own output (the step's compute log, the CLI's log
    file) still shows its progress live. When dbt fails, the models it did build are reported
    before the failure is raised.

    With `WALLET_ENGINE=spark` (docs/spark.md) the raw tables land as Parquet first, dbt builds on
    Spark, and the tables it built are read back into the DuckDB file, where the graph, entity
    and persona steps read them.
    """
    spark = settings.get_engine() == "spark"
    args = ["build"]
    if spark:
        # The unit tests check the models' logic on fixtures, on DuckDB in CI. Two of them give
        # transactions no hash, and Spark's `NULL NOT IN (empty subquery)` is NULL where DuckDB's
        # (the SQL standard's) is true; a raw transaction always has one (docs/spark.md).
        args += ["--exclude-resource-type", "unit_test"]
        with duckdb.get_connection() as con:
            landed = land_raw(con, settings.spark_raw_dir())
        context.log.info(f"raw tables landed as Parquet in {settings.spark_raw_dir()}: {landed}")
    events: list[Any] = []
    failure: Exception | None = None
    try:
        for event in dbt.cli(args, context=context).stream():
            events.append(event)
    except Exception as exc:  # noqa: BLE001 - re-raised below, after the models that were built are reported
        failure = exc
    keys = {
        id(event): context.asset_key_for_output(event.output_name)
        for event in events
        if isinstance(event, dg.Output)
    }
    relations = [tuple(key.path) for key in keys.values() if len(key.path) == 2]
    if spark:
        warehouse = settings.spark_dir() / "warehouse"
        with duckdb.get_connection() as con:
            copied = read_back(con, warehouse, built_tables(warehouse, relations))
        context.log.info(f"tables Spark built, read back into {duckdb.database}: {copied}")
    facts = _facts(context, relations, duckdb.database)
    for event in events:
        key = keys.get(id(event))
        found = facts.get(tuple(key.path)) if key is not None else None
        yield event.with_metadata({**event.metadata, **_metadata(found)}) if found else event
    if failure is not None:
        raise failure


def _facts(
    context: dg.AssetExecutionContext, relations: list[tuple[str, ...]], database: str
) -> dict[tuple[str, ...], TableFacts]:
    if not relations:
        return {}
    try:
        with duckdb_lib.connect(database, read_only=True) as con:
            return dict(read_table_facts(con, relations))
    except duckdb_lib.Error as exc:
        # The models are built; only their figures are missing, which is no reason to fail the run.
        context.log.warning(f"row counts and column types of the dbt models not read from {database}: {exc}")
        return {}


def _metadata(facts: TableFacts) -> dict[str, Any]:
    schema = dg.TableSchema(columns=[dg.TableColumn(name, data_type) for name, data_type in facts.columns])
    found: dict[str, Any] = {"dagster/column_schema": schema}
    if facts.row_count is not None:
        found["dagster/row_count"] = facts.row_count
    return found
