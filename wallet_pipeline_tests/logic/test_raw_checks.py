from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from wallet_pipeline.logic.ingestion.raw_checks import checks_for, column_type_mismatches, run_check
from wallet_pipeline.logic.ingestion.raw_schema import RAW_TABLES, TRANSACTIONS
from wallet_pipeline.logic.ingestion.raw_store import raw_load

GOOD = {
    "hash": "0x" + "a" * 64,
    "block_number": 1,
    "from_address": "0x" + "1" * 40,
    "to_address": "0x" + "2" * 40,
    "value": "5",
    "block_timestamp": pd.Timestamp("2024-07-01"),
    "receipt_status": 1,
}


def _failing(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> dict[str, int]:
    with raw_load(con, "test") as load:
        load.append("transactions", pd.DataFrame(rows))
    return {c.name: run_check(con, c) for c in checks_for(TRANSACTIONS)}


def test_clean_rows_pass_every_check(con: duckdb.DuckDBPyConnection) -> None:
    assert set(_failing(con, [GOOD]).values()) == {0}


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"from_address": None}, "required_columns_not_null"),
        ({"to_address": "0xABC"}, "address_and_hash_format"),
        ({"hash": "0x" + "A" * 64}, "address_and_hash_format"),
        ({"receipt_status": 2}, "value_ranges"),
        ({"block_timestamp": pd.Timestamp("2009-01-03")}, "value_ranges"),
        ({"block_number": -1}, "value_ranges"),
    ],
)
def test_each_kind_of_bad_row_is_counted_by_its_check(
    con: duckdb.DuckDBPyConnection, change: dict, check: str
) -> None:
    failing = _failing(con, [GOOD, {**GOOD, "hash": "0x" + "b" * 64, **change}])
    assert failing[check] == 1
    assert all(n == 0 for name, n in failing.items() if name != check)


def test_duplicate_keys_count_the_rows_beyond_the_first(con: duckdb.DuckDBPyConnection) -> None:
    assert _failing(con, [GOOD, GOOD, GOOD])["unique_key"] == 2


def test_every_raw_table_has_the_same_four_checks() -> None:
    for table in RAW_TABLES.values():
        assert [c.name for c in checks_for(table)] == [
            "required_columns_not_null",
            "unique_key",
            "address_and_hash_format",
            "value_ranges",
        ]


def test_a_column_with_the_wrong_type_is_reported(con: duckdb.DuckDBPyConnection) -> None:
    with raw_load(con, "test"):
        pass
    assert column_type_mismatches(con, TRANSACTIONS) == []
    con.execute("alter table raw.transactions alter value type double")
    assert column_type_mismatches(con, TRANSACTIONS) == ["value: double, expected decimal(38,0)"]
