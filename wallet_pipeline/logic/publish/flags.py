"""Analyst flags on clusters, kept in a SQLite file that no pipeline rebuild touches.

The pipeline replaces its DuckDB tables on every run and DuckDB admits one writing process, so
flags live apart: a SQLite file in WAL mode, which an API or an analyst can write while a run
reads it. Nothing is deleted: removing a flag marks it `removed`, and every change is a row of
`flag_events` (who, when, from which cluster to which).

A flag follows its cluster through the id matching of `entities.cluster_history` (`follow_flags`):

- `merged_into`: the flag moves to the surviving id (`related_ids[0]`).
- `split`: the parent keeps its id, so the flag stays on the piece that kept it; new pieces start
  unflagged (their history row names the parent, so an analyst can flag them too).
- `dissolved`: the flag stays on the dead id and is marked `orphaned`; it is kept for the record.

Ids are never reused, so following is a walk along `merged_into` rows and calling `follow_flags`
with the whole history table after every run is safe (idempotent).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

REASONS = ("scam_ring", "wash_trading", "token_farm", "money_laundering", "other")
STATUSES = ("active", "orphaned", "removed")
FLAG_COLUMNS = [
    "flag_id",
    "cluster_id",
    "original_cluster_id",
    "reason",
    "note",
    "flagged_by",
    "flagged_at",
    "status",
    "updated_at",
]

_SCHEMA = f"""
create table if not exists flags (
    flag_id integer primary key autoincrement,
    cluster_id text not null,
    original_cluster_id text not null,
    reason text not null check (reason in ({", ".join(repr(r) for r in REASONS)})),
    note text not null default '',
    flagged_by text not null,
    flagged_at text not null,
    status text not null default 'active' check (status in ({", ".join(repr(s) for s in STATUSES)})),
    updated_at text not null
);
create index if not exists flags_cluster on flags (cluster_id);
create table if not exists flag_events (
    flag_id integer not null references flags (flag_id),
    at text not null,
    event text not null,
    from_cluster_id text,
    to_cluster_id text,
    by text,
    history_run_id text
);
"""


class FlagError(ValueError):
    """A flag request the store cannot accept (unknown reason, empty cluster id or author)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextmanager
def _connect(path: str | Path) -> Iterator[sqlite3.Connection]:
    """A connection with the schema in place; commits on success, rolls back on error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Writers wait for each other up to the timeout instead of failing at once.
    con = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    try:
        con.execute("pragma journal_mode=wal")  # readers never block the writer, nor it them
        con.execute("pragma foreign_keys=on")
        con.executescript(_SCHEMA)
        con.execute("begin immediate")
        try:
            yield con
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    finally:
        con.close()


def _text(value, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FlagError(f"{name} must be a non-empty string, got {value!r}")
    return value.strip()


def add_flag(
    path: str | Path,
    cluster_id: str,
    reason: str,
    note: str = "",
    flagged_by: str = "",
) -> int:
    """Flag a cluster.

    Args:
        path: the SQLite file (created with its tables when missing).
        cluster_id: the stable cluster id (`entities.clusters.cluster_id`); not checked against
            DuckDB here, so a flag can be written while a run holds the DuckDB file.
        reason: one of `REASONS`.
        note: free text.
        flagged_by: who flags (a name or login).

    Returns:
        The new flag's id.

    Raises:
        FlagError: unknown reason, empty cluster id or author.
    """
    cluster_id = _text(cluster_id, "cluster_id")
    flagged_by = _text(flagged_by, "flagged_by")
    if reason not in REASONS:
        raise FlagError(f"reason {reason!r} is not one of {', '.join(REASONS)}")
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise FlagError(f"note must be text, got {type(note).__name__}")
    now = _now()
    with _connect(path) as con:
        cur = con.execute(
            "insert into flags (cluster_id, original_cluster_id, reason, note, flagged_by, flagged_at, "
            "status, updated_at) values (?, ?, ?, ?, ?, ?, 'active', ?)",
            [cluster_id, cluster_id, reason, note, flagged_by, now, now],
        )
        flag_id = int(cur.lastrowid)
        con.execute(
            "insert into flag_events (flag_id, at, event, to_cluster_id, by) values (?, ?, 'added', ?, ?)",
            [flag_id, now, cluster_id, flagged_by],
        )
    return flag_id


def list_flags(
    path: str | Path,
    *,
    cluster_id: str | None = None,
    include_removed: bool = False,
) -> pd.DataFrame:
    """Flags as a DataFrame (`FLAG_COLUMNS`), by flag id; removed ones only when asked.

    A missing file means no flags yet (an empty frame), so the pipeline runs before anyone flags.
    """
    if not Path(path).exists():
        return pd.DataFrame({c: pd.Series(dtype="object") for c in FLAG_COLUMNS})
    where, params = [], []
    if not include_removed:
        where.append("status != 'removed'")
    if cluster_id is not None:
        where.append("cluster_id = ?")
        params.append(cluster_id)
    sql = f"select {', '.join(FLAG_COLUMNS)} from flags"
    if where:
        sql += " where " + " and ".join(where)
    with _connect(path) as con:
        rows = con.execute(sql + " order by flag_id", params).fetchall()
    return pd.DataFrame(rows, columns=FLAG_COLUMNS)


def flag_events(path: str | Path, flag_id: int | None = None) -> pd.DataFrame:
    """The audit trail: one row per change of a flag (added, moved, orphaned, removed)."""
    cols = ["flag_id", "at", "event", "from_cluster_id", "to_cluster_id", "by", "history_run_id"]
    if not Path(path).exists():
        return pd.DataFrame(columns=cols)
    sql = f"select {', '.join(cols)} from flag_events"
    params: list = []
    if flag_id is not None:
        sql += " where flag_id = ?"
        params.append(int(flag_id))
    with _connect(path) as con:
        rows = con.execute(sql + " order by rowid", params).fetchall()
    return pd.DataFrame(rows, columns=cols)


def remove_flag(path: str | Path, flag_id: int, removed_by: str) -> bool:
    """Mark a flag removed (kept in the file with its history).

    Returns:
        True when an active or orphaned flag was removed, False when there was none with that id.
    """
    removed_by = _text(removed_by, "removed_by")
    now = _now()
    with _connect(path) as con:
        row = con.execute(
            "select cluster_id from flags where flag_id = ? and status != 'removed'", [int(flag_id)]
        ).fetchone()
        if row is None:
            return False
        con.execute(
            "update flags set status = 'removed', updated_at = ? where flag_id = ?", [now, int(flag_id)]
        )
        con.execute(
            "insert into flag_events (flag_id, at, event, from_cluster_id, by) "
            "values (?, ?, 'removed', ?, ?)",
            [int(flag_id), now, row[0], removed_by],
        )
    return True


def follow_flags(path: str | Path, history: pd.DataFrame | None) -> pd.DataFrame:
    """Move every active flag whose cluster id ended to where its wallets went.

    Ids are never reused, so an id ends at most once: a flag on an id that `merged_into` another
    moves there (and on, when that one ended too); a flag on a `dissolved` id is marked orphaned.
    Flags on living ids are left alone, so calling this after every run with the whole history
    is idempotent, and a flag an analyst put on an id that had already ended is moved too.

    Args:
        path: the SQLite file.
        history: `entities.cluster_history` rows (`run_id, cluster_id, event, related_ids`); pass
            every run, or at least every `merged_into` / `dissolved` row.

    Returns:
        The changes made: `flag_id, event (moved | orphaned), from_cluster_id, to_cluster_id,
        history_run_id` (the run that ended the last id passed through).
    """
    cols = ["flag_id", "event", "from_cluster_id", "to_cluster_id", "history_run_id"]
    if history is None or not len(history) or not Path(path).exists():
        return pd.DataFrame(columns=cols)
    missing = {"run_id", "cluster_id", "event", "related_ids"} - set(history.columns)
    if missing:
        raise ValueError(f"history lacks columns {sorted(missing)}; pass entities.cluster_history")
    ends = history[history["event"].isin(["merged_into", "dissolved"])]
    end_of: dict[str, tuple[str | None, str]] = {}
    for row in ends.itertuples(index=False):
        related = list(row.related_ids) if row.related_ids is not None else []
        target = str(related[0]) if row.event == "merged_into" and related else None
        end_of[str(row.cluster_id)] = (target, str(row.run_id))
    changes: list[dict] = []
    now = _now()
    with _connect(path) as con:
        active = con.execute("select flag_id, cluster_id from flags where status = 'active'").fetchall()
        for flag_id, start_id in active:
            current, run = start_id, None
            orphaned = False
            # Each step follows a different ended id; the bound only guards against a bad table.
            for _ in range(len(end_of) + 1):
                if current not in end_of:
                    break
                target, run = end_of[current]
                if target is None:
                    orphaned = True
                    break
                current = target
            if orphaned:
                con.execute(
                    "update flags set status = 'orphaned', cluster_id = ?, updated_at = ? where flag_id = ?",
                    [current, now, flag_id],
                )
                event = "orphaned"
            elif current != start_id:
                con.execute(
                    "update flags set cluster_id = ?, updated_at = ? where flag_id = ?",
                    [current, now, flag_id],
                )
                event = "moved"
            else:
                continue
            to_id = None if orphaned and current == start_id else current
            con.execute(
                "insert into flag_events (flag_id, at, event, from_cluster_id, to_cluster_id, by, "
                "history_run_id) values (?, ?, ?, ?, ?, 'pipeline', ?)",
                [flag_id, now, event, start_id, to_id, run],
            )
            changes.append(
                {
                    "flag_id": flag_id,
                    "event": event,
                    "from_cluster_id": start_id,
                    "to_cluster_id": to_id,
                    "history_run_id": run,
                }
            )
    return pd.DataFrame(changes, columns=cols)
