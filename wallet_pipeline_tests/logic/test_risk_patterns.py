"""Risk on small planted chains, through the real edge rules, clustering, reputation and scoring.

Each unlabelled pattern (rug pull, honeypot, wash cycle, farm) must reach High on its own, and
victims who pay a labelled phisher must stay at Low or below.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from wallet_pipeline.logic.graph import GraphConfig, build_edges, cluster_edges
from wallet_pipeline.logic.graph.reputation import wallet_reputation
from wallet_pipeline.logic.graph.risk import (
    RiskConfig,
    evidence_for,
    rugged_tokens,
    score_clusters,
    score_wallets,
)
from wallet_pipeline_tests.logic.test_graph import ETH, T0, A, db, tok, tx
from wallet_pipeline_tests.logic.test_graph_risk import add_dex
from wallet_pipeline_tests.logic.test_graph_structural import pairs_db

GCFG = GraphConfig(features_table=None)
RCFG = RiskConfig(rug_min_buyers=5)
HIGH = ("High", "Critical")
DAY = 60 * 24
HOT = A(4000)
EXCHANGE = [{"address": HOT, "label_type": "exchange", "name": "Kraken 1", "source": "t"}]
WETH, POOL = A(800), A(801)


def score(con) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(wallet scores, cluster scores) the way the entity steps compute them."""
    edges = build_edges(con, GCFG).edges
    clusters = cluster_edges(edges, GCFG).clusters[["address", "cluster_id"]]
    evidence = evidence_for(con, edges, RCFG)
    rep = wallet_reputation(con, features_table=None, bad_addresses=evidence["address"])
    cs = score_clusters(con, edges, clusters, rep, RCFG, evidence=evidence)
    ws = score_wallets(con, edges, clusters, rep, cs, RCFG, evidence=evidence)
    return ws.set_index("address"), cs


def ordinary_history(i: int, start_day: int = 0) -> list[dict]:
    """A retail wallet: funded from an exchange, then pays a few friends of its own over two months."""
    w = A(i)
    rows = [tx(HOT, w, 2 * ETH, minutes=start_day * DAY)]
    rows += [tx(w, A(5000 + 10 * i + k), ETH // 10, minutes=(start_day + 10 * k + 1) * DAY) for k in range(6)]
    return rows


def trade(taker: str, bought: str, sold: str, usd: float, hours: float) -> dict:
    return {"block_time": T0 + pd.Timedelta(hours=hours), "tx_hash": f"0xt{taker}{bought}{hours}",
            "taker": taker, "tx_from": taker, "token_bought_address": bought, "token_sold_address": sold,
            "amount_usd": usd, "project_contract_address": POOL}  # fmt: skip


def test_victims_who_pay_a_labelled_phisher_stay_at_low_or_below() -> None:
    phisher = A(1)
    victims = [A(100 + i) for i in range(8)]
    rows = [tx(HOT, phisher, ETH // 10, minutes=0)]
    for i, v in enumerate(victims):
        rows += ordinary_history(100 + i)
        rows.append(tx(v, phisher, ETH, minutes=(70 + i) * DAY))
    rows.append(tx(phisher, A(2), 7 * ETH, minutes=80 * DAY))  # the phisher cashes out
    labels = EXCHANGE + [
        {"address": phisher, "label_type": "phishing", "name": "Fake_Phishing1", "source": "t"}
    ]
    ws, _ = score(db(rows, labels=labels))
    assert ws.loc[victims, "risk_level"].isin(["Low", "Minimal"]).all(), ws.loc[victims, "risk_score"]
    assert ws.at[phisher, "risk_level"] in HIGH
    # The victims are named as payers of a perpetrator, and the cash-out wallet as its receiver.
    b = json.loads(ws.at[victims[0], "risk_breakdown"])["scam_rate"]["evidence"]
    assert b["paid_perpetrators"] == 1 and b["spread"] == 0
    assert ws.at[A(2), "risk_level"] in HIGH
    assert json.loads(ws.at[A(2), "risk_breakdown"])["scam_rate"]["evidence"]["spread_paths"][0]["via"] == (
        "proceeds"
    )


def _launch(creator: str, token: str, buyers: list[str], creator_sells_usd: float, buyers_sell: bool):
    """Creator launches `token`; buyers buy $500 each; the creator and maybe the buyers sell."""
    dex = [trade(b, token, WETH, 500.0, hours=2 + i) for i, b in enumerate(buyers)]
    if buyers_sell:
        dex += [trade(b, WETH, token, 450.0, hours=30 + i) for i, b in enumerate(buyers[:3])]
    dex.append(trade(creator, WETH, token, creator_sells_usd, hours=48))
    return dex


def test_an_unlabelled_rug_pull_ring_reaches_high() -> None:
    collector, deployer, token = A(1), A(2), A(900)
    buyers = [A(100 + i) for i in range(8)]
    rows = [tx(HOT, collector, 20 * ETH, minutes=0), tx(collector, deployer, 5 * ETH, minutes=60)]
    rows += [tx(deployer, collector, 9 * ETH, minutes=50 * 60)]  # the proceeds go back
    for i, b in enumerate(buyers):
        rows += [tx(HOT, b, ETH, minutes=i)]
    con = db(
        rows,
        labels=EXCHANGE,
        tokens=[{"address": token, "decimals": 18}],
        creations=[{"address": token, "creator_address": deployer, "block_timestamp": T0}],
    )
    add_dex(con, _launch(deployer, token, buyers, creator_sells_usd=4000.0, buyers_sell=False))
    assert list(rugged_tokens(con, RCFG)["rug_kind"]) == ["dump"]
    ws, _ = score(con)
    assert ws.at[deployer, "risk_level"] in HIGH and "rug_creator" in ws.at[deployer, "patterns"]
    shown = json.loads(ws.at[deployer, "risk_breakdown"])["scam_rate"]["evidence"]["pattern_figures"]
    assert shown["rug_creator"] == {"tokens": [token], "rug_kinds": ["dump"], "buyers": len(buyers)}
    assert ws.at[collector, "risk_level"] in HIGH, ws.at[collector, "risk_breakdown"]
    assert not ws.loc[buyers, "risk_level"].isin(HIGH).any()


def test_a_honeypot_whose_buyers_never_sold_reaches_high_and_a_traded_token_does_not() -> None:
    def world(buyers_sell: bool):
        creator, token = A(2), A(900)
        buyers = [A(100 + i) for i in range(8)]
        rows = [tx(HOT, creator, 2 * ETH, minutes=0)] + [
            tx(HOT, b, ETH, minutes=1 + i) for i, b in enumerate(buyers)
        ]
        con = db(
            rows,
            labels=EXCHANGE,
            tokens=[{"address": token, "decimals": 18}],
            creations=[{"address": token, "creator_address": creator, "block_timestamp": T0}],
        )
        # The creator takes $900 of the $4,000 paid: too little for a dump, enough for a honeypot.
        add_dex(con, _launch(creator, token, buyers, creator_sells_usd=900.0, buyers_sell=buyers_sell))
        return con, creator

    con, creator = world(buyers_sell=False)
    assert list(rugged_tokens(con, RCFG)["rug_kind"]) == ["honeypot"]
    ws, _ = score(con)
    assert ws.at[creator, "patterns"] == "honeypot_creator" and ws.at[creator, "risk_level"] in HIGH
    con, creator = world(buyers_sell=True)
    assert rugged_tokens(con, RCFG).empty
    ws, _ = score(con)
    assert ws.at[creator, "risk_level"] not in HIGH


# Two rounds: a window shorter than the ring's rhythm (fresh world 3205, 8 days) saw two.
@pytest.mark.parametrize("rounds", [4, 2])
def test_an_unlabelled_wash_cycle_reaches_high(rounds: int) -> None:
    token = A(901)
    ring = [A(1), A(2), A(3), A(4)]
    rows, transfers = [tx(HOT, w, ETH, minutes=i) for i, w in enumerate(ring)], []
    for rnd in range(rounds):
        for i, w in enumerate(ring):
            t, r = tok(token, w, ring[(i + 1) % len(ring)], 1000 * 10**18, minutes=(rnd * 4 + i + 1) * 60)
            rows.append(t)
            transfers.append(r)
    ws, _ = score(db(rows, transfers, labels=EXCHANGE, tokens=[{"address": token, "decimals": 18}]))
    assert ws.loc[ring, "patterns"].str.contains("token_ring").all()
    assert ws.loc[ring, "risk_level"].isin(HIGH).all(), ws.loc[ring, "risk_score"]


def test_an_unlabelled_farm_funded_and_swept_reaches_high_and_its_funder_too() -> None:
    funder, collector = A(1), A(2)
    members = [A(100 + i) for i in range(6)]
    rows = [tx(HOT, funder, 10 * ETH, minutes=0)]
    for i, m in enumerate(members):
        rows.append(tx(funder, m, ETH // 10, minutes=60 + i))
        rows.append(tx(m, A(3000), 0, minutes=DAY + i, input="0x12345678"))  # the farmed claim
        rows.append(tx(m, collector, ETH // 20, minutes=2 * DAY + i))
    ws, _ = score(db(rows, labels=EXCHANGE))
    farm = [funder, collector, *members]
    assert ws.loc[farm, "risk_level"].isin(HIGH).all(), ws.loc[farm, ["risk_score", "patterns"]]


def people(first: int, n: int) -> list[tuple[str, str]]:
    """People paying each other, each paid by two others, so no one has a single funder."""
    return [(A(first + (i + k) % n), A(first + i)) for i in range(n) for k in (1, 2)]


def test_a_pairs_only_farm_funded_and_swept_is_flagged_above_people_and_named_in_the_breakdown() -> None:
    funder, collector, owner = A(1), A(2), A(3)
    members = [A(100 + i) for i in range(6)]
    pairs = people(10_000, 40) + [(A(10_000), funder), (collector, owner)]
    pairs += [(funder, m) for m in members] + [(m, collector) for m in members]
    ws, cs = score(pairs_db(pairs))
    farm = [funder, collector, *members]
    assert ws.loc[farm, "patterns"].fillna("").str.contains("farm_swept").all(), ws.loc[farm, "patterns"]
    crowd = ws.loc[[A(10_000 + i) for i in range(1, 40)], "risk_score"]
    assert ws.loc[farm, "risk_score"].min() > crowd.max()
    # Unclustered (a star of 7 is too small to join), the members stand on the pattern alone.
    assert (ws.loc[members, "risk_level"] != "Minimal").all(), ws.loc[members, "risk_score"]
    scam = json.loads(ws.at[members[0], "risk_breakdown"])["scam_rate"]["evidence"]
    seen = scam["pattern_figures"]["farm_swept"]
    assert (seen["funded_by"], seen["sweeps_to"], seen["funder_members"]) == (funder, collector, 6)


def test_a_payout_address_paying_people_who_keep_what_they_got_is_no_swept_farm() -> None:
    payout = A(1)
    payees = [A(100 + i) for i in range(15)]
    pairs = people(10_000, 40) + [(payout, p) for p in payees]
    ws, _ = score(pairs_db(pairs))
    assert not ws.loc[[payout, *payees], "patterns"].fillna("").str.contains("farm_swept").any()
    # A star of 15 is a strong structure: flagged at the precision measured for such structures,
    # which keeps it below High (a farm and a payout look alike in the pairs).
    assert ws.loc[payees, "patterns"].fillna("").str.contains("farm_structure").all()
    assert not ws.loc[[payout, *payees], "risk_level"].isin(HIGH).any(), ws.loc[payees, "risk_score"]
    # With timestamps the burst rules see farms themselves: the structure alone flags nobody.
    timed, _ = score(db([tx(a, b, ETH, minutes=i) for i, (a, b) in enumerate(pairs)]))
    assert not timed["patterns"].fillna("").str.contains("farm_structure").any()


def test_a_small_pairs_only_star_is_farm_small_and_ranks_above_addresses_seen_once() -> None:
    funder = A(1)
    members = [A(100 + i) for i in range(4)]
    seen_once = [A(30_000 + i) for i in range(10)]
    pairs = people(10_000, 40) + [(funder, m) for m in members]
    pairs += [(a, b) for a, b in zip(seen_once[::2], seen_once[1::2], strict=True)]
    ws, _ = score(pairs_db(pairs))
    star = [funder, *members]
    assert ws.loc[star, "patterns"].fillna("").str.contains("farm_small").all(), ws.loc[star, "patterns"]
    crowd = [A(10_000 + i) for i in range(40)]
    # People paying each other have several payers each, a pair is no tree: no pattern.
    assert not ws.loc[crowd + seen_once, "patterns"].fillna("").str.contains("farm_small").any()
    # Unclustered, the star ranks above the addresses seen once it used to tie with.
    assert ws.loc[star, "risk_score"].min() > ws.loc[seen_once, "risk_score"].max()
    # Its measured precision is low (people paying people build such stars): far from Medium.
    assert (ws.loc[star, "risk_level"] == "Minimal").all(), ws.loc[star, "risk_score"]


def busy_addresses(n: int) -> tuple[list[str], list[tuple[str, str]]]:
    """`n` exchange-like addresses, each paying 30 customers and paid by 30 others (60 counterparties)."""
    busy = [A(20_000 + 1000 * k) for k in range(n)]
    pairs = [(b, A(20_001 + 1000 * k + i)) for k, b in enumerate(busy) for i in range(30)]
    pairs += [(A(20_500 + 1000 * k + i), b) for k, b in enumerate(busy) for i in range(30)]
    return busy, pairs


def test_a_wallet_dealing_with_busy_addresses_only_is_services_only_and_their_customers_are_not() -> None:
    busy, pairs = busy_addresses(3)
    farmed, friendly, customer = A(1), A(2), A(3)
    # Funded by a withdrawal, then paying two other busy addresses (a claim, a deposit).
    pairs += [(busy[0], farmed), (farmed, busy[1]), (farmed, busy[2])]
    # The same, and a payment to a friend: a life beyond the services.
    pairs += [(busy[0], friendly), (friendly, busy[1]), (friendly, busy[2]), (friendly, A(4))]
    # A withdrawal and one deposit: every exchange user.
    pairs += [(busy[0], customer), (customer, busy[1])]
    ws, _ = score(pairs_db(pairs))
    flagged = ws["patterns"].fillna("").str.contains("services_only")
    assert set(ws.index[flagged]) == {farmed}, ws.loc[flagged, "patterns"]
    seen = json.loads(ws.at[farmed, "risk_breakdown"])["scam_rate"]["evidence"]["pattern_figures"]
    assert seen["services_only"] == {"counterparties": 3, "busy_payers": 1, "busy_payees": 2}
    assert ws.at[farmed, "risk_score"] > ws.loc[[friendly, customer], "risk_score"].max()
    timed, _ = score(db([tx(a, b, ETH, minutes=i) for i, (a, b) in enumerate(pairs)]))
    assert not timed["patterns"].fillna("").str.contains("services_only").any()
