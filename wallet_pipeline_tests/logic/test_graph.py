from __future__ import annotations

import itertools

import duckdb
import numpy as np
import pandas as pd
import pytest

from wallet_pipeline.logic.graph import GraphConfig, bcubed, build_edges, cluster_edges, label_propagation
from wallet_pipeline.logic.ingestion.raw_schema import RAW_TABLES

T0 = pd.Timestamp("2024-07-01 00:00:00")
ETH = 10**18
CFG = GraphConfig(features_table=None)
_hash = itertools.count(1)


def A(i: int) -> str:
    return "0x" + f"{i:040x}"


def tx(src, dst, value=ETH, minutes=0, input="0x", status=1) -> dict:
    h = "0x" + f"{next(_hash):064x}"
    return {
        "hash": h,
        "block_number": 1,
        "from_address": src,
        "to_address": dst,
        "value": value,
        "input": input,
        "block_timestamp": T0 + pd.Timedelta(minutes=minutes),
        "receipt_status": status,
    }


def tok(token, src, dst, value, signer=None, minutes=0) -> tuple[dict, dict]:
    """A token transfer and its transaction (signed by `signer`, the sender by default)."""
    t = tx(signer or src, token, 0, minutes, "0xa9059cbb")
    row = {
        "token_address": token,
        "from_address": src,
        "to_address": dst,
        "value": str(value),
        "transaction_hash": t["hash"],
        "log_index": 0,
        "block_number": 1,
        "block_timestamp": t["block_timestamp"],
    }
    return t, row


def db(transactions=(), token_transfers=(), labels=(), tokens=(), creations=(), nft_trades=()):
    con = duckdb.connect()
    con.execute("create schema raw")
    for t in RAW_TABLES.values():
        con.execute(t.create_sql())
    for name, rows in (
        ("transactions", transactions),
        ("token_transfers", token_transfers),
        ("address_labels", labels),
        ("tokens", tokens),
        ("contract_creations", creations),
        ("nft_trades", nft_trades),
    ):
        if rows:
            df = pd.DataFrame(list(rows))  # noqa: F841
            cols = ", ".join(df.columns)
            con.execute(f"insert into raw.{name} ({cols}) select {cols} from df")
    return con


def edges_of(con, cfg=CFG, kind=None) -> pd.DataFrame:
    e = build_edges(con, cfg).edges
    return e if kind is None else e[e["edge_type"] == kind]


def pairs(e: pd.DataFrame) -> set[frozenset]:
    return {frozenset((s, d)) for s, d in zip(e["src"], e["dst"], strict=True)}


def together(clusters: pd.DataFrame, *addrs: str) -> bool:
    ids = clusters.set_index("address")["cluster_id"].reindex(list(addrs))
    return ids.notna().all() and ids.nunique() == 1


def test_payments_between_two_people_are_evidence_but_never_join_them_on_their_own() -> None:
    # Reciprocal, repeated and single payments: measured precision 0.01-0.56 (docs/graph.md).
    con = db(
        [tx(A(1), A(2)), tx(A(2), A(1), minutes=5), tx(A(3), A(4))]
        + [tx(A(5), A(6), minutes=m) for m in range(3)]
    )
    e = edges_of(con, kind="direct_transfer").set_index(["src", "dst"])["weight"]
    assert e[(A(1), A(2))] == CFG.direct_reciprocal_weight
    assert e[(A(3), A(4))] == CFG.direct_single_weight
    assert e[(A(5), A(6))] == CFG.direct_repeat_weight
    assert max(e) < CFG.min_cluster_weight
    assert cluster_edges(edges_of(con), CFG).clusters.empty


def test_unsolicited_dust_and_zero_value_token_transfers_add_no_link() -> None:
    token = A(900)
    t1, r1 = tok(token, A(10), A(11), 0)  # zero value, signed by the sender
    t2, r2 = tok(token, A(12), A(11), 5 * 10**18, signer=A(13))  # signed by a third party
    t3, r3 = tok(token, A(14), A(11), 10**15)  # 0.001 token: dust
    dust = tx(A(15), A(11), value=10**12)  # 1e-6 ETH
    con = db([t1, t2, t3, dust], [r1, r2, r3], tokens=[{"address": token, "decimals": 18}])
    e = edges_of(con, kind="direct_transfer")
    assert A(11) not in set(e["src"]) | set(e["dst"])


def test_common_funder_links_fresh_wallets_funded_alike_but_not_exchange_withdrawals() -> None:
    funder, hot = A(20), A(21)
    rows = [tx(funder, A(100 + i), value=ETH // 10 + i * 10**14, minutes=i) for i in range(4)]
    rows += [tx(hot, A(200 + i), value=ETH // 10, minutes=i) for i in range(4)]
    labels = [{"address": hot, "label_type": "exchange", "name": "Binance 1", "source": "t"}]
    e = edges_of(db(rows, labels=labels), kind="common_funder")
    assert set(e["src"]) == {funder} and set(e["dst"]) == {A(100 + i) for i in range(4)}


def test_common_funder_ignores_amounts_far_from_the_burst_median() -> None:
    funder = A(20)
    rows = [tx(funder, A(100 + i), value=ETH // 10, minutes=i) for i in range(3)]
    rows.append(tx(funder, A(150), value=5 * ETH, minutes=4))
    e = edges_of(db(rows), kind="common_funder")
    assert A(150) not in set(e["dst"]) and len(e) == 3


def test_sweep_links_wallets_that_all_forward_to_one_collector_in_a_burst() -> None:
    rows = [tx(A(300 + i), A(30), minutes=10 * i) for i in range(5)]
    rows += [tx(A(400 + i), A(31), minutes=10 * i) for i in range(4)]  # too few senders
    e = edges_of(db(rows), kind="sweep")
    assert set(e["dst"]) == {A(30)} and len(e) == 5


def test_deposit_address_links_one_users_wallets_but_not_two_users_of_one_exchange() -> None:
    hot = A(40)
    dep1, dep2 = A(41), A(42)
    rows = [
        tx(A(50), dep1, value=2 * ETH),
        tx(A(51), dep1, value=ETH, minutes=60),
        tx(dep1, hot, value=3 * ETH, minutes=90),
        tx(A(52), dep2, value=ETH, minutes=30),
        tx(dep2, hot, value=ETH, minutes=95),
    ]
    labels = [{"address": hot, "label_type": "exchange", "name": "Kraken 1", "source": "t"}]
    con = db(rows, labels=labels)
    e = edges_of(con, kind="deposit_address")
    assert set(e["dst"]) == {dep1, dep2}
    clusters = cluster_edges(edges_of(con), CFG).clusters
    assert together(clusters, A(50), A(51), dep1)
    assert together(clusters, A(52), dep2)
    assert not together(clusters, A(50), A(52))
    assert hot not in set(clusters["address"])


def test_a_shared_deposit_address_forwarding_equally_to_two_hot_wallets_joins_the_smaller_one() -> None:
    # A tie in what the deposit address forwards: every run must pick the same hot wallet (and its
    # evidence), not whichever the grouping met last.
    hot_a, hot_b, dep = A(60), A(61), A(62)
    rows = [tx(A(70 + i), dep, value=ETH, minutes=i) for i in range(4)]
    rows += [tx(dep, hot_b, value=2 * ETH, minutes=30), tx(dep, hot_a, value=2 * ETH, minutes=31)]
    labels = [
        {"address": h, "label_type": "exchange", "name": f"Kraken {i}", "source": "t"}
        for i, h in enumerate((hot_a, hot_b))
    ]
    for _ in range(3):
        e = edges_of(db(rows, labels=labels), kind="service_deposit")
        assert list(zip(e["src"], e["dst"], strict=True)) == [(dep, hot_a)]
        assert list(e["evidence"].iloc[0]) == [rows[-1]["hash"]]


def test_a_wallet_swapping_on_a_labelled_pool_is_no_deposit_address() -> None:
    # A labelled DEX pool is a hub by its label but a contract all the same: a person paid tokens
    # by a friend who sells them on it forwards nothing to an exchange (fresh world 3200: 454 of
    # 2,921 deposit links over ten worlds pointed at such people).
    pool, token, friend, person = A(43), A(44), A(45), A(46)
    t1, r1 = tok(token, friend, person, 5 * ETH)
    t2, r2 = tok(token, person, pool, 5 * ETH, minutes=30)
    labels = [{"address": pool, "label_type": "dex", "name": "Uniswap V2: TOK", "source": "t"}]
    assert edges_of(db([t1, t2], [r1, r2], labels=labels), kind="deposit_address").empty


def test_a_popular_token_links_nobody_and_rare_shared_tokens_do() -> None:
    popular, rare1, rare2 = A(60), A(61), A(62)
    txs, rows = [], []
    for i in range(60):  # 60 holders of the popular token
        t, r = tok(popular, A(70), A(1000 + i), 10**18)
        txs.append(t)
        rows.append(r)
    for token in (rare1, rare2):
        for h in (A(1000), A(1001)):
            t, r = tok(token, A(71), h, 10**18)
            txs.append(t)
            rows.append(r)
    con = db(txs, rows)
    e = edges_of(con, kind="token_cohold")
    assert pairs(e) == {frozenset((A(1000), A(1001)))}
    assert (e["weight"] <= CFG.cohold_weight_cap).all()


def test_co_creation_links_a_deployer_to_whoever_moves_its_token_out_of_other_addresses() -> None:
    deployer, token, signer = A(80), A(81), A(82)
    t, r = tok(token, A(83), A(84), 10**18, signer=signer)
    creations = [{"address": token, "creator_address": deployer}]
    e = edges_of(db([t], [r], creations=creations), kind="co_creation")
    assert pairs(e) == {frozenset((deployer, signer))}


def test_fingerprint_links_wallets_calling_one_method_together_repeatedly() -> None:
    quest = A(90)
    rows = []
    for k in range(3):
        for w in (A(91), A(92)):
            rows.append(tx(w, quest, 0, minutes=120 * k + 1, input="0x12345678"))
    rows.append(tx(A(93), quest, 0, minutes=1, input="0x12345678"))  # only once together
    e = edges_of(db(rows), kind="fingerprint")
    assert pairs(e) == {frozenset((A(91), A(92)))}


def test_fingerprint_counts_one_moment_once_whatever_the_methods_called_in_it() -> None:
    # Two people who each approve two tokens and swap in the same half hour, once: three shared
    # (method, window) pairs but one meeting. Counted per method they were a fingerprint; in a
    # short fresh world (seed 3205) such pairs made 143 of the rule's 254 links, all wrong.
    router, token_a, token_b = A(94), A(95), A(96)
    rows = []
    for w, minute in ((A(97), 3), (A(98), 7)):
        rows.append(tx(w, token_a, 0, minutes=minute, input="0x095ea7b3"))
        rows.append(tx(w, token_b, 0, minutes=minute + 1, input="0x095ea7b3"))
        rows.append(tx(w, router, 0, minutes=minute + 2, input="0x7ff36ab5"))
    assert edges_of(db(rows), kind="fingerprint").empty


def test_peel_forward_links_a_hop_to_the_wallet_it_forwards_most_of_its_funds_to() -> None:
    rows = [tx(A(110), A(111), value=10 * ETH), tx(A(111), A(112), value=9 * ETH, minutes=30)]
    rows += [tx(A(113), A(114), value=10 * ETH), tx(A(114), A(115), value=2 * ETH, minutes=30)]
    e = edges_of(db(rows), kind="peel_forward")
    assert set(zip(e["src"], e["dst"], strict=True)) == {(A(111), A(112))}


def test_nft_repeat_trades_link_a_wash_trading_pair_only() -> None:
    trades = [
        {"block_time": T0, "block_number": 1, "tx_hash": f"0x{i:064x}", "evt_index": 0,
         "nft_contract_address": A(120), "token_id": "1", "buyer": b, "seller": s}
        for i, (b, s) in enumerate([(A(121), A(122)), (A(122), A(121)), (A(121), A(122)), (A(123), A(124))])
    ]  # fmt: skip
    e = edges_of(db(nft_trades=trades), kind="nft_repeat_trade")
    assert pairs(e) == {frozenset((A(121), A(122)))}


def test_poisoning_links_the_operator_to_its_look_alike_and_not_to_the_victim() -> None:
    usdt = A(130)
    victim, payee, operator = A(131), "0xabcde" + "1" * 31 + "f00d", A(133)
    lookalike = "0xabcde" + "2" * 31 + "f00d"
    t1, r1 = tok(usdt, victim, payee, 100 * 10**6)
    t2, r2 = tok(usdt, lookalike, victim, 0, signer=operator, minutes=5)
    con = db([t1, t2], [r1, r2], tokens=[{"address": usdt, "decimals": 6}])
    e = edges_of(con, kind="poisoning")
    assert set(zip(e["src"], e["dst"], strict=True)) == {(operator, lookalike)}


def test_transfers_with_a_labelled_scammer_get_a_scam_label_edge() -> None:
    labels = [{"address": A(140), "label_type": "scam", "name": "rug", "source": "t"}]
    e = edges_of(db([tx(A(140), A(141))], labels=labels), kind="scam_label")
    assert pairs(e) == {frozenset((A(140), A(141)))}


def test_hub_guard_drops_edges_to_contracts_labelled_hubs_and_high_degree_wallets() -> None:
    router, bridge, busy = A(150), A(151), A(152)
    rows = [
        tx(A(160), router),
        tx(router, A(160), minutes=1),
        tx(A(161), bridge),
        tx(bridge, A(161), minutes=1),
    ]
    rows += [tx(busy, A(2000 + i), minutes=i) for i in range(5)] + [tx(A(2000), busy, minutes=10)]
    labels = [{"address": bridge, "label_type": "bridge", "name": "b", "source": "t"}]
    creations = [{"address": router, "creator_address": A(170)}]
    res = build_edges(
        db(rows, labels=labels, creations=creations), GraphConfig(features_table=None, hub_min_degree=5)
    )
    touched = set(res.edges["src"]) | set(res.edges["dst"])
    assert not touched & {router, bridge, busy}
    assert set(res.hubs["address"]) >= {router, bridge, busy}
    assert res.dropped_by_hub_guard > 0


def test_hubs_of_one_exchange_may_cluster_together_without_gluing_users() -> None:
    h1, h2 = A(180), A(181)
    rows = [tx(h1, h2), tx(h2, h1, minutes=1), tx(h1, A(182), minutes=2), tx(A(182), h1, minutes=3)]
    labels = [{"address": h, "label_type": "exchange", "name": "X", "source": "t"} for h in (h1, h2)]
    clusters = cluster_edges(edges_of(db(rows, labels=labels)), CFG).clusters
    assert together(clusters, h1, h2) and A(182) not in set(clusters["address"])


def _two_triangles_and_bridge() -> pd.DataFrame:
    e = [(A(1), A(2)), (A(2), A(3)), (A(1), A(3)), (A(4), A(5)), (A(5), A(6)), (A(4), A(6)), (A(3), A(4))]
    return pd.DataFrame({"src": [a for a, _ in e], "dst": [b for _, b in e], "weight": [1.0] * 6 + [0.4]})


def test_clustering_is_deterministic_for_a_seed_and_ids_do_not_depend_on_it() -> None:
    e = _two_triangles_and_bridge()
    runs = [cluster_edges(e, GraphConfig(seed=s)).clusters for s in (1, 1, 2, 3)]
    pd.testing.assert_frame_equal(runs[0], runs[1])
    for r in runs:
        assert together(r, A(1), A(2), A(3)) and together(r, A(4), A(5), A(6))
        assert not together(r, A(1), A(6))
        assert set(r["cluster_id"]) == {"c_" + A(1), "c_" + A(4)}


def test_label_propagation_finds_planted_communities_on_a_larger_graph() -> None:
    rng = np.random.default_rng(0)
    n, k = 2_000, 20
    a = rng.integers(0, n, 20_000)
    b = (a // k) * k + rng.integers(0, k, 20_000)
    keep = a != b
    labels, _ = label_propagation(n, a[keep], b[keep], np.ones(int(keep.sum())), seed=0)
    truth = pd.Series(np.arange(n) // k)
    score = bcubed(truth, pd.Series(labels))
    assert score["precision"].mean() > 0.95 and score["recall"].mean() > 0.9


def test_louvain_is_an_alternative_method_with_the_same_output() -> None:
    clusters = cluster_edges(_two_triangles_and_bridge(), GraphConfig(method="louvain")).clusters
    assert together(clusters, A(1), A(2), A(3)) and not together(clusters, A(1), A(6))
    with pytest.raises(ValueError):
        cluster_edges(_two_triangles_and_bridge(), GraphConfig(method="nope"))


def test_a_super_cluster_glued_by_one_wallet_is_split_and_reported() -> None:
    rows = []
    for g in range(4):  # four 5-cliques, each tied to one glue wallet
        members = [A(500 + 10 * g + i) for i in range(5)]
        rows += [(x, y, 1.0) for x, y in itertools.combinations(members, 2)]
        rows += [(A(499), members[0], 1.0), (A(499), members[1], 1.0)]
    e = pd.DataFrame(rows, columns=["src", "dst", "weight"])
    res = cluster_edges(e, GraphConfig(max_cluster_size=8, method="louvain", louvain_resolution=0.01))
    assert res.super_clusters and res.super_clusters[0]["hubs"] == [A(499)]
    assert res.clusters["cluster_size"].max() == 5
    assert A(499) not in set(res.clusters["address"])


def test_a_star_super_cluster_is_reported_but_not_split() -> None:
    e = pd.DataFrame({"src": [A(1)] * 20, "dst": [A(100 + i) for i in range(20)], "weight": 1.0})
    res = cluster_edges(e, GraphConfig(max_cluster_size=10))
    assert res.super_clusters[0]["split_into"] == 0 and res.clusters["cluster_size"].max() == 21


def test_bad_input_is_dropped_and_counted() -> None:
    rows = [
        tx(A(1), A(1)),  # self transfer
        tx(A(2), A(3), value=0),  # zero value
        tx(A(2), "0x" + "0" * 40),  # to the zero address
        tx(A(4), A(5), status=0),  # failed
    ]
    rows.append(dict(rows[-1]))  # duplicate row
    con = db(rows, labels=[{"address": A(999), "label_type": "exchange", "name": "ghost", "source": "t"}])
    res = build_edges(con, CFG)
    assert len(res.edges) == 0
    assert res.bad_input["eth_self_transfers"] == 1
    assert res.bad_input["eth_zero_value"] == 1
    assert res.bad_input["eth_to_burn"] == 1
    assert res.bad_input["eth_failed"] == 1
    assert res.bad_input["transactions_duplicate_rows"] == 1
    assert cluster_edges(res.edges, CFG).clusters.empty


def test_repeated_token_transfers_and_transactions_count_once() -> None:
    # Deduplication runs only when the input repeats itself (a plain join otherwise): a transfer
    # loaded twice, and its transaction loaded twice, still make one transfer signed by its sender.
    t, row = tok(A(900), A(1), A(2), 10**18)
    poke_t, poke = tok(A(900), A(3), A(4), 10**18, signer=A(5))
    con = db([t, dict(t), poke_t, dict(poke_t)], [row, dict(row), poke])
    res = build_edges(con, CFG)
    assert res.bad_input["token_duplicate_rows"] == 1
    assert res.bad_input["token_not_initiated_by_sender"] == 1
    direct = res.edges[(res.edges["edge_type"] == "direct_transfer") & (res.edges["src"] == A(1))]
    assert direct[["dst", "n"]].values.tolist() == [[A(2), 1]]


def test_duplicate_edges_merge_and_an_empty_graph_clusters_to_nothing() -> None:
    e = pd.DataFrame({"src": [A(1), A(1), A(2)], "dst": [A(2), A(2), A(1)], "weight": [0.2, 0.2, 0.2]})
    assert together(cluster_edges(e, CFG).clusters, A(1), A(2))  # 0.6 in total passes 0.3
    assert cluster_edges(pd.DataFrame(columns=["src", "dst", "weight"]), CFG).clusters.empty
    assert build_edges(db(), CFG).edges.empty


def test_rules_needing_missing_columns_are_skipped_and_reported() -> None:
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute("create table raw.transactions (from_address varchar, to_address varchar)")
    con.execute(f"insert into raw.transactions values ('{A(1)}', '{A(2)}'), ('{A(2)}', '{A(1)}')")
    res = build_edges(con, CFG)
    assert {"common_funder", "peel_forward", "fingerprint", "nft_repeat_trade"} <= set(res.skipped_rules)
    assert "direct_transfer" not in res.skipped_rules
    assert pairs(res.edges[res.edges["edge_type"] == "direct_transfer"]) == {frozenset((A(1), A(2)))}


def test_bcubed_scores_a_merge_and_a_split() -> None:
    truth = pd.Series(["a", "a", "b", "b"])
    merged = bcubed(truth, pd.Series(["x", "x", "x", "x"]))
    assert merged["precision"].tolist() == [0.5] * 4 and merged["recall"].tolist() == [1.0] * 4
    split = bcubed(truth, pd.Series(["x", "y", "z", "w"]))
    assert split["precision"].tolist() == [1.0] * 4 and split["recall"].tolist() == [0.5] * 4


def test_deployer_funding_links_a_funder_to_the_deployer_that_pays_it_back_only() -> None:
    funder, deployer, token = A(400), A(401), A(402)
    person, newcomer = A(410), A(411)
    stingy, deployer2, token2 = A(420), A(421), A(422)
    rows = [
        tx(funder, deployer, value=5 * ETH),
        tx(A(403), deployer, value=ETH, minutes=10),  # a later payer is not the funder
        tx(deployer, funder, value=20 * ETH, minutes=600),  # the launch's proceeds swept back
        # A person paying a newcomer who pays back more, with no deployment in between.
        tx(person, newcomer, value=ETH),
        tx(newcomer, person, value=2 * ETH, minutes=600),
        # A deployer that pays back less than it was funded with.
        tx(stingy, deployer2, value=5 * ETH),
        tx(deployer2, stingy, value=ETH, minutes=600),
    ]
    creations = [
        {"address": token, "creator_address": deployer},
        {"address": token2, "creator_address": deployer2},
    ]
    con = db(rows, creations=creations)
    e = edges_of(con, kind="deployer_funding")
    assert set(zip(e["src"], e["dst"], strict=True)) == {(funder, deployer)}
    assert e["n"].iloc[0] == 2 and len(e["evidence"].iloc[0]) == 2  # the funding and the sweep
    clusters = cluster_edges(edges_of(con), CFG).clusters
    assert together(clusters, funder, deployer)
    assert not together(clusters, person, newcomer)
    assert not together(clusters, stingy, deployer2)
