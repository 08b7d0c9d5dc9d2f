"""Quality gates: each measurement and its verdict, on small tables."""

from __future__ import annotations

import duckdb
import pytest

from wallet_pipeline.logic.automation import gates


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute(
        "create table t as select * from (values ('a', 'Whale', 1.0), ('b', 'Whale', null), "
        "('b', 'Dormant Holder', 0.5), ('c', 'Whale', 0.9)) v(address, persona, confidence)"
    )
    return c


def test_a_row_count_falling_past_the_allowed_share_fails_and_a_first_run_passes() -> None:
    assert not gates.row_count_gate(400, 1_000, max_drop=0.5).passed
    assert gates.row_count_gate(600, 1_000, max_drop=0.5).passed
    assert gates.row_count_gate(5_000, 1_000, max_drop=0.5).passed
    first = gates.row_count_gate(10, None, max_drop=0.5)
    assert first.passed and "no earlier" in first.reason


def test_duplicate_keys_are_counted_with_an_example(con: duckdb.DuckDBPyConnection) -> None:
    result = gates.duplicate_key_gate(con, "t", ("address",))
    assert not result.passed and result.figures["duplicate_keys"] == 1 and result.figures["example"] == "b"
    assert gates.duplicate_key_gate(con, "t", ("address", "persona")).passed


def test_nulls_in_a_required_column_fail_and_name_it(con: duckdb.DuckDBPyConnection) -> None:
    result = gates.null_gate(con, "t", ("address", "confidence"), max_null_share=0.0)
    assert not result.passed and "confidence" in result.reason
    assert gates.null_gate(con, "t", ("address", "confidence"), max_null_share=0.3).passed


def test_one_value_holding_too_many_rows_fails(con: duckdb.DuckDBPyConnection) -> None:
    assert not gates.one_value_gate(con, "t", "persona", max_share=0.7).passed
    result = gates.one_value_gate(con, "t", "persona", max_share=0.8)
    assert result.passed and result.figures["largest_value"] == "Whale"


def test_a_share_out_of_range_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="max_drop"):
        gates.row_count_gate(1, 2, max_drop=1.5)


def test_the_reference_count_is_the_last_passing_one_of_the_same_feed() -> None:
    c = duckdb.connect()
    assert gates.last_good_row_count(c, "marts.f", "simulator") is None
    gates.record_row_count(c, "marts.f", 20_000, True, "r1", "simulator")
    gates.record_row_count(c, "marts.f", 300, True, "r2", "files:/data/a")
    gates.record_row_count(c, "marts.f", 100, False, "r3", "files:/data/a")
    assert gates.last_good_row_count(c, "marts.f", "simulator") == 20_000
    assert gates.last_good_row_count(c, "marts.f", "files:/data/a") == 300
    assert gates.last_good_row_count(c, "marts.f", "files:/data/b") is None
    assert gates.last_good_row_count(c, "marts.f", None) is None


def test_counts_stored_before_feeds_existed_are_never_a_reference() -> None:
    c = duckdb.connect()
    c.execute("create schema gates")
    c.execute(
        "create table gates.row_counts (table_name varchar, rows bigint, passed boolean, run_id varchar, "
        "checked_at timestamp)"
    )
    c.execute("insert into gates.row_counts values ('marts.f', 20000, true, 'old', now()::timestamp)")
    assert gates.last_good_row_count(c, "marts.f", "simulator") is None
    gates.record_row_count(c, "marts.f", 19_000, True, "new", "simulator")
    assert gates.last_good_row_count(c, "marts.f", "simulator") == 19_000


def test_the_feed_is_read_from_the_raw_manifest() -> None:
    from wallet_pipeline.logic.ingestion.raw_store import raw_load

    c = duckdb.connect()
    assert gates.feed_of_raw(c) is None
    with raw_load(c, source="files", feed="files:/data/a"):
        pass
    assert gates.feed_of_raw(c) == "files:/data/a"
    with raw_load(c, source="simulator"):
        pass
    assert gates.feed_of_raw(c) == "simulator"
