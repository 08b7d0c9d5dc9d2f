"""The project's DuneSQL queries: what each returns, and how a run of one is parameterized.

Each query is a `.sql` file in `wallet_pipeline/lib/dune_queries/`, written in DuneSQL with Dune's
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

from wallet_pipeline.logic.raw_schema import RAW_TABLES

# The first Ethereum block (genesis) is dated 2015-07-30.
CHAIN_START = dt.date(2015, 7, 30)
MARKER_PATTERN = re.compile(
    r"^-- wallet_pipeline query=(?P<query>[a-z_]+)(?: day=(?P<day>\d{4}-\d{2}-\d{2}))?"
)


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
        return resources.files("wallet_pipeline.lib.dune_queries").joinpath(f"{self.name}.sql").read_text()

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
        _q("tokens", False, "address", "symbol", "decimals"),
        _q("address_labels", False, "address", "label_type", "name", "source"),
    )
}

DAILY_QUERIES = tuple(q for q in DUNE_QUERIES.values() if q.daily)
REFERENCE_QUERIES = tuple(q for q in DUNE_QUERIES.values() if not q.daily)
