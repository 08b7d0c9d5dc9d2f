"""Atomic loads into the `raw` schema.

A full load (`raw_load`) writes every table into a shadow table (`raw.<name>__loading`), chunk by
chunk, and only when the whole load succeeded swaps all shadows in with one transaction. A day
load (`raw_day_load`, for incremental sources) stages one UTC day of some tables the same way and
then, in one transaction, deletes that day from them and inserts the staged rows. Either way a
load that fails at any point leaves the stored tables as they were, and readers never see a mix.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb

from wallet_pipeline.logic.ingestion.raw_schema import (
    MANIFEST_ADDED_COLUMNS,
    MANIFEST_CREATE_SQL,
    MANIFEST_TABLE,
    RAW_SCHEMA,
    RAW_TABLES,
    REJECTS_CREATE_SQL,
    REJECTS_TABLE,
    SOURCE_FILES_CREATE_SQL,
    SOURCE_FILES_TABLE,
    RawTable,
)

_SHADOW_SUFFIX = "__loading"
REJECT_COLUMNS = ("table_name", "source_file", "row_number", "column_name", "reason", "record")


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema, every raw table (empty) and the rejects, manifest and files tables.

    A database written before an optional column joined the contract gets the column (NULL), so
    day loads, which insert into the stored tables, keep matching them.
    """
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    existing = _tables_in(con, RAW_SCHEMA)
    for table in RAW_TABLES.values():
        if table.name not in existing:
            con.execute(table.create_sql())
        else:
            for col in table.columns:
                con.execute(
                    f"alter table {RAW_SCHEMA}.{table.name} "
                    f"add column if not exists {col.name} {col.sql_type}"
                )
    con.execute(REJECTS_CREATE_SQL)
    con.execute(MANIFEST_CREATE_SQL)
    for name, sql_type in MANIFEST_ADDED_COLUMNS:
        con.execute(f"alter table {RAW_SCHEMA}.{MANIFEST_TABLE} add column if not exists {name} {sql_type}")
    con.execute(SOURCE_FILES_CREATE_SQL)


def _tables_in(con: duckdb.DuckDBPyConnection, schema: str) -> set[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ?", [schema]
    ).fetchall()
    return {r[0] for r in rows}


def _select_for(table: RawTable, available: list[str]) -> str:
    """SELECT list that casts `_chunk` to the table's columns; absent columns become NULL."""
    present = set(available)
    parts = []
    for col in table.columns:
        if col.name in present and col.kind == "wei":
            # Text to DECIMAL(38,0) directly costs ~28 s per million rows in DuckDB 1.5; through
            # HUGEINT (which holds every 38-digit number) it is exact and ~300x faster.
            parts.append(f"cast(cast({col.name} as hugeint) as {col.sql_type}) as {col.name}")
        elif col.name in present:
            parts.append(f"cast({col.name} as {col.sql_type}) as {col.name}")
        elif col.name == table.date_column and _timestamp_column(table) in present:
            parts.append(f"cast({_timestamp_column(table)} as date) as {col.name}")
        else:
            parts.append(f"cast(null as {col.sql_type}) as {col.name}")
    return ", ".join(parts)


def _timestamp_column(table: RawTable) -> str:
    return "block_time" if "block_time" in table.column_names else "block_timestamp"


@dataclass
class RawLoad:
    """One load of the raw schema in progress; see `raw_load`."""

    con: duckdb.DuckDBPyConnection
    source: str
    load_id: str
    feed: str | None = None
    row_counts: dict[str, int] = field(default_factory=dict)
    reject_counts: dict[str, int] = field(default_factory=dict)
    provided: set[str] = field(default_factory=set)
    notes: dict[str, list[str]] = field(default_factory=dict)
    files: list[tuple[str, str | None, str, int | None, str | None]] = field(default_factory=list)
    suffix = _SHADOW_SUFFIX

    def note(self, table_name: str, text: str) -> None:
        """Something a reader of the table should know, stored in the manifest's `notes`."""
        self._check_loads(table_name)
        self.notes.setdefault(table_name, []).append(text)

    def record_file(
        self, path: str, input_name: str | None, status: str, rows_read: int | None, note: str | None
    ) -> None:
        """One entry of the source folder, read or ignored, for `raw.source_files`."""
        self.files.append((path, input_name, status, rows_read, note))

    def _notes_of(self, table_name: str) -> str | None:
        return "; ".join(self.notes[table_name]) if self.notes.get(table_name) else None

    def append(self, table_name: str, data: Any) -> int:
        """Append a chunk (pandas DataFrame, Arrow table or DuckDB relation) to a table.

        Columns are matched by name and cast to the raw type; columns the chunk lacks are NULL,
        except `block_date`, which is derived from the block time. Extra columns are an error:
        sources map their input onto the raw schema before appending.
        """
        table = RAW_TABLES[table_name]
        self._check_loads(table_name)
        self.provided.add(table_name)
        chunk_columns = _columns_of(data)
        extra = sorted(set(chunk_columns) - set(table.column_names))
        if extra:
            raise ValueError(
                f"raw.{table_name} has no column(s) {extra}; expected a subset of {table.column_names}"
            )
        self.con.register("_chunk", data)
        try:
            select = _select_for(table, chunk_columns)
            n = self.con.execute(
                f"insert into {self.staged(table_name)} select {select} from _chunk"
            ).fetchone()
        finally:
            self.con.unregister("_chunk")
        added = int(n[0]) if n else 0
        self.row_counts[table_name] = self.row_counts.get(table_name, 0) + added
        return added

    def staged(self, table_name: str) -> str:
        """The qualified name of the shadow table this load is filling.

        Sources that derive one table from another read it before the load publishes.
        """
        self._check_loads(table_name)
        return f"{RAW_SCHEMA}.{table_name}{self.suffix}"

    def _check_loads(self, table_name: str) -> None:
        if table_name not in RAW_TABLES:
            raise KeyError(f"no raw table {table_name!r}")

    def mark_provided(self, table_name: str) -> None:
        """Record that the source provides a table even when it holds no rows this time."""
        if table_name not in RAW_TABLES:
            raise KeyError(f"no raw table {table_name!r}")
        self.provided.add(table_name)

    def reject(self, rejects: Any) -> int:
        """Quarantine rows: a frame with columns REJECT_COLUMNS, one row per rejected input row."""
        missing = set(REJECT_COLUMNS) - set(_columns_of(rejects))
        if missing:
            raise ValueError(f"rejects need columns {sorted(missing)}")
        self.con.register("_rejects", rejects)
        try:
            self.con.execute(
                f"insert into {RAW_SCHEMA}.{REJECTS_TABLE}{self.suffix} "
                "select ?, table_name, source_file, cast(row_number as bigint), column_name, reason, "
                "cast(record as varchar), now()::timestamp from _rejects",
                [self.load_id],
            )
            counts = self.con.execute(
                "select table_name, count(*) from _rejects group by table_name"
            ).fetchall()
        finally:
            self.con.unregister("_rejects")
        total = 0
        for name, n in counts:
            self.reject_counts[name] = self.reject_counts.get(name, 0) + int(n)
            total += int(n)
        return total

    def _loaded_tables(self) -> tuple[str, ...]:
        """The tables this load writes: all of them for a full load."""
        return tuple(RAW_TABLES)

    def _begin(self) -> None:
        ensure_raw_schema(self.con)
        self._drop_shadows()
        for name in self._loaded_tables():
            self.con.execute(RAW_TABLES[name].create_sql(table=name + self.suffix))
        self.con.execute(
            f"create table {RAW_SCHEMA}.{REJECTS_TABLE}{self.suffix} as "
            f"select * from {RAW_SCHEMA}.{REJECTS_TABLE} limit 0"
        )

    def _publish(self) -> None:
        self.con.execute("begin transaction")
        try:
            for table in RAW_TABLES.values():
                self.con.execute(f"drop table if exists {RAW_SCHEMA}.{table.name}")
                self.con.execute(
                    f"alter table {RAW_SCHEMA}.{table.name}{_SHADOW_SUFFIX} rename to {table.name}"
                )
            self.con.execute(
                f"insert into {RAW_SCHEMA}.{REJECTS_TABLE} "
                f"select * from {RAW_SCHEMA}.{REJECTS_TABLE}{_SHADOW_SUFFIX}"
            )
            self.con.execute(f"drop table {RAW_SCHEMA}.{REJECTS_TABLE}{_SHADOW_SUFFIX}")
            self.con.execute(f"delete from {RAW_SCHEMA}.{MANIFEST_TABLE}")
            for table in RAW_TABLES.values():
                self.con.execute(
                    f"insert into {RAW_SCHEMA}.{MANIFEST_TABLE} (table_name, source, provided, "
                    "row_count, rejected_count, loaded_at, load_id, notes, feed) "
                    "values (?, ?, ?, ?, ?, now()::timestamp, ?, ?, ?)",
                    [
                        table.name,
                        self.source,
                        table.name in self.provided,
                        self.row_counts.get(table.name, 0),
                        self.reject_counts.get(table.name, 0),
                        self.load_id,
                        self._notes_of(table.name),
                        self.feed or self.source,
                    ],
                )
            self.con.execute(f"delete from {RAW_SCHEMA}.{SOURCE_FILES_TABLE}")
            if self.files:
                self.con.executemany(
                    f"insert into {RAW_SCHEMA}.{SOURCE_FILES_TABLE} values (?, ?, ?, ?, ?, ?)",
                    [[self.load_id, *f] for f in self.files],
                )
            self.con.execute("commit")
        except Exception:
            self.con.execute("rollback")
            raise

    def _drop_shadows(self) -> None:
        for name in [*self._loaded_tables(), REJECTS_TABLE]:
            self.con.execute(f"drop table if exists {RAW_SCHEMA}.{name}{self.suffix}")


def _columns_of(data: Any) -> list[str]:
    # A pyarrow Table's `.columns` are its arrays; its names are `.column_names`.
    if hasattr(data, "column_names"):
        return list(data.column_names)
    return [str(c) for c in data.columns]


@dataclass
class RawDayLoad(RawLoad):
    """Some raw tables being replaced: one UTC day of them, or whole (`day` None).

    See `raw_day_load` and `raw_tables_load`.
    """

    day: dt.date | None = None
    tables: tuple[str, ...] = ()
    suffix = "__day"

    def _check_loads(self, table_name: str) -> None:
        if table_name not in self.tables:
            raise KeyError(f"this load replaces {list(self.tables)} for {self.day}, not {table_name!r}")

    def _loaded_tables(self) -> tuple[str, ...]:
        return self.tables

    def _publish(self) -> None:
        for name in self.tables if self.day is not None else ():
            column = RAW_TABLES[name].date_column
            row = self.con.execute(
                f"select count(*) from {self.staged(name)} where {column} is distinct from ?", [self.day]
            ).fetchone()
            if row and row[0]:
                raise ValueError(f"{row[0]:,} rows of {name} for {self.day} are dated another day")
        self.con.execute("begin transaction")
        try:
            for name in self.tables:
                if self.day is None:
                    self.con.execute(f"delete from {RAW_SCHEMA}.{name}")
                else:
                    column = RAW_TABLES[name].date_column
                    self.con.execute(f"delete from {RAW_SCHEMA}.{name} where {column} = ?", [self.day])
                self.con.execute(f"insert into {RAW_SCHEMA}.{name} select * from {self.staged(name)}")
                total = self.con.execute(f"select count(*) from {RAW_SCHEMA}.{name}").fetchone()
                manifest = f"{RAW_SCHEMA}.{MANIFEST_TABLE}"
                self.con.execute(
                    f"insert or replace into {manifest} (table_name, source, provided, row_count, "
                    "rejected_count, loaded_at, load_id, notes, feed) values (?, ?, true, ?, "
                    f"coalesce((select rejected_count from {manifest} where table_name = ?), 0)"
                    " + ?, now()::timestamp, ?, ?, ?)",
                    [
                        name,
                        self.source,
                        total[0] if total else 0,
                        name,
                        self.reject_counts.get(name, 0),
                        self.load_id,
                        self._notes_of(name),
                        self.feed or self.source,
                    ],
                )
            rejects = f"{RAW_SCHEMA}.{REJECTS_TABLE}"
            self.con.execute(f"insert into {rejects} select * from {rejects}{self.suffix}")
            self.con.execute("commit")
        except Exception:
            self.con.execute("rollback")
            raise
        self._drop_shadows()


@contextmanager
def _running(load: RawLoad) -> Iterator[RawLoad]:
    load._begin()
    try:
        yield load
        load._publish()
    except BaseException:
        load._drop_shadows()
        raise


@contextmanager
def raw_load(
    con: duckdb.DuckDBPyConnection, source: str, load_id: str | None = None, feed: str | None = None
) -> Iterator[RawLoad]:
    """Load the raw schema atomically: every table is replaced on success, none on failure.

    `feed` names the data behind the load when `source` alone does not (`files:<folder>`); it is
    stored in `raw.source_manifest.feed` (default: `source`).

    Example:
        with raw_load(con, source="files") as load:
            load.append("transactions", frame)
    """
    load = RawLoad(con=con, source=source, load_id=load_id or uuid.uuid4().hex[:12], feed=feed)
    with _running(load) as running:
        yield running


@contextmanager
def raw_day_load(
    con: duckdb.DuckDBPyConnection,
    source: str,
    day: dt.date,
    tables: tuple[str, ...],
    load_id: str | None = None,
) -> Iterator[RawDayLoad]:
    """Replace one UTC day of `tables` atomically: on success exactly that day's rows are swapped.

    On failure, or when a staged row is dated another day, nothing stored changes.
    """
    for name in tables:
        if RAW_TABLES[name].date_column is None:
            raise ValueError(f"raw.{name} has no date column; it cannot be loaded by day")
    load = RawDayLoad(
        con=con, source=source, load_id=load_id or uuid.uuid4().hex[:12], day=day, tables=tables
    )
    with _running(load) as running:
        yield running  # type: ignore[misc]


@contextmanager
def raw_tables_load(
    con: duckdb.DuckDBPyConnection, source: str, tables: tuple[str, ...], load_id: str | None = None
) -> Iterator[RawDayLoad]:
    """Replace whole `tables` atomically, leaving every other raw table as it is."""
    load = RawDayLoad(con=con, source=source, load_id=load_id or uuid.uuid4().hex[:12], tables=tables)
    with _running(load) as running:
        yield running  # type: ignore[misc]
