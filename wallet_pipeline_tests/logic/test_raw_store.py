from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from wallet_pipeline.logic.ingestion.raw_manifest import read_manifest
from wallet_pipeline.logic.ingestion.raw_store import raw_load

A = "0x" + "1" * 40
B = "0x" + "2" * 40


def _tx(hash_char: str, value: str = "1") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "hash": ["0x" + hash_char * 64],
            "block_number": [1],
            "from_address": [A],
            "to_address": [B],
            "value": [value],
            "block_timestamp": [pd.Timestamp("2024-07-01 23:59:59")],
        }
    )


def test_a_load_replaces_every_table_and_derives_the_block_date(con: duckdb.DuckDBPyConnection) -> None:
    with raw_load(con, "test") as load:
        load.append("transactions", _tx("a"))
    with raw_load(con, "test") as load:
        load.append("transactions", _tx("b"))
    rows = con.execute("select hash, block_date from raw.transactions").fetchall()
    assert rows == [("0x" + "b" * 64, pd.Timestamp("2024-07-01").date())]


def test_a_failed_load_leaves_the_previous_tables_and_manifest_intact(con: duckdb.DuckDBPyConnection) -> None:
    with raw_load(con, "first", load_id="good") as load:
        load.append("transactions", _tx("a"))
    with pytest.raises(RuntimeError), raw_load(con, "second", load_id="bad") as load:
        load.append("transactions", _tx("b"))
        raise RuntimeError("source broke half way")
    assert con.execute("select hash from raw.transactions").fetchall() == [("0x" + "a" * 64,)]
    assert read_manifest(con)["transactions"].load_id == "good"
    leftovers = con.execute(
        "select count(*) from information_schema.tables where table_name like '%__loading'"
    ).fetchone()
    assert leftovers == (0,)


def test_wei_beyond_two_to_the_64_is_stored_exactly(con: duckdb.DuckDBPyConnection) -> None:
    big = str(2**64 + 1)
    with raw_load(con, "test") as load:
        load.append("transactions", _tx("a", value=big))
    assert str(con.execute("select value from raw.transactions").fetchone()[0]) == big


def test_the_manifest_says_which_tables_the_source_provided(con: duckdb.DuckDBPyConnection) -> None:
    with raw_load(con, "files") as load:
        load.append("transactions", _tx("a"))
        load.mark_provided("token_transfers")
    manifest = read_manifest(con)
    assert manifest["transactions"].provided and manifest["transactions"].row_count == 1
    assert manifest["token_transfers"].provided and manifest["token_transfers"].row_count == 0
    assert not manifest["nft_trades"].provided


def test_a_chunk_with_a_column_outside_the_contract_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    frame = _tx("a").assign(chain_id=1)
    with pytest.raises(ValueError, match="chain_id"), raw_load(con, "test") as load:
        load.append("transactions", frame)


def test_rejects_accumulate_across_loads_with_their_load_id(con: duckdb.DuckDBPyConnection) -> None:
    reject = pd.DataFrame(
        {
            "table_name": ["transactions"],
            "source_file": ["transactions.csv"],
            "row_number": [2],
            "column_name": ["value"],
            "reason": ["negative"],
            "record": ['{"value": "-1"}'],
        }
    )
    for load_id in ("one", "two"):
        with raw_load(con, "files", load_id=load_id) as load:
            load.reject(reject)
    assert con.execute("select load_id from raw.raw_rejects order by 1").fetchall() == [("one",), ("two",)]
    assert read_manifest(con)["transactions"].rejected_count == 1


def test_arrow_tables_append_by_column_name(con: duckdb.DuckDBPyConnection) -> None:
    import pyarrow as pa

    with raw_load(con, "test") as load:
        load.append("transactions", pa.Table.from_pandas(_tx("c")))
    assert con.execute("select hash from raw.transactions").fetchone() == ("0x" + "c" * 64,)


def _day_tx(hash_char: str, day: str) -> pd.DataFrame:
    return _tx(hash_char).assign(block_timestamp=[pd.Timestamp(f"{day} 12:00")])


def test_a_day_load_replaces_exactly_that_day_and_a_rerun_adds_no_duplicates(
    con: duckdb.DuckDBPyConnection,
) -> None:
    from wallet_pipeline.logic.ingestion.raw_store import raw_day_load

    for day, char in (("2024-07-01", "a"), ("2024-07-02", "b"), ("2024-07-02", "c"), ("2024-07-02", "c")):
        with raw_day_load(con, "dune", pd.Timestamp(day).date(), ("transactions",)) as load:
            load.append("transactions", _day_tx(char, day))
    rows = con.execute("select block_date::varchar, hash from raw.transactions order by 1").fetchall()
    assert rows == [("2024-07-01", "0x" + "a" * 64), ("2024-07-02", "0x" + "c" * 64)]
    assert read_manifest(con)["transactions"].row_count == 2


def test_a_failed_day_load_keeps_the_stored_day(con: duckdb.DuckDBPyConnection) -> None:
    from wallet_pipeline.logic.ingestion.raw_store import raw_day_load

    day = pd.Timestamp("2024-07-01").date()
    with raw_day_load(con, "dune", day, ("transactions",)) as load:
        load.append("transactions", _day_tx("a", "2024-07-01"))
    with pytest.raises(RuntimeError), raw_day_load(con, "dune", day, ("transactions",)) as load:
        load.append("transactions", _day_tx("b", "2024-07-01"))
        raise RuntimeError("Dune failed on the second query")
    assert con.execute("select hash from raw.transactions").fetchall() == [("0x" + "a" * 64,)]


def test_a_day_load_refuses_rows_of_another_day(con: duckdb.DuckDBPyConnection) -> None:
    from wallet_pipeline.logic.ingestion.raw_store import raw_day_load

    with (
        pytest.raises(ValueError, match="dated another day"),
        raw_day_load(con, "dune", pd.Timestamp("2024-07-01").date(), ("transactions",)) as load,
    ):
        load.append("transactions", _day_tx("a", "2024-07-02"))
    assert con.execute("select count(*) from raw.transactions").fetchone() == (0,)


def test_notes_and_source_files_are_stored_and_a_load_from_another_source_clears_the_files(
    con: duckdb.DuckDBPyConnection,
) -> None:
    with raw_load(con, "files", load_id="one") as load:
        load.append("transactions", _tx("a"))
        load.note("transactions", "1 rows have a synthetic hash")
        load.note("transactions", "x.csv: extra column(s) ['memo'] not read")
        load.record_file("x.csv", "transactions", "read", 1, None)
        load.record_file("README.txt", None, "ignored", None, "not a data file")
    assert read_manifest(con)["transactions"].notes == (
        "1 rows have a synthetic hash; x.csv: extra column(s) ['memo'] not read"
    )
    assert read_manifest(con)["tokens"].notes is None
    assert con.execute("select load_id, path, status from raw.source_files order by path").fetchall() == [
        ("one", "README.txt", "ignored"),
        ("one", "x.csv", "read"),
    ]
    with raw_load(con, "simulator") as load:
        load.append("transactions", _tx("b"))
    assert con.execute("select count(*) from raw.source_files").fetchone() == (0,)
    assert read_manifest(con)["transactions"].notes is None


def test_a_database_from_before_the_optional_columns_gets_them_and_day_loads_keep_working(
    con: duckdb.DuckDBPyConnection,
) -> None:
    from wallet_pipeline.logic.ingestion.raw_store import raw_tables_load

    con.execute("create schema raw")
    con.execute(
        "create table raw.address_labels (address varchar, label_type varchar, name varchar, source varchar)"
    )
    con.execute(
        "create table raw.source_manifest (table_name varchar primary key, source varchar, "
        "provided boolean, row_count bigint, rejected_count bigint, loaded_at timestamp, load_id varchar)"
    )
    con.execute("insert into raw.address_labels values (?, 'exchange', 'old', 'dune')", [A])
    labels = pd.DataFrame({"address": [B], "label_type": ["scam"], "name": ["new"], "source": ["dune"]})
    with raw_tables_load(con, "dune", ("address_labels",)) as load:
        load.append("address_labels", labels)
    assert con.execute("select address, original_label_type from raw.address_labels").fetchall() == [
        (B, None)
    ]
    assert read_manifest(con)["address_labels"].row_count == 1
