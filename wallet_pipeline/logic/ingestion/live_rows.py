"""Which rows live analysis fetches for one address, and how it merges them: no I/O beyond DuckDB.

Live analysis (`lib/live_wallet.py`) rebuilds one wallet's features from its source. A feature of
one wallet depends on rows beyond the wallet's own (whom it paid, its tokens, its first funder's
other fundings, the data's horizon); this module says which, as SQL over raw-shaped rows that
either source (an ethereum-etl export read through `etl_files/subset.py`, or Dune's `live_*`
queries) answers. See `lib/live_wallet.py` for the three fetch rounds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import duckdb

from wallet_pipeline.logic.ingestion.dune_queries import LIVE_QUERIES, MAX_LIST_ADDRESSES, LiveDuneQuery
from wallet_pipeline.logic.ingestion.etl_files.specs import MAINNET_LAUNCH
from wallet_pipeline.logic.ingestion.etl_files.sql import LATEST_TIME, timestamp_value
from wallet_pipeline.logic.ingestion.etl_files.subset import FilesSubset, Pick
from wallet_pipeline.logic.ingestion.raw_schema import RAW_SCHEMA, RAW_TABLES, ZERO_ADDRESS
from wallet_pipeline.logic.ingestion.raw_store import RawLoad

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
# The tables the Dune source provides in the batch; balances it has not (eth_balance is NULL).
DUNE_TABLES = ("transactions", "token_transfers", "dex_trades", "nft_trades", "contract_creations", "tokens")
# A funder with more ETH transfers than this is a hub: fetching them all, and the first
# transactions of everyone it paid, costs more than a live answer may.
LIVE_FUNDER_SENDS_CAP = 1_000


class SourceUnavailable(RuntimeError):
    """The source cannot be reached or answered with an error; the message says why (no secrets)."""


class WalletNotInSource(LookupError):
    """The source answered but holds no activity of the address."""


class NoLiveSource(WalletNotInSource):
    """The configured source cannot be asked about one address (the simulator)."""


def normalise_address(address: str) -> str:
    """The address in lower case; ValueError when it is not 0x and 40 hex digits."""
    candidate = str(address).strip()
    if not ADDRESS.match(candidate):
        raise ValueError(f"{candidate[:100]!r} is not an Ethereum address: expected 0x and 40 hex digits")
    return candidate.lower()


@dataclass(frozen=True)
class Context:
    """Addresses the wallet's own rows name, whose context the later rounds fetch.

    Attributes:
        paid: addresses the wallet sent a transaction or a token to (forwarding needs to know
            which of them are contracts).
        tokens: tokens the wallet sent or received (their standard and decimals).
        funder: the sender of the wallet's first ETH, whose other fundings make its funding burst.
    """

    paid: tuple[str, ...]
    tokens: tuple[str, ...]
    funder: str | None


# Type-agnostic SQL over raw-shaped rows, typed (Dune) or as the export's text (files).
_NUMBER = "try_cast(try_cast(cast({} as varchar) as double) as bigint)"
_CHAIN_ORDER = f"{_NUMBER.format('block_number')}, {_NUMBER.format('transaction_index')}"
# A transaction that moved ETH as int_funding_aggregated_to_wallets counts it: some value, not
# reverted (an unknown status counts), to an address.
_MOVES_ETH = (
    "try_cast(cast(value as varchar) as double) > 0 "
    "and coalesce(try_cast(cast(receipt_status as varchar) as double), 1) <> 0 and to_address is not null"
)
_VALID = "regexp_full_match(a, '0x[0-9a-f]{40}')"
# Features that need the funder's other fundings; with too many of them they are not fetched.
FUNDER_FEATURES = ("funding_burst_size", "funding_cohort_size")
# Features measured against the whole data, which one wallet's fetch cannot see: an address is a
# collecting one when its distinct payers reach the 99th percentile of every paid address's.
POPULATION_FEATURES = ("collector_payment_share",)
POPULATION_REASON = (
    "needs every address's number of payers in the whole data (a collecting address is paid by as "
    "many as the top 1%), which a single wallet's fetch does not hold; left unknown"
)


def context_of(con: duckdb.DuckDBPyConnection, wallet: str, transactions: str, transfers: str) -> Context:
    """The context of the wallet's rows in the tables `transactions` and `transfers`.

    Addresses are compared lower-cased and anything that is not an address is left out.
    """
    paid = con.execute(
        f"""
        select distinct a from (
            select lower(to_address) as a from {transactions} where lower(from_address) = $w
            union all
            select lower(to_address) from {transfers} where lower(from_address) = $w
        ) where {_VALID} and a <> $w and a <> $zero order by a
        """,
        {"w": wallet, "zero": ZERO_ADDRESS},
    ).fetchall()
    tokens = con.execute(
        f"""
        select distinct a from (
            select lower(token_address) as a from {transfers}
            where lower(from_address) = $w or lower(to_address) = $w
        ) where {_VALID} order by a
        """,
        {"w": wallet},
    ).fetchall()
    funder = con.execute(
        f"""
        select a from (
            select lower(from_address) as a from {transactions}
            where lower(to_address) = $w and {_MOVES_ETH}
            order by {_CHAIN_ORDER} limit 1
        ) where {_VALID}
        """,
        {"w": wallet},
    ).fetchone()
    return Context(
        paid=tuple(r[0] for r in paid),
        tokens=tuple(r[0] for r in tokens),
        funder=funder[0] if funder else None,
    )


def funded_by(con: duckdb.DuckDBPyConnection, funder: str, transactions: str) -> tuple[str, ...]:
    """Addresses `funder` sent ETH to, in `transactions`: candidates of its funding bursts."""
    rows = con.execute(
        f"""
        select distinct a from (
            select lower(to_address) as a from {transactions} where lower(from_address) = $f and {_MOVES_ETH}
        ) where {_VALID} order by a
        """,
        {"f": funder},
    ).fetchall()
    return tuple(r[0] for r in rows)


def involved(con: duckdb.DuckDBPyConnection, wallet: str) -> bool:
    """Whether any loaded row names the wallet as a party, a token or a created contract."""
    checks = (
        ("transactions", "from_address = $w or to_address = $w"),
        ("token_transfers", "from_address = $w or to_address = $w or token_address = $w"),
        ("dex_trades", "taker = $w"),
        ("nft_trades", "buyer = $w or seller = $w"),
        ("contract_creations", "address = $w"),
    )
    sql = " union all ".join(
        f"select 1 from (select 1 from {RAW_SCHEMA}.{t} where {w} limit 1)" for t, w in checks
    )
    return bool(con.execute(sql, {"w": wallet}).fetchall())


def funder_gap(funder: str, cap: int) -> dict[str, str]:
    """Why the funding features are inexact when the first funder has too many fundings to fetch."""
    reason = (
        f"computed without the other fundings of the wallet's first funder {funder}, which sent ETH "
        f"more than {cap:,} times (an exchange or another hub), so its burst is mostly missing"
    )
    return {name: reason for name in FUNDER_FEATURES}


def pick_files_rows(
    con: duckdb.DuckDBPyConnection, subset: FilesSubset, wallet: str, funder_cap: int
) -> dict[str, str]:
    """Keep the wallet's rows and their context; the features the context could not cover."""
    w = f"'{wallet}'"  # checked: 0x and 40 hex digits

    def is_w(column: str) -> str:
        return f"lower({column}) = {w}"

    subset.keep(
        "transactions",
        Pick(f"{is_w('from_address')} or {is_w('to_address')} or {is_w('receipt_contract_address')}"),
    )
    # A token's own Transfer events date its activity (first_seen / last_seen of a token contract).
    subset.keep(
        "token_transfers", Pick(f"{is_w('from_address')} or {is_w('to_address')} or {is_w('token_address')}")
    )
    subset.keep("dex_trades", Pick(is_w("taker")))
    subset.keep("nft_trades", Pick(f"{is_w('buyer')} or {is_w('seller')}"))
    subset.keep("balances", Pick(is_w("address")))
    subset.keep("labels", Pick(is_w("address")))
    # The newest transaction the batch would load: its time is the data's horizon.
    ts = timestamp_value("block_timestamp")
    subset.keep_newest(
        "transactions",
        f"case when {ts} >= timestamp '{MAINNET_LAUNCH}' and {ts} < timestamp '{LATEST_TIME}' then {ts} end",
    )

    context = context_of(con, wallet, subset.kept("transactions"), subset.kept("token_transfers"))
    paid = address_table(con, "__live_paid", context.paid)
    tokens = address_table(con, "__live_tokens", context.tokens)
    subset.keep(
        "token_transfers",
        Pick(f"lower(token_address) in (select a from {paid} union all select {w})", "lower(token_address)"),
    )
    subset.keep(
        "contracts",
        Pick(
            f"lower(address) in (select a from {paid} union all select a from {tokens} union all select {w})"
        ),
    )
    subset.keep("nft_trades", Pick(f"lower(nft_contract_address) in {tokens}", "lower(nft_contract_address)"))
    subset.keep("tokens", Pick(f"lower(address) in {tokens}"))
    funder = f"'{context.funder}'" if context.funder else "null"
    _, _, _, funder_sends = subset.keep(
        "transactions",
        Pick(f"lower(from_address) in {paid}", "lower(from_address)"),
        Pick(f"lower(to_address) in {paid} and length(input) >= 10", "lower(to_address)"),
        # ethereum-etl token transfers carry no time: the loader takes their block's, else
        # their transaction's, so both come along.
        Pick(f"lower(hash) in (select lower(transaction_hash) from {subset.kept('token_transfers')})"),
        Pick(f"lower(from_address) = {funder} and {_MOVES_ETH}", cap=funder_cap),
    )
    gaps = funder_gap(context.funder, funder_cap) if context.funder and funder_sends is None else {}
    if context.funder and funder_sends is not None:
        # Whether each address the funder paid was freshly funded by it: its first ETH received
        # and its first transaction sent, in chain order.
        funded = address_table(
            con, "__live_funded", funded_by(con, context.funder, subset.kept("transactions"))
        )
        subset.keep(
            "transactions",
            Pick(f"lower(from_address) in {funded}", "lower(from_address)", _CHAIN_ORDER),
            Pick(f"lower(to_address) in {funded} and {_MOVES_ETH}", "lower(to_address)", _CHAIN_ORDER),
        )
    number = "try_cast(nullif(regexp_extract({}, '^([0-9]+)(\\.0*)?$', 1), '') as bigint)"
    blocks = " union all ".join(
        f"select {number.format('block_number')} from {subset.kept(t)}"
        for t in ("transactions", "token_transfers", "contracts")
        if subset.has(t)
    )
    subset.keep("blocks", Pick(f"{number.format('number')} in ({blocks})"))
    return gaps


def address_table(con: duckdb.DuckDBPyConnection, name: str, addresses: tuple[str, ...]) -> str:
    """A temporary one-column table of `addresses`, as a subquery to use in `in (...)`."""
    con.execute(f"create or replace temp table {name} (a varchar)")
    if addresses:
        con.executemany(f"insert into {name} values (?)", [[a] for a in addresses])
    return f"(select a from {name})"


OWN_QUERIES = ("live_transactions", "live_token_transfers", "live_dex_trades", "live_nft_trades")


def list_queries(*lists: tuple[str, tuple[str, ...]]) -> list[LiveDuneQuery]:
    """Each list query bound to its addresses, split into executions of at most MAX_LIST_ADDRESSES."""
    queries = []
    for name, addresses in lists:
        unique = sorted(set(addresses))
        for start in range(0, len(unique), MAX_LIST_ADDRESSES):
            queries.append(LIVE_QUERIES[name].bind(addresses=unique[start : start + MAX_LIST_ADDRESSES]))
    return queries


def drop_repeated_keys(load: RawLoad) -> None:
    """Keep one row per key.

    The two rounds may fetch one row twice: a paid address's first transaction sent can be one
    the wallet received.
    """
    for name in DUNE_TABLES:
        keys = ", ".join(RAW_TABLES[name].key)
        staged = load.staged(name)
        load.con.execute(
            f"delete from {staged} where rowid in (select rowid from (select rowid, row_number() "
            f"over (partition by {keys} order by rowid) as n from {staged}) where n > 1)"
        )
        row = load.con.execute(f"select count(*) from {staged}").fetchone()
        load.row_counts[name] = int(row[0]) if row else 0


def features_of(con: duckdb.DuckDBPyConnection, wallet: str) -> dict[str, Any] | None:
    """The wallet's `marts.wallet_features` row as {column: value}, or None."""
    cursor = con.execute("select * from marts.wallet_features where address = ?", [wallet])
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cursor.description], row, strict=True))
