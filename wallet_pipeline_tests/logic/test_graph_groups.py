"""Group rules (peel chains, wash cycles), the fingerprint share, and the entity steps end to end."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pandas as pd

from wallet_pipeline.logic.graph import GraphConfig, build_edges, cluster_edges
from wallet_pipeline.logic.graph.entities import build_entities, score_entities, write_entities
from wallet_pipeline.logic.graph.store import GRAPH_SCHEMA, replace_tables
from wallet_pipeline_tests.logic.test_graph import CFG, ETH, A, db, edges_of, pairs, together, tok, tx


def _chain(first: int, hops: int, start: int = 0) -> list[dict]:
    """A source pays the first hop; each hop forwards 95% of what it got to the next within an hour."""
    rows, value = [tx(A(first - 1), A(first), value=100 * ETH, minutes=start)], 100 * ETH
    for k in range(hops):
        value = value * 95 // 100
        rows.append(tx(A(first + k), A(first + k + 1), value=value, minutes=start + 30 * (k + 1)))
    return rows


def test_a_peel_chain_joins_every_hop_but_not_the_wallet_it_pays_at_the_end() -> None:
    e = edges_of(db(_chain(200, 6)), kind="peel_chain")
    hops = {A(200 + k) for k in range(6)}
    assert set(e["src"]) == {A(200)}  # the first hop to forward is the root
    assert set(e["dst"]) == hops - {A(200)}
    assert A(206) not in set(e["dst"])  # the last payee receives, it does not forward
    assert all(len(ev) >= 1 for ev in e["evidence"])
    clusters = cluster_edges(edges_of(db(_chain(200, 6))), CFG).clusters
    assert clusters.loc[clusters["address"].isin(hops), "cluster_id"].nunique() == 1


def test_a_short_forwarding_run_is_not_a_peel_chain() -> None:
    # Three hops: someone moving their money on twice is ordinary.
    assert edges_of(db(_chain(300, 2)), kind="peel_chain").empty


def _ring(members: list[str], token: str, rounds: int, amount: int = 5 * 10**18) -> tuple[list, list]:
    txs, rows = [], []
    for r in range(rounds):
        for i, m in enumerate(members):
            t, row = tok(
                token, m, members[(i + 1) % len(members)], amount, minutes=60 * (r * len(members) + i)
            )
            txs.append(t)
            rows.append(row)
    return txs, rows


def test_a_token_passed_round_a_ring_at_one_amount_joins_the_ring() -> None:
    token = A(400)
    ring = [A(401), A(402), A(403), A(404)]
    txs, rows = _ring(ring, token, rounds=3)
    # A pair trading back and forth is not a ring of three or more.
    t2, r2 = _ring([A(410), A(411)], token, rounds=4)
    e = edges_of(db(txs + t2, rows + r2, tokens=[{"address": token, "decimals": 18}]), kind="wash_cycle")
    assert set(e["src"]) == {A(401)}
    assert set(e["dst"]) == set(ring) - {A(401)}


def test_a_ring_cut_by_the_window_after_two_rounds_is_still_a_wash_cycle() -> None:
    # An 8-day window (fresh world 3205) held a six-wallet ring's third round for all hops but the
    # last: seen twice, that hop kept the whole ring Minimal when three rounds were needed.
    token = A(430)
    ring = [A(431), A(432), A(433), A(434), A(435), A(436)]
    txs, rows = _ring(ring, token, rounds=2)
    # One round is a payment passed on, not a ring.
    t2, r2 = _ring([A(440), A(441), A(442)], token, rounds=1)
    e = edges_of(db(txs + t2, rows + r2, tokens=[{"address": token, "decimals": 18}]), kind="wash_cycle")
    assert set(e["src"]) | set(e["dst"]) == set(ring)


def test_a_ring_whose_amounts_differ_is_not_a_wash_cycle() -> None:
    token = A(420)
    txs, rows = [], []
    for r in range(3):
        for i, (a, b) in enumerate([(A(421), A(422)), (A(422), A(423)), (A(423), A(421))]):
            t, row = tok(token, a, b, (10 + 7 * i + 3 * r) * 10**18, minutes=60 * (3 * r + i))
            txs.append(t)
            rows.append(row)
    assert edges_of(db(txs, rows, tokens=[{"address": token, "decimals": 18}]), kind="wash_cycle").empty


def test_fingerprint_ignores_busy_wallets_that_meet_by_chance() -> None:
    market = A(500)
    rows = []
    # Two busy traders call the marketplace 20 times each; three of those fall in one window.
    for k in range(20):
        rows.append(tx(A(501), market, 0, minutes=120 * k + 1, input="0xab12cd34"))
        rows.append(
            tx(A(502), market, 0, minutes=120 * k + 61 if k >= 3 else 120 * k + 2, input="0xab12cd34")
        )
    assert edges_of(db(rows), kind="fingerprint").empty
    # The same three meetings are a fingerprint when that is all the two ever did.
    rows = [
        tx(w, market, 0, minutes=120 * k + 1, input="0xab12cd34") for k in range(3) for w in (A(503), A(504))
    ]
    assert pairs(edges_of(db(rows), kind="fingerprint")) == {frozenset((A(503), A(504)))}


def test_labels_for_addresses_that_never_transact_are_counted() -> None:
    labels = [{"address": A(999), "label_type": "scam", "name": "ghost", "source": "t"}]
    res = build_edges(db([tx(A(1), A(2))], labels=labels), CFG)
    assert res.bad_input["labels_for_unseen_addresses"] == 1


def _stored_graph(con: duckdb.DuckDBPyConnection) -> None:
    build_edges(con, GraphConfig(features_table=None))
    replace_tables(
        con, GRAPH_SCHEMA, {"wallet_edges": "select * from g_edges", "hubs": "select * from g_hubs"}
    )


def test_a_graph_with_no_edges_gives_empty_entity_tables_and_a_score_for_every_wallet() -> None:
    con = db([tx(A(1), A(2), value=0), tx(A(3), A(4))])  # a zero-value and a single weak transfer
    _stored_graph(con)
    built = build_entities(con, run_id="r1", as_of=datetime(2024, 8, 1))
    written = write_entities(con, built)
    assert written["wallet_clusters"] == 0 and written["cluster_links"] == 0
    scored = score_entities(con, run_id="r1")
    assert scored.stats["total_clusters"] == 0
    wallets = scored.tables["wallet_risk"]
    assert {A(3), A(4)} <= set(wallets["address"])
    assert wallets["cluster_id"].isna().all()


def test_entity_steps_keep_cluster_ids_when_a_wallet_joins_and_record_the_growth() -> None:
    # A(2) is the only payer of three wallets: a funding star (payments between people would not do).
    rows = [tx(A(2), A(3)), tx(A(2), A(4)), tx(A(2), A(5))]
    con = db(rows)
    _stored_graph(con)
    write_entities(con, build_entities(con, run_id="r1", as_of=datetime(2024, 8, 1)))
    first = con.sql("select distinct cluster_id from entities.wallet_clusters").df()["cluster_id"].tolist()
    # A new wallet, with a smaller address than every member, funded by A(2) alone.
    new = pd.DataFrame([tx(A(2), A(1))])  # noqa: F841 - read by DuckDB
    con.execute(f"insert into raw.transactions ({', '.join(new.columns)}) select * from new")
    _stored_graph(con)
    write_entities(con, build_entities(con, run_id="r2", as_of=datetime(2024, 8, 4)))
    after = con.sql("select address, cluster_id from entities.wallet_clusters").df()
    assert after["cluster_id"].unique().tolist() == first == [f"c_{A(2)}"]
    assert A(1) in set(after["address"])
    history = con.sql(
        "select run_id, event, wallets_added from entities.cluster_history order by run_id"
    ).df()
    assert history.to_dict("records") == [
        {"run_id": "r1", "event": "new", "wallets_added": 4},
        {"run_id": "r2", "event": "grew", "wallets_added": 1},
    ]


def test_scores_of_a_clean_group_stay_minimal_and_keep_their_breakdown() -> None:
    rows = [tx(A(1), A(2)), tx(A(1), A(3)), tx(A(1), A(4))]  # a funding star of four
    con = db(rows)
    _stored_graph(con)
    write_entities(con, build_entities(con, run_id="r1", as_of=datetime(2024, 8, 1)))
    clusters = score_entities(con, run_id="r1").tables["clusters"]
    assert len(clusters) == 1
    row = clusters.iloc[0]
    assert row["scam_rate"] == 0 and row["known_scammers"] == 0
    assert row["risk_level"] in ("Minimal", "Low")
    assert set(json.loads(row["risk_breakdown"])) == {"scam_rate", "reputation", "density", "known_scammers"}


def test_moving_zero_tokens_out_of_someone_else_proves_no_control_of_the_token() -> None:
    # Any ERC-20 lets anyone transferFrom zero tokens: the poisoner's trick, not the deployer's hand.
    deployer, token, poisoner = A(600), A(601), A(602)
    t, r = tok(token, A(603), A(604), 0, signer=poisoner)
    creations = [{"address": token, "creator_address": deployer}]
    tokens = [{"address": token, "decimals": 18}]
    assert edges_of(db([t], [r], tokens=tokens, creations=creations), kind="co_creation").empty


def _peeling_chain(first: int, hops: int, deposit: str, peelers: list[int]) -> list[dict]:
    """A peel chain whose hops `peelers` (offsets) each peel 1 ETH into `deposit` before forwarding."""
    rows, value = [tx(A(first - 1), A(first), value=100 * ETH)], 100 * ETH
    for k in range(hops):
        if k in peelers:
            rows.append(tx(A(first + k), deposit, value=ETH, minutes=30 * k + 10))
            value -= ETH
        value = value * 97 // 100
        rows.append(tx(A(first + k), A(first + k + 1), value=value, minutes=30 * (k + 1)))
    return rows


def test_a_deposit_address_whose_every_sender_is_a_hop_of_one_chain_joins_the_chain() -> None:
    hot = A(500)
    own, shared = A(501), A(502)
    rows = _peeling_chain(600, 9, own, [0, 3, 6])
    rows.append(tx(own, hot, value=3 * ETH, minutes=400))
    # A deposit address two hops and a stranger pay into stays a weak link.
    rows += _peeling_chain(700, 9, shared, [1, 4])
    rows += [tx(A(800), shared, value=ETH, minutes=50), tx(shared, hot, value=3 * ETH, minutes=400)]
    labels = [{"address": hot, "label_type": "exchange", "name": "Kraken 1", "source": "t"}]
    con = db(rows, labels=labels)
    e = edges_of(con)
    chain_dep = e[e["edge_type"] == "chain_deposit"]
    assert set(zip(chain_dep["src"], chain_dep["dst"], strict=True)) == {(A(600 + k), own) for k in (0, 3, 6)}
    assert (chain_dep["weight"] == CFG.chain_deposit_weight).all()
    clusters = cluster_edges(e, CFG).clusters
    assert together(clusters, own, *[A(600 + k) for k in range(9)])
    assert not together(clusters, shared, A(701))
    assert not together(clusters, A(800), A(701))


def test_weak_links_into_a_peel_chain_do_not_join_its_payer_but_a_sole_funder_stays() -> None:
    source = A(899)  # a collector paid by three victims, labelled a scammer, pays the chain's first hop
    victims = [tx(A(880 + k), source, value=40 * ETH, minutes=-60 + k) for k in range(3)]
    labels = [{"address": source, "label_type": "scam", "name": "Fake_Phishing1", "source": "t"}]
    con = db(victims + _chain(900, 6), labels=labels)
    e = edges_of(con)
    entry = e[
        e["edge_type"].isin(["scam_label", "funding_tree"]) & (e["src"] == source) & (e["dst"] == A(900))
    ]
    assert set(entry["edge_type"]) == {"scam_label", "funding_tree"}
    assert (entry["weight"] == CFG.chain_entry_weight).all()
    clusters = cluster_edges(e, CFG).clusters
    assert together(clusters, *[A(900 + k) for k in range(6)])
    assert not together(clusters, source, A(900))
    # Without the chain the same two links (a hand-off 0.3 and a label 0.5) join the payer to its payee.
    plain = db(victims + [tx(source, A(950), value=100 * ETH)], labels=labels)
    assert together(cluster_edges(edges_of(plain), CFG).clusters, source, A(950))
    # A funder that is the chain's only payer and paid by nobody keeps its strong funding link (a
    # tree of 12 wallets: trees of up to 10 are evidence only, as people paying people are).
    sole = edges_of(db(_chain(900, 10)))
    link = sole[(sole["edge_type"] == "funding_tree") & (sole["src"] == A(899))]
    assert (link["weight"] == CFG.tree_weight).all() and len(link) == 1
