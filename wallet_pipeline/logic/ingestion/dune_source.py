"""Dune results into the raw schema: typed frames, one day (or one reference table) at a time."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from wallet_pipeline.logic.ingestion.dune_queries import DAILY_QUERIES, REFERENCE_QUERIES, DuneQuery
from wallet_pipeline.logic.ingestion.raw_schema import RAW_TABLES
from wallet_pipeline.logic.ingestion.raw_store import raw_day_load, raw_tables_load

SOURCE = "dune"


class Fetcher(Protocol):
    """What loading needs of a Dune client (see `wallet_pipeline.lib.dune.DuneFetcher`)."""

    def pages(self, query: DuneQuery, day: dt.date | None, run: Any) -> Any: ...


class DuneRowsError(ValueError):
    """A page of Dune rows that cannot become raw rows (mixed or impossible types)."""


def rows_to_table(query: DuneQuery, rows: list[dict[str, Any]]) -> pa.Table:
    """One page of Dune's JSON rows as an Arrow table with the query's columns.

    Dune writes timestamps as `2024-07-01 00:00:11.000 UTC`; the suffix goes so DuckDB casts them
    to the raw TIMESTAMP (UTC). Amounts arrive as exact decimal text (the queries cast them), and
    `raw_store` casts every column to its raw type.
    """
    try:
        table = pa.Table.from_pylist(rows).select(list(query.columns))
    except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as exc:
        raise DuneRowsError(f"Dune rows of {query.name} could not be read: {exc}") from None
    raw = RAW_TABLES[query.raw_table]
    for name in query.columns:
        if raw.column(name).kind == "timestamp" and pa.types.is_string(table[name].type):
            stripped = pc.replace_substring_regex(table[name], pattern=r" UTC$", replacement="")
            table = table.set_column(table.schema.get_field_index(name), name, stripped)
    return table


def load_day(con: duckdb.DuckDBPyConnection, fetcher: Fetcher, day: dt.date, runs: dict[str, Any]) -> None:
    """Fetch every daily query for `day` and replace that day of their raw tables in one go.

    `runs` maps query name to a run record the fetcher fills (rows, cost, execution id). If any
    query fails, no table changes: the day stays as it was stored.
    """
    tables = tuple(q.raw_table for q in DAILY_QUERIES)
    with raw_day_load(con, SOURCE, day, tables) as load:
        for query in DAILY_QUERIES:
            for page in fetcher.pages(query, day, runs[query.name]):
                load.append(query.raw_table, rows_to_table(query, page))


def load_reference(con: duckdb.DuckDBPyConnection, fetcher: Fetcher, runs: dict[str, Any]) -> None:
    """Fetch the reference queries (tokens, labels) and replace those tables whole."""
    with raw_tables_load(con, SOURCE, tuple(q.raw_table for q in REFERENCE_QUERIES)) as load:
        for query in REFERENCE_QUERIES:
            for page in fetcher.pages(query, None, runs[query.name]):
                load.append(query.raw_table, rows_to_table(query, page))
