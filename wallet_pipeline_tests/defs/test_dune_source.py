"""The Dune source end to end: Dagster runs the real dune-client against the local emulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from wallet_pipeline_tests.dune_emulator.fixture import DuneEmulator, start_emulator

pytestmark = pytest.mark.dbt

DAY = "2024-07-02"
OTHER_DAY = "2024-07-03"
KEY = "test-dune-key"


@pytest.fixture(scope="module")
def emulator() -> Iterator[DuneEmulator]:
    with start_emulator(seed=11, wallets=1_500, days=5, api_key=KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean_faults(emulator: DuneEmulator) -> Iterator[None]:
    emulator.reset()
    yield
    emulator.reset()


def _env(emulator: DuneEmulator, folder: Path, **extra: str) -> dict[str, str]:
    return {
        "WALLET_SOURCE": "dune",
        "WALLET_DATA_DIR": str(folder),
        "WALLET_DUCKDB_PATH": str(folder / "wallet_pipeline.duckdb"),
        "WALLET_DUCKDB_MEMORY_LIMIT": "2GB",
        "DUNE_API_KEY": KEY,
        "DUNE_API_BASE_URL": emulator.base_url,
        "WALLET_DUNE_PAGE_SIZE": "250",
        "WALLET_DUNE_POLL_SECONDS": "0.05",
        **extra,
    }


def _run(env: dict[str, str], job: str, partition: str | None = None) -> dg.ExecuteInProcessResult:
    with pytest.MonkeyPatch.context() as mp:
        for name in ("DUNE_API_KEY", "WALLET_DUNE_QUERY_IDS"):
            mp.delenv(name, raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        from wallet_pipeline.definitions import defs

        return (
            defs()
            .resolve_job_def(job)
            .execute_in_process(
                instance=dg.DagsterInstance.ephemeral(), partition_key=partition, raise_on_error=False
            )
        )


def _day(env: dict[str, str], day: str) -> dg.ExecuteInProcessResult:
    return _run(env, "dune_daily_ingestion_job", day)


def _failure(result: dg.ExecuteInProcessResult) -> str:
    event = next(e for e in result.all_events if e.is_step_failure)
    data = event.step_failure_data
    return (data.user_failure_data.description if data.user_failure_data else None) or data.error.message


def _count(folder: Path, table: str, day: str) -> int:
    con = duckdb.connect(str(folder / "wallet_pipeline.duckdb"), read_only=True)
    try:
        return con.execute(f"select count(*) from raw.{table} where block_date = ?", [day]).fetchone()[0]
    finally:
        con.close()


def _metadata(result: dg.ExecuteInProcessResult, table: str) -> dict:
    event = next(m for m in result.get_asset_materialization_events() if m.asset_key.path == ["raw", table])
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_a_day_pages_through_dune_and_lands_whole_with_its_cost(
    emulator: DuneEmulator, tmp_path: Path
) -> None:
    result = _day(_env(emulator, tmp_path), DAY)
    assert result.success, _failure(result)
    expected = emulator.rows("transactions", DAY)
    assert expected > 250, "the day must need more than one page"
    assert _count(tmp_path, "transactions", DAY) == expected
    assert _count(tmp_path, "token_transfers", DAY) == emulator.rows("token_transfers", DAY)
    meta = _metadata(result, "transactions")
    assert meta["dune_pages"] >= 2
    assert meta["dagster/row_count"] == expected
    assert meta["dune_datapoints"] > 0 and meta["dune_credits"] > 0


def test_a_day_with_a_disperse_call_lands_its_internal_transfers(tmp_path: Path) -> None:
    # Every farm of this chain is funded by one Disperse call: some day has internal transfers.
    topologies = ("--sybil-topologies", "disperse=1")
    with start_emulator(
        tmp_path, seed=11, wallets=1_500, days=5, api_key=KEY, extra_args=topologies
    ) as emulator:
        days = [str(dt.date(2024, 7, 1) + dt.timedelta(days=i)) for i in range(5)]
        day = next(d for d in days if emulator.rows("traces", d) > 0)
        expected = emulator.rows("traces", day)
        result = _day(_env(emulator, tmp_path), day)
    assert result.success, _failure(result)
    assert _count(tmp_path, "traces", day) == expected >= 20
    con = duckdb.connect(str(tmp_path / "wallet_pipeline.duckdb"), read_only=True)
    try:
        # Only internal value-carrying calls come from Dune: no top-level call, nothing without ETH.
        assert con.execute(
            "select count(*) from raw.traces where trace_address is null or value = 0 or trace_type <> 'call'"
        ).fetchone() == (0,)
    finally:
        con.close()


def test_rerunning_a_day_replaces_it_and_leaves_other_days(emulator: DuneEmulator, tmp_path: Path) -> None:
    env = _env(emulator, tmp_path)
    for day in (DAY, OTHER_DAY, DAY):
        assert _day(env, day).success
    assert _count(tmp_path, "transactions", DAY) == emulator.rows("transactions", DAY)
    assert _count(tmp_path, "transactions", OTHER_DAY) == emulator.rows("transactions", OTHER_DAY)


def test_rate_limits_and_server_errors_are_retried_until_the_day_lands(
    emulator: DuneEmulator, tmp_path: Path
) -> None:
    emulator.set_fault({"http_status": 429, "times": 2, "endpoint": "any", "retry_after": 0})
    emulator.set_fault({"http_status": 500, "times": 2, "endpoint": "status"})
    result = _day(_env(emulator, tmp_path), DAY)
    assert result.success, _failure(result)
    assert _count(tmp_path, "transactions", DAY) == emulator.rows("transactions", DAY)
    statuses = [r["status"] for r in emulator.requests()]
    assert statuses.count(429) == 2 and statuses.count(500) == 2


def test_a_failed_execution_fails_the_day_with_dunes_message_and_keeps_what_was_stored(
    emulator: DuneEmulator, tmp_path: Path
) -> None:
    env = _env(emulator, tmp_path)
    assert _day(env, DAY).success
    stored = _count(tmp_path, "token_transfers", DAY)
    message = "line 3:5: Column 'foo' cannot be resolved"
    emulator.set_fault(
        {
            "execution": {
                "query": "dex_trades",
                "day": DAY,
                "state": "QUERY_STATE_FAILED",
                "error": {"type": "FAILED_TYPE_EXECUTION_FAILED", "message": message},
            }
        }
    )
    result = _day(env, DAY)
    assert not result.success
    assert message in _failure(result) and "dex_trades for 2024-07-02" in _failure(result)
    assert _count(tmp_path, "token_transfers", DAY) == stored


def test_a_result_with_other_columns_is_refused_naming_them_and_stores_nothing(
    emulator: DuneEmulator, tmp_path: Path
) -> None:
    emulator.set_fault({"schema": {"query": "transactions", "drop": ["nonce"], "add": {"chain_id": 1}}})
    result = _day(_env(emulator, tmp_path), DAY)
    assert not result.success
    assert "missing ['nonce']; unexpected ['chain_id']" in _failure(result)
    assert not (tmp_path / "wallet_pipeline.duckdb").exists() or _count(tmp_path, "transactions", DAY) == 0


def test_a_malformed_response_fails_clearly(emulator: DuneEmulator, tmp_path: Path) -> None:
    emulator.set_fault({"malformed": {"query": "contract_creations", "kind": "not_json"}})
    result = _day(_env(emulator, tmp_path), DAY)
    assert not result.success
    assert "malformed" in _failure(result) and "contract_creations" in _failure(result)


def test_without_a_key_the_run_says_what_to_set_before_any_request(
    emulator: DuneEmulator, tmp_path: Path
) -> None:
    env = _env(emulator, tmp_path)
    del env["DUNE_API_KEY"]
    result = _day(env, DAY)
    assert not result.success
    assert "DUNE_API_KEY is not set" in _failure(result)
    assert emulator.requests() == []


def test_saved_queries_run_by_id_with_their_parameters(emulator: DuneEmulator, tmp_path: Path) -> None:
    ids = ",".join(f"{name}={qid}" for name, qid in emulator.query_ids.items())
    result = _day(_env(emulator, tmp_path, WALLET_DUNE_QUERY_IDS=ids), DAY)
    assert result.success, _failure(result)
    executed = {r["path"] for r in emulator.requests() if r["path"].endswith("/execute")}
    assert f"/api/v1/query/{emulator.query_ids['transactions']}/execute" in executed
    assert "/api/v1/sql/execute" not in executed
    assert _count(tmp_path, "transactions", DAY) == emulator.rows("transactions", DAY)


def test_a_query_id_that_does_not_exist_fails_clearly(emulator: DuneEmulator, tmp_path: Path) -> None:
    result = _day(_env(emulator, tmp_path, WALLET_DUNE_QUERY_IDS="transactions=424242"), DAY)
    assert not result.success
    assert "HTTP 404" in _failure(result) and "query id" in _failure(result)


def test_days_from_dune_build_wallet_features(emulator: DuneEmulator, tmp_path: Path) -> None:
    env = _env(emulator, tmp_path)
    for day in (DAY, OTHER_DAY):
        assert _day(env, day).success
    result = _run(env, "features_job")
    assert result.success, _failure(result)
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == []
    con = duckdb.connect(str(tmp_path / "wallet_pipeline.duckdb"), read_only=True)
    wallets, with_balance = con.execute(
        "select count(*), count(eth_balance) from marts.wallet_features"
    ).fetchone()
    con.close()
    assert wallets > 0
    assert with_balance == 0, "Dune provides no balances: eth_balance must be unknown, not 0"


def test_partitions_start_at_the_configured_date_and_a_malformed_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from wallet_pipeline import settings

    monkeypatch.setenv("WALLET_DUNE_START_DATE", "2023-03-15")
    assert dg.DailyPartitionsDefinition(start_date=settings.dune_start_date()).start.date() == dt.date(
        2023, 3, 15
    )
    monkeypatch.setenv("WALLET_DUNE_START_DATE", "15/03/2023")
    with pytest.raises(settings.SettingsError, match="WALLET_DUNE_START_DATE"):
        settings.dune_start_date()


def test_the_command_line_loads_a_range_of_dune_days_then_the_features(
    emulator: DuneEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from wallet_pipeline.cli import main

    with pytest.MonkeyPatch.context() as mp:
        for name, value in _env(emulator, tmp_path, DAGSTER_HOME=str(tmp_path / "home")).items():
            mp.setenv(name, value)
        assert main(["materialize"]) == 2
        assert "give --start" in capsys.readouterr().err
        assert main(["materialize", "--start", DAY, "--end", OTHER_DAY]) == 0
    out = capsys.readouterr().out
    assert f"dune_daily_ingestion_job {DAY}" in out and f"dune_daily_ingestion_job {OTHER_DAY}" in out
    assert _count(tmp_path, "transactions", OTHER_DAY) == emulator.rows("transactions", OTHER_DAY)
    assert "marts.wallet_features" in out
