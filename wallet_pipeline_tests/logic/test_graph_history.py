from __future__ import annotations

import json

import duckdb
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from wallet_pipeline.logic.graph.export import cluster_bundle, cluster_graph, write_cluster
from wallet_pipeline.logic.graph.history import (
    HISTORY_COLUMNS,
    _greedy_match,
    assign_stable_ids,
    history_table_sql,
    issued_ids,
)

T0 = pd.Timestamp("2024-07-01")


def members(groups: dict[str, str]) -> pd.DataFrame:
    """address, cluster_id from {id: "abc"}: each letter is a wallet."""
    rows = [(a, cid) for cid, wallets in groups.items() for a in wallets]
    return pd.DataFrame(rows, columns=["address", "cluster_id"])


def fresh(*groups: str) -> pd.DataFrame:
    """Clustering output: ids are "c_" + smallest member, as cluster_edges names them."""
    return members({"c_" + min(g): g for g in groups})


def run(current, previous=None, **kw):
    return assign_stable_ids(current, previous, run_id="r", as_of=T0, **kw)


def row(res, cluster_id) -> dict:
    h = res.history.set_index("cluster_id")
    return h.loc[cluster_id].to_dict()


def ids(res) -> dict[str, str]:
    """Stable id of each cluster, keyed by its sorted members."""
    c = res.clusters
    return {"".join(sorted(g["address"])): cid for cid, g in c.groupby("cluster_id")}


def test_first_run_marks_every_cluster_new_and_keeps_fresh_ids():
    res = run(fresh("abc", "de"))
    assert res.history["event"].tolist() == ["new", "new"]
    assert ids(res) == {"abc": "c_a", "de": "c_d"}
    assert list(res.history.columns) == HISTORY_COLUMNS
    assert row(res, "c_a")["size"] == 3 and row(res, "c_a")["previous_size"] == 0
    assert res.changes["address"].tolist() == list("abcde")
    assert res.changes["previous_id"].isna().all()


def test_same_membership_keeps_ids_and_is_unchanged():
    prev = members({"K1": "abc", "K2": "de"})
    res = run(fresh("abc", "de"), prev)
    assert ids(res) == {"abc": "K1", "de": "K2"}
    assert set(res.history["event"]) == {"unchanged"}
    assert res.changes.empty


def test_cluster_gaining_a_smaller_address_keeps_its_id_and_grows():
    prev = members({"K1": "bcd"})
    res = run(fresh("abcd"), prev)  # fresh id would become c_a
    assert ids(res) == {"abcd": "K1"}
    r = row(res, "K1")
    assert (r["event"], r["wallets_added"], r["wallets_departed"], r["previous_size"]) == ("grew", 1, 0, 3)
    assert res.changes.to_dict("records") == [{"address": "a", "previous_id": None, "cluster_id": "K1"}]


def test_losing_and_gaining_wallets_is_changed_and_losing_only_is_shrank():
    prev = members({"K1": "abcd", "K2": "wxyz"})
    res = run(fresh("abce", "wxy"), prev)
    assert row(res, "K1")["event"] == "changed"
    assert row(res, "K2")["event"] == "shrank"
    assert row(res, "K2")["wallets_departed"] == 1


def test_merge_keeps_the_bigger_clusters_id_and_records_merged_from():
    prev = members({"K1": "abcd", "K2": "xy"})
    res = run(fresh("abcdxy"), prev)
    assert ids(res) == {"abcdxy": "K1"}
    assert (row(res, "K1")["event"], row(res, "K1")["related_ids"]) == ("merged", ["K2"])
    assert (row(res, "K2")["event"], row(res, "K2")["related_ids"], row(res, "K2")["size"]) == (
        "merged_into",
        ["K1"],
        0,
    )


def test_split_keeps_the_id_on_the_biggest_piece_and_links_both_ways():
    prev = members({"K1": "abcdef"})
    res = run(fresh("abcd", "ef"), prev)
    assert ids(res) == {"abcd": "K1", "ef": "c_e"}
    assert (row(res, "c_e")["event"], row(res, "c_e")["related_ids"]) == ("split", ["K1"])
    assert (row(res, "K1")["event"], row(res, "K1")["related_ids"]) == ("split", ["c_e"])


def test_cluster_whose_wallets_all_left_is_dissolved():
    prev = members({"K1": "abc", "K2": "xy"})
    res = run(fresh("abc"), prev)
    r = row(res, "K2")
    assert (r["event"], r["size"], r["wallets_departed"], r["related_ids"]) == ("dissolved", 0, 2, [])


def test_new_cluster_taking_a_minority_of_an_old_one_gets_a_new_id():
    # 1 of K1's 4 wallets among 4 newcomers: 1/4 of K1 and 1/5 of the new cluster, below 0.5.
    prev = members({"K1": "abcd"})
    res = run(fresh("avwxy"), prev)
    assert ids(res) == {"avwxy": "c_a"}
    assert row(res, "c_a")["event"] == "new"
    assert row(res, "K1")["event"] == "dissolved"


def test_dead_id_is_never_reused_even_when_the_fresh_id_collides():
    first = run(fresh("ab"))
    gone = assign_stable_ids(
        fresh("xy"), first.clusters, run_id="r2", as_of=T0, used_ids=issued_ids(first.history)
    )
    assert row(gone, "c_a")["event"] == "dissolved"
    history = pd.concat([first.history, gone.history])
    back = assign_stable_ids(fresh("ac"), gone.clusters, run_id="r3", as_of=T0, used_ids=issued_ids(history))
    assert ids(back)["ac"] == "c_a_2"
    assert row(back, "c_a_2")["event"] == "new"


def test_fresh_id_equal_to_a_living_id_gets_a_suffix():
    # Wallet a moves to a new group; its old cluster keeps "c_a" and the new group cannot take it.
    prev = members({"c_a": "abcde"})
    res = run(fresh("bcde", "afg"), prev)
    assert ids(res) == {"bcde": "c_a", "afg": "c_a_2"}
    moved = res.changes.set_index("address")
    assert moved.loc["a"].tolist() == ["c_a", "c_a_2"]
    assert moved.loc["f"].tolist() == [None, "c_a_2"]
    assert "b" not in moved.index


def test_history_carries_first_and_last_activity_of_members():
    activity = pd.DataFrame(
        {
            "address": ["a", "b", "x"],
            "first_time": [T0, T0 + pd.Timedelta(days=1), T0],
            "last_time": [T0 + pd.Timedelta(days=3), T0 + pd.Timedelta(days=5), T0],
        }
    )
    res = run(fresh("ab", "xy"), activity=activity)
    r = row(res, "c_a")
    assert (r["first_activity"], r["last_activity"]) == (T0, T0 + pd.Timedelta(days=5))


def test_result_does_not_depend_on_row_order():
    prev = members({"K1": "abcdef", "K2": "gh", "K3": "mnop"})
    cur = fresh("abcgh", "def", "mn", "op", "qr")
    a = run(cur, prev)
    b = run(cur.sample(frac=1, random_state=1), prev.sample(frac=1, random_state=2))
    pd.testing.assert_frame_equal(a.history, b.history)
    assert ids(a) == ids(b)


def test_equal_overlaps_go_to_the_smaller_previous_id():
    prev = members({"K2": "ab", "K1": "cd"})
    res = run(fresh("abcd"), prev)
    assert ids(res) == {"abcd": "K1"}
    assert row(res, "K1")["related_ids"] == ["K2"]


def test_history_rows_append_to_the_duckdb_history_table_and_read_back_ids():
    con = duckdb.connect()
    con.execute(history_table_sql("cluster_history"))
    first = run(fresh("ab"))
    con.register("h", first.history)
    con.execute("insert into cluster_history select * from h")
    stored = con.execute("select * from cluster_history").df()
    assert stored["related_ids"].map(list).tolist() == [[]]
    assert issued_ids(stored) == {"c_a"}


def test_wallet_in_two_clusters_is_refused():
    with pytest.raises(ValueError, match="more than one cluster"):
        run(members({"c_a": "ab", "c_b": "b"}))


# Exports.


@pytest.fixture
def graph_db():
    con = duckdb.connect()
    con.execute("create schema graph")
    con.execute(
        """create table graph.clusters as select 'c_a' as cluster_id, 3 as cluster_size, 0.8 as risk_score,
        'high' as risk_level, '{"sybil": 0.6, "scam": 0.2}' as risk_breakdown,
        timestamp '2024-07-01 00:00:00' as first_activity"""
    )
    con.execute(
        """create table graph.wallet_clusters as select * from (values
        ('a', 'c_a', 'c_a.1', false), ('b', 'c_a', 'c_a.1', true), ('c', 'c_a', 'c_a.2', false),
        ('x', 'c_x', 'c_x.1', false)) t(address, cluster_id, sub_cluster_id, is_bridge)"""
    )
    con.execute(
        """create table graph.cluster_edges as select * from (values
        ('c_a', 'a', 'b', 'common_funder', true, 1.0, timestamp '2024-07-01 00:00:00',
         timestamp '2024-07-02 00:00:00', 2, ['0x01', '0x02']),
        ('c_a', 'a', 'b', 'fingerprint', false, 0.5, timestamp '2024-07-01 00:00:00',
         timestamp '2024-07-01 00:00:00', 1, ['0x03']),
        ('c_a', 'b', 'c', 'sweep', true, 1.0, timestamp '2024-07-03 00:00:00',
         timestamp '2024-07-03 00:00:00', 1, []::varchar[]))
        t(cluster_id, src, dst, edge_type, directed, weight, first_time, last_time, n, evidence)"""
    )
    con.execute(
        """create table graph.wallet_risk as select * from (values ('a', 0.9, 'high'), ('b', null, null))
        t(address, risk_score, risk_level)"""
    )
    return con


def test_bundle_of_unknown_cluster_names_the_id_and_how_to_list_ids(graph_db):
    with pytest.raises(ValueError, match=r"'c_nope'.*select cluster_id from graph.clusters"):
        cluster_bundle(graph_db, "c_nope")


def test_bundle_holds_members_with_risk_and_only_this_clusters_edges(graph_db):
    b = cluster_bundle(graph_db, "c_a")
    assert b["members"]["address"].tolist() == ["a", "b", "c"]
    assert b["members"].set_index("address").loc["a", "risk_score"] == 0.9
    assert len(b["edges"]) == 3
    assert b["evidence"].empty  # no cluster_evidence table
    assert b["cluster"]["risk_level"] == "high"


def test_json_export_keeps_lists_iso_times_and_nested_breakdown(graph_db, tmp_path):
    [path] = write_cluster(cluster_bundle(graph_db, "c_a"), "json", tmp_path / "c_a.json")
    doc = json.loads(path.read_text())
    assert doc["cluster"]["risk_breakdown"] == {"sybil": 0.6, "scam": 0.2}
    assert doc["cluster"]["first_activity"] == "2024-07-01T00:00:00"
    assert doc["edges"][0]["evidence"] == ["0x01", "0x02"]
    assert doc["members"][1]["risk_score"] is None
    assert doc["members"][1]["is_bridge"] is True


def test_csv_export_writes_members_and_an_edges_file_next_to_it(graph_db, tmp_path):
    paths = write_cluster(cluster_bundle(graph_db, "c_a"), "csv", tmp_path / "c_a.csv")
    assert [p.name for p in paths] == ["c_a.csv", "c_a_edges.csv"]
    m = pd.read_csv(paths[0])
    e = pd.read_csv(paths[1])
    assert m["address"].tolist() == ["a", "b", "c"]
    assert e.loc[0, "evidence"] == "0x01 0x02"
    assert e.loc[0, "first_time"] == "2024-07-01T00:00:00"


def test_graphml_round_trip_gives_back_nodes_and_parallel_edges(graph_db, tmp_path):
    [path] = write_cluster(cluster_bundle(graph_db, "c_a"), "graphml", tmp_path / "c_a.graphml")
    g = nx.read_graphml(path, force_multigraph=True)
    assert sorted(g.nodes) == ["a", "b", "c"]
    assert g.nodes["b"]["is_bridge"] is True
    assert "risk_score" not in g.nodes["b"]  # null left out
    edges = sorted(
        (u, v, d["edge_type"], d["evidence"] if "evidence" in d else "") for u, v, d in g.edges(data=True)
    )
    assert edges == [
        ("a", "b", "common_funder", "0x01 0x02"),
        ("a", "b", "fingerprint", "0x03"),
        ("b", "c", "sweep", ""),
    ]
    assert g.graph["risk_level"] == "high"


def test_graph_marks_edge_endpoints_outside_the_cluster():
    bundle = {
        "cluster_id": "c_a",
        "cluster": {"cluster_id": "c_a"},
        "members": pd.DataFrame({"address": ["a"], "cluster_id": ["c_a"]}),
        "edges": pd.DataFrame(
            {"src": ["a"], "dst": ["z"], "edge_type": ["sweep"], "weight": [1.0], "evidence": [["0x1"]]}
        ),
    }
    g = cluster_graph(bundle)
    assert g.nodes["a"]["in_cluster"] is True and g.nodes["z"]["in_cluster"] is False


def test_unknown_format_is_refused(graph_db, tmp_path):
    with pytest.raises(ValueError, match="unknown format 'xlsx'"):
        write_cluster(cluster_bundle(graph_db, "c_a"), "xlsx", tmp_path / "c_a.xlsx")


def plain_greedy(p, c) -> list[int]:
    taken_p, taken_c, out = set(), set(), []
    for i, (pi, ci) in enumerate(zip(p.tolist(), c.tolist(), strict=True)):
        if pi not in taken_p and ci not in taken_c:
            taken_p.add(pi)
            taken_c.add(ci)
            out.append(i)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_vectorized_matching_equals_plain_greedy_on_random_candidates(seed):
    rng = np.random.default_rng(seed)
    pairs = np.unique(rng.integers(0, 40, size=(300, 2)), axis=0)
    pairs = pairs[rng.permutation(len(pairs))]  # any fixed order is a valid "best first" order
    p, c = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    acc, _ = _greedy_match(p, c)
    assert acc.tolist() == plain_greedy(p, c)


def test_long_candidate_chain_is_finished_by_the_plain_loop_with_the_same_result():
    # (0,0), (1,0), (1,1), (2,1), ...: only one mutual-best pair per round.
    k = 60
    p = np.repeat(np.arange(k), 2)[1:]
    c = np.repeat(np.arange(k), 2)[:-1]
    acc, rounds = _greedy_match(p, c)
    assert rounds == 20
    assert acc.tolist() == plain_greedy(p, c)
