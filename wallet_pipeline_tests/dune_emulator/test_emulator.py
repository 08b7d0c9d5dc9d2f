"""The Dune emulator, driven by the real dune-client over real HTTP."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import duckdb
import pandas as pd
import pytest
import requests
from dune_client.client import DuneClient
from dune_client.models import ExecutionState, QueryFailedError
from dune_client.query import QueryBase
from dune_client.types import QueryParameter

from wallet_pipeline.logic.ingestion.dune_queries import DUNE_QUERIES, LIVE_QUERIES
from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, load_simulation
from wallet_pipeline_tests.dune_emulator import DuneEmulator, EmulatorError, start_emulator

DAY = dt.date(2024, 7, 3)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} UTC$")
ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")
HASH = re.compile(r"^0x[0-9a-f]{64}$")


@pytest.fixture(autouse=True)
def _clean_emulator(dune_emulator: DuneEmulator) -> Iterator[None]:
    dune_emulator.reset()
    yield
    dune_emulator.reset()


@pytest.fixture
def client(dune_emulator: DuneEmulator) -> DuneClient:
    return DuneClient(api_key=dune_emulator.api_key, base_url=dune_emulator.base_url)


def by_id(
    emulator: DuneEmulator, name: str, day: dt.date | None = DAY, max_rows: int = 1_000_000
) -> QueryBase:
    params = [QueryParameter.number_type("max_rows", max_rows)]
    if day is not None:
        params.append(QueryParameter.text_type("day", day.isoformat()))
    return QueryBase(query_id=emulator.query_ids[name], params=params)


def wait_done(client: DuneClient, execution_id: str) -> ExecutionState:
    for _ in range(20):
        state = client.get_execution_status(execution_id).state
        if state in ExecutionState.terminal_states():
            return state
    raise AssertionError("execution never finished")


def test_run_query_by_id_returns_the_days_rows_in_dune_formats(
    client: DuneClient, dune_emulator: DuneEmulator
) -> None:
    result = client.run_query(by_id(dune_emulator, "transactions"), ping_frequency=0)

    rows = result.get_rows()
    assert len(rows) == dune_emulator.rows("transactions", DAY) > 0
    assert result.result is not None
    assert result.result.metadata.column_names == list(DUNE_QUERIES["transactions"].columns)
    assert all(list(row) == list(DUNE_QUERIES["transactions"].columns) for row in rows)
    row = rows[0]
    assert HASH.match(row["hash"]) and ADDRESS.match(row["from_address"])
    assert TIMESTAMP.match(row["block_timestamp"]) and row["block_timestamp"].startswith(DAY.isoformat())
    assert isinstance(row["value"], str) and row["value"].isdigit()
    assert isinstance(row["block_number"], int) and isinstance(row["gas"], int)
    assert re.match(r"^0x([0-9a-f]{8})?$", row["input"])
    assert all(r["block_timestamp"].startswith(DAY.isoformat()) for r in rows)
    order = [(r["block_number"], r["transaction_index"]) for r in rows]
    assert order == sorted(order)


def test_rows_are_the_simulators_rows_for_that_day(client: DuneClient, dune_emulator: DuneEmulator) -> None:
    con = duckdb.connect()
    load_simulation(con, SimulatorConfig(seed=42, n_wallets=2000, days=14))
    expected = con.execute(
        "select hash, cast(value as varchar), strftime(block_timestamp, '%Y-%m-%d %H:%M:%S.%g UTC') "
        "from raw.transactions where block_date = ? order by block_number, transaction_index",
        [DAY],
    ).fetchall()

    rows = client.run_query(by_id(dune_emulator, "transactions"), ping_frequency=0).get_rows()

    assert [(r["hash"], r["value"], r["block_timestamp"]) for r in rows] == expected


def test_max_rows_and_a_date_typed_day_parameter_are_honoured(
    client: DuneClient, dune_emulator: DuneEmulator
) -> None:
    query = QueryBase(
        query_id=dune_emulator.query_ids["token_transfers"],
        params=[
            QueryParameter.date_type("day", f"{DAY.isoformat()} 00:00:00"),
            QueryParameter.number_type("max_rows", 7),
        ],
    )

    rows = client.run_query(query, ping_frequency=0).get_rows()

    assert len(rows) == 7
    assert list(rows[0]) == list(DUNE_QUERIES["token_transfers"].columns)


def test_a_reference_query_returns_all_its_rows(client: DuneClient, dune_emulator: DuneEmulator) -> None:
    rows = client.run_query(by_id(dune_emulator, "tokens", day=None), ping_frequency=0).get_rows()

    assert len(rows) == dune_emulator.rows("tokens") > 0
    assert all(isinstance(r["decimals"], int | None) for r in rows)


@pytest.fixture(scope="module")
def busiest_sender() -> Iterator[tuple[str, duckdb.DuckDBPyConnection]]:
    """The emulator's chain (its 10 served days of 14 simulated) and its busiest sender."""
    con = duckdb.connect()
    load_simulation(con, SimulatorConfig(seed=42, n_wallets=2000, days=14))
    con.execute("delete from raw.transactions where block_date >= date '2024-07-11'")
    row = con.execute("select from_address from raw.transactions group by 1 order by count(*) desc limit 1")
    yield row.fetchone()[0], con
    con.close()


def test_a_live_query_returns_every_row_of_its_address_by_text_and_by_id(
    client: DuneClient, dune_emulator: DuneEmulator, busiest_sender: tuple[str, duckdb.DuckDBPyConnection]
) -> None:
    wallet, con = busiest_sender
    expected = con.execute(
        "select hash from raw.transactions where from_address = $w or to_address = $w "
        "order by block_number, transaction_index",
        {"w": wallet},
    ).fetchall()
    query = LIVE_QUERIES["live_transactions"].bind(address=wallet)

    by_text = client.run_sql(query.rendered(None, 100_000), ping_frequency=0).get_rows()
    saved = QueryBase(
        query_id=dune_emulator.query_ids["live_transactions"],
        params=[QueryParameter.text_type(k, v) for k, v in query.parameters(None, 100_000).items()],
    )
    by_id = client.run_query(saved, ping_frequency=0).get_rows()

    assert [(r["hash"],) for r in by_text] == expected and len(expected) > 1
    assert by_id == by_text
    assert list(by_text[0]) == list(DUNE_QUERIES["transactions"].columns)


def test_a_live_list_query_answers_for_each_address_of_its_list(
    client: DuneClient, busiest_sender: tuple[str, duckdb.DuckDBPyConnection]
) -> None:
    wallet, con = busiest_sender
    paid = [
        r[0]
        for r in con.execute(
            "select distinct to_address from raw.transactions "
            "where from_address = ? and to_address is not null order by 1",
            [wallet],
        ).fetchall()
    ]
    query = LIVE_QUERIES["live_context_transactions"].bind(addresses=paid)

    rows = client.run_sql(query.rendered(None, 100_000), ping_frequency=0).get_rows()

    first = (
        "select arg_min(hash, (block_number, transaction_index)) from raw.transactions "
        "where list_contains($paid, {column}) {extra} group by {column}"
    )
    first_sent = con.execute(first.format(column="from_address", extra=""), {"paid": paid}).fetchall()
    first_call = con.execute(
        first.format(column="to_address", extra="and length(input) >= 10"), {"paid": paid}
    ).fetchall()
    first_eth = con.execute(
        first.format(column="to_address", extra="and value > 0 and coalesce(receipt_status, 1) <> 0"),
        {"paid": paid},
    ).fetchall()
    assert {r["hash"] for r in rows} == {h for (h,) in first_sent + first_call + first_eth}
    assert first_sent and first_call and first_eth


def test_a_live_query_without_its_address_gets_400(client: DuneClient, dune_emulator: DuneEmulator) -> None:
    saved = QueryBase(
        query_id=dune_emulator.query_ids["live_transactions"],
        params=[QueryParameter.text_type("address", "0xnot-an-address")],
    )
    with pytest.raises(requests.HTTPError, match="400"):
        client.execute_query(saved)


def test_execute_sql_then_paging_by_limit_and_offset_reassembles_every_row(
    client: DuneClient, dune_emulator: DuneEmulator
) -> None:
    sql = DUNE_QUERIES["transactions"].rendered(DAY, 100_000)
    execution_id = client.execute_sql(sql).execution_id
    states = [client.get_execution_status(execution_id).state for _ in range(3)]
    assert states == [ExecutionState.PENDING, ExecutionState.EXECUTING, ExecutionState.COMPLETED]
    status = client.get_execution_status(execution_id)
    assert status.query_id is None
    assert status.result_metadata is not None
    total = status.result_metadata.total_row_count
    assert total == dune_emulator.rows("transactions", DAY)
    assert status.result_metadata.datapoint_count == total * len(DUNE_QUERIES["transactions"].columns)
    assert status.execution_cost_credits == -(-status.result_metadata.datapoint_count // 1000)

    rows, offset, pages = [], 0, 0
    while offset is not None:
        page = client.get_execution_results(execution_id, limit=100, offset=offset)
        assert page.result is not None and len(page.result.rows) <= 100
        rows.extend(page.result.rows)
        offset = page.next_offset
        pages += 1

    assert pages == -(-total // 100)
    assert len(rows) == total
    assert len({r["hash"] for r in rows}) == total
    by_id_rows = client.run_query(by_id(dune_emulator, "transactions"), ping_frequency=0).get_rows()
    assert rows == by_id_rows


def test_next_uri_pagination_is_followed_by_the_client(
    client: DuneClient, dune_emulator: DuneEmulator
) -> None:
    result = client.run_query(by_id(dune_emulator, "token_transfers"), ping_frequency=0, batch_size=250)

    rows = result.get_rows()
    assert len(rows) == dune_emulator.rows("token_transfers", DAY)
    pages = [r for r in dune_emulator.requests() if r["path"].endswith("/results")]
    assert len(pages) == -(-len(rows) // 250)
    assert all("limit=250" in r["query"] for r in pages)


def test_csv_results_page_through_the_next_uri_headers(
    client: DuneClient, dune_emulator: DuneEmulator
) -> None:
    csv_result = client.run_query_csv(by_id(dune_emulator, "dex_trades"), ping_frequency=0, batch_size=40)

    frame = pd.read_csv(io.BytesIO(csv_result.data.read()), dtype=str)
    assert list(frame.columns) == list(DUNE_QUERIES["dex_trades"].columns)
    assert len(frame) == dune_emulator.rows("dex_trades", DAY) > 40
    assert not frame.duplicated(["tx_hash", "evt_index"]).any()
    assert frame["token_bought_amount_raw"].str.fullmatch(r"\d+").all()
    pages = [r for r in dune_emulator.requests() if r["path"].endswith("/results/csv")]
    assert len(pages) == -(-len(frame) // 40)


def test_a_429_with_retry_after_is_retried_by_the_client_and_succeeds(
    client: DuneClient, dune_emulator: DuneEmulator
) -> None:
    dune_emulator.set_fault({"http_status": 429, "times": 2, "endpoint": "execute", "retry_after": 1})

    started = time.monotonic()
    execution = client.execute_query(by_id(dune_emulator, "transactions"))

    assert execution.state == ExecutionState.PENDING
    assert time.monotonic() - started >= 1.9
    statuses = [r["status"] for r in dune_emulator.requests() if r["path"].endswith("/execute")]
    assert statuses == [429, 429, 200]


def test_a_500_is_not_retried_by_the_client(client: DuneClient, dune_emulator: DuneEmulator) -> None:
    dune_emulator.set_fault({"http_status": 500, "times": 1, "endpoint": "status"})
    execution_id = client.execute_query(by_id(dune_emulator, "transactions")).execution_id

    with pytest.raises(requests.HTTPError) as err:
        client.get_execution_status(execution_id)

    assert err.value.response.status_code == 500
    assert client.get_execution_status(execution_id).state == ExecutionState.PENDING


def test_a_failed_execution_reports_dunes_error_message(
    client: DuneClient, dune_emulator: DuneEmulator
) -> None:
    error = {"type": "FAILED_TYPE_EXECUTION_FAILED", "message": "line 3:5: Column 'hash' cannot be resolved"}
    dune_emulator.set_fault(
        {
            "execution": {
                "query": "transactions",
                "day": DAY.isoformat(),
                "state": "QUERY_STATE_FAILED",
                "error": error,
            }
        }
    )

    execution_id = client.execute_query(by_id(dune_emulator, "transactions")).execution_id
    assert wait_done(client, execution_id) == ExecutionState.FAILED
    status = client.get_execution_status(execution_id)
    results = client.get_execution_results(execution_id)

    assert status.error is not None and status.error.message == error["message"]
    assert status.error.type == error["type"]
    assert results.state == ExecutionState.FAILED and results.result is None
    with pytest.raises(QueryFailedError, match="cannot be resolved"):
        client.run_query(by_id(dune_emulator, "transactions"), ping_frequency=0)
    other_day = client.run_query(
        by_id(dune_emulator, "transactions", DAY + dt.timedelta(days=1)), ping_frequency=0
    )
    assert other_day.state == ExecutionState.COMPLETED


def test_a_cancelled_execution_gives_the_client_no_rows_without_raising(
    client: DuneClient, dune_emulator: DuneEmulator
) -> None:
    # dune-client's run_query raises only for FAILED: callers must check the state themselves.
    dune_emulator.set_fault(
        {"execution": {"query": "nft_trades", "day": None, "state": "QUERY_STATE_CANCELLED"}}
    )

    result = client.run_query(by_id(dune_emulator, "nft_trades"), ping_frequency=0)

    assert result.state == ExecutionState.CANCELLED
    assert result.get_rows() == []
    assert result.times.cancelled_at is not None


def test_cancel_stops_a_pending_execution(client: DuneClient, dune_emulator: DuneEmulator) -> None:
    execution_id = client.execute_query(by_id(dune_emulator, "transactions")).execution_id

    assert client.cancel_execution(execution_id) is True
    assert client.get_execution_status(execution_id).state == ExecutionState.CANCELLED
    assert client.cancel_execution(execution_id) is False


def test_pending_polls_keep_an_execution_waiting(client: DuneClient, dune_emulator: DuneEmulator) -> None:
    dune_emulator.set_fault({"pending_polls": 3})
    execution_id = client.execute_query(by_id(dune_emulator, "tokens", day=None)).execution_id

    states = [client.get_execution_status(execution_id).state for _ in range(5)]

    assert states == [ExecutionState.PENDING] * 3 + [ExecutionState.EXECUTING, ExecutionState.COMPLETED]


def test_a_wrong_or_missing_key_gets_401(dune_emulator: DuneEmulator) -> None:
    wrong = DuneClient(api_key="not-the-key", base_url=dune_emulator.base_url)

    with pytest.raises(requests.HTTPError) as err:
        wrong.execute_query(by_id(dune_emulator, "transactions"))
    missing = requests.post(
        f"{dune_emulator.base_url}/api/v1/sql/execute", json={"sql": "select 1"}, timeout=10
    )

    assert err.value.response.status_code == 401
    assert err.value.response.json() == {"error": "invalid API Key"}
    assert missing.status_code == 401
    assert [r["key_valid"] for r in dune_emulator.requests()] == [False, False]


def test_an_unknown_query_id_gets_404_query_not_found(client: DuneClient) -> None:
    with pytest.raises(requests.HTTPError) as err:
        client.execute_query(QueryBase(query_id=1234))

    assert err.value.response.status_code == 404
    assert err.value.response.json() == {"error": "Query not found"}


def test_sql_without_our_marker_gets_400(client: DuneClient) -> None:
    with pytest.raises(requests.HTTPError) as err:
        client.execute_sql("select * from ethereum.transactions limit 10")

    assert err.value.response.status_code == 400
    assert "wallet_pipeline query=" in err.value.response.json()["error"]


def test_a_schema_fault_drops_and_adds_columns(client: DuneClient, dune_emulator: DuneEmulator) -> None:
    dune_emulator.set_fault(
        {"schema": {"query": "dex_trades", "drop": ["amount_usd"], "add": {"surprise": 1, "tags": ["x"]}}}
    )

    result = client.run_query(by_id(dune_emulator, "dex_trades"), ping_frequency=0)

    expected = [c for c in DUNE_QUERIES["dex_trades"].columns if c != "amount_usd"] + ["surprise", "tags"]
    assert result.result is not None
    assert result.result.metadata.column_names == expected
    assert result.result.metadata.column_types[-2:] == ["bigint", "varchar"]
    assert all(list(r) == expected and r["surprise"] == 1 and r["tags"] == ["x"] for r in result.get_rows())


def test_a_results_body_that_is_not_json_makes_the_client_raise(
    client: DuneClient, dune_emulator: DuneEmulator
) -> None:
    dune_emulator.set_fault({"malformed": {"query": "transactions", "kind": "not_json"}})

    with pytest.raises(ValueError):
        client.run_query(by_id(dune_emulator, "transactions"), ping_frequency=0)


def test_results_without_a_result_key_fail_when_the_rows_are_read(
    client: DuneClient, dune_emulator: DuneEmulator
) -> None:
    dune_emulator.set_fault({"malformed": {"query": "transactions", "kind": "missing_result"}})

    result = client.run_query(by_id(dune_emulator, "transactions"), ping_frequency=0)

    # dune-client parses a completed answer without `result` and only fails on get_rows.
    assert result.state == ExecutionState.COMPLETED and result.result is None
    with pytest.raises(AssertionError):
        result.get_rows()


def test_the_request_log_records_each_api_call(client: DuneClient, dune_emulator: DuneEmulator) -> None:
    execution_id = client.execute_query(by_id(dune_emulator, "tokens", day=None)).execution_id
    client.get_execution_status(execution_id)

    log = dune_emulator.requests()

    assert [(r["method"], r["status"], r["key_valid"]) for r in log] == [
        ("POST", 200, True),
        ("GET", 200, True),
    ]
    assert log[1]["path"] == f"/api/v1/execution/{execution_id}/status"
    assert set(log[0]) >= {"method", "path", "query", "key_valid", "status"}


def test_the_server_refuses_a_non_loopback_host() -> None:
    command = [
        sys.executable,
        "-m",
        "wallet_pipeline_tests.dune_emulator",
        "--api-key",
        "k",
        "--host",
        "0.0.0.0",
    ]

    done = subprocess.run(command, capture_output=True, text=True, timeout=60)

    assert done.returncode != 0
    assert "127.0.0.1 only" in done.stderr
    assert done.stdout == ""


def test_a_server_that_dies_at_start_gives_a_clear_error_with_its_stderr(tmp_path) -> None:
    with pytest.raises(EmulatorError, match="--wallets|n_wallets"), start_emulator(tmp_path, wallets=10):
        pass


def test_query_ids_can_be_overridden_and_the_pid_is_gone_after_exit(tmp_path) -> None:
    with start_emulator(tmp_path, wallets=300, extra_args=("--query-id", "transactions=123")) as emulator:
        pid = emulator.pid
        port = int(emulator.base_url.rsplit(":", 1)[1])
        assert emulator.query_ids["transactions"] == 123
        client = DuneClient(api_key=emulator.api_key, base_url=emulator.base_url)
        rows = client.run_query(by_id(emulator, "transactions"), ping_frequency=0).get_rows()
        assert len(rows) == emulator.rows("transactions", DAY)

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
