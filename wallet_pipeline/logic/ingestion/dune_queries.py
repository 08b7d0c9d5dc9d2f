"""The project's DuneSQL queries: what each returns, and how a run of one is parameterized.

Each query is a `.sql` file in `wallet_pipeline/logic/ingestion/dune_sql/`, written in DuneSQL with Dune's
`{{parameter}}` syntax. Its output columns are named as the raw table's, so this module is the one
place where Dune's tables meet the raw schema. The queries can run two ways:

- by id: the user saved the file's text as a Dune query; the run passes `day` and `max_rows` as
  query parameters;
- as text: the file's parameters are rendered into the SQL (validated first: a date and an
  integer, never free text) and sent to Dune's execute-SQL endpoint, which takes no parameters.

Either way the first line of the SQL run is a marker comment naming the query and day, so Dune's
query history shows what each execution was for.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from importlib import resources

from wallet_pipeline.logic.ingestion.raw_schema import RAW_TABLES

# The first Ethereum block (genesis) is dated 2015-07-30.
CHAIN_START = dt.date(2015, 7, 30)
MARKER_PATTERN = re.compile(
    r"^-- wallet_pipeline query=(?P<query>[a-z_]+)(?: day=(?P<day>\d{4}-\d{2}-\d{2}))?"
)

SQL_PACKAGE = "wallet_pipeline.logic.ingestion.dune_sql"


class DuneQueryError(ValueError):
    """A query run asked for something the queries cannot give (a day outside the chain, ...)."""


@dataclass(frozen=True)
class DuneQuery:
    """One of the project's Dune queries.

    Attributes:
        name: the query's name, also its file name and its raw table's name.
        daily: the query takes a `day` parameter and returns that UTC day's rows.
        columns: the columns the query returns, in order; each is a column of the raw table.
    """

    name: str
    daily: bool
    columns: tuple[str, ...]

    @property
    def raw_table(self) -> str:
        return self.name

    def sql(self) -> str:
        """The query's DuneSQL text with `{{day}}` and `{{max_rows}}` parameters."""
        return resources.files(SQL_PACKAGE).joinpath(f"{self.name}.sql").read_text()

    def parameters(self, day: dt.date | None, max_rows: int) -> dict[str, str]:
        """Validated parameter values for a run."""
        if self.daily:
            if day is None:
                raise DuneQueryError(f"query {self.name!r} needs a day")
            check_day(day)
        if max_rows < 1:
            raise DuneQueryError(f"max_rows must be positive, not {max_rows}")
        values = {"max_rows": str(int(max_rows))}
        if self.daily and day is not None:
            values["day"] = day.isoformat()
        return values

    def marker(self, day: dt.date | None) -> str:
        """The comment that opens every run of the query."""
        return f"-- wallet_pipeline query={self.name}" + (f" day={day.isoformat()}" if day else "")

    def rendered(self, day: dt.date | None, max_rows: int) -> str:
        """The SQL with parameters filled in, for the execute-SQL endpoint."""
        text = self.sql()
        for key, value in self.parameters(day, max_rows).items():
            text = text.replace("{{" + key + "}}", value)
        leftover = re.findall(r"\{\{(\w+)\}\}", text)
        if leftover:
            raise DuneQueryError(f"query {self.name!r} has parameters nobody fills: {leftover}")
        return f"{self.marker(day)}\n{text}"


def check_day(day: dt.date, today: dt.date | None = None) -> None:
    """A day the chain has data for: from genesis to today (UTC)."""
    today = today or dt.datetime.now(dt.UTC).date()
    if not CHAIN_START <= day <= today:
        raise DuneQueryError(
            f"{day.isoformat()} is outside Ethereum's history "
            f"({CHAIN_START.isoformat()} to {today.isoformat()})"
        )


def _q(name: str, daily: bool, *columns: str) -> DuneQuery:
    unknown = set(columns) - set(RAW_TABLES[name].column_names)
    if unknown:
        raise AssertionError(f"{name}.sql returns columns raw.{name} does not have: {sorted(unknown)}")
    return DuneQuery(name=name, daily=daily, columns=columns)


DUNE_QUERIES: dict[str, DuneQuery] = {
    q.name: q
    for q in (
        _q(
            "transactions",
            True,
            "hash",
            "nonce",
            "block_hash",
            "block_number",
            "transaction_index",
            "from_address",
            "to_address",
            "value",
            "gas",
            "gas_price",
            "input",
            "block_timestamp",
            "max_fee_per_gas",
            "max_priority_fee_per_gas",
            "transaction_type",
            "receipt_status",
            "receipt_gas_used",
            "receipt_effective_gas_price",
        ),
        _q(
            "token_transfers",
            True,
            "token_address",
            "from_address",
            "to_address",
            "value",
            "transaction_hash",
            "log_index",
            "block_number",
            "block_timestamp",
        ),
        _q(
            "dex_trades",
            True,
            "block_time",
            "block_number",
            "tx_hash",
            "evt_index",
            "project",
            "taker",
            "token_bought_address",
            "token_sold_address",
            "token_bought_amount_raw",
            "token_sold_amount_raw",
            "amount_usd",
            "tx_from",
            "tx_to",
            "project_contract_address",
        ),
        _q(
            "nft_trades",
            True,
            "block_time",
            "block_number",
            "tx_hash",
            "evt_index",
            "project",
            "nft_contract_address",
            "token_id",
            "token_standard",
            "buyer",
            "seller",
            "amount_raw",
            "currency_symbol",
            "amount_usd",
            "tx_from",
            "tx_to",
        ),
        _q(
            "contract_creations",
            True,
            "address",
            "creator_address",
            "transaction_hash",
            "block_number",
            "block_timestamp",
        ),
        _q(
            "traces",
            True,
            "transaction_hash",
            "transaction_index",
            "trace_address",
            "block_number",
            "block_timestamp",
            "from_address",
            "to_address",
            "value",
            "trace_type",
            "call_type",
            "status",
            "error",
        ),
        _q("tokens", False, "address", "symbol", "decimals"),
        _q("address_labels", False, "address", "label_type", "name", "source"),
    )
}

DAILY_QUERIES = tuple(q for q in DUNE_QUERIES.values() if q.daily)
REFERENCE_QUERIES = tuple(q for q in DUNE_QUERIES.values() if not q.daily)


# --- Live analysis: the activity of one address, whatever its day. ---

ADDRESS_PATTERN = re.compile(r"^0x[0-9a-f]{40}$")
# Addresses per execution of a list query. The list is written into the SQL (or a text
# parameter): a thousand addresses are ~43 kB of query text, well within what Dune accepts; a
# longer list is split over several executions.
MAX_LIST_ADDRESSES = 1_000


@dataclass(frozen=True)
class LiveDuneQuery(DuneQuery):
    """An address-filtered query of live analysis (`live_*.sql`), bound to its address(es).

    Attributes:
        table: the raw table its rows belong to (several live queries fill one table).
        takes: its parameter besides `max_rows`: "address" (one wallet), "addresses" (a list,
            written comma-separated as DuneSQL varbinary literals) or "" (none).
        values: the bound parameter values, set by `bind`.
    """

    table: str = ""
    takes: str = ""
    values: tuple[tuple[str, str], ...] = ()

    @property
    def raw_table(self) -> str:
        return self.table

    def bind(self, address: str | None = None, addresses: list[str] | None = None) -> LiveDuneQuery:
        """The query with its parameter filled; every address is checked (0x + 40 lower-case hex)."""
        if self.takes == "address":
            if address is None:
                raise DuneQueryError(f"query {self.name!r} needs an address")
            value = _checked_address(address)
        elif self.takes == "addresses":
            if not addresses:
                raise DuneQueryError(f"query {self.name!r} needs at least one address")
            if len(addresses) > MAX_LIST_ADDRESSES:
                raise DuneQueryError(
                    f"query {self.name!r} takes at most {MAX_LIST_ADDRESSES} addresses, not {len(addresses)}"
                )
            value = ", ".join(_checked_address(a) for a in addresses)
        else:
            return self
        return LiveDuneQuery(self.name, False, self.columns, self.table, self.takes, ((self.takes, value),))

    def parameters(self, day: dt.date | None, max_rows: int) -> dict[str, str]:
        if self.takes and not self.values:
            raise DuneQueryError(f"query {self.name!r} is not bound to its {self.takes}")
        values = {**super().parameters(None, max_rows), **dict(self.values)}
        if "{{max_rows}}" not in self.sql():
            # A query of a fixed size (the newest transaction) declares no row cap on Dune.
            del values["max_rows"]
        return values

    def marker(self, day: dt.date | None) -> str:
        bound = " ".join(f"{k}={v.replace(', ', ',')}" for k, v in self.values)
        return f"-- wallet_pipeline query={self.name}" + (f" {bound}" if bound else "")


def _checked_address(address: str) -> str:
    if not ADDRESS_PATTERN.match(address):
        raise DuneQueryError(f"{address[:60]!r} is not an address (0x and 40 lower-case hex digits)")
    return address


def _live(name: str, table: str, takes: str) -> LiveDuneQuery:
    # The same columns as the daily query of the table, so both fill the raw table alike.
    columns = DUNE_QUERIES[table].columns
    return LiveDuneQuery(name=name, daily=False, columns=columns, table=table, takes=takes)


LIVE_QUERIES: dict[str, LiveDuneQuery] = {
    q.name: q
    for q in (
        # The wallet's own rows.
        _live("live_transactions", "transactions", "address"),
        _live("live_token_transfers", "token_transfers", "address"),
        _live("live_dex_trades", "dex_trades", "address"),
        _live("live_nft_trades", "nft_trades", "address"),
        # The newest transaction: ages are measured to it, as the batch measures them.
        _live("live_latest_transaction", "transactions", ""),
        # Context of the addresses the wallet's rows name: enough to classify them as the dbt
        # models classify them over the whole chain.
        _live("live_context_transactions", "transactions", "addresses"),
        # Every ETH transfer of the wallet's first funder: its funding bursts.
        _live("live_funder_transactions", "transactions", "address"),
        _live("live_context_token_transfers", "token_transfers", "addresses"),
        _live("live_context_nft_trades", "nft_trades", "addresses"),
        _live("live_contract_creations", "contract_creations", "addresses"),
        _live("live_tokens", "tokens", "addresses"),
    )
}
