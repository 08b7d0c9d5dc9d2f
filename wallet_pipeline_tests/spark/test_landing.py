"""Landing DuckDB's raw tables as Parquet for Spark, and reading Spark's tables back (no Spark here)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from wallet_pipeline.logic.spark.landing import LandingError, built_tables, land_raw, read_back


def test_every_raw_table_lands_whole_with_its_timestamps_as_utc_instants(tmp_path: Path) -> None:
    with duckdb.connect() as con:
        con.execute("set timezone = 'America/New_York'")
        con.execute("create schema raw")
        con.execute(
            "create table raw.transactions (hash varchar, value decimal(38, 0), block_timestamp timestamp)"
        )
        con.execute(
            "insert into raw.transactions values "
            "('0xa', 123456789012345678901234567890, '2024-07-01 23:30:00'), ('0xb', 0, null)"
        )
        con.execute("create table raw.logs (topics varchar)")
        counts = land_raw(con, tmp_path / "raw_parquet")
        assert counts == {"logs": 0, "transactions": 2}
        assert sorted(p.name for p in (tmp_path / "raw_parquet").iterdir()) == ["logs", "transactions"]
        con.execute("set timezone = 'UTC'")
        landed = f"read_parquet('{tmp_path}/raw_parquet/transactions/*.parquet')"
        rows = con.execute(f"select hash, value, block_timestamp from {landed} order by hash").fetchall()
        assert con.execute(
            f"select count(*) from read_parquet('{tmp_path}/raw_parquet/logs/*.parquet')"
        ).fetchone() == (0,)
    # The naive DuckDB timestamp is UTC: a session in New York must not move it by 4 hours.
    assert rows[0][1] == 123456789012345678901234567890
    assert rows[0][2] == dt.datetime(2024, 7, 1, 23, 30, tzinfo=dt.UTC)
    assert rows[1][1:] == (0, None)


def test_landing_an_empty_raw_schema_says_to_load_first(tmp_path: Path) -> None:
    with duckdb.connect() as con, pytest.raises(LandingError, match="no tables in schema 'raw'"):
        land_raw(con, tmp_path)


def test_tables_spark_built_come_back_and_a_missing_one_names_its_folder(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    (warehouse / "marts.db" / "wallet_features").mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute(
            "copy (select '0xa' as address, timestamptz '2024-07-01 23:30:00+00' as as_of) "
            f"to '{warehouse}/marts.db/wallet_features/part-0.parquet' (format parquet)"
        )
        relations = [("marts", "wallet_features"), ("staging", "stg_ethereum__transactions")]
        assert built_tables(warehouse, relations) == ["marts.wallet_features"]
        assert read_back(con, warehouse, ["marts.wallet_features"]) == {"marts.wallet_features": 1}
        assert con.execute("select typeof(as_of), as_of from marts.wallet_features").fetchone() == (
            "TIMESTAMP",
            dt.datetime(2024, 7, 1, 23, 30),
        )
        with pytest.raises(LandingError, match=r"decoded\.dex_trades: no Parquet files in .*/decoded\.db/"):
            read_back(con, warehouse, ["decoded.dex_trades"])
