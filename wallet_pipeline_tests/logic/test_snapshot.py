"""Publishing the serving tables to a snapshot readers open, and switching to it atomically."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from wallet_pipeline.logic.publish.snapshot import (
    LINK,
    POINTER,
    NoSnapshotError,
    SnapshotError,
    connect_snapshot,
    current_snapshot,
    list_snapshots,
    publish_snapshot,
    raw_fingerprint,
    read_manifest,
)


def _writer(path: Path, wallets: int = 50) -> duckdb.DuckDBPyConnection:
    """A pipeline database with serving tables, a view, and a schema that is not published."""
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create schema entities; create schema raw")
    con.execute(
        "create table marts.wallet_features as "
        "select '0x' || lpad(i::varchar, 40, '0') address, i % 7 tx_count, i % 5 = 0 is_contract "
        f"from range({wallets}) t(i)"
    )
    con.execute(
        "create table entities.clusters as "
        "select 'c' || i cluster_id, 3 + i size, [1, 2]::int[] related_ids from range(4) t(i)"
    )
    con.execute("create view marts.contracts as select * from marts.wallet_features where is_contract")
    con.execute("create table raw.transactions as select range hash from range(10)")
    return con


@pytest.fixture
def writer(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = _writer(tmp_path / "pipeline.duckdb")
    yield con
    con.close()


def test_publishing_copies_the_serving_schemas_and_points_current_at_the_new_file(
    writer: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    info = publish_snapshot(writer, tmp_path / "snapshots", run_id="0123456789abcdef")

    assert (tmp_path / "snapshots" / POINTER).read_text().strip() == info.path.name
    assert current_snapshot(tmp_path / "snapshots") == info.path
    assert info.path.name.startswith("wallet_pipeline-") and info.path.name.endswith("-01234567.duckdb")
    assert info.tables == {"entities.clusters": 4, "marts.contracts": 10, "marts.wallet_features": 50}
    with connect_snapshot(tmp_path / "snapshots") as con:
        schemas = {r[0] for r in con.execute("select schema_name from duckdb_schemas()").fetchall()}
        assert "raw" not in schemas
        assert con.execute("select related_ids from entities.clusters limit 1").fetchone()[0] == [1, 2]
        # The view is materialized: the snapshot does not hold what it selected from.
        kinds = con.execute("select table_type from information_schema.tables where table_name = 'contracts'")
        assert kinds.fetchone()[0] == "BASE TABLE"


def test_the_manifest_records_every_table_its_rows_the_run_and_the_source(
    writer: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    info = publish_snapshot(writer, tmp_path / "snapshots", run_id="run-1")

    with connect_snapshot(tmp_path / "snapshots") as con:
        assert read_manifest(con) == info.tables
        for name, rows in read_manifest(con).items():
            assert con.execute(f"select count(*) from {name}").fetchone()[0] == rows
        runs = con.execute(
            "select distinct run_id, source_db, published_at from snapshot_manifest"
        ).fetchall()
    assert len(runs) == 1
    run_id, source_db, published_at = runs[0]
    assert run_id == "run-1"
    assert Path(source_db) == tmp_path / "pipeline.duckdb"
    assert published_at == info.published_at


def test_a_second_publish_switches_current_and_keeps_the_previous_snapshot(
    writer: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    folder = tmp_path / "snapshots"
    first = publish_snapshot(writer, folder, run_id="first")
    writer.execute("insert into marts.wallet_features select * from marts.wallet_features limit 5")
    second = publish_snapshot(writer, folder, run_id="second")

    assert current_snapshot(folder) == second.path != first.path
    assert second.previous == first.path
    assert list_snapshots(folder) == [first.path, second.path]
    assert second.tables["marts.wallet_features"] == first.tables["marts.wallet_features"] + 5
    if os.name == "posix":
        assert os.readlink(folder / LINK) == second.path.name


def test_snapshots_older_than_keep_are_pruned_and_nothing_partial_is_left(
    writer: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    folder = tmp_path / "snapshots"
    first = publish_snapshot(writer, folder, run_id="a")
    second = publish_snapshot(writer, folder, run_id="b")
    third = publish_snapshot(writer, folder, run_id="c")

    assert third.pruned == (first.path,)
    assert list_snapshots(folder) == [second.path, third.path]
    leftovers = {p.name for p in folder.iterdir()} - {second.path.name, third.path.name, POINTER, LINK}
    assert leftovers == set()


def test_a_reader_on_the_old_snapshot_keeps_reading_after_a_new_publish_prunes_it(
    writer: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    if os.name != "posix":
        pytest.skip("an open file cannot be deleted on Windows; pruning leaves it for later")
    folder = tmp_path / "snapshots"
    publish_snapshot(writer, folder, keep=1)
    reader = connect_snapshot(folder)
    before = reader.execute("select count(*) from marts.wallet_features").fetchone()[0]

    writer.execute("delete from marts.wallet_features")
    newer = publish_snapshot(writer, folder, keep=1)

    assert len(newer.pruned) == 1 and not newer.pruned[0].exists()
    assert reader.execute("select count(*) from marts.wallet_features").fetchone()[0] == before == 50
    reader.close()
    with connect_snapshot(folder) as fresh:
        assert fresh.execute("select count(*) from marts.wallet_features").fetchone()[0] == 0


def test_connecting_before_anything_was_published_says_what_to_materialize(tmp_path: Path) -> None:
    assert current_snapshot(tmp_path / "snapshots") is None
    with pytest.raises(NoSnapshotError, match="no snapshot has been published.*publish/snapshot"):
        connect_snapshot(tmp_path / "snapshots")


def test_a_pointer_that_names_no_snapshot_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / POINTER).write_text("../../pipeline.duckdb\n")
    with pytest.raises(SnapshotError, match="not the name of a snapshot file"):
        connect_snapshot(tmp_path)


def test_a_pointer_to_a_missing_file_is_a_clear_error(
    writer: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    info = publish_snapshot(writer, tmp_path / "snapshots")
    info.path.unlink()
    with pytest.raises(SnapshotError, match="missing; publish the snapshot again"):
        connect_snapshot(tmp_path / "snapshots")


def test_a_publish_failing_mid_copy_leaves_current_alone_and_no_partial_file(tmp_path: Path) -> None:
    folder = tmp_path / "snapshots"
    with duckdb.connect(str(tmp_path / "pipeline.duckdb")) as con:
        con.execute("create schema marts; create table marts.t as select 1 x")
        good = publish_snapshot(con, folder)
        # The view fails only when read, after the snapshot file was created and a table copied.
        con.execute("create view marts.u as select error('the source broke mid-copy') x")
        with pytest.raises(duckdb.Error, match="the source broke mid-copy"):
            publish_snapshot(con, folder)
        with pytest.raises(ValueError, match="nothing to publish"):
            publish_snapshot(con, folder, schemas=("personas",))

    assert current_snapshot(folder) == good.path
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(("CURRENT", "current"))) == [
        good.path.name
    ]


def test_a_schema_the_source_lacks_is_skipped(writer: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    info = publish_snapshot(writer, tmp_path / "snapshots", schemas=("marts", "personas", "graph"))
    assert set(info.tables) == {"marts.contracts", "marts.wallet_features"}


def test_a_path_is_published_too_and_its_file_is_left_unchanged(tmp_path: Path) -> None:
    _writer(tmp_path / "pipeline.duckdb").close()
    before = (tmp_path / "pipeline.duckdb").read_bytes()

    info = publish_snapshot(tmp_path / "pipeline.duckdb", tmp_path / "snapshots")

    assert info.tables["marts.wallet_features"] == 50
    assert (tmp_path / "pipeline.duckdb").read_bytes() == before


def test_keep_below_one_is_refused(writer: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keep=0"):
        publish_snapshot(writer, tmp_path / "snapshots", keep=0)


def test_the_manifest_records_a_fingerprint_of_the_raw_rows_the_snapshot_was_built_from(
    writer: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    folder = tmp_path / "snapshots"
    first = publish_snapshot(writer, folder, run_id="first")
    with connect_snapshot(folder) as con:
        stored = con.execute("select distinct run_id, raw_fingerprint from snapshot_manifest").fetchall()
    assert stored == [("first", first.raw_fingerprint)]
    assert len(first.raw_fingerprint) == 16
    assert raw_fingerprint(writer) == first.raw_fingerprint

    # The same rows in another order: the same fingerprint.
    writer.execute(
        "create or replace table raw.transactions as select * from raw.transactions order by hash desc"
    )
    assert publish_snapshot(writer, folder, run_id="again").raw_fingerprint == first.raw_fingerprint
    # One row loaded twice, or one value changed: another fingerprint; the serving tables are the same.
    writer.execute("insert into raw.transactions select * from raw.transactions where hash = 3")
    twice = publish_snapshot(writer, folder, run_id="twice")
    writer.execute("delete from raw.transactions where hash = 3")
    writer.execute("update raw.transactions set hash = 99 where hash = 9")
    changed = publish_snapshot(writer, folder, run_id="changed")
    assert len({first.raw_fingerprint, twice.raw_fingerprint, changed.raw_fingerprint}) == 3
    assert twice.tables == changed.tables == first.tables


def test_a_source_without_raw_tables_publishes_an_empty_fingerprint(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "p.duckdb")) as con:
        con.execute("create schema marts; create table marts.t as select 1 x")
        assert publish_snapshot(con, tmp_path / "snapshots", run_id="r").raw_fingerprint == ""
