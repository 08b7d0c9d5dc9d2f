"""How we talk to Dune: execute a query for a day, wait for it, page its results, note the cost.

Every call goes through `dune-client`. Its own transport retries 429/502/503/504 a few times
(honouring Retry-After); around it, `DuneFetcher` retries what is still transient (429 and any
5xx, dropped connections) with exponential backoff inside a bounded total time, and turns
everything else into one clear error. The API key is handed to the client and never logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dagster as dg
import requests
from dune_client.client import DuneClient
from dune_client.models import DuneError, ExecutionState
from dune_client.query import QueryBase
from dune_client.types import QueryParameter
from pydantic import Field

from wallet_pipeline.logic.ingestion.dune_queries import DuneQuery

T = TypeVar("T")
log = logging.getLogger(__name__)

_TERMINAL_FAILURES = {
    ExecutionState.FAILED: "failed",
    ExecutionState.CANCELLED: "was cancelled",
    ExecutionState.EXPIRED: "expired",
}


class DuneSourceError(RuntimeError):
    """Dune could not give a query's rows; the message says which query, which day and why."""


class DuneSchemaError(DuneSourceError):
    """A result's columns differ from the columns the query promises."""


class DuneRowCapError(DuneSourceError):
    """A result reached the `max_rows` cap: it would be cut, so it is refused."""


def missing_key_message() -> str:
    """The one line a user without a key sees, before any request is made."""
    return (
        "DUNE_API_KEY is not set: create an API key on dune.com (Settings > API) and "
        "`export DUNE_API_KEY=...`, or choose another source with WALLET_SOURCE=simulator|files."
    )


@dataclass
class DuneRun:
    """What one execution of one query cost and returned."""

    query: str
    day: dt.date | None
    execution_id: str = ""
    rows: int = 0
    pages: int = 0
    datapoints: int | None = None
    credits: float | None = None
    seconds: float = 0.0
    retries: int = 0

    def metadata(self) -> dict[str, Any]:
        """What the run cost and returned, as asset metadata."""
        return {
            "dagster/row_count": self.rows,
            "dune_execution_id": self.execution_id,
            "dune_datapoints": self.datapoints,
            "dune_credits": self.credits,
            "dune_pages": self.pages,
            "dune_seconds": round(self.seconds, 2),
            "dune_retries": self.retries,
        }


@dataclass
class DuneFetcher:
    """Runs the project's queries on Dune through dune-client.

    Attributes:
        api_key: the Dune API key.
        base_url: API root; None means dune-client's default (or `DUNE_API_BASE_URL`).
        query_ids: saved query id per query name; a query without one runs as SQL text.
        page_size: rows per results page; bounds memory per page.
        max_rows: the `max_rows` parameter: a day with more rows is refused, not cut.
        poll_seconds: wait between status polls.
        execution_timeout: seconds an execution may take before it is cancelled.
        retry_budget: total seconds spent retrying transient errors of one call.
        request_timeout: seconds one HTTP request may take.
        network_retries: how often dune-client's transport retries a connection that fails or
            an answer that times out; None keeps its default (5 with backoff: a refused
            connection takes ~15 s to fail). Its retries of 429/502/503/504 stay as they are.
    """

    api_key: str
    base_url: str | None = None
    query_ids: dict[str, int] = field(default_factory=dict)
    page_size: int = 50_000
    max_rows: int = 5_000_000
    poll_seconds: float = 2.0
    execution_timeout: float = 1_800.0
    retry_budget: float = 300.0
    performance: str = "medium"
    request_timeout: float = 60.0
    network_retries: int | None = None
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if not (self.api_key or "").strip():
            raise DuneSourceError(missing_key_message())
        self._client = DuneClient(
            api_key=self.api_key,
            base_url=self.base_url,
            performance=self.performance,
            request_timeout=self.request_timeout,
        )
        if self.network_retries is not None:
            _limit_network_retries(self._client, self.network_retries)

    def pages(self, query: DuneQuery, day: dt.date | None, run: DuneRun) -> Iterator[list[dict[str, Any]]]:
        """Execute `query` for `day` and yield its result rows page by page.

        Raises:
            DuneSourceError: the execution failed, was cancelled, expired or timed out, the
                answer was malformed, or the day holds more rows than `max_rows`.
            DuneSchemaError: a page's columns differ from `query.columns`.
        """
        started = time.monotonic()
        what = f"{query.name}" + (f" for {day.isoformat()}" if day else "")
        execution = self._call(run, what, lambda: self._execute(query, day))
        run.execution_id = execution.execution_id
        status = self._wait(query, day, run, what)
        if status.result_metadata is not None:
            run.datapoints = getattr(status.result_metadata, "datapoint_count", None)
            total = status.result_metadata.total_row_count
            if total is not None and total >= self.max_rows:
                cut = "the day" if day else "the result"
                raise DuneRowCapError(
                    f"Dune returned {total:,} rows of {what}, the max_rows cap: {cut} would be cut. "
                    f"Raise WALLET_DUNE_MAX_ROWS."
                )
        run.credits = getattr(status, "execution_cost_credits", None)
        offset = 0
        while True:
            page = self._call(run, what, lambda off=offset: self._results(run.execution_id, off, what))
            if page.result is None:
                # dune-client accepts a results body without `result` and only fails later.
                raise DuneSourceError(
                    f"Dune answered the results of {what} with a malformed body: no `result`"
                )
            rows = page.result.rows
            columns = list(page.result.metadata.column_names)
            check_columns(query, columns, what)
            run.rows += len(rows)
            run.pages += 1
            if rows:
                yield rows
            if page.next_offset is None or not rows:
                break
            offset = int(page.next_offset)
        run.seconds = time.monotonic() - started

    def _execute(self, query: DuneQuery, day: dt.date | None):  # noqa: ANN202 - dune-client type
        if query.name in self.query_ids:
            params = [QueryParameter.text_type(k, v) for k, v in query.parameters(day, self.max_rows).items()]
            base = QueryBase(query_id=self.query_ids[query.name], params=params)
            return self._client.execute_query(base)
        return self._client.execute_sql(query.rendered(day, self.max_rows))

    def _wait(self, query: DuneQuery, day: dt.date | None, run: DuneRun, what: str):  # noqa: ANN202
        deadline = time.monotonic() + self.execution_timeout
        while True:
            status = self._call(run, what, lambda: self._client.get_execution_status(run.execution_id))
            if status.state == ExecutionState.COMPLETED:
                return status
            if status.state in _TERMINAL_FAILURES:
                message = status.error.message if status.error else "no error message"
                outcome = _TERMINAL_FAILURES[status.state]
                raise DuneSourceError(f"Dune execution {run.execution_id} of {what} {outcome}: {message}")
            if time.monotonic() > deadline:
                self._cancel(run.execution_id)
                raise DuneSourceError(
                    f"Dune execution {run.execution_id} of {what} did not finish within "
                    f"{self.execution_timeout:g} s and was cancelled"
                )
            self.sleep(self.poll_seconds)

    def _results(self, execution_id: str, offset: int, what: str):  # noqa: ANN202
        try:
            return self._client.get_execution_results(
                execution_id, limit=self.page_size, offset=offset, allow_partial_results="false"
            )
        except (DuneError, ValueError, KeyError) as exc:
            # dune-client raises these when the body is not JSON or lacks `result`.
            raise DuneSourceError(
                f"Dune answered the results of {what} with a malformed body: {exc}"
            ) from None

    def _cancel(self, execution_id: str) -> None:
        try:
            self._client.cancel_execution(execution_id)
        except (requests.RequestException, DuneError):
            log.warning("could not cancel Dune execution %s", execution_id)

    def _call(self, run: DuneRun, what: str, fn: Callable[[], T]) -> T:
        """`fn()`, retried on transient errors with backoff until `retry_budget` seconds pass."""
        deadline = time.monotonic() + self.retry_budget
        wait = 1.0
        while True:
            try:
                return fn()
            except (
                requests.HTTPError,
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.RetryError,
            ) as exc:
                status = _status_of(exc)
                if status is not None and status not in (429,) and status < 500:
                    raise DuneSourceError(_http_message(exc, status, what)) from None
                if time.monotonic() + wait > deadline:
                    raise DuneSourceError(
                        f"Dune kept failing for {what} ({_http_message(exc, status, what)}); "
                        f"gave up after {self.retry_budget:g} s of retries"
                    ) from None
                run.retries += 1
                log.warning("Dune %s for %s; retrying in %.0f s", status or type(exc).__name__, what, wait)
                self.sleep(wait)
                wait = min(wait * 2, 60.0)


def _limit_network_retries(client: DuneClient, retries: int) -> None:
    """dune-client's transport, retrying failed connections and reads only `retries` times."""
    from requests.adapters import HTTPAdapter, Retry

    adapter = HTTPAdapter(
        max_retries=Retry(
            total=5,
            connect=retries,
            read=retries,
            backoff_factor=0.5,
            status_forcelist={429, 502, 503, 504},
            allowed_methods={"GET", "POST", "PATCH"},
            raise_on_status=True,
        )
    )
    client.http.mount("https://", adapter)
    client.http.mount("http://", adapter)


def check_columns(query: DuneQuery, columns: list[str], what: str) -> None:
    """Refuse a result whose columns are not the query's, naming the difference."""
    if columns == list(query.columns):
        return
    missing = [c for c in query.columns if c not in columns]
    extra = [c for c in columns if c not in query.columns]
    detail = []
    if missing:
        detail.append(f"missing {missing}")
    if extra:
        detail.append(f"unexpected {extra}")
    if not detail:
        detail.append(f"in another order: {columns}")
    raise DuneSchemaError(
        f"Dune's result for {what} does not have the columns {query.name}.sql promises: "
        + "; ".join(detail)
        + ". Was the saved query edited on Dune?"
    )


def _status_of(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    if response is not None:
        return response.status_code
    # A RetryError is dune-client's transport giving up on 429/502/503/504: transient.
    return None


def _http_message(exc: Exception, status: int | None, what: str) -> str:
    response = getattr(exc, "response", None)
    body = ""
    if response is not None:
        try:
            body = str(response.json().get("error", ""))
        except ValueError:
            body = response.text[:200]
    hint = {401: " (check DUNE_API_KEY)", 403: " (the key lacks access)", 404: " (does the query id exist?)"}
    label = f"HTTP {status}" if status else type(exc).__name__
    return f"{label} from Dune for {what}{hint.get(status or 0, '')}" + (f": {body}" if body else "")


class DuneResource(dg.ConfigurableResource):
    """Dune access for assets: the key from `DUNE_API_KEY`, the rest from settings."""

    api_key: str = Field(default="", description="Dune API key; set DUNE_API_KEY, never in config.")
    base_url: str | None = Field(default=None, description="API root; default Dune's (or DUNE_API_BASE_URL).")
    query_ids: dict[str, int] = Field(default_factory=dict, description="Saved query id per query name.")
    page_size: int = Field(default=50_000, description="Rows per results page.")
    max_rows: int = Field(default=5_000_000, description="Most rows one query may return for a day.")
    poll_seconds: float = Field(default=2.0, description="Seconds between status polls.")
    execution_timeout: float = Field(default=1_800.0, description="Seconds before an execution is cancelled.")
    retry_budget: float = Field(default=300.0, description="Seconds of retries for one call.")

    def fetcher(self) -> DuneFetcher:
        """A fetcher; raises the one-line 'set DUNE_API_KEY' error before any request."""
        return DuneFetcher(
            api_key=self.api_key,
            base_url=self.base_url,
            query_ids=dict(self.query_ids),
            page_size=self.page_size,
            max_rows=self.max_rows,
            poll_seconds=self.poll_seconds,
            execution_timeout=self.execution_timeout,
            retry_budget=self.retry_budget,
        )
