"""What the last raw load stored, read back from `raw.source_manifest` for run metadata."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from wallet_pipeline.logic.ingestion.raw_schema import (
    MANIFEST_TABLE,
    RAW_SCHEMA,
    REJECTS_TABLE,
    SOURCE_FILES_TABLE,
)


@dataclass(frozen=True)
class TableLoad:
    """One raw table as the last load left it."""

    table_name: str
    source: str
    provided: bool
    row_count: int
    rejected_count: int
    load_id: str
    notes: str | None = None


def read_manifest(con: duckdb.DuckDBPyConnection) -> dict[str, TableLoad]:
    """The manifest of the last published load, by table name."""
    rows = con.execute(
        f"select table_name, source, provided, row_count, rejected_count, load_id, notes "
        f"from {RAW_SCHEMA}.{MANIFEST_TABLE}"
    ).fetchall()
    return {r[0]: TableLoad(*r) for r in rows}


def source_files(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str | None, str, int | None, str | None]]:
    """(path, input table, status, rows read, note) of every entry the last files load saw."""
    return con.execute(
        "select path, input_name, status, rows_read, note "
        f"from {RAW_SCHEMA}.{SOURCE_FILES_TABLE} order by path"
    ).fetchall()


def rejects_by_reason(con: duckdb.DuckDBPyConnection, load_id: str) -> list[tuple[str, str, str, int]]:
    """(table, column, reason, rows) of one load's quarantined rows, most frequent first."""
    return con.execute(
        f"select table_name, column_name, reason, count(*) as n from {RAW_SCHEMA}.{REJECTS_TABLE} "
        "where load_id = ? group by all order by n desc, table_name, column_name limit 50",
        [load_id],
    ).fetchall()
