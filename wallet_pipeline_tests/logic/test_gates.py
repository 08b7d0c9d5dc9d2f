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
