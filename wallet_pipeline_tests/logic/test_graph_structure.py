from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from wallet_pipeline.logic.graph import GraphConfig
from wallet_pipeline.logic.graph.evidence import EVIDENCE_COLUMNS, evidence_chains, explain_link
from wallet_pipeline.logic.graph.structure import (
    BRIDGE_COLUMNS,
    LINK_COLUMNS,
    SUB_CLUSTER_COLUMNS,
    StructureConfig,
    bridge_wallets,
    cluster_links,
    sub_clusters,
)
from wallet_pipeline_tests.logic.test_graph import A, db, tok

T0 = pd.Timestamp("2024-07-01")
CFG = StructureConfig(sub_cluster_min_size=10)
_hash = itertools.count(1)


def edge(
    src: int, dst: int, weight: float = 1.0, edge_type: str = "direct_transfer", minutes: int = 0
) -> dict:
    t = T0 + pd.Timedelta(minutes=minutes)
    h = "0x" + f"{next(_hash):064x}"
    return {
        "src": A(src),
        "dst": A(dst),
        "edge_type": edge_type,
        "directed": True,
        "weight": weight,
        "first_time": t,
        "last_time": t,
        "n": 1,
        "evidence": [h],
    }


def edges(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def clusters(groups: dict[str, list[int]]) -> pd.DataFrame:
    rows = [(A(i), cid, len(members)) for cid, members in groups.items() for i in members]
    return pd.DataFrame(rows, columns=["address", "cluster_id", "cluster_size"])


def two_cliques_joined_by_one_edge() -> tuple[pd.DataFrame, pd.DataFrame]:
    left, right = range(1, 7), range(11, 17)
    rows = [edge(a, b) for g in (left, right) for a, b in itertools.combinations(g, 2)]
    rows.append(edge(6, 11))
    return edges(*rows), clusters({"c_big": [*left, *right]})


def test_sub_clusters_split_two_dense_groups_joined_by_one_edge():
    e, cl = two_cliques_joined_by_one_edge()
    out = sub_clusters(e, cl, CFG)
    subs = out.groupby("sub_cluster_id")["address"].agg(frozenset)
    assert set(subs) == {frozenset(A(i) for i in range(1, 7)), frozenset(A(i) for i in range(11, 17))}
    assert set(out["sub_cluster_id"]) == {"s_" + A(1), "s_" + A(11)}


def test_sub_clusters_are_null_for_small_clusters_and_deterministic():
    e, cl = two_cliques_joined_by_one_edge()
    small = clusters({"c_small": [30, 31]})
    e = pd.concat([e, edges(edge(30, 31))], ignore_index=True)
    cl = pd.concat([cl, small], ignore_index=True)
    out = sub_clusters(e, cl, CFG)
    assert out.set_index("address").loc[[A(30), A(31)], "sub_cluster_id"].isna().all()
    pd.testing.assert_frame_equal(out, sub_clusters(e.sample(frac=1, random_state=1), cl, CFG))


def test_weak_edges_do_not_shape_sub_clusters():
    e, cl = two_cliques_joined_by_one_edge()
    # Many weak edges across the two groups (below min_cluster_weight) must not merge them.
    weak = [edge(a, b, weight=0.1) for a in range(1, 7) for b in range(11, 17)]
    out = sub_clusters(pd.concat([e, edges(*weak)], ignore_index=True), cl, CFG)
    assert out["sub_cluster_id"].nunique() == 2


def test_the_middle_of_a_path_is_an_articulation_point():
    e = edges(edge(1, 2), edge(2, 3), edge(4, 5), edge(5, 6), edge(6, 4))
    out = bridge_wallets(e, clusters({"c_path": [1, 2, 3], "c_triangle": [4, 5, 6]}), CFG)
    assert out["address"].tolist() == [A(2)]
    assert out["is_articulation"].tolist() == [True]
    assert out["bridge_reason"].tolist() == ["articulation"]
    assert out["linked_clusters"].tolist() == [[]]


def test_a_weak_in_cluster_edge_does_not_prevent_an_articulation_point():
    # 1-3 is weak (not clustering strength), so 2 still holds the cluster together.
    e = edges(edge(1, 2), edge(2, 3), edge(1, 3, weight=0.1))
    out = bridge_wallets(e, clusters({"c_path": [1, 2, 3]}), CFG)
    assert out.loc[out["is_articulation"], "address"].tolist() == [A(2)]


def test_a_wallet_with_an_edge_into_another_cluster_is_a_bridge():
    e = edges(edge(1, 2), edge(3, 4), edge(2, 3, weight=0.1), edge(2, 99))
    out = bridge_wallets(e, clusters({"c_a": [1, 2], "c_b": [3, 4]}), CFG).set_index("address")
    assert sorted(out.index) == [A(2), A(3)]
    assert out.loc[A(2), "linked_clusters"] == ["c_b"]
    assert out.loc[A(3), "linked_clusters"] == ["c_a"]
    assert set(out["bridge_reason"]) == {"cross_cluster"}


def test_bridge_min_weight_ignores_lighter_cross_cluster_edges():
    e = edges(edge(1, 2), edge(3, 4), edge(2, 3, weight=0.1))
    out = bridge_wallets(e, clusters({"c_a": [1, 2], "c_b": [3, 4]}), StructureConfig(bridge_min_weight=0.3))
    assert len(out) == 0


def test_transfers_between_clusters_give_one_transfer_link_with_their_hashes():
    cross = [edge(2, 3, weight=0.1, minutes=5), edge(4, 1, weight=0.6, minutes=1, edge_type="fingerprint")]
    e = edges(edge(1, 2), edge(3, 4), *cross)
    con = db()
    out = cluster_links(con, e, clusters({"c_b": [3, 4], "c_a": [1, 2]}), CFG)
    assert len(out) == 1
    row = out.iloc[0]
    assert (row["cluster_a"], row["cluster_b"], row["link_type"]) == ("c_a", "c_b", "transfer")
    assert row["n"] == 2 and row["weight"] == pytest.approx(0.7)
    assert row["evidence"] == [cross[1]["evidence"][0], cross[0]["evidence"][0]]  # earliest first
    assert row["edge_types"] == "direct_transfer,fingerprint"
    assert row["first_time"] == T0 + pd.Timedelta(minutes=1)


def test_a_rare_token_shared_across_clusters_links_them_and_a_popular_one_does_not():
    rare, popular = A(0xAAA), A(0xBBB)
    transfers = [tok(rare, A(500), A(1), 10), tok(rare, A(500), A(3), 10, minutes=60)]
    transfers += [tok(popular, A(500), A(i), 10) for i in [1, 3, *range(600, 660)]]
    con = db(transactions=[t for t, _ in transfers], token_transfers=[r for _, r in transfers])
    e = edges(edge(1, 2), edge(3, 4))
    out = cluster_links(con, e, clusters({"c_a": [1, 2], "c_b": [3, 4]}), CFG)
    assert out["link_type"].tolist() == ["shared_token"]
    row = out.iloc[0]
    assert row["evidence"] == [rare]
    assert row["n"] == 1 and row["weight"] == pytest.approx(1 / np.log(3))
    assert row["first_time"] == T0 + pd.Timedelta(minutes=60)  # when both clusters held it


def test_evidence_chain_of_a_path_lists_every_hop_with_its_hashes():
    # b is the anchor: its in-cluster weight (1.0 + 0.9) is the highest.
    ab, bc, cd = edge(1, 2), edge(2, 3, weight=0.9), edge(3, 4, weight=0.5)
    extra = edge(3, 4, weight=0.1, edge_type="token_cohold")
    e = edges(ab, bc, cd, extra)
    out = evidence_chains(e, clusters({"c_p": [1, 2, 3, 4]}), CFG)
    d = out[out["address"] == A(4)]
    assert d["hop"].tolist() == [1, 2]
    assert set(out["anchor"]) == {A(2)}
    assert d["src"].tolist() == [A(2), A(3)] and d["dst"].tolist() == [A(3), A(4)]
    assert d["evidence"].tolist() == [bc["evidence"], cd["evidence"] + extra["evidence"]]
    assert d["edge_type"].tolist() == ["direct_transfer", "direct_transfer,token_cohold"]
    assert d["weight"].tolist() == pytest.approx([0.9, 0.6])


def test_evidence_chain_from_the_end_of_a_path_has_three_hops():
    # The anchor is a (heaviest in-cluster weight), so d is three hops away.
    e = edges(edge(1, 2, weight=2.0), edge(2, 3), edge(3, 4), edge(1, 5, weight=1.5))
    out = evidence_chains(e, clusters({"c_p": [1, 2, 3, 4, 5]}), CFG)
    d = out[out["address"] == A(4)]
    assert d["hop"].tolist() == [1, 2, 3]
    assert list(zip(d["src"], d["dst"], strict=True)) == [(A(1), A(2)), (A(2), A(3)), (A(3), A(4))]
    assert all(len(h) == 1 for h in d["evidence"])


def test_evidence_chain_prefers_fewer_hops_then_the_heavier_edge():
    # 1 is the anchor; 4 is two hops away through 2 (weight 1.0) or 3 (weight 2.0).
    e = edges(edge(1, 2, weight=3.0), edge(1, 3, weight=3.0), edge(2, 4), edge(3, 4, weight=2.0))
    out = evidence_chains(e, clusters({"c": [1, 2, 3, 4]}), CFG)
    d = out[out["address"] == A(4)]
    assert d["src"].tolist() == [A(1), A(3)]


def test_every_clustered_wallet_has_a_chain_and_each_anchor_a_hop_zero_row():
    e, cl = two_cliques_joined_by_one_edge()
    e = pd.concat([e, edges(edge(30, 31), edge(31, 32, weight=0.1))], ignore_index=True)
    # Wallet 32 has no in-cluster edge of clustering strength: it is its own anchor.
    cl = pd.concat([cl, clusters({"c_small": [30, 31, 32]})], ignore_index=True)
    out = evidence_chains(e, cl, CFG)
    assert set(out["address"]) == set(cl["address"])
    roots = out[out["hop"] == 0]
    assert (roots["address"] == roots["anchor"]).all() and roots["edge_type"].isna().all()
    assert A(32) in set(roots["address"])
    chained = out[out["hop"] > 0].groupby("address").last()
    assert (chained["dst"] == chained.index).all()  # each chain ends at its wallet


def test_explain_link_lists_every_edge_of_the_pair_heaviest_first():
    e = edges(edge(1, 2, weight=0.1), edge(2, 1, weight=0.8, edge_type="peel_forward"), edge(1, 3))
    out = explain_link(e, A(1), A(2))
    assert out["edge_type"].tolist() == ["peel_forward", "direct_transfer"]


@pytest.mark.parametrize("empty_edges", [None, edges()])
def test_empty_inputs_give_empty_frames_with_the_right_columns(empty_edges):
    no_clusters = clusters({})
    con = db()
    assert sub_clusters(empty_edges, no_clusters, CFG).columns.tolist() == SUB_CLUSTER_COLUMNS
    assert bridge_wallets(empty_edges, no_clusters, CFG).columns.tolist() == BRIDGE_COLUMNS
    assert cluster_links(con, empty_edges, no_clusters, CFG).columns.tolist() == LINK_COLUMNS
    assert evidence_chains(empty_edges, no_clusters, CFG).columns.tolist() == EVIDENCE_COLUMNS
    for f in (sub_clusters, bridge_wallets, evidence_chains):
        assert len(f(empty_edges, no_clusters, CFG)) == 0


def test_clusters_without_edges_still_get_chains_and_no_bridges():
    cl = clusters({"c_a": [1, 2]})
    out = evidence_chains(edges(), cl, CFG)
    assert sorted(out["address"]) == [A(1), A(2)] and (out["hop"] == 0).all()
    assert len(bridge_wallets(edges(), cl, CFG)) == 0


def test_config_from_graph_copies_the_clustering_threshold():
    cfg = StructureConfig.from_graph(GraphConfig(min_cluster_weight=0.5, seed=7), sub_cluster_min_size=5)
    assert (cfg.min_cluster_weight, cfg.seed, cfg.sub_cluster_min_size) == (0.5, 7, 5)
