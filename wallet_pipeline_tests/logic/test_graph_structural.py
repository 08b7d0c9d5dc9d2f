"""Structural links on a bare sender/receiver list: stars, relay trees and chains come out whole.

The graph here has no time, no value and no hash: `raw.transactions` holds only `from_address` and
`to_address`, as a community sybil list or an address-pair export does. The burst and amount rules
cannot run on it; the structural rules (`funding_tree`, `collector`) must still recover each
planted group as exactly one cluster, and leave people who pay each other apart.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from wallet_pipeline.logic.graph import GraphConfig, build_edges, cluster_edges
from wallet_pipeline_tests.logic.test_graph import A

CFG = GraphConfig(features_table=None)


def pairs_db(pairs: list[tuple[str, str]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema raw")
    df = pd.DataFrame(pairs, columns=["from_address", "to_address"])  # noqa: F841
    con.execute("create table raw.transactions as select * from df")
    return con


def background(rng: np.random.Generator, first: int, n: int) -> list[tuple[str, str]]:
    """People paying each other: each is paid by two or three others, so nobody is "only funded by" one."""
    people = [A(first + i) for i in range(n)]
    out = []
    for i, p in enumerate(people):
        for k in rng.choice(np.delete(np.arange(n), i), size=int(rng.integers(2, 4)), replace=False):
            out.append((people[int(k)], p))
    return out


def star(funder: int, n: int) -> tuple[list[tuple[str, str]], set[str]]:
    members = [A(funder + 1 + i) for i in range(n)]
    return [(A(funder), m) for m in members], {A(funder), *members}


def relay_tree(funder: int, relays: int, per_relay: int) -> tuple[list[tuple[str, str]], set[str]]:
    out, group, nxt = [], {A(funder)}, funder + 1
    for _ in range(relays):
        relay = A(nxt)
        nxt += 1
        out.append((A(funder), relay))
        group.add(relay)
        for _ in range(per_relay):
            out.append((relay, A(nxt)))
            group.add(A(nxt))
            nxt += 1
    return out, group


def chain(first: int, length: int, collector: str) -> tuple[list[tuple[str, str]], set[str]]:
    """Each wallet funds the next; every member also pays a collector that many people pay."""
    members = [A(first + i) for i in range(length)]
    out = [(a, b) for a, b in zip(members, members[1:], strict=False)]
    out += [(m, collector) for m in members[1:]]
    return out, set(members)


def cluster_of(clusters: pd.DataFrame, group: set[str]) -> set[str]:
    ids = clusters[clusters["address"].isin(group)]["cluster_id"].unique()
    assert len(ids) == 1, f"group split into {len(ids)} clusters"
    return set(clusters.loc[clusters["cluster_id"] == ids[0], "address"])


def test_stars_relay_trees_and_chains_come_out_as_one_cluster_each_from_pairs_alone() -> None:
    rng = np.random.default_rng(7)
    people = background(rng, 10_000, 200)
    popular = A(10_000)  # a person many pay: the chains' members pay them too
    s_pairs, s = star(1_000, 8)
    t_pairs, t = relay_tree(2_000, 3, 5)
    c_pairs, c = chain(3_000, 9, popular)
    c2_pairs, c2 = chain(4_000, 5, popular)
    # A person who paid one newcomer, and one who paid three newcomers among many payees.
    casual = [(A(10_001), A(5_000))]
    generous = [(A(10_002), A(5_100 + i)) for i in range(3)] + [(A(10_002), A(10_010 + i)) for i in range(10)]
    con = pairs_db(people + s_pairs + t_pairs + c_pairs + c2_pairs + casual + generous)
    result = build_edges(con, CFG)
    assert "common_funder" in result.skipped_rules  # no time or value: the burst rules cannot run
    clusters = cluster_edges(result.edges, CFG).clusters
    for group in (s, t, c, c2):
        assert cluster_of(clusters, group) == group
    clustered = set(clusters["address"])
    assert A(5_000) not in clustered and A(10_001) not in clustered
    assert not clustered & {A(5_100 + i) for i in range(3)}
    # People paying each other stay apart: reciprocal or repeated payments are not common control.
    assert not clustered & {A(10_000 + i) for i in range(200)}


def test_a_tree_of_three_is_too_small_and_a_collector_paid_by_others_too_links_nobody() -> None:
    rng = np.random.default_rng(8)
    people = background(rng, 20_000, 60)
    small, _ = star(6_000, 2)  # a funder and two wallets: three wallets
    # Four wallets pay only A(20_000), who is also paid by the background people.
    payers = [(A(7_000 + i), A(20_000)) for i in range(4)]
    for i in range(4):
        payers.append((A(20_001 + i), A(7_000 + i)))  # each is funded by a person
    con = pairs_db(people + small + payers)
    e = build_edges(con, CFG).edges
    assert e[e["edge_type"] == "funding_tree"].empty
    assert e[e["edge_type"] == "collector"].empty


def test_wallets_paying_only_one_collector_sweep_to_it() -> None:
    rng = np.random.default_rng(9)
    people = background(rng, 30_000, 60)
    members = [A(8_000 + i) for i in range(6)]
    # Each member is funded by a different person (no funding tree) and pays only the collector.
    sweep = [(A(30_000 + i), m) for i, m in enumerate(members)] + [(m, A(8_100)) for m in members]
    con = pairs_db(people + sweep)
    e = build_edges(con, CFG).edges
    col = e[e["edge_type"] == "collector"]
    assert set(col["src"]) == set(members) and set(col["dst"]) == {A(8_100)}
    clusters = cluster_edges(e, CFG).clusters
    assert cluster_of(clusters, {*members, A(8_100)}) == {*members, A(8_100)}
