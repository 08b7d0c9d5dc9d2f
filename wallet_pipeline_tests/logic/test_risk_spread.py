"""Suspicion spread along perpetrator paths (`risk_spread`), on edges built by the real edge rules."""

from __future__ import annotations

import pandas as pd

from wallet_pipeline.logic.graph import GraphConfig, build_edges
from wallet_pipeline.logic.graph.risk import value_sent
from wallet_pipeline.logic.graph.risk_spread import (
    SpreadConfig,
    paid_perpetrators,
    perpetrator_spread,
    victim_side,
)
from wallet_pipeline_tests.logic.test_graph import ETH, A, db, tx

GCFG = GraphConfig(features_table=None)
DAY = 60 * 24


def spread_of(con, seeds: dict[str, float]) -> pd.DataFrame:
    edges = build_edges(con, GCFG).edges
    return perpetrator_spread(con, edges, pd.Series(seeds, dtype=float)).set_index("address")


def test_shared_victims_reach_an_unlabelled_accomplice_but_not_the_victims_or_their_friends() -> None:
    labelled, accomplice = A(1), A(2)
    victims = [A(100 + i) for i in range(3)]
    rows = []
    for i, v in enumerate(victims):
        rows += [tx(v, labelled, ETH, minutes=i * DAY), tx(v, accomplice, ETH, minutes=i * DAY + 5)]
    rows.append(tx(victims[0], A(500), ETH, minutes=9 * DAY))  # one victim pays a friend
    con = db(rows)
    sp = spread_of(con, {labelled: 1.0})
    # Two exclusive shared payers out of its three: near-certain for the path, which is itself
    # scaled by how often it reaches a perpetrator (`shared_payers_strength`).
    assert sp.at[accomplice, "spread"] > 0.75 * SpreadConfig().shared_payers_strength
    assert sp.at[accomplice, "paths"][0]["via"] == "shared_payers"
    assert not set(victims) & set(sp.index) and A(500) not in sp.index
    edges = build_edges(con, GCFG).edges
    assert paid_perpetrators(edges, pd.Series({labelled: 1.0})).reindex(victims).eq(1).all()


def test_the_first_funder_of_two_perpetrators_is_reached_and_a_later_payer_is_not() -> None:
    funder, d1, d2, payer = A(1), A(2), A(3), A(4)
    rows = [
        tx(funder, d1, 2 * ETH, minutes=0),
        tx(funder, d2, 2 * ETH, minutes=5),
        tx(d1, A(900), 0, minutes=60, input="0x60806040"),  # the deployers start signing after
        tx(d2, A(901), 0, minutes=65, input="0x60806040"),
        tx(payer, d1, ETH, minutes=3 * DAY),  # pays an operating perpetrator: a victim
    ]
    sp = spread_of(db(rows), {d1: 1.0, d2: 1.0})
    assert sp.at[funder, "spread"] == 1.0 and sp.at[funder, "paths"][0]["via"] == "funds"
    assert payer not in sp.index


def test_tied_paths_are_shown_in_the_same_order_whatever_order_the_seeds_and_rows_came_in() -> None:
    funder, d1, d2, d3 = A(1), A(2), A(3), A(4)
    rows = [tx(funder, d, 2 * ETH, minutes=5 * i) for i, d in enumerate((d1, d2, d3))]
    rows += [tx(d, A(900 + i), 0, minutes=60 + i, input="0x60806040") for i, d in enumerate((d1, d2, d3))]
    forward = spread_of(db(rows), {d1: 1.0, d2: 1.0, d3: 1.0}).at[funder, "paths"]
    backward = spread_of(db(rows[::-1]), {d3: 1.0, d2: 1.0, d1: 1.0}).at[funder, "paths"]
    assert forward == backward
    assert [p["source"] for p in forward] == sorted(p["source"] for p in forward)


def test_proceeds_reach_a_collector_then_its_deposit_address_in_the_second_round() -> None:
    d1, d2, collector, deposit = A(2), A(3), A(1), A(7)
    rows = [tx(d1, collector, 5 * ETH, minutes=0), tx(d2, collector, 5 * ETH, minutes=10)]
    rows.append(tx(collector, deposit, 9 * ETH, minutes=60))
    sp = spread_of(db(rows), {d1: 1.0, d2: 1.0})
    assert sp.at[collector, "spread"] == 1.0 and sp.at[collector, "paths"][0]["via"] == "proceeds"
    assert sp.at[deposit, "spread"] == 1.0 and sp.at[deposit, "paths"][0]["source"] == collector


def test_one_payment_from_a_perpetrator_among_many_senders_spreads_little() -> None:
    shop, scammer = A(1), A(2)
    rows = [tx(A(100 + i), shop, ETH, minutes=i) for i in range(19)] + [tx(scammer, shop, ETH, minutes=30)]
    sp = spread_of(db(rows), {scammer: 1.0})
    assert sp.at[shop, "spread"] <= 0.05 + 1e-9 or shop not in sp.index


def test_a_victim_whose_other_payments_left_no_flow_edge_is_on_the_victim_side_counting_what_it_signed() -> (
    None
):
    phisher, victim, farm_member, collector, exchange = A(1), A(2), A(3), A(4), A(4000)
    rows = [tx(victim, phisher, ETH, minutes=DAY), tx(victim, phisher, ETH, minutes=2 * DAY)]
    rows.append(tx(victim, A(500), ETH // 10, minutes=3 * DAY))  # a friend
    # Its deposits at the exchange, a hub the graph keeps out of its edges.
    rows += [tx(victim, exchange, ETH // 5, minutes=(4 + k) * DAY) for k in range(6)]
    rows += [tx(A(600 + k), exchange, ETH, minutes=k) for k in range(400)]
    # A farm member claims with calls carrying no ETH and sweeps to its collector: no life of its own.
    rows += [tx(farm_member, A(3000), 0, minutes=k * DAY, input="0x12345678") for k in range(4)]
    rows.append(tx(farm_member, collector, ETH, minutes=5 * DAY))
    con = db(rows)
    edges = build_edges(con, GCFG).edges
    seeds = pd.Series({phisher: 1.0, collector: 1.0})
    # Counted over the flow edges alone, two of its three transfers went to the phisher.
    assert victim not in victim_side(edges, seeds)
    signed = value_sent(con, "raw")
    assert signed[victim] == 9 and signed[farm_member] == 1
    assert victim in victim_side(edges, seeds, signed=signed)
    assert farm_member not in victim_side(edges, seeds, signed=signed)
