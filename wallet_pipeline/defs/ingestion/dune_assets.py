"""Raw extracts from Dune: one daily partition per UTC day, plus reference tables.

Each partition runs the daily queries for its day and replaces exactly that day of their raw
tables; a backfill of a date range is a backfill of partitions from the UI. The cost Dune reports
(datapoints, credits) lands in each asset's metadata, so a backfill's cost is visible.
"""

from collections.abc import Iterator

import dagster as dg

from wallet_pipeline import settings
from wallet_pipeline.defs.ingestion.specs import raw_asset_specs
from wallet_pipeline.lib.duckdb_resource import DuckDBFile
from wallet_pipeline.lib.dune import DuneResource, DuneRun, DuneSourceError
from wallet_pipeline.logic.ingestion.dune_queries import DAILY_QUERIES, REFERENCE_QUERIES
from wallet_pipeline.logic.ingestion.dune_source import DuneRowsError, load_day, load_reference
from wallet_pipeline.logic.ingestion.raw_schema import RAW_SCHEMA

daily_partitions = dg.DailyPartitionsDefinition(start_date=settings.dune_start_date())

_DAILY_TABLES = {q.raw_table for q in DAILY_QUERIES}
_SPECS = raw_asset_specs("dune")
_DAILY_SPECS = [
    spec.replace_attributes(partitions_def=daily_partitions)
    for spec in _SPECS
    if spec.key.path[1] in _DAILY_TABLES
]
_REFERENCE_SPECS = [spec for spec in _SPECS if spec.key.path[1] not in _DAILY_TABLES]


def _results(runs: dict[str, DuneRun]) -> Iterator[dg.MaterializeResult]:
    for name, run in runs.items():
        yield dg.MaterializeResult(asset_key=[RAW_SCHEMA, name], metadata=run.metadata())


@dg.multi_asset(specs=_DAILY_SPECS, partitions_def=daily_partitions, name="dune_daily", can_subset=False)
def dune_daily(
    context: dg.AssetExecutionContext, duckdb: DuckDBFile, dune: DuneResource
) -> Iterator[dg.MaterializeResult]:
    """One UTC day of transactions, token transfers, DEX and NFT trades and contract creations from Dune."""
    day = context.partition_time_window.start.date()
    runs = {q.name: DuneRun(query=q.name, day=day) for q in DAILY_QUERIES}
    try:
        fetcher = dune.fetcher()
        with duckdb.get_connection() as con:
            load_day(con, fetcher, day, runs)
    except (DuneSourceError, DuneRowsError, ValueError) as exc:
        # Dune's own message (or ours: which query, which day, why); the stored day is untouched.
        raise dg.Failure(description=str(exc)) from None
    credits = sum(r.credits or 0 for r in runs.values())
    context.log.info("Loaded %s from Dune: %s credits", day, credits)
    yield from _results(runs)


@dg.multi_asset(specs=_REFERENCE_SPECS, name="dune_reference", can_subset=False)
def dune_reference(
    context: dg.AssetExecutionContext, duckdb: DuckDBFile, dune: DuneResource
) -> Iterator[dg.MaterializeResult]:
    """Token metadata and address labels from Dune, replaced whole."""
    runs = {q.name: DuneRun(query=q.name, day=None) for q in REFERENCE_QUERIES}
    try:
        fetcher = dune.fetcher()
        with duckdb.get_connection() as con:
            load_reference(con, fetcher, runs)
    except (DuneSourceError, DuneRowsError, ValueError) as exc:
        raise dg.Failure(description=str(exc)) from None
    yield from _results(runs)
    produced = {RAW_SCHEMA + "/" + name for name in runs}
    for spec in _REFERENCE_SPECS:
        if spec.key.to_user_string() not in produced:
            # balances (Dune has no such table: eth_balance stays NULL), rejects and the manifest.
            yield dg.MaterializeResult(asset_key=spec.key, metadata={"provided_by_source": False})


dune_assets = [dune_daily, dune_reference]
