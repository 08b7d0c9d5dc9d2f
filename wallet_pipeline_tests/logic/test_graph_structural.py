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
    s_pairs, s = star(1_000, 12)
    t_pairs, t = relay_tree(2_000, 3, 5)
    c_pairs, c = chain(3_000, 11, popular)
    c2_pairs, c2 = chain(4_000, 14, popular)
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
    members = [A(8_000 + i) for i in range(12)]
    # Each member is funded by a different person (no funding tree) and pays only the collector,
    # which hands it all to one wallet (its owner's exchange account).
    sweep = [(A(30_000 + i), m) for i, m in enumerate(members)] + [(m, A(8_100)) for m in members]
    sweep.append((A(8_100), A(8_200)))
    con = pairs_db(people + sweep)
    e = build_edges(con, CFG).edges
    col = e[e["edge_type"] == "collector"]
    assert set(col["src"]) == set(members) and set(col["dst"]) == {A(8_100)}
    clusters = cluster_edges(e, CFG).clusters
    assert cluster_of(clusters, {*members, A(8_100)}) == {*members, A(8_100)}


def exchange(hot: int, customers: int) -> list[tuple[str, str]]:
    """An exchange hot wallet: customers deposit to it and it pays withdrawals to others (a service)."""
    out = [(A(hot + 1 + i), A(hot)) for i in range(customers)]
    return out + [(A(hot), A(hot + 1_000 + i)) for i in range(customers)]


def test_members_that_also_withdraw_from_an_exchange_stay_in_their_tree() -> None:
    rng = np.random.default_rng(10)
    people = background(rng, 40_000, 80)
    ex = exchange(50_000, 12)
    s_pairs, s = star(9_000, 14)
    c_pairs, c = chain(9_100, 12, A(40_000))
    members = sorted(s - {A(9_000)})[:6] + sorted(c - {A(9_100)})[:4]
    withdrawals = [(A(50_000), m) for m in members]  # a second payer, but a service
    con = pairs_db(people + ex + s_pairs + c_pairs + withdrawals)
    clusters = cluster_edges(build_edges(con, CFG).edges, CFG).clusters
    assert cluster_of(clusters, s) == s
    assert cluster_of(clusters, c) == c
    # The exchange is no one's funder: its customers and withdrawers stay alone.
    assert not set(clusters["address"]) & {A(50_000), *(A(50_001 + i) for i in range(12))}


def test_an_exchange_wallet_paying_customers_of_its_own_exchange_is_no_funder() -> None:
    rng = np.random.default_rng(11)
    people = background(rng, 60_000, 80)
    ex = exchange(70_000, 12)
    # A withdrawal wallet refilled by the hot wallet pays 15 customers who also withdraw from the
    # hot wallet: one service's two wallets, not an operator and its farm.
    hot, payout = A(70_000), A(71_000)
    customers = [A(72_000 + i) for i in range(15)]
    pairs = [(hot, payout)] + [(payout, w) for w in customers] + [(hot, w) for w in customers]
    con = pairs_db(people + ex + pairs)
    e = build_edges(con, CFG).edges
    assert e[(e["edge_type"] == "funding_tree") & (e["weight"] >= CFG.min_cluster_weight)].empty
    assert not set(cluster_edges(e, CFG).clusters["address"]) & {payout, *customers}


def test_small_trees_and_collectors_are_evidence_only() -> None:
    rng = np.random.default_rng(12)
    people = background(rng, 80_000, 80)
    small_star, star_wallets = star(11_000, 5)  # six wallets: what people paying people look like
    five = [A(12_000 + i) for i in range(5)]
    small_collector = [(A(80_000 + i), w) for i, w in enumerate(five)] + [(w, A(12_100)) for w in five]
    small_collector.append((A(12_100), A(12_200)))
    con = pairs_db(people + small_star + small_collector)
    e = build_edges(con, CFG).edges
    tree = e[e["edge_type"] == "funding_tree"]
    col = e[e["edge_type"] == "collector"]
    assert set(tree["dst"]) == star_wallets - {A(11_000)} and (tree["weight"] == CFG.tree_small_weight).all()
    assert set(col["src"]) == set(five) and (col["weight"] == CFG.collector_small_weight).all()
    clustered = set(cluster_edges(e, CFG).clusters["address"])
    assert not clustered & (star_wallets | set(five) | {A(12_100)})


def test_a_collector_that_pays_no_wallet_or_pays_many_people_links_nobody() -> None:
    rng = np.random.default_rng(13)
    people = background(rng, 90_000, 80)
    # A token sale: fifteen buyers pay only it, and it never pays a wallet.
    sale = [(A(13_000 + i), A(13_100)) for i in range(15)]
    # A popular person: fifteen people pay only them, and they pay five friends.
    popular = [(A(14_000 + i), A(14_100)) for i in range(15)] + [(A(14_100), A(90_000 + i)) for i in range(5)]
    con = pairs_db(people + sale + popular)
    e = build_edges(con, CFG).edges
    assert e[e["edge_type"] == "collector"].empty
    assert not set(cluster_edges(e, CFG).clusters["address"]) & {A(13_100), A(14_100)}


def test_a_farm_whose_wallets_pay_each_other_and_its_funder_comes_out_whole() -> None:
    rng = np.random.default_rng(14)
    people = background(rng, 100_000, 80)
    f_pairs, farm = star(15_000, 14)
    members = sorted(farm - {A(15_000)})
    # Members pay each other and two pay the funder back: the funder is in a cycle with its farm,
    # and most members have several payers, all of them inside the farm.
    inner = [(members[i], members[(i + 3) % len(members)]) for i in range(len(members))]
    inner += [(members[0], A(15_000)), (members[5], A(15_000))]
    # A payout address paying many people (a pool) pays a tree member: not the one who funded it.
    t_pairs, tree = relay_tree(16_000, 3, 4)
    pool = [(A(17_000), A(100_000 + i)) for i in range(12)] + [(A(17_000), sorted(tree)[3])]
    con = pairs_db(people + f_pairs + inner + t_pairs + pool)
    e = build_edges(con, CFG).edges
    clusters = cluster_edges(e, CFG).clusters
    assert cluster_of(clusters, farm) == farm
    assert cluster_of(clusters, tree) == tree
    assert A(17_000) not in set(clusters["address"])


def test_a_payout_address_paying_many_people_and_one_farm_funder_stays_out_of_the_farm() -> None:
    rng = np.random.default_rng(15)
    people = background(rng, 110_000, 60)
    f_pairs, farm = star(18_000, 14)
    # A payout address pays 40 newcomers who do nothing else, and the farm's funder: all 41 are
    # only paid by it, but only the funder pays wallets of its own.
    payout = [(A(19_000), A(19_001 + i)) for i in range(40)] + [(A(19_000), A(18_000))]
    con = pairs_db(people + f_pairs + payout)
    clusters = cluster_edges(build_edges(con, CFG).edges, CFG).clusters
    assert cluster_of(clusters, farm) == farm
    # The payout's own star stays whole: it is the link into the farm that weighs little.
    assert cluster_of(clusters, {A(19_000), A(19_001)}) == {A(19_000)} | {A(19_001 + i) for i in range(40)}
