"""Data-quality checks of the raw tables, as SQL that counts the offending rows.

Each check is derived from the contract in `raw_schema`, so a column added there is checked
without writing a new check.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from wallet_pipeline.logic.ingestion.raw_schema import (
    ADDRESS_PATTERN,
    HASH_PATTERN,
    LABEL_TYPES,
    RAW_SCHEMA,
    RawTable,
)

# The Ethereum genesis block is dated 2015-07-30; a block time before it is a parsing error.
GENESIS = "2015-07-30"
# Every integer and wei column of the raw schema counts or measures something: none may be negative.
_NON_NEGATIVE_KINDS = ("int", "wei")


@dataclass(frozen=True)
class RawCheck:
    """A check on one raw table: `sql` returns one row, the count of offending rows."""

    name: str
    description: str
    sql: str


def _where_count(table: RawTable, condition: str) -> str:
    return f"select count(*) from {RAW_SCHEMA}.{table.name} where {condition}"


def checks_for(table: RawTable) -> list[RawCheck]:
    """The checks of one raw table: nulls, duplicate keys, formats, ranges and types."""
    checks = []
    required = table.required_columns
    checks.append(
        RawCheck(
            name="required_columns_not_null",
            description=f"Rows with NULL in a required column ({', '.join(required)}).",
            sql=_where_count(table, " or ".join(f"{c} is null" for c in required)),
        )
    )
    key = ", ".join(table.key)
    checks.append(
        RawCheck(
            name="unique_key",
            description=f"Rows beyond the first for a duplicated key ({key}).",
            sql=(
                f"select coalesce(sum(n - 1), 0) from (select count(*) as n from {RAW_SCHEMA}.{table.name} "
                f"group by {key} having count(*) > 1)"
            ),
        )
    )
    formatted = [c for c in table.columns if c.kind in ("address", "hash")]
    conditions = [
        f"({c.name} is not null and not regexp_full_match({c.name}, "
        f"'{ADDRESS_PATTERN if c.kind == 'address' else HASH_PATTERN}'))"
        for c in formatted
    ]
    checks.append(
        RawCheck(
            name="address_and_hash_format",
            description="Rows with an address or hash that is not lower-case 0x hex of the right length.",
            sql=_where_count(table, " or ".join(conditions) if conditions else "false"),
        )
    )
    checks.append(
        RawCheck(
            name="value_ranges",
            description=(
                "Rows with a negative amount or counter, a time before genesis or in the future, "
                "a receipt status other than 0/1, or a label type outside the vocabulary."
            ),
            sql=_where_count(table, " or ".join(_range_conditions(table)) or "false"),
        )
    )
    return checks


def _range_conditions(table: RawTable) -> list[str]:
    conditions = []
    for c in table.columns:
        if c.kind in _NON_NEGATIVE_KINDS:
            conditions.append(f"{c.name} < 0")
        elif c.kind == "timestamp":
            conditions.append(
                f"{c.name} < timestamp '{GENESIS}' or {c.name} > now()::timestamp + interval 1 day"
            )
        elif c.kind == "uint256":
            conditions.append(f"not regexp_full_match({c.name}, '[0-9]{{1,78}}')")
    if "receipt_status" in table.column_names:
        conditions.append("receipt_status not in (0, 1)")
    if table.name == "address_labels":
        allowed = ", ".join(f"'{t}'" for t in LABEL_TYPES)
        conditions.append(f"label_type not in ({allowed})")
    if table.date_column and table.date_column in table.column_names:
        ts = "block_time" if "block_time" in table.column_names else "block_timestamp"
        conditions.append(f"{table.date_column} <> cast({ts} as date)")
    return conditions


def column_type_mismatches(con: duckdb.DuckDBPyConnection, table: RawTable) -> list[str]:
    """Columns whose DuckDB type differs from the contract, as readable strings."""
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ?",
        [RAW_SCHEMA, table.name],
    ).fetchall()
    actual = {name: dtype.lower() for name, dtype in rows}
    problems = []
    for c in table.columns:
        expected = c.sql_type.lower().replace(" ", "")
        got = actual.get(c.name)
        if got is None:
            problems.append(f"{c.name}: missing, expected {expected}")
        elif got.replace(" ", "") != expected:
            problems.append(f"{c.name}: {got}, expected {expected}")
    return problems


def run_check(con: duckdb.DuckDBPyConnection, check: RawCheck) -> int:
    """Number of rows that fail the check."""
    row = con.execute(check.sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0
