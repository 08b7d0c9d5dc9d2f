"""Raw tables from DuckDB to Parquet, where the Spark build reads them (docs/spark.md).

The loaders (simulator, ethereum-etl files, Dune) write DuckDB's `raw` schema and its checks run
there; for `WALLET_ENGINE=spark` those tables are then written out once, one Parquet folder per
table, and dbt registers each folder as the table its source names
(`dbt_project/macros/dialect/spark_relations.sql`). The mart and decoded tables Spark builds come
back to DuckDB with `read_back`, for the steps that still read DuckDB (graph, entities, personas).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from wallet_pipeline.logic.ingestion.raw_schema import RAW_SCHEMA

# Timestamps go out as UTC instants (Parquet isAdjustedToUTC), which Spark reads as its TIMESTAMP;
# DuckDB's zone-less TIMESTAMP would come back as TIMESTAMP_NTZ and compare by a different rule.
_TIMESTAMP_TYPES = ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S")


class LandingError(RuntimeError):
    """A raw table could not be landed or a built table read back."""


def land_raw(con: duckdb.DuckDBPyConnection, out_dir: Path, schema: str = RAW_SCHEMA) -> dict[str, int]:
    """Write every table of `schema` to `<out_dir>/<table>/`, as Parquet; returns rows per table.

    Each table is written beside its folder and swapped in when complete, so a failed landing
    leaves the previous one whole. Empty tables are written too (one file holding the schema):
    every source must exist for dbt, whatever the loader provided.

    Raises:
        LandingError: the schema has no tables (nothing was loaded), naming the schema.
    """
    tables = [
        row[0]
        for row in con.execute(
            "select table_name from duckdb_tables() "
            "where schema_name = ? and database_name = current_database() order by table_name",
            [schema],
        ).fetchall()
    ]
    if not tables:
        raise LandingError(f"no tables in schema {schema!r} of the DuckDB file: load raw data first")
    # Qualified by the database: a file named like the schema (raw.duckdb) would make `raw` ambiguous.
    database = con.execute("select current_database()").fetchone()[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    # The instants are UTC whatever the machine's zone.
    con.execute("set timezone = 'UTC'")
    counts = {}
    for table in tables:
        columns = con.execute(
            "select column_name, data_type from duckdb_columns() where schema_name = ? and table_name = ? "
            "and database_name = current_database() order by column_index",
            [schema, table],
        ).fetchall()
        select = _cast_columns(columns, _TIMESTAMP_TYPES, "timestamptz")
        final, staging = out_dir / table, out_dir / f".{table}.landing"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        source = f'"{database}".{schema}."{table}"'
        target = staging / "part-0.parquet"
        # COPY answers with the rows it wrote: no second scan of the table to count them.
        copy = f"copy (select {select} from {source}) to '{target}' (format parquet, compression zstd)"
        counts[table] = con.execute(copy).fetchone()[0]
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
    return counts


def table_dir(warehouse: Path, name: str) -> Path:
    """The folder of the Spark managed table `schema.table`: `<warehouse>/<schema>.db/<table>`."""
    schema, table = name.split(".")
    return warehouse / f"{schema}.db" / table


def built_tables(warehouse: Path, relations: list[tuple[str, ...]]) -> list[str]:
    """The `schema.table` names among `relations` that Spark built as tables (views have no files)."""
    return sorted(
        f"{schema}.{name}" for schema, name in relations if table_dir(warehouse, f"{schema}.{name}").is_dir()
    )


def read_back(con: duckdb.DuckDBPyConnection, warehouse: Path, tables: list[str]) -> dict[str, int]:
    """Replace each `schema.table` of the DuckDB file by the Parquet table Spark built; rows per table.

    A Spark managed table lives in `<warehouse>/<schema>.db/<table>/`. Timestamps come back as
    DuckDB's zone-less TIMESTAMP (UTC), as the DuckDB build writes them.

    Raises:
        LandingError: a table has no Parquet files in the warehouse, naming the folder.
    """
    con.execute("set timezone = 'UTC'")
    counts = {}
    for name in tables:
        schema, table = name.split(".")
        folder = table_dir(warehouse, name)
        if not any(folder.glob("*.parquet")):
            raise LandingError(f"{name}: no Parquet files in {folder}: did the Spark build run?")
        described = con.execute(f"describe select * from read_parquet('{folder}/*.parquet')").fetchall()
        select = _cast_columns([(c[0], c[1]) for c in described], ("TIMESTAMP WITH TIME ZONE",), "timestamp")
        con.execute(f"create schema if not exists {schema}")
        con.execute(
            f"create or replace table {schema}.{table} as "
            f"select {select} from read_parquet('{folder}/*.parquet')"
        )
        counts[name] = con.execute(f"select count(*) from {schema}.{table}").fetchone()[0]
    return counts


def _cast_columns(columns: list[tuple[str, str]], types: tuple[str, ...], to: str) -> str:
    """A select list of `columns` (name, DuckDB type) with those of `types` cast to `to`."""
    return ", ".join(
        f'cast("{name}" as {to}) as "{name}"' if kind in types else f'"{name}"' for name, kind in columns
    )
