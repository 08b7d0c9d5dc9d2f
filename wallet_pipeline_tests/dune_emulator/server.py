"""HTTP side of the Dune emulator: the `/api/v1` routes dune-client calls, and fault injection.

API routes (all need the `x-dune-api-key` header, as on api.dune.com):

- `POST /api/v1/query/{query_id}/execute`, body `{"query_parameters": {...}, "performance": ...}`;
- `POST /api/v1/sql/execute`, body `{"sql": ..., "performance": ...}`; the SQL must open with our
  marker line (`MARKER_PATTERN`), which names the query and day (a live query's marker carries
  `address=0x...` or `addresses=0x...,0x...` instead); `max_rows` is read from the SQL's last
  `limit N`;
- `GET /api/v1/execution/{execution_id}/status`;
- `GET /api/v1/execution/{execution_id}/results` (JSON) and `.../results/csv`, with `limit`,
  `offset` and `columns`; when rows remain, JSON carries `next_offset` / `next_uri` and CSV the
  `x-dune-next-offset` / `x-dune-next-uri` headers, as dune-client reads them;
- `POST /api/v1/execution/{execution_id}/cancel`.

An execution answers `QUERY_STATE_PENDING` for its first `pending_polls` polls (status or results
requests), `QUERY_STATE_EXECUTING` for the next `executing_polls`, then its final state.

Metadata: `datapoint_count` is rows × columns; `result_set_bytes` the length of the rows as
compact JSON arrays; `execution_cost_credits` (status only) is one credit per started 1,000
datapoints of the whole result, `ceil(rows × columns / 1000)`, so an empty result costs nothing.

Control routes (no key, not logged): `POST /_emulator/faults`, `GET /_emulator/faults`,
`POST /_emulator/reset`, `GET /_emulator/requests`, `GET /_emulator/rows?query=...&day=...`,
`GET /_emulator/info`. See `Faults.add` for the fault shapes.
"""

from __future__ import annotations

import csv
import datetime as dt
import hmac
import io
import json
import math
import os
import re
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from wallet_pipeline.logic.ingestion.dune_queries import (
    DUNE_QUERIES,
    MARKER_PATTERN,
    DuneQuery,
    LiveDuneQuery,
)
from wallet_pipeline_tests.dune_emulator.data import ALL_QUERIES, EmulatorData, QueryResult

LOOPBACK = "127.0.0.1"
API_PREFIX = "/api/v1"
CONTROL_PREFIX = "/_emulator"
API_KEY_HEADER = "x-dune-api-key"
NEXT_URI_HEADER = "x-dune-next-uri"
NEXT_OFFSET_HEADER = "x-dune-next-offset"

PENDING = "QUERY_STATE_PENDING"
EXECUTING = "QUERY_STATE_EXECUTING"
COMPLETED = "QUERY_STATE_COMPLETED"
FAILED = "QUERY_STATE_FAILED"
CANCELLED = "QUERY_STATE_CANCELLED"
EXPIRED = "QUERY_STATE_EXPIRED"
TERMINAL_STATES = frozenset({COMPLETED, FAILED, CANCELLED, EXPIRED})
FAULT_STATES = frozenset({FAILED, CANCELLED, EXPIRED})
# Results are kept 90 days on Dune; `expires_at` says so.
RESULT_TTL = dt.timedelta(days=90)
DATAPOINTS_PER_CREDIT = 1_000

HTTP_FAULT_STATUSES = frozenset({429, 500, 502, 503, 504})
ENDPOINTS = frozenset({"execute", "status", "results", "cancel", "any"})
# Bodies as Dune words them (dune-client's DuneError docstring lists the ones seen so far).
_HTTP_FAULT_MESSAGES = {
    429: "Too many requests",
    500: "An internal error occured",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_DEFAULT_ERRORS = {
    FAILED: {"type": "FAILED_TYPE_EXECUTION_FAILED", "message": "Query execution failed"},
}
_MALFORMED_KINDS = frozenset({"not_json", "missing_result"})
_LIMIT_PATTERN = re.compile(r"\blimit\s+(\d+)\s*;?\s*$", re.IGNORECASE)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_EXECUTION_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


class ApiError(Exception):
    """A request the emulator answers with an HTTP error and Dune's `{"error": ...}` body."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _iso(moment: dt.datetime | None) -> str | None:
    """Dune's RFC 3339 timestamps, e.g. `2024-12-20T11:04:18.724658Z`."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _millis(start: dt.datetime | None, end: dt.datetime | None) -> int:
    if start is None or end is None:
        return 0
    return max(0, round((end - start).total_seconds() * 1000))


def new_execution_id() -> str:
    """A ULID like Dune's execution ids: 48 bits of milliseconds and 80 random bits, Crockford base32."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def parse_day(value: Any) -> dt.date:
    """A `day` parameter: `YYYY-MM-DD`, or dune-client's date form `YYYY-MM-DD 00:00:00`."""
    text = str(value).strip()
    try:
        day = dt.date.fromisoformat(text[:10])
    except ValueError as err:
        raise ApiError(400, f"invalid value {text!r} for parameter day: expected YYYY-MM-DD") from err
    if text[10:].strip(" T0:.") != "":
        raise ApiError(400, f"invalid value {text!r} for parameter day: expected a date without time")
    return day


def parse_max_rows(value: Any) -> int:
    """A `max_rows` parameter: a positive integer, as text (dune-client sends strings) or number."""
    try:
        number = int(str(value).strip())
    except ValueError as err:
        raise ApiError(400, f"invalid value {value!r} for parameter max_rows: expected an integer") from err
    if number < 1:
        raise ApiError(400, f"invalid value {value!r} for parameter max_rows: must be positive")
    return number


@dataclass
class Execution:
    """One execution and where it stands.

    Polls (status or results requests) move it on: `pending_polls` polls pending, then
    `executing_polls` executing, then `final_state`.
    """

    execution_id: str
    query: DuneQuery
    query_id: int | None
    day: dt.date | None
    max_rows: int | None
    result: QueryResult
    submitted_at: dt.datetime
    pending_polls: int
    executing_polls: int
    final_state: str = COMPLETED
    error: dict[str, Any] | None = None
    state: str = PENDING
    polls: int = 0
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    cancelled_at: dt.datetime | None = None
    bytes_cache: dict[tuple, int] = field(default_factory=dict, repr=False)

    def poll(self) -> None:
        """Count one poll and move the state on."""
        if self.state in TERMINAL_STATES:
            return
        self.polls += 1
        now = dt.datetime.now(dt.UTC)
        if self.polls <= self.pending_polls:
            self.state = PENDING
            return
        if self.started_at is None:
            self.started_at = now
        if self.polls <= self.pending_polls + self.executing_polls:
            self.state = EXECUTING
            return
        self.state = self.final_state
        self.ended_at = now
        if self.state == CANCELLED:
            self.cancelled_at = now

    def cancel(self) -> bool:
        """Cancel unless already finished; True when it was cancelled."""
        if self.state in TERMINAL_STATES:
            return False
        now = dt.datetime.now(dt.UTC)
        self.state = CANCELLED
        self.cancelled_at = self.ended_at = now
        self.started_at = self.started_at or now
        return True


@dataclass(frozen=True)
class View:
    """The columns a results request sees: the query's, less dropped, plus added constants."""

    columns: tuple[str, ...]
    column_types: tuple[str, ...]
    # For each output column: the index in the result's rows, or None for an added constant.
    sources: tuple[int | None, ...]
    constants: tuple[Any, ...]

    @property
    def key(self) -> tuple:
        # Added constants may be lists or objects, which do not hash; their JSON does.
        return (self.columns, json.dumps(self.constants, sort_keys=True, default=str))

    def project(self, rows: list[tuple]) -> list[list[Any]]:
        return [
            [row[s] if s is not None else c for s, c in zip(self.sources, self.constants, strict=True)]
            for row in rows
        ]


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    return "varchar"


class Faults:
    """Faults the tests inject; they last until reset, except HTTP faults, which count down."""

    def __init__(self) -> None:
        self.http: list[dict[str, Any]] = []
        self.executions: list[dict[str, Any]] = []
        self.schema: dict[str, dict[str, Any]] = {}
        self.malformed: dict[str, str] = {}
        self.pending_polls: int | None = None
        self.executing_polls: int | None = None

    def add(self, fault: dict[str, Any]) -> None:
        """Validate and store one fault.

        Shapes:
            `{"http_status": 429|500|502|503|504, "times": N, "endpoint": "execute"|"status"|
            "results"|"cancel"|"any", "retry_after": seconds}`: the next N matching API requests
            get that status.
            `{"execution": {"query": name, "day": "YYYY-MM-DD"|null, "state": "QUERY_STATE_FAILED"|
            "QUERY_STATE_CANCELLED"|"QUERY_STATE_EXPIRED", "error": {"type": ..., "message": ...}}}`:
            executions of that query (and day) end in that state.
            `{"schema": {"query": name, "drop": [columns], "add": {column: value}}}`: results lack
            or gain those columns (a later schema fault for the query replaces the earlier).
            `{"malformed": {"query": name, "kind": "not_json"|"missing_result"}}`: the JSON results
            endpoint answers 200 with a body that is not JSON, or JSON without `result`.
            `{"pending_polls": N, "executing_polls": M}` (either key): new executions stay pending
            N polls and executing M polls.

        Raises:
            ApiError: the fault is not one of these shapes.
        """
        if not isinstance(fault, dict) or not fault:
            raise ApiError(400, "a fault is a non-empty JSON object")
        if "http_status" in fault:
            self.http.append(self._http_fault(fault))
        elif "execution" in fault:
            self.executions.append(self._execution_fault(fault["execution"]))
        elif "schema" in fault:
            spec = fault["schema"]
            query = self._query(spec)
            drop = spec.get("drop") or []
            add = spec.get("add") or {}
            if not isinstance(drop, list) or not isinstance(add, dict):
                raise ApiError(400, "schema fault: drop is a list of columns, add an object of column: value")
            unknown = set(drop) - set(query.columns)
            if unknown:
                raise ApiError(400, f"schema fault: {query.name} has no columns {sorted(unknown)}")
            self.schema[query.name] = {"drop": list(drop), "add": dict(add)}
        elif "malformed" in fault:
            spec = fault["malformed"]
            query = self._query(spec)
            if spec.get("kind") not in _MALFORMED_KINDS:
                raise ApiError(400, f"malformed fault: kind is one of {sorted(_MALFORMED_KINDS)}")
            self.malformed[query.name] = spec["kind"]
        elif "pending_polls" in fault or "executing_polls" in fault:
            for key in ("pending_polls", "executing_polls"):
                if key in fault:
                    value = fault[key]
                    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                        raise ApiError(400, f"{key} is a non-negative integer")
                    setattr(self, key, value)
        else:
            raise ApiError(400, f"unknown fault {sorted(fault)}")

    @staticmethod
    def _query(spec: Any) -> DuneQuery:
        if not isinstance(spec, dict) or spec.get("query") not in ALL_QUERIES:
            raise ApiError(400, f"a fault names its query, one of {sorted(ALL_QUERIES)}")
        return ALL_QUERIES[spec["query"]]

    @staticmethod
    def _http_fault(fault: dict[str, Any]) -> dict[str, Any]:
        status = fault["http_status"]
        if status not in HTTP_FAULT_STATUSES:
            raise ApiError(400, f"http_status is one of {sorted(HTTP_FAULT_STATUSES)}")
        times = fault.get("times", 1)
        if not isinstance(times, int) or times < 1:
            raise ApiError(400, "times is a positive integer")
        endpoint = fault.get("endpoint", "any")
        if endpoint not in ENDPOINTS:
            raise ApiError(400, f"endpoint is one of {sorted(ENDPOINTS)}")
        retry_after = fault.get("retry_after")
        if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
            raise ApiError(400, "retry_after is a non-negative number of seconds")
        return {"http_status": status, "remaining": times, "endpoint": endpoint, "retry_after": retry_after}

    def _execution_fault(self, spec: Any) -> dict[str, Any]:
        query = self._query(spec)
        day = spec.get("day")
        if day is not None:
            day = parse_day(day).isoformat()
        state = spec.get("state", FAILED)
        if state not in FAULT_STATES:
            raise ApiError(400, f"execution fault: state is one of {sorted(FAULT_STATES)}")
        error = spec.get("error", _DEFAULT_ERRORS.get(state))
        if error is not None and not isinstance(error, dict):
            raise ApiError(400, "execution fault: error is an object with type and message")
        return {"query": query.name, "day": day, "state": state, "error": error}

    def take_http(self, endpoint: str) -> dict[str, Any] | None:
        """The HTTP fault the next request to `endpoint` gets, counting it down."""
        for fault in self.http:
            if fault["remaining"] > 0 and fault["endpoint"] in ("any", endpoint):
                fault["remaining"] -= 1
                return fault
        return None

    def execution_fault(self, query: DuneQuery, day: dt.date | None) -> dict[str, Any] | None:
        """The most recent execution fault matching a run."""
        for fault in reversed(self.executions):
            if fault["query"] == query.name and fault["day"] in (None, day.isoformat() if day else None):
                return fault
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "http": [f for f in self.http if f["remaining"] > 0],
            "executions": self.executions,
            "schema": self.schema,
            "malformed": self.malformed,
            "pending_polls": self.pending_polls,
            "executing_polls": self.executing_polls,
        }


@dataclass
class Response:
    """What a route answers."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(payload, separators=(",", ":")).encode(), headers=headers or {})


class EmulatorState:
    """Everything the server knows: data, key, query ids, executions, faults, request log.

    Args:
        data: the simulated chain.
        api_key: the one valid API key.
        query_ids: query name → Dune query id.
        pending_polls: default polls an execution stays pending.
        executing_polls: default polls an execution stays executing.
    """

    def __init__(
        self,
        data: EmulatorData,
        api_key: str,
        query_ids: dict[str, int],
        pending_polls: int = 1,
        executing_polls: int = 1,
    ) -> None:
        self.data = data
        self.api_key = api_key
        self.query_ids = dict(query_ids)
        self.queries_by_id = {query_id: ALL_QUERIES[name] for name, query_id in query_ids.items()}
        self.default_pending_polls = pending_polls
        self.default_executing_polls = executing_polls
        self.lock = threading.Lock()
        self.executions: dict[str, Execution] = {}
        self.faults = Faults()
        self.request_log: list[dict[str, Any]] = []

    def reset(self) -> None:
        """Forget faults and the request log; executions stay valid."""
        with self.lock:
            self.faults = Faults()
            self.request_log.clear()

    def key_valid(self, key: str | None) -> bool:
        return key is not None and hmac.compare_digest(key.encode(), self.api_key.encode())

    # Executions ---------------------------------------------------------------------------------

    def execute(
        self,
        query: DuneQuery,
        query_id: int | None,
        day: dt.date | None,
        max_rows: int | None,
        values: dict[str, str] | None = None,
    ) -> Execution:
        """Run a query now and register an execution that will report its result."""
        if query.daily and day is None:
            raise ApiError(400, f"query {query.name!r} needs the parameter day")
        values = _live_parameters(query, values or {})
        result = self.data.run(query, day if query.daily else None, max_rows, values)
        with self.lock:
            fault = self.faults.execution_fault(query, day if query.daily else None)
            pending = self.faults.pending_polls
            executing = self.faults.executing_polls
            execution = Execution(
                execution_id=new_execution_id(),
                query=query,
                query_id=query_id,
                day=day if query.daily else None,
                max_rows=max_rows,
                result=result,
                submitted_at=dt.datetime.now(dt.UTC),
                pending_polls=self.default_pending_polls if pending is None else pending,
                executing_polls=self.default_executing_polls if executing is None else executing,
            )
            if fault is not None:
                execution.final_state = fault["state"]
                execution.error = fault["error"]
            self.executions[execution.execution_id] = execution
        return execution

    def execution(self, execution_id: str) -> Execution:
        if not _EXECUTION_ID.match(execution_id):
            raise ApiError(400, f"The requested execution ID (ID: {execution_id}) is invalid.")
        execution = self.executions.get(execution_id)
        if execution is None:
            raise ApiError(404, f"Execution {execution_id} not found")
        return execution

    def view(self, execution: Execution, columns_param: str | None) -> View:
        """The columns served for an execution, after schema faults and the `columns` parameter."""
        result = execution.result
        with self.lock:
            fault = self.faults.schema.get(execution.query.name)
        drop = set(fault["drop"]) if fault else set()
        add = dict(fault["add"]) if fault else {}
        columns: list[str] = []
        types: list[str] = []
        sources: list[int | None] = []
        constants: list[Any] = []
        for i, (name, dune_type) in enumerate(zip(result.columns, result.column_types, strict=True)):
            if name in drop:
                continue
            if name in add:
                # An added column the query already has replaces its values, in its place.
                value = add.pop(name)
                columns.append(name)
                types.append(_json_type(value))
                sources.append(None)
                constants.append(value)
                continue
            columns.append(name)
            types.append(dune_type)
            sources.append(i)
            constants.append(None)
        for name, value in add.items():
            columns.append(name)
            types.append(_json_type(value))
            sources.append(None)
            constants.append(value)
        if columns_param:
            wanted = [c.strip() for c in columns_param.split(",") if c.strip()]
            unknown = [c for c in wanted if c not in columns]
            if unknown:
                raise ApiError(400, f"unknown columns {unknown}; the result has {columns}")
            keep = [columns.index(c) for c in wanted]
            columns = [columns[i] for i in keep]
            types = [types[i] for i in keep]
            sources = [sources[i] for i in keep]
            constants = [constants[i] for i in keep]
        return View(tuple(columns), tuple(types), tuple(sources), tuple(constants))

    def total_bytes(self, execution: Execution, view: View) -> int:
        cached = execution.bytes_cache.get(view.key)
        if cached is None:
            cached = _json_bytes(view.project(execution.result.rows))
            execution.bytes_cache[view.key] = cached
        return cached


_ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")


def _live_parameters(query: DuneQuery, values: dict[str, str]) -> dict[str, str]:
    """A live query's address or addresses, checked as Dune would reject a malformed literal."""
    if not isinstance(query, LiveDuneQuery) or not query.takes:
        return {}
    value = values.get(query.takes)
    if value is None or not str(value).strip():
        raise ApiError(400, f"query {query.name!r} needs the parameter {query.takes}")
    for address in str(value).replace(" ", "").split(","):
        if not _ADDRESS.match(address):
            raise ApiError(400, f"invalid value {address[:60]!r} for parameter {query.takes}: not an address")
    return {query.takes: str(value)}


def _marker_values(sql: str) -> dict[str, str]:
    """`key=value` pairs after the query name on the marker line (a live query's address(es))."""
    first = sql.split("\n", 1)[0]
    return dict(re.findall(r" (address|addresses)=(\S+)", first))


def _json_bytes(rows: list[list[Any]]) -> int:
    return len(json.dumps(rows, separators=(",", ":")).encode())


def credits(datapoints: int) -> float:
    """Execution cost: one credit per started 1,000 datapoints."""
    return float(math.ceil(datapoints / DATAPOINTS_PER_CREDIT))


def _metadata(
    execution: Execution, view: View, page_rows: list[list[Any]] | None, total_bytes: int
) -> dict[str, Any]:
    total = len(execution.result.rows)
    count = total if page_rows is None else len(page_rows)
    page_bytes = total_bytes if page_rows is None else _json_bytes(page_rows)
    return {
        "column_names": list(view.columns),
        "column_types": list(view.column_types),
        "row_count": count,
        "result_set_bytes": page_bytes,
        "total_row_count": total,
        "total_result_set_bytes": total_bytes,
        "datapoint_count": count * len(view.columns),
        "pending_time_millis": _millis(execution.submitted_at, execution.started_at),
        "execution_time_millis": _millis(execution.started_at, execution.ended_at),
    }


def _envelope(execution: Execution) -> dict[str, Any]:
    """Fields status and results share: ids, state, times, error."""
    body: dict[str, Any] = {
        "execution_id": execution.execution_id,
        "query_id": execution.query_id,
        "is_execution_finished": execution.state in TERMINAL_STATES,
        "state": execution.state,
        "submitted_at": _iso(execution.submitted_at),
    }
    if execution.state == COMPLETED and execution.ended_at is not None:
        body["expires_at"] = _iso(execution.ended_at + RESULT_TTL)
    if execution.started_at is not None:
        body["execution_started_at"] = _iso(execution.started_at)
    if execution.ended_at is not None:
        body["execution_ended_at"] = _iso(execution.ended_at)
    if execution.cancelled_at is not None:
        body["cancelled_at"] = _iso(execution.cancelled_at)
    if execution.state == PENDING:
        body["queue_position"] = 1
    if execution.state in TERMINAL_STATES and execution.state != COMPLETED and execution.error:
        body["error"] = execution.error
    return body


class EmulatorServer(ThreadingHTTPServer):
    """A threading HTTP server that holds the emulator state."""

    daemon_threads = True

    def __init__(self, port: int, state: EmulatorState, verbose: bool = False) -> None:
        super().__init__((LOOPBACK, port), Handler)
        self.state = state
        self.verbose = verbose

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def make_server(host: str, port: int, state: EmulatorState, verbose: bool = False) -> EmulatorServer:
    """Bind the emulator on the loopback interface.

    Raises:
        ValueError: `host` is not 127.0.0.1; the emulator serves fake data with a known key and
            must never be reachable from another machine.
    """
    if host != LOOPBACK:
        raise ValueError(f"refusing to bind {host!r}: the Dune emulator listens on {LOOPBACK} only")
    return EmulatorServer(port, state, verbose=verbose)


_ROUTES: tuple[tuple[str, re.Pattern[str], str, str], ...] = (
    ("POST", re.compile(r"^/query/([^/]+)/execute$"), "execute", "execute_query"),
    ("POST", re.compile(r"^/sql/execute$"), "execute", "execute_sql"),
    ("GET", re.compile(r"^/execution/([^/]+)/status$"), "status", "status"),
    ("GET", re.compile(r"^/execution/([^/]+)/results$"), "results", "results"),
    ("GET", re.compile(r"^/execution/([^/]+)/results/csv$"), "results", "results_csv"),
    ("POST", re.compile(r"^/execution/([^/]+)/cancel$"), "cancel", "cancel"),
)


class Handler(BaseHTTPRequestHandler):
    """Answers one request; see the module docstring for the routes."""

    # Keep-alive, as dune-client's requests session pools connections.
    protocol_version = "HTTP/1.1"
    server: EmulatorServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.verbose:
            super().log_message(format, *args)

    # Plumbing -----------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        # The body is read first, whatever the outcome, so a keep-alive connection stays in sync.
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        state = self.server.state
        if url.path.startswith(CONTROL_PREFIX + "/"):
            response = self._guard(
                lambda: self._control(method, url.path[len(CONTROL_PREFIX) :], url.query, raw_body)
            )
            self._send(response)
            return
        key_valid = state.key_valid(self.headers.get(API_KEY_HEADER))
        entry = {
            "method": method,
            "path": url.path,
            "query": url.query,
            "key_valid": key_valid,
            "status": None,
            "time": _iso(dt.datetime.now(dt.UTC)),
        }
        response = self._guard(lambda: self._api(method, url.path, url.query, raw_body, key_valid))
        entry["status"] = response.status
        with state.lock:
            state.request_log.append(entry)
        self._send(response)

    def _guard(self, route: Any) -> Response:
        try:
            return route()
        except ApiError as err:
            return Response.json(err.status, {"error": err.message}, err.headers)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return Response.json(500, {"error": "An internal error occured"})

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def _base_url(self) -> str:
        # next_uri must start with the client's base_url (dune-client asserts it), so it is
        # built from the Host the client used.
        return f"http://{self.headers.get('Host') or f'{LOOPBACK}:{self.server.port}'}"

    # API ----------------------------------------------------------------------------------------

    def _api(self, method: str, path: str, query: str, raw_body: bytes, key_valid: bool) -> Response:
        if not key_valid:
            return Response.json(401, {"error": "invalid API Key"})
        if not path.startswith(API_PREFIX + "/"):
            raise ApiError(404, f"no route {path}")
        route_path = path[len(API_PREFIX) :]
        for route_method, pattern, endpoint, handler_name in _ROUTES:
            match = pattern.match(route_path)
            if not match:
                continue
            if method != route_method:
                raise ApiError(405, f"{method} not allowed on {path}")
            with self.server.state.lock:
                fault = self.server.state.faults.take_http(endpoint)
            if fault is not None:
                status = fault["http_status"]
                headers = {} if fault["retry_after"] is None else {"Retry-After": str(fault["retry_after"])}
                return Response.json(status, {"error": _HTTP_FAULT_MESSAGES[status]}, headers)
            handler = getattr(self, "_" + handler_name)
            return handler(*match.groups(), query=query, body=raw_body)
        raise ApiError(404, f"no route {path}")

    @staticmethod
    def _json_body(raw_body: bytes) -> dict[str, Any]:
        if not raw_body:
            return {}
        try:
            body = json.loads(raw_body)
        except ValueError as err:
            raise ApiError(400, "request body is not valid JSON") from err
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object")
        return body

    def _execute_query(self, query_id_text: str, *, query: str, body: bytes) -> Response:
        del query
        try:
            query_id = int(query_id_text)
        except ValueError as err:
            raise ApiError(400, f"invalid query id {query_id_text!r}") from err
        state = self.server.state
        dune_query = state.queries_by_id.get(query_id)
        if dune_query is None:
            raise ApiError(404, "Query not found")
        params = self._json_body(body).get("query_parameters") or {}
        if not isinstance(params, dict):
            raise ApiError(400, "query_parameters must be an object")
        day = parse_day(params["day"]) if params.get("day") is not None else None
        max_rows = parse_max_rows(params["max_rows"]) if params.get("max_rows") is not None else None
        values = {k: str(params[k]) for k in ("address", "addresses") if params.get(k) is not None}
        execution = state.execute(dune_query, query_id, day, max_rows, values)
        return Response.json(200, {"execution_id": execution.execution_id, "state": PENDING})

    def _execute_sql(self, *, query: str, body: bytes) -> Response:
        del query
        sql = self._json_body(body).get("sql")
        if not isinstance(sql, str) or not sql.strip():
            raise ApiError(400, "sql is required")
        marker = MARKER_PATTERN.match(sql)
        if marker is None:
            raise ApiError(
                400,
                "the emulator runs only wallet_pipeline queries: the SQL must start with "
                "'-- wallet_pipeline query=<name> day=<YYYY-MM-DD>'",
            )
        dune_query = ALL_QUERIES.get(marker["query"])
        if dune_query is None:
            raise ApiError(400, f"unknown query {marker['query']!r} in the marker line")
        day = parse_day(marker["day"]) if marker["day"] else None
        limit = _LIMIT_PATTERN.search(sql.strip())
        max_rows = int(limit.group(1)) if limit else None
        execution = self.server.state.execute(dune_query, None, day, max_rows, _marker_values(sql))
        return Response.json(200, {"execution_id": execution.execution_id, "state": PENDING})

    def _status(self, execution_id: str, *, query: str, body: bytes) -> Response:
        del query, body
        state = self.server.state
        execution = state.execution(execution_id)
        with state.lock:
            execution.poll()
        payload = _envelope(execution)
        if execution.state == COMPLETED:
            view = state.view(execution, None)
            total_bytes = state.total_bytes(execution, view)
            metadata = _metadata(execution, view, None, total_bytes)
            payload["result_metadata"] = metadata
            payload["execution_cost_credits"] = credits(metadata["datapoint_count"])
        elif execution.state in TERMINAL_STATES:
            payload["execution_cost_credits"] = 0.0
        return Response.json(200, payload)

    def _page(
        self, execution: Execution, query: str
    ) -> tuple[View, list[list[Any]], int | None, dict[str, str]]:
        """The page a results request asks for, and the next offset when rows remain."""
        params = dict(parse_qsl(query, keep_blank_values=True))
        for unsupported in ("filters", "sort_by", "sample_count"):
            if params.get(unsupported):
                raise ApiError(400, f"the emulator does not support {unsupported}")
        offset = self._non_negative(params, "offset", 0)
        limit = self._non_negative(params, "limit", None)
        if limit == 0:
            raise ApiError(400, "limit must be positive")
        view = self.server.state.view(execution, params.get("columns"))
        rows = execution.result.rows
        end = len(rows) if limit is None else min(len(rows), offset + limit)
        page = view.project(rows[offset:end])
        next_offset = end if end < len(rows) else None
        return view, page, next_offset, params

    @staticmethod
    def _non_negative(params: dict[str, str], name: str, default: int | None) -> int | None:
        if name not in params or params[name] == "":
            return default
        try:
            value = int(params[name])
        except ValueError as err:
            raise ApiError(400, f"{name} must be an integer") from err
        if value < 0:
            raise ApiError(400, f"{name} must not be negative")
        return value

    def _next_uri(self, execution: Execution, suffix: str, params: dict[str, str], next_offset: int) -> str:
        following = urlencode({**params, "offset": str(next_offset)})
        return f"{self._base_url()}{API_PREFIX}/execution/{execution.execution_id}/{suffix}?{following}"

    def _results(self, execution_id: str, *, query: str, body: bytes) -> Response:
        del body
        state = self.server.state
        execution = state.execution(execution_id)
        with state.lock:
            execution.poll()
            malformed = state.faults.malformed.get(execution.query.name)
        payload = _envelope(execution)
        if execution.state == COMPLETED:
            if malformed == "not_json":
                return Response(200, b"<html><body>upstream hiccup</body></html>", "text/html")
            view, page, next_offset, params = self._page(execution, query)
            if malformed != "missing_result":
                total_bytes = state.total_bytes(execution, view)
                payload["result"] = {
                    "rows": [dict(zip(view.columns, row, strict=True)) for row in page],
                    "metadata": _metadata(execution, view, page, total_bytes),
                }
            if next_offset is not None:
                payload["next_offset"] = next_offset
                payload["next_uri"] = self._next_uri(execution, "results", params, next_offset)
        return Response.json(200, payload)

    def _results_csv(self, execution_id: str, *, query: str, body: bytes) -> Response:
        del body
        state = self.server.state
        execution = state.execution(execution_id)
        with state.lock:
            execution.poll()
        if execution.state != COMPLETED:
            raise ApiError(
                400, f"execution {execution_id} is {execution.state}, not completed: no CSV results"
            )
        view, page, next_offset, params = self._page(execution, query)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(view.columns)
        writer.writerows(["" if v is None else v for v in row] for row in page)
        headers = {}
        if next_offset is not None:
            headers[NEXT_OFFSET_HEADER] = str(next_offset)
            headers[NEXT_URI_HEADER] = self._next_uri(execution, "results/csv", params, next_offset)
        return Response(200, out.getvalue().encode(), "text/csv", headers)

    def _cancel(self, execution_id: str, *, query: str, body: bytes) -> Response:
        del query, body
        state = self.server.state
        execution = state.execution(execution_id)
        with state.lock:
            success = execution.cancel()
        return Response.json(200, {"success": success})

    # Control ------------------------------------------------------------------------------------

    def _control(self, method: str, path: str, query: str, raw_body: bytes) -> Response:
        state = self.server.state
        if method == "POST" and path == "/faults":
            body = self._json_body_any(raw_body)
            faults = body if isinstance(body, list) else [body]
            with state.lock:
                for fault in faults:
                    state.faults.add(fault)
                return Response.json(200, {"ok": True, "faults": state.faults.describe()})
        if method == "GET" and path == "/faults":
            with state.lock:
                return Response.json(200, {"faults": state.faults.describe()})
        if method == "POST" and path == "/reset":
            state.reset()
            return Response.json(200, {"ok": True})
        if method == "GET" and path == "/requests":
            with state.lock:
                return Response.json(200, {"requests": list(state.request_log)})
        if method == "GET" and path == "/rows":
            params = dict(parse_qsl(query))
            dune_query = DUNE_QUERIES.get(params.get("query", ""))
            if dune_query is None:
                raise ApiError(400, f"query is one of {sorted(DUNE_QUERIES)}")
            day = parse_day(params["day"]) if params.get("day") else None
            if dune_query.daily and day is None:
                raise ApiError(400, f"query {dune_query.name!r} needs a day")
            rows = state.data.count(dune_query, day if dune_query.daily else None)
            return Response.json(200, {"query": dune_query.name, "day": params.get("day"), "rows": rows})
        if method == "GET" and path == "/info":
            data = state.data
            return Response.json(
                200,
                {
                    "query_ids": state.query_ids,
                    "seed": data.seed,
                    "wallets": data.wallets,
                    "start_date": data.start_date.isoformat(),
                    "days": data.days,
                    "pending_polls": state.default_pending_polls,
                    "executing_polls": state.default_executing_polls,
                },
            )
        raise ApiError(404, f"no control route {method} {CONTROL_PREFIX}{path}")

    @staticmethod
    def _json_body_any(raw_body: bytes) -> Any:
        try:
            return json.loads(raw_body or b"null")
        except ValueError as err:
            raise ApiError(400, "request body is not valid JSON") from err
