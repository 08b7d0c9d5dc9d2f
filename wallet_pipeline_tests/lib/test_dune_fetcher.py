"""DuneFetcher against the local Dune API emulator: the paths a Dagster run reaches rarely."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from wallet_pipeline.lib.dune import DuneFetcher, DuneRun, DuneSourceError
from wallet_pipeline.logic.ingestion.dune_queries import DUNE_QUERIES
from wallet_pipeline_tests.dune_emulator.fixture import DuneEmulator, start_emulator

DAY = dt.date(2024, 7, 2)


@pytest.fixture(scope="module")
def emulator() -> Iterator[DuneEmulator]:
    with start_emulator(seed=5, wallets=600, days=3, api_key="k") as running:
        yield running


@pytest.fixture
def fetcher(emulator: DuneEmulator) -> Iterator[DuneFetcher]:
    emulator.reset()
    yield DuneFetcher(
        api_key="k", base_url=emulator.base_url, poll_seconds=0.05, page_size=100, retry_budget=5
    )
    emulator.reset()


def _fetch(fetcher: DuneFetcher, query: str = "transactions") -> list[dict]:
    run = DuneRun(query=query, day=DAY)
    return [row for page in fetcher.pages(DUNE_QUERIES[query], DAY, run) for row in page]


def test_an_execution_that_does_not_finish_in_time_is_cancelled(
    emulator: DuneEmulator, fetcher: DuneFetcher
) -> None:
    emulator.set_fault({"pending_polls": 1000})
    fetcher.execution_timeout = 0.3
    with pytest.raises(DuneSourceError, match="did not finish within 0.3 s and was cancelled"):
        _fetch(fetcher)
    assert any(r["path"].endswith("/cancel") for r in emulator.requests())


@pytest.mark.parametrize(
    ("state", "outcome"), [("QUERY_STATE_CANCELLED", "was cancelled"), ("QUERY_STATE_EXPIRED", "expired")]
)
def test_a_cancelled_or_expired_execution_is_an_error_with_dunes_message(
    emulator: DuneEmulator, fetcher: DuneFetcher, state: str, outcome: str
) -> None:
    emulator.set_fault(
        {
            "execution": {
                "query": "transactions",
                "day": None,
                "state": state,
                "error": {"type": "X", "message": "by user"},
            }
        }
    )
    with pytest.raises(DuneSourceError, match=f"transactions for 2024-07-02 {outcome}: by user"):
        _fetch(fetcher)


def test_server_errors_past_the_retry_budget_give_up_with_the_status(
    emulator: DuneEmulator, fetcher: DuneFetcher
) -> None:
    emulator.set_fault({"http_status": 500, "times": 1000, "endpoint": "status"})
    with pytest.raises(DuneSourceError, match=r"HTTP 500 .* gave up after 5 s of retries"):
        _fetch(fetcher)


def test_a_results_body_without_result_is_malformed_not_a_schema_change(
    emulator: DuneEmulator, fetcher: DuneFetcher
) -> None:
    emulator.set_fault({"malformed": {"query": "transactions", "kind": "missing_result"}})
    with pytest.raises(DuneSourceError, match="malformed body: no `result`"):
        _fetch(fetcher)


def test_pages_reassemble_every_row_once(emulator: DuneEmulator, fetcher: DuneFetcher) -> None:
    rows = _fetch(fetcher)
    assert len(rows) == emulator.rows("transactions", DAY) > 100
    assert len({r["hash"] for r in rows}) == len(rows)
