"""Analyst flags: stored apart from DuckDB, following their cluster through merges and splits."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from wallet_pipeline.logic.graph.history import assign_stable_ids, history_table_sql
from wallet_pipeline.logic.graph.store import replace_tables
from wallet_pipeline.logic.publish.flags import (
    REASONS,
    FlagError,
    add_flag,
    flag_events,
    follow_flags,
    list_flags,
    remove_flag,
)

T0 = pd.Timestamp("2024-07-01")


def clusters(*groups: str) -> pd.DataFrame:
    """Fresh clustering output: each letter is a wallet, ids are "c_" + smallest member."""
    return pd.DataFrame([(w, "c_" + min(g)) for g in groups for w in g], columns=["address", "cluster_id"])


def rebuild(con: duckdb.DuckDBPyConnection, run_id: str, *groups: str) -> pd.DataFrame:
    """A full rebuild of the entity tables: drop the schema, recluster, keep ids by overlap."""
    previous = history = None
    if con.execute("select count(*) from duckdb_schemas() where schema_name = 'entities'").fetchone()[0]:
        previous = con.sql("select address, cluster_id from entities.wallet_clusters").df()
        history = con.sql("select * from entities.cluster_history").df()
        con.execute("drop schema entities cascade")
    stable = assign_stable_ids(
        clusters(*groups),
        previous,
        run_id=run_id,
        as_of=T0 + pd.Timedelta(days=int(run_id[1:])),
        used_ids=set(history["cluster_id"]) if history is not None else (),
    )
    con.execute("create schema entities")
    con.execute(history_table_sql("entities.cluster_history"))
    all_history = stable.history if history is None else pd.concat([history, stable.history])
    replace_tables(
        con,
        "entities",
        {"wallet_clusters": stable.clusters},
        append={"cluster_history": all_history},
    )
    return con.sql("select * from entities.cluster_history").df()


@pytest.fixture
def flags_file(tmp_path: Path) -> Path:
    return tmp_path / "flags" / "analyst_flags.sqlite"


def test_a_flag_is_stored_with_reason_note_author_and_time(flags_file: Path) -> None:
    flag_id = add_flag(flags_file, "c_a", "scam_ring", "drained three victims", "ana")
    flags = list_flags(flags_file)
    assert flags[["flag_id", "cluster_id", "reason", "note", "flagged_by", "status"]].to_dict("records") == [
        {
            "flag_id": flag_id,
            "cluster_id": "c_a",
            "reason": "scam_ring",
            "note": "drained three victims",
            "flagged_by": "ana",
            "status": "active",
        }
    ]
    assert pd.Timestamp(flags["flagged_at"].iloc[0]).tzinfo is not None


def test_removing_a_flag_keeps_it_in_the_file_with_its_history(flags_file: Path) -> None:
    flag_id = add_flag(flags_file, "c_a", "other", "", "ana")
    assert remove_flag(flags_file, flag_id, "bo")
    assert remove_flag(flags_file, flag_id, "bo") is False
    assert list_flags(flags_file).empty
    assert list_flags(flags_file, include_removed=True)["status"].tolist() == ["removed"]
    assert flag_events(flags_file, flag_id)[["event", "by"]].values.tolist() == [
        ["added", "ana"],
        ["removed", "bo"],
    ]


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("c_a", "rug_pull", "", "ana"), "reason 'rug_pull' is not one of " + ", ".join(REASONS)),
        (("", "other", "", "ana"), "cluster_id must be a non-empty string"),
        (("c_a", "other", "", " "), "flagged_by must be a non-empty string"),
    ],
)
def test_a_bad_flag_is_refused_with_a_clear_message(flags_file: Path, args, text) -> None:
    with pytest.raises(FlagError, match=text):
        add_flag(flags_file, *args)


def test_no_flags_file_means_no_flags(flags_file: Path) -> None:
    assert list_flags(flags_file).empty and not flags_file.exists()


def test_a_flag_follows_its_cluster_when_it_merges_into_another(flags_file: Path) -> None:
    first = assign_stable_ids(clusters("abcd", "ef"), None, run_id="r1", as_of=T0)
    merged = assign_stable_ids(clusters("abcdef"), first.clusters, run_id="r2", as_of=T0)
    flag_id = add_flag(flags_file, "c_e", "token_farm", "", "ana")
    changes = follow_flags(flags_file, pd.concat([first.history, merged.history]))
    assert changes.to_dict("records") == [
        {
            "flag_id": flag_id,
            "event": "moved",
            "from_cluster_id": "c_e",
            "to_cluster_id": "c_a",
            "history_run_id": "r2",
        }
    ]
    assert list_flags(flags_file)["cluster_id"].tolist() == ["c_a"]
    assert follow_flags(flags_file, pd.concat([first.history, merged.history])).empty  # idempotent


def test_a_flag_stays_on_the_piece_that_kept_the_id_after_a_split(flags_file: Path) -> None:
    first = assign_stable_ids(clusters("abcdef"), None, run_id="r1", as_of=T0)
    split = assign_stable_ids(clusters("abcd", "ef"), first.clusters, run_id="r2", as_of=T0)
    events = split.history.set_index("cluster_id")["event"].to_dict()
    assert events == {"c_a": "split", "c_e": "split"}
    add_flag(flags_file, "c_a", "money_laundering", "", "ana")
    assert follow_flags(flags_file, split.history).empty
    assert list_flags(flags_file)[["cluster_id", "status"]].values.tolist() == [["c_a", "active"]]


def test_a_flag_on_a_dissolved_cluster_is_kept_as_orphaned(flags_file: Path) -> None:
    first = assign_stable_ids(clusters("abcd", "ef"), None, run_id="r1", as_of=T0)
    gone = assign_stable_ids(clusters("abcd"), first.clusters, run_id="r2", as_of=T0)
    flag_id = add_flag(flags_file, "c_e", "other", "", "ana")
    changes = follow_flags(flags_file, gone.history)
    assert changes[["flag_id", "event"]].values.tolist() == [[flag_id, "orphaned"]]
    assert list_flags(flags_file)[["cluster_id", "status"]].values.tolist() == [["c_e", "orphaned"]]


def test_flags_survive_two_full_rebuilds_and_follow_a_merge_between_them(
    flags_file: Path, tmp_path: Path
) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    rebuild(con, "r1", "abcd", "efg", "hi")
    scam = add_flag(flags_file, "c_e", "scam_ring", "phishing kit", "ana")
    wash = add_flag(flags_file, "c_h", "wash_trading", "", "bo")
    history = rebuild(con, "r2", "abcd", "efgx", "hi")  # same groups, the schema dropped and rebuilt
    follow_flags(flags_file, history)
    history = rebuild(con, "r3", "abcdhi", "efgx")  # hi merges into abcd
    follow_flags(flags_file, history)
    con.close()
    flags = list_flags(flags_file).set_index("flag_id")
    assert flags.loc[scam, "cluster_id"] == "c_e" and flags.loc[wash, "cluster_id"] == "c_a"
    assert (flags["status"] == "active").all()
    assert flag_events(flags_file, wash)["event"].tolist() == ["added", "moved"]


def test_a_flag_can_be_written_while_a_reader_holds_the_file_open(flags_file: Path) -> None:
    add_flag(flags_file, "c_a", "other", "", "ana")
    reader = sqlite3.connect(flags_file)
    reader.execute("begin")
    assert reader.execute("select count(*) from flags").fetchone()[0] == 1
    add_flag(flags_file, "c_b", "other", "", "bo")  # WAL: the open read does not block the writer
    reader.execute("commit")
    assert reader.execute("select count(*) from flags").fetchone()[0] == 2
    reader.close()
