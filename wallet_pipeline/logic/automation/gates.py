"""Quality gates on the tables users read: each is a SQL measurement and a verdict with its reason.

The checks in `defs/automation/gates.py` run them after every materialization and block what is
downstream (the published snapshot included) when one fails, so readers keep the last good data.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class GateResult:
    """A gate's verdict, the figures behind it, and one line saying why."""

    passed: bool
    reason: str
    figures: dict


def _check_share(name: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be a share between 0 and 1, not {value}")


def row_count_gate(current: int, previous: int | None, max_drop: float) -> GateResult:
    """Fails when the row count fell by more than `max_drop` of the previous run's count.

    No previous count (a first run) passes; a table that grows or shrinks a little passes.
    """
    _check_share("max_drop", max_drop)
    if previous is None or previous == 0:
        return GateResult(True, "no earlier row count to compare with", {"rows": current})
    drop = (previous - current) / previous
    figures = {"rows": current, "previous_rows": previous, "drop": round(drop, 4), "max_drop": max_drop}
    if drop > max_drop:
        return GateResult(
            False, f"rows fell from {previous:,} to {current:,} ({drop:.0%} > {max_drop:.0%})", figures
        )
    return GateResult(True, f"{current:,} rows (previous {previous:,})", figures)


def duplicate_key_gate(con: duckdb.DuckDBPyConnection, table: str, keys: tuple[str, ...]) -> GateResult:
    """Fails when two rows share a key."""
    cols = ", ".join(keys)
    dupes, example = con.execute(
        f"select count(*), any_value(k) from (select {cols}, concat_ws('|', {cols}) k from {table} "
        f"group by all having count(*) > 1)"
    ).fetchone()
    figures = {"duplicate_keys": int(dupes), "example": example or "none"}
    if dupes:
        return GateResult(
            False, f"{dupes:,} values of ({cols}) occur more than once, e.g. {example}", figures
        )
    return GateResult(True, f"({cols}) is unique", figures)


def null_gate(
    con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...], max_null_share: float
) -> GateResult:
    """Fails when a column's share of NULLs is above `max_null_share` (0: none allowed)."""
    _check_share("max_null_share", max_null_share)
    counts = ", ".join(f"count(*) filter (where {c} is null)" for c in columns)
    row = con.execute(f"select count(*), {counts} from {table}").fetchone()
    total, nulls = row[0], dict(zip(columns, row[1:], strict=True))
    shares = {c: (n / total if total else 0.0) for c, n in nulls.items()}
    bad = {c: s for c, s in shares.items() if s > max_null_share}
    figures = {"rows": total, **{f"null_share_{c}": round(s, 4) for c, s in shares.items()}}
    if bad:
        worst = max(bad, key=bad.get)
        return GateResult(
            False, f"{worst} is NULL in {bad[worst]:.1%} of rows (allowed {max_null_share:.1%})", figures
        )
    return GateResult(True, f"NULL shares within {max_null_share:.1%}", figures)


def one_value_gate(
    con: duckdb.DuckDBPyConnection, table: str, column: str, max_share: float, where: str = "true"
) -> GateResult:
    """Fails when one value of `column` holds more than `max_share` of the rows (all in one persona)."""
    _check_share("max_share", max_share)
    row = con.execute(
        f"select {column}, count(*) n, sum(count(*)) over () total from {table} where {where} "
        f"group by 1 order by n desc, 1 limit 1"
    ).fetchone()
    if row is None:
        return GateResult(True, "no rows", {"rows": 0})
    value, n, total = row
    share = n / total
    figures = {"largest_value": str(value), "largest_share": round(share, 4), "max_share": max_share}
    if share > max_share:
        return GateResult(False, f"{share:.1%} of rows have {column} = {value}", figures)
    return GateResult(True, f"largest {column} holds {share:.1%}", figures)


ROW_COUNTS = "gates.row_counts"


def feed_of_raw(con: duckdb.DuckDBPyConnection) -> str | None:
    """The feed of the stored raw load (`raw.source_manifest.feed`); None without one."""
    has_feed = con.execute(
        "select count(*) from duckdb_columns() where schema_name = 'raw' "
        "and table_name = 'source_manifest' and column_name = 'feed'"
    ).fetchone()[0]
    if not has_feed:
        return None
    row = con.execute("select any_value(coalesce(feed, source)) from raw.source_manifest").fetchone()
    return None if row is None else row[0]


def _ensure_row_counts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists gates")
    con.execute(
        f"create table if not exists {ROW_COUNTS} (table_name varchar, rows bigint, passed boolean, "
        "run_id varchar, checked_at timestamp)"
    )
    # Added after the first release. Counts stored before it have no feed and are never compared.
    con.execute(f"alter table {ROW_COUNTS} add column if not exists feed varchar")


def last_good_row_count(con: duckdb.DuckDBPyConnection, table: str, feed: str | None) -> int | None:
    """The row count `table` had when its gate last passed on the same feed; None before the first.

    Another feed (another export folder, the simulator after files) is other data: a table of
    a small export after the default world is not a table that lost rows.
    """
    exists = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'gates' and table_name = 'row_counts'"
    ).fetchone()[0]
    if not exists:
        return None
    _ensure_row_counts(con)
    row = con.execute(
        f"select rows from {ROW_COUNTS} where table_name = ? and passed and feed = ? "
        "order by checked_at desc limit 1",
        [table, feed],
    ).fetchone()
    return None if row is None else int(row[0])


def record_row_count(
    con: duckdb.DuckDBPyConnection, table: str, rows: int, passed: bool, run_id: str, feed: str | None
) -> None:
    """Remember this run's count; only counts that passed become the next run's reference."""
    _ensure_row_counts(con)
    con.execute(
        f"insert into {ROW_COUNTS} (table_name, rows, passed, run_id, checked_at, feed) "
        "values (?, ?, ?, ?, now()::timestamp, ?)",
        [table, rows, passed, run_id, feed],
    )
