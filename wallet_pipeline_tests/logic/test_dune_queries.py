from __future__ import annotations

import datetime as dt
import re

import pytest

from wallet_pipeline.lib.dune import DuneFetcher, DuneSchemaError, DuneSourceError, check_columns
from wallet_pipeline.logic.ingestion.dune_queries import (
    DUNE_QUERIES,
    LIVE_QUERIES,
    MARKER_PATTERN,
    MAX_LIST_ADDRESSES,
    DuneQuery,
    DuneQueryError,
    check_day,
)
from wallet_pipeline.logic.ingestion.dune_source import DuneRowsError, rows_to_table

DAY = dt.date(2024, 7, 3)


@pytest.mark.parametrize("name", sorted(DUNE_QUERIES) + sorted(LIVE_QUERIES))
def test_every_query_file_selects_exactly_the_columns_it_promises_in_order(name: str) -> None:
    query: DuneQuery = {**DUNE_QUERIES, **LIVE_QUERIES}[name]
    select = query.sql().split("select", 1)[1].split("\nfrom", 1)[0]
    # The output name of each select item is its alias, else the column itself.
    outputs = []
    for item in re.split(r",\n", select.strip()):
        words = re.findall(r'"?([a-z_]+)"?', item.strip().splitlines()[-1])
        outputs.append(words[-1])
    assert tuple(outputs) == query.columns


def test_a_rendered_daily_query_opens_with_its_marker_and_fills_every_parameter() -> None:
    text = DUNE_QUERIES["transactions"].rendered(DAY, 1000)
    marker = MARKER_PATTERN.match(text)
    assert marker and marker["query"] == "transactions" and marker["day"] == "2024-07-03"
    assert "date '2024-07-03'" in text and "limit 1000" in text and "{{" not in text


@pytest.mark.parametrize("day", [dt.date(2015, 7, 29), dt.date(2999, 1, 1)])
def test_a_day_outside_ethereums_history_is_refused_before_any_request(day: dt.date) -> None:
    with pytest.raises(DuneQueryError, match="outside Ethereum's history"):
        DUNE_QUERIES["transactions"].rendered(day, 10)


def test_genesis_day_and_today_are_valid_days() -> None:
    check_day(dt.date(2015, 7, 30))
    check_day(dt.date(2024, 1, 1), today=dt.date(2024, 1, 1))


def test_a_daily_query_needs_a_day_and_a_positive_row_cap() -> None:
    with pytest.raises(DuneQueryError, match="needs a day"):
        DUNE_QUERIES["dex_trades"].parameters(None, 10)
    with pytest.raises(DuneQueryError, match="max_rows"):
        DUNE_QUERIES["tokens"].parameters(None, 0)


@pytest.mark.parametrize("key", ["", "   "])
def test_a_missing_or_empty_key_is_one_line_saying_what_to_set(key: str) -> None:
    with pytest.raises(DuneSourceError) as raised:
        DuneFetcher(api_key=key, base_url="http://127.0.0.1:9")
    message = str(raised.value)
    assert "DUNE_API_KEY" in message and "\n" not in message


def test_columns_that_differ_from_the_promise_are_named() -> None:
    query = DUNE_QUERIES["contract_creations"]
    columns = [c for c in query.columns if c != "creator_address"] + ["code"]
    with pytest.raises(DuneSchemaError, match=r"missing \['creator_address'\]; unexpected \['code'\]"):
        check_columns(query, columns, "contract_creations for 2024-07-03")


def test_dune_timestamps_lose_their_utc_suffix_and_amounts_stay_exact_text() -> None:
    query = DUNE_QUERIES["token_transfers"]
    row = {
        "token_address": "0x" + "a" * 40,
        "from_address": "0x" + "b" * 40,
        "to_address": "0x" + "c" * 40,
        "value": str(2**255),
        "transaction_hash": "0x" + "d" * 64,
        "log_index": 4,
        "block_number": 20_000_000,
        "block_timestamp": "2024-07-03 10:11:12.000 UTC",
    }
    table = rows_to_table(query, [row])
    assert table.column_names == list(query.columns)
    assert table["block_timestamp"][0].as_py() == "2024-07-03 10:11:12.000"
    assert table["value"][0].as_py() == str(2**255)


def test_rows_missing_a_column_cannot_become_raw_rows() -> None:
    with pytest.raises(DuneRowsError, match="token_transfers"):
        rows_to_table(DUNE_QUERIES["token_transfers"], [{"token_address": "0x" + "a" * 40}])


WALLET = "0x" + "ab" * 20


@pytest.mark.parametrize("name", sorted(LIVE_QUERIES))
def test_a_live_query_fills_its_raw_table_with_the_columns_of_that_tables_daily_query(name: str) -> None:
    query = LIVE_QUERIES[name]
    assert query.columns == DUNE_QUERIES[query.raw_table].columns and not query.daily


def test_a_bound_live_query_names_its_address_in_the_marker_and_the_sql() -> None:
    text = LIVE_QUERIES["live_transactions"].bind(address=WALLET).rendered(None, 500)
    marker = MARKER_PATTERN.match(text)
    assert marker and marker["query"] == "live_transactions" and marker["day"] is None
    assert text.splitlines()[0].endswith(f"address={WALLET}")
    assert f'"from" = {WALLET}' in text and "limit 500" in text and "{{" not in text

    listed = LIVE_QUERIES["live_tokens"].bind(addresses=[WALLET, "0x" + "cd" * 20])
    assert f"in ({WALLET}, 0x{'cd' * 20})" in listed.rendered(None, 10)
    assert listed.parameters(None, 10) == {"max_rows": "10", "addresses": f"{WALLET}, 0x{'cd' * 20}"}


def test_the_newest_transaction_query_takes_no_parameter_and_returns_one_row() -> None:
    query = LIVE_QUERIES["live_latest_transaction"]
    assert query.parameters(None, 10) == {}
    assert query.rendered(None, 10).rstrip().endswith("limit 1")


@pytest.mark.parametrize("address", ["0xABAB" + "ab" * 18, "0x12", "0x" + "ab" * 20 + "; drop table x"])
def test_a_live_query_refuses_anything_but_a_lower_case_address(address: str) -> None:
    with pytest.raises(DuneQueryError, match="not an address"):
        LIVE_QUERIES["live_transactions"].bind(address=address)
    with pytest.raises(DuneQueryError, match="not an address"):
        LIVE_QUERIES["live_tokens"].bind(addresses=[WALLET, address])


def test_a_live_query_needs_its_parameter_and_a_list_within_the_cap() -> None:
    with pytest.raises(DuneQueryError, match="not bound"):
        LIVE_QUERIES["live_transactions"].rendered(None, 10)
    with pytest.raises(DuneQueryError, match="at least one address"):
        LIVE_QUERIES["live_tokens"].bind(addresses=[])
    with pytest.raises(DuneQueryError, match=f"at most {MAX_LIST_ADDRESSES}"):
        LIVE_QUERIES["live_tokens"].bind(addresses=[WALLET] * (MAX_LIST_ADDRESSES + 1))
