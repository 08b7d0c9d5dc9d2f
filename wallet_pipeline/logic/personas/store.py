"""The persona tables in DuckDB (schema `personas`), read and written by plain functions.

Each write replaces its table in one transaction, so a reader sees the old table or the new one,
never a half-written one.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pandas as pd

SCHEMA = "personas"
FEATURES_TABLE = "marts.wallet_features"


class FeaturesUnavailable(RuntimeError):
    """The features table is missing: the dbt models have not been built."""


def _features_query(con: duckdb.DuckDBPyConnection, sql: str, table: str) -> pd.DataFrame:
    try:
        return con.sql(sql).df()
    except duckdb.CatalogException as exc:
        raise FeaturesUnavailable(
            f"{table} does not exist in this database: materialize the dbt models first"
        ) from exc


def read_features(con: duckdb.DuckDBPyConnection, table: str = FEATURES_TABLE) -> pd.DataFrame:
    """The wallets-by-features table."""
    # Ordered: training samples rows by position, so the same data must come in the same order.
    return _features_query(con, f"select * from {table} order by address", table)


def read_features_of(con: duckdb.DuckDBPyConnection, addresses: list[str]) -> pd.DataFrame:
    """Feature rows of the given addresses (lower-cased), in the order given; unknown ones are absent."""
    wanted = pd.DataFrame({"address": [a.strip().lower() for a in addresses]})
    wanted["position"] = range(len(wanted))
    con.register("wanted_addresses", wanted)
    try:
        sql = (
            f"select f.* from wanted_addresses w join {FEATURES_TABLE} f using (address) order by w.position"
        )
        return _features_query(con, sql, FEATURES_TABLE)
    finally:
        con.unregister("wanted_addresses")


def replace_table(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> int:
    """Replace `personas.<name>` with `frame` atomically; returns the row count."""
    con.execute(f"create schema if not exists {SCHEMA}")
    con.register("persona_frame", frame)
    try:
        con.execute("begin transaction")
        con.execute(f"create or replace table {SCHEMA}.{name} as select * from persona_frame")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("persona_frame")
    return len(frame)


def scored_table(
    predictions: pd.DataFrame, model_version: str, scored_at: datetime | None = None
) -> pd.DataFrame:
    """`wallet_personas`: the predictions with the model version and the scoring time."""
    out = predictions.copy()
    out["model_version"] = model_version
    out["scored_at"] = pd.Timestamp(scored_at or datetime.now(UTC)).tz_convert(None)
    return out
