"""The emulator's data: a seeded simulation, answered the way Dune's API would answer our queries.

Every query of `DUNE_QUERIES` reads one raw table. The emulator runs the chain simulator into an
in-memory DuckDB once at start, then answers a query run with the rows of that table (for a daily
query, the rows of one `block_date`; for a live query of `LIVE_QUERIES`, the rows its `.sql` file
picks for its address or addresses, by the DuckDB rendering of that file in `_LIVE_ROWS`),
restricted to the query's columns and formatted as Dune's JSON API formats DuneSQL values:

- varbinary (addresses, hashes, the 4-byte method selector): lower-case `"0x..."` strings;
- timestamps: `"2024-07-01 00:00:11.000 UTC"`;
- the amounts our SQL casts to varchar: strings of exact decimal digits;
- bigint / integer: JSON numbers; double: JSON numbers; NULL: null.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

import duckdb

from wallet_pipeline.logic.ingestion.dune_queries import DUNE_QUERIES, LIVE_QUERIES, DuneQuery
from wallet_pipeline.logic.ingestion.raw_schema import RAW_SCHEMA, RAW_TABLES
from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, load_simulation

# The simulator refuses shorter windows (airdrops and rugs need time to unfold), so a shorter
# emulator window simulates this many days and serves only the first `days` of them.
MIN_SIMULATED_DAYS = 14
DEFAULT_QUERY_ID_BASE = 9_000_001
TIMESTAMP_TYPE = "timestamp(3) with time zone"
# DuneSQL types of the columns whose raw kind does not say it: our SQL cuts call data to a
# varbinary selector, and `case` expressions and `tokens.erc20.decimals` are integers.
_TYPE_OVERRIDES = {
    "input": "varbinary",
    "transaction_type": "integer",
    "receipt_status": "integer",
    "decimals": "integer",
}
_KIND_TYPES = {
    "address": "varbinary",
    "hash": "varbinary",
    "int": "bigint",
    "wei": "varchar",
    "uint256": "varchar",
    "text": "varchar",
    "timestamp": TIMESTAMP_TYPE,
    "date": "date",
    "bool": "boolean",
    "float": "double",
}
# Deterministic order of each query's rows, as its SQL file orders them.
_ORDER_BY = {
    "transactions": ("block_number", "transaction_index"),
    "token_transfers": ("block_number", "log_index"),
    "dex_trades": ("block_number", "evt_index"),
    "nft_trades": ("block_number", "evt_index"),
    "contract_creations": ("block_number", "address"),
    "traces": ("block_number", "transaction_index", "trace_address"),
    "tokens": ("address",),
    "address_labels": ("address", "label_type", "source"),
}


# What a daily query's SQL keeps of its table besides the day: traces.sql reads only internal
# value-carrying calls.
_DAILY_FILTERS = {
    "traces": "and trace_address is not null and trace_type = 'call' and call_type = 'call' and value > 0",
}

# Every query the emulator answers: the pipeline's daily and reference queries, then live analysis's.
ALL_QUERIES: dict[str, DuneQuery] = {**DUNE_QUERIES, **LIVE_QUERIES}

# What each live query's .sql file picks, over the raw tables: `$address` is its address,
# `$addresses` its list. Ties are broken as the DuneSQL breaks them.
_LIVE_ROWS = {
    "live_transactions": (
        "select * from raw.transactions where from_address = $address or to_address = $address"
    ),
    "live_token_transfers": (
        "select * from raw.token_transfers where from_address = $address or to_address = $address"
    ),
    "live_dex_trades": "select * from raw.dex_trades where taker = $address",
    "live_nft_trades": "select * from raw.nft_trades where buyer = $address or seller = $address",
    "live_latest_transaction": (
        "select * from raw.transactions order by block_timestamp desc, transaction_index desc limit 1"
    ),
    "live_context_transactions": """
        select * from raw.transactions where hash in (
            select arg_min(hash, block_number * 100000 + transaction_index) from raw.transactions
            where list_contains($addresses, from_address) group by from_address
            union all
            select arg_min(hash, block_number * 100000 + transaction_index) from raw.transactions
            where list_contains($addresses, to_address) and length(input) >= 10 group by to_address
            union all
            select arg_min(hash, block_number * 100000 + transaction_index) from raw.transactions
            where list_contains($addresses, to_address) and value > 0 and coalesce(receipt_status, 1) <> 0
            group by to_address
        )""",
    "live_funder_transactions": """
        select * from raw.transactions where from_address = $address and value > 0
            and coalesce(receipt_status, 1) <> 0 and to_address is not null""",
    "live_context_token_transfers": """
        select * from raw.token_transfers where list_contains($addresses, token_address)
        qualify row_number() over (partition by token_address order by block_number, log_index) = 1""",
    "live_context_nft_trades": """
        select * from raw.nft_trades where list_contains($addresses, nft_contract_address) and tx_hash in (
            select arg_min(tx_hash, block_number) from raw.nft_trades
            where list_contains($addresses, nft_contract_address) group by nft_contract_address
        )""",
    "live_contract_creations": (
        "select * from raw.contract_creations where list_contains($addresses, address)"
    ),
    "live_tokens": "select * from raw.tokens where list_contains($addresses, address)",
}


def default_query_ids() -> dict[str, int]:
    """The id each query has unless overridden: 9000001 + its position in `ALL_QUERIES`."""
    return {name: DEFAULT_QUERY_ID_BASE + i for i, name in enumerate(ALL_QUERIES)}


def dune_type(query: DuneQuery, column: str) -> str:
    """The DuneSQL type Dune reports for one output column of a query."""
    if column in _TYPE_OVERRIDES:
        return _TYPE_OVERRIDES[column]
    return _KIND_TYPES[RAW_TABLES[query.raw_table].column(column).kind]


def _select_expression(query: DuneQuery, column: str) -> str:
    """SQL that renders one raw column as Dune's JSON API shows it."""
    kind = RAW_TABLES[query.raw_table].column(column).kind
    if column == "input":
        # bytearray_substring(data, 1, 4): "0x" and 8 hex digits.
        return "lower(substring(input, 1, 10))"
    if kind == "timestamp":
        return f"strftime({column}, '%Y-%m-%d %H:%M:%S.%g UTC')"
    if kind in ("wei", "uint256"):
        return f"cast({column} as varchar)"
    if kind in ("address", "hash"):
        return f"lower({column})"
    if kind == "float":
        # JSON has no NaN or infinity; Dune shows such values as null.
        return f"case when isfinite({column}) then {column} end"
    return column


def _live_values(values: dict[str, str]) -> dict[str, object]:
    """A live query's parameters as DuckDB values: `addresses` becomes a list."""
    out: dict[str, object] = {}
    if "address" in values:
        out["address"] = values["address"].strip()
    if "addresses" in values:
        out["addresses"] = [a.strip() for a in values["addresses"].split(",") if a.strip()]
    return out


@dataclass(frozen=True)
class QueryResult:
    """The full result of one query run, before pagination.

    Attributes:
        columns: output column names, in order.
        column_types: DuneSQL type of each column.
        rows: one tuple of JSON-ready values per row, in the query's order.
    """

    columns: tuple[str, ...]
    column_types: tuple[str, ...]
    rows: list[tuple]


class EmulatorData:
    """The simulated chain, queried the way our Dune queries query Dune.

    Args:
        seed: simulator seed.
        wallets: simulator `n_wallets`.
        days: days served, from `start_date`.
        start_date: first simulated day (UTC).
        activity: simulator activity multiplier (more transactions per wallet).
        sybil_topologies: how the simulator funds its sybil farms (`disperse` gives traces).
    """

    def __init__(
        self,
        seed: int,
        wallets: int,
        days: int,
        start_date: dt.date = SimulatorConfig.start_date,
        activity: float = 1.0,
        sybil_topologies: tuple[tuple[str, float], ...] = SimulatorConfig.sybil_topologies,
    ) -> None:
        if days < 1:
            raise ValueError("days must be at least 1")
        self.seed = seed
        self.wallets = wallets
        self.days = days
        self.start_date = start_date
        self.end_date = start_date + dt.timedelta(days=days)
        self._lock = threading.Lock()
        self._con = duckdb.connect()
        config = SimulatorConfig(
            seed=seed,
            n_wallets=wallets,
            start_date=start_date,
            days=max(days, MIN_SIMULATED_DAYS),
            activity=activity,
            sybil_topologies=sybil_topologies,
        )
        load_simulation(self._con, config)
        if days < MIN_SIMULATED_DAYS:
            for query in DUNE_QUERIES.values():
                if query.daily:
                    self._con.execute(
                        f"delete from {RAW_SCHEMA}.{query.raw_table} where block_date >= ?", [self.end_date]
                    )

    def _where(self, query: DuneQuery, day: dt.date | None) -> tuple[str, list]:
        if query.daily:
            if day is None:
                raise ValueError(f"query {query.name!r} needs a day")
            return f"where block_date = ? {_DAILY_FILTERS.get(query.name, '')}", [day]
        return "", []

    def run(
        self,
        query: DuneQuery,
        day: dt.date | None,
        max_rows: int | None,
        values: dict[str, str] | None = None,
    ) -> QueryResult:
        """Rows of one query run, JSON-ready.

        Args:
            query: which query.
            day: the `day` parameter (ignored by non-daily queries).
            max_rows: the `max_rows` parameter; None for no limit.
            values: a live query's `address` or `addresses` (comma-separated) parameter.

        Returns:
            The result, ordered as the query's SQL orders it.
        """
        select = ", ".join(f"{_select_expression(query, c)} as {c}" for c in query.columns)
        order = ", ".join(_ORDER_BY.get(query.name) or _ORDER_BY[query.raw_table])
        limit = "" if max_rows is None else f"limit {int(max_rows)}"
        params: list | dict
        if query.name in _LIVE_ROWS:
            rows_sql = _LIVE_ROWS[query.name]
            params = {k: v for k, v in _live_values(values or {}).items() if f"${k}" in rows_sql}
            sql = f"select {select} from ({rows_sql}) order by {order} {limit}"
        else:
            where, params = self._where(query, day)
            sql = f"select {select} from {RAW_SCHEMA}.{query.raw_table} {where} order by {order} {limit}"
        with self._lock:
            rows = self._con.cursor().execute(sql, params).fetchall()
        return QueryResult(
            columns=query.columns,
            column_types=tuple(dune_type(query, c) for c in query.columns),
            rows=rows,
        )

    def count(self, query: DuneQuery, day: dt.date | None) -> int:
        """How many rows a query has for a day (all rows for a non-daily query), with no limit."""
        where, params = self._where(query, day)
        with self._lock:
            row = (
                self._con.cursor()
                .execute(f"select count(*) from {RAW_SCHEMA}.{query.raw_table} {where}", params)
                .fetchone()
            )
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Release the DuckDB connection."""
        with self._lock:
            self._con.close()
