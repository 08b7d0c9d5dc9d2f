"""A read-only copy of the serving tables for readers, published and switched to atomically.

DuckDB admits one writing process, and while it writes no other process can open the file, not
even read-only. Readers (the API, analysts' SQL, dashboards) therefore never open the pipeline's
database: they open the last published snapshot, a separate DuckDB file nobody writes after it
was published.

Publishing copies the serving schemas into a new file, closes it, then switches the pointer
`CURRENT` to it with `os.replace`, which is atomic: a reader sees either the old snapshot or the
new one, never a half-written file. On POSIX a `current.duckdb` symbolic link is switched the same
way, for `duckdb -readonly snapshots/current.duckdb`; Windows gets the pointer file only (making
symbolic links there needs a privilege), and `connect_snapshot` works the same on both.

Older snapshots beyond `keep` are deleted. On Linux and macOS a reader that still has one open
keeps reading it: unlinking removes the name, the open file lives until it is closed. On Windows
an open file cannot be deleted; it stays and the next publish tries again.

    info = publish_snapshot(writer_con, "data/snapshots", run_id=context.run_id)
    con = connect_snapshot("data/snapshots")      # read-only, never blocked by a run
    con.sql("select * from entities.clusters order by risk_score desc limit 10")
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

SERVING_SCHEMAS = ("marts", "personas", "entities", "graph")
# The schema whose content the fingerprint covers: what every published table was built from.
RAW_SCHEMA = "raw"
POINTER = "CURRENT"
LINK = "current.duckdb"
MANIFEST = "snapshot_manifest"
PREFIX = "wallet_pipeline-"
SUFFIX = ".duckdb"
# A snapshot being written has this suffix until it is complete, so no reader or pruning mistakes
# it for a published one.
PARTIAL = ".partial"
_ALIAS = "wallet_snapshot_new"
_NAME = re.compile(r"^wallet_pipeline-\d{8}T\d{6}\.\d{3}Z-[A-Za-z0-9_-]{1,32}\.duckdb$")
# A reader racing a publish can read a name from CURRENT whose file is pruned before it opens it;
# only `keep` publishes later can that happen, so one fresh look at CURRENT nearly always suffices.
_OPEN_ATTEMPTS = 4


class SnapshotError(RuntimeError):
    """The snapshot folder is not in a state a reader or publisher can use."""


class NoSnapshotError(SnapshotError, FileNotFoundError):
    """Nothing has been published in the snapshot folder yet."""


class ForeignBuildError(SnapshotError):
    """Tables this run built were rebuilt by another run before this run could publish them."""


@dataclass(frozen=True)
class Build:
    """One materialization of a table: which run wrote it, and when (Unix seconds)."""

    run_id: str
    at: float


def refuse_foreign_builds(
    run_id: str, built: Mapping[str, Build], latest: Mapping[str, Build | None], current: Path | None = None
) -> None:
    """Raise unless every table `run_id` built is still as that run left it.

    A run publishes what it built itself. If another run (a second writer in the same process, a
    writer the folder lock did not stop) rebuilt any of them after this run did, a snapshot now
    would hold that run's data under this run's id and fingerprint; nothing is published and the
    readers keep the current snapshot. A run that built none of the tables (only publishing, e.g.
    a re-execution of the publish step) is not refused: it publishes what the last builds left.

    Args:
        run_id: The publishing run.
        built: Per table (asset key), this run's last build of it.
        latest: Per table, its last build by any run (None: no record).
        current: The snapshot readers use now, named in the message.

    Raises:
        ForeignBuildError: Naming this run, the other run(s), the tables and the times.
    """
    foreign = {
        table: (mine, latest[table])
        for table, mine in built.items()
        if latest.get(table) is not None and latest[table].run_id != run_id
    }
    if not foreign:
        return
    by_run: dict[str, list[str]] = {}
    for table, (_, other) in sorted(foreign.items()):
        by_run.setdefault(other.run_id, []).append(table)
    first_mine = min(mine.at for mine, _ in foreign.values())
    lines = [
        f"run {other_run} rebuilt {len(tables)} of them after it ({', '.join(tables[:6])}"
        + (f" and {len(tables) - 6} more" if len(tables) > 6 else "")
        + f"; last at {_utc(max(foreign[t][1].at for t in tables))})"
        for other_run, tables in by_run.items()
    ]
    raise ForeignBuildError(
        f"not publishing: run {run_id} built {len(built)} tables (from {_utc(first_mine)}), but "
        + "; ".join(lines)
        + f". A snapshot now would hold the other run's data under run {run_id}'s name. Readers keep "
        + (f"the current snapshot {current.name}" if current else "what they had (nothing published yet)")
        + "; publish from the run that built the tables last, or run the pipeline again."
    )


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class SnapshotInfo:
    """What one publish produced.

    Attributes:
        path: The new snapshot file, now current.
        tables: Row count per copied table, as `schema.table`.
        run_id: The run that published it.
        published_at: When the copy started (UTC); the manifest holds the same time.
        seconds: Time from the first copy to the switch.
        bytes: Size of the new file.
        previous: The snapshot that was current before, if any.
        pruned: Snapshot files deleted because they were older than `keep`.
        raw_fingerprint: `raw_fingerprint` of the source at the copy (same transaction).
    """

    path: Path
    tables: dict[str, int]
    run_id: str
    published_at: datetime
    seconds: float
    bytes: int
    previous: Path | None
    pruned: tuple[Path, ...]
    raw_fingerprint: str = ""

    @property
    def rows(self) -> int:
        """Rows over all copied tables."""
        return sum(self.tables.values())


def publish_snapshot(
    source: duckdb.DuckDBPyConnection | str | os.PathLike[str],
    snapshot_dir: str | os.PathLike[str],
    schemas: Sequence[str] = SERVING_SCHEMAS,
    keep: int = 2,
    run_id: str | None = None,
) -> SnapshotInfo:
    """Copy the serving schemas into a new snapshot file and make it the current one.

    Every table and view of `schemas` that exists in the source is copied as a table (a view is
    materialized, since what it reads is not copied); a schema the source lacks is skipped (a run
    without personas still publishes its entities). The copy reads the source in one transaction,
    so all tables come from the same state. Each snapshot holds `main.snapshot_manifest`: one row
    per table with its row count, the run id, publication time, the source file and the fingerprint
    of the raw rows it was built from (`raw_fingerprint`, read in the same transaction).

    Args:
        source: The pipeline's open read-write connection, or the path of its database file. A
            path is opened read-write, which waits for no one: it fails at once, with DuckDB's
            message naming the holder, if a run is writing.
        snapshot_dir: Folder of the snapshots and the `CURRENT` pointer; created if missing.
        schemas: Schemas to copy.
        keep: Snapshots to keep, the new one included (2: the new and the one before it).
        run_id: Id of the publishing run; its first 8 characters go into the file name.

    Returns:
        What was published, its size, and what was pruned.

    Raises:
        ValueError: `keep` below 1, or no table found in `schemas`.
    """
    if keep < 1:
        raise ValueError(f"keep={keep}: at least the new snapshot must be kept")
    folder = Path(snapshot_dir)
    folder.mkdir(parents=True, exist_ok=True)
    run_id = run_id or uuid.uuid4().hex
    with _writer(source) as con:
        source_db = _database_path(con)
        started = time.perf_counter()
        published_at = datetime.now(UTC)
        target = _new_snapshot_path(folder, run_id)
        partial = target.with_name(target.name + PARTIAL)
        try:
            tables, fingerprint = _copy(con, partial, schemas, run_id, source_db, published_at)
        except BaseException:
            _remove_quietly(partial)
            _remove_quietly(Path(str(partial) + ".wal"))
            raise
    os.replace(partial, target)
    previous = current_snapshot(folder)
    _switch(folder, target)
    seconds = time.perf_counter() - started
    pruned = _prune(folder, keep, target)
    return SnapshotInfo(
        path=target,
        tables=tables,
        run_id=run_id,
        published_at=published_at,
        seconds=seconds,
        bytes=target.stat().st_size,
        previous=previous,
        pruned=pruned,
        raw_fingerprint=fingerprint,
    )


def current_snapshot(snapshot_dir: str | os.PathLike[str]) -> Path | None:
    """The snapshot `CURRENT` names, or None if nothing was published in the folder yet.

    Raises:
        SnapshotError: `CURRENT` holds something that is not a snapshot name.
    """
    pointer = Path(snapshot_dir) / POINTER
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not _NAME.match(name):
        # Only a file name is accepted, so a tampered pointer cannot send readers elsewhere.
        raise SnapshotError(f"{pointer} holds {name[:80]!r}, not the name of a snapshot file")
    return Path(snapshot_dir) / name


def connect_snapshot(snapshot_dir: str | os.PathLike[str]) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the current snapshot; a run writing meanwhile never blocks it.

    Raises:
        NoSnapshotError: Nothing was published in `snapshot_dir` yet.
        SnapshotError: `CURRENT` names a file that is not there.
    """
    for _ in range(_OPEN_ATTEMPTS):
        path = current_snapshot(snapshot_dir)
        if path is None:
            raise NoSnapshotError(
                f"no snapshot has been published in {Path(snapshot_dir).resolve()} yet: "
                "materialize the asset publish/snapshot (it runs at the end of the full pipeline)"
            )
        try:
            return duckdb.connect(str(path), read_only=True)
        except duckdb.IOException:
            if path.exists():
                raise
    raise SnapshotError(f"{path} named by {POINTER} is missing; publish the snapshot again")


def list_snapshots(snapshot_dir: str | os.PathLike[str]) -> list[Path]:
    """Published snapshot files in the folder, oldest first."""
    folder = Path(snapshot_dir)
    if not folder.is_dir():
        return []
    # The name starts with a fixed-width UTC time, so name order is publication order.
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name))


def raw_fingerprint(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> str:
    """A fingerprint of the raw schema's content: equal for equal rows, whatever their order.

    Per table its row count and the sum of its rows' 64-bit hashes (a sum, not an exclusive or,
    so a row loaded twice still changes it), then SHA-256 over the tables in name order; the
    first 16 hex digits. Two runs publish the same fingerprint only if they read the same raw
    rows, so a snapshot can be traced to the load it was built from. "" without a raw schema.
    """
    catalog = catalog or con.execute("select current_database()").fetchone()[0]
    tables = [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = ? and table_schema = ? and table_type = 'BASE TABLE' order by 1",
            [catalog, RAW_SCHEMA],
        ).fetchall()
    ]
    if not tables:
        return ""
    digest = hashlib.sha256()
    for table in tables:
        name = f"{_ident(catalog)}.{_ident(RAW_SCHEMA)}.{_ident(table)}"
        rows, total = con.execute(
            f"select count(*), coalesce(sum(hash(t)::hugeint), 0) from {name} t"
        ).fetchone()
        digest.update(f"{table}\t{rows}\t{total}\n".encode())
    return digest.hexdigest()[:16]


def read_manifest(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row count per `schema.table` as the snapshot's manifest records it."""
    rows = con.execute(
        f"select schema_name, table_name, row_count from main.{MANIFEST} order by 1, 2"
    ).fetchall()
    return {f"{s}.{t}": int(n) for s, t, n in rows}


@contextlib.contextmanager
def _writer(
    source: duckdb.DuckDBPyConnection | str | os.PathLike[str],
) -> Iterator[duckdb.DuckDBPyConnection]:
    if isinstance(source, duckdb.DuckDBPyConnection):
        yield source
        return
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"no DuckDB database at {path}")
    # Read-write on purpose: holding the writer's lock means no run changes the file mid-copy.
    con = duckdb.connect(str(path))
    try:
        yield con
    finally:
        con.close()


def _database_path(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchone()
    return str(row[0]) if row and row[0] else ":memory:"


def _new_snapshot_path(folder: Path, run_id: str) -> Path:
    short = re.sub(r"[^A-Za-z0-9_-]", "", run_id)[:8] or "run"
    while True:
        now = datetime.now(UTC)
        stamp = now.strftime("%Y%m%dT%H%M%S.") + f"{now.microsecond // 1000:03d}Z"
        path = folder / f"{PREFIX}{stamp}-{short}{SUFFIX}"
        if not path.exists() and not path.with_name(path.name + PARTIAL).exists():
            return path
        time.sleep(0.002)


def _lookup_order(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> str:
    """`order by` the key readers look rows up by (address, else cluster id), or nothing.

    DuckDB skips row groups by their min/max, so rows stored in key order turn a lookup of one
    wallet into a read of one row group instead of a scan of the table.
    """
    columns = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_catalog = ? and table_schema = ? and table_name = ?",
            [catalog, schema, table],
        ).fetchall()
    }
    for key in ("address", "cluster_id"):
        if key in columns:
            return f" order by {_ident(key)}"
    return ""


def _copy(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    schemas: Sequence[str],
    run_id: str,
    source_db: str,
    published_at: datetime,
) -> tuple[dict[str, int], str]:
    source = con.execute("select current_database()").fetchone()[0]
    objects = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = ? and list_contains(?, table_schema) order by 1, 2",
        [source, list(schemas)],
    ).fetchall()
    if not objects:
        raise ValueError(f"no table in schemas {', '.join(schemas)} of {source_db}: nothing to publish")
    con.execute(f"attach {_literal(str(target))} as {_ALIAS}")
    try:
        tables: dict[str, int] = {}
        # One transaction: every table is read from the same committed state of the source.
        con.execute("begin transaction")
        try:
            fingerprint = raw_fingerprint(con, source)
            for schema in sorted({s for s, _ in objects}):
                con.execute(f"create schema {_ALIAS}.{_ident(schema)}")
            for schema, table in objects:
                name = f"{_ident(schema)}.{_ident(table)}"
                order = _lookup_order(con, source, schema, table)
                con.execute(f"create table {_ALIAS}.{name} as select * from {_ident(source)}.{name}{order}")
                tables[f"{schema}.{table}"] = con.execute(f"select count(*) from {_ALIAS}.{name}").fetchone()[
                    0
                ]
            con.execute(
                f"create table {_ALIAS}.main.{MANIFEST} (schema_name varchar, table_name varchar, "
                "row_count bigint, run_id varchar, published_at timestamptz, source_db varchar, "
                "raw_fingerprint varchar)"
            )
            con.executemany(
                f"insert into {_ALIAS}.main.{MANIFEST} values (?, ?, ?, ?, ?, ?, ?)",
                [
                    [*name.split(".", 1), rows, run_id, published_at, source_db, fingerprint]
                    for name, rows in tables.items()
                ],
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        # Everything into the file itself, so the closed snapshot needs no write-ahead log.
        con.execute(f"checkpoint {_ALIAS}")
    finally:
        con.execute(f"detach {_ALIAS}")
    return tables, fingerprint


def _switch(folder: Path, target: Path) -> None:
    _replace_atomically(folder / POINTER, target.name + "\n")
    if os.name != "posix":
        return
    link_tmp = folder / f".{LINK}.{uuid.uuid4().hex[:8]}"
    try:
        os.symlink(target.name, link_tmp)
        os.replace(link_tmp, folder / LINK)
    except OSError:
        _remove_quietly(link_tmp)


def _replace_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    if os.name == "posix":
        # The rename itself is durable only once the folder's entry is on disk.
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _prune(folder: Path, keep: int, current: Path) -> tuple[Path, ...]:
    published = [p for p in list_snapshots(folder) if p != current]
    doomed = published[: max(0, len(published) - (keep - 1))]
    # Leftovers of a publish that died mid-copy; publishes never overlap, since each holds the
    # pipeline database's single write lock while it copies.
    doomed += [p for p in folder.glob(f"{PREFIX}*{SUFFIX}{PARTIAL}*")]
    pruned = []
    for path in doomed:
        if _remove_quietly(path):
            pruned.append(path)
    return tuple(pruned)


def _remove_quietly(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except PermissionError:
        # Windows: a reader still has it open; the next publish tries again.
        return False
    return True


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
