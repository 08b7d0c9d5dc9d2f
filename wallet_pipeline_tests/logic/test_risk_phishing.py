"""Phishing-like inflow raises risk on its own, and never the victims', on small planted chains.

The chains go through the real edge rules, clustering, reputation and scoring (`test_risk_patterns.score`).
"""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from wallet_pipeline.logic.graph import GraphConfig, build_edges
from wallet_pipeline.logic.graph.risk import (
    PHISHING_COLUMNS,
    RiskConfig,
    _hubs,
    pattern_wallets,
    phishing_collectors,
    phishing_inflow,
    phishing_rows,
)
from wallet_pipeline.logic.graph.risk_spread import SpreadConfig
from wallet_pipeline_tests.logic.test_graph import ETH, A, db, tx
from wallet_pipeline_tests.logic.test_risk_patterns import EXCHANGE, HOT, ordinary_history, score

DAY = 60 * 24
LOW = ("Low", "Minimal")
MEDIUM_UP = ("Medium", "High", "Critical")
N_PAYERS = 12


def _phisher(phisher: str, victims: list[str], consolidation: str, start_day: int) -> list[dict]:
    """Gas from an exchange, then each victim pays once and 90% is forwarded within two hours."""
    rows = [tx(HOT, phisher, ETH // 50, minutes=(start_day - 1) * DAY)]
    for i, v in enumerate(victims):
        t = (start_day + i * 0.5) * DAY
        rows.append(tx(v, phisher, ETH, minutes=t))
        rows.append(tx(phisher, consolidation, 9 * ETH // 10, minutes=t + 120))
    return rows


def _customers(first: int) -> tuple[list[str], list[dict]]:
    people = [A(first + i) for i in range(N_PAYERS)]
    rows = [r for i in range(N_PAYERS) for r in ordinary_history(first + i)]
    return people, rows


def _phisher_and_merchant() -> tuple[duckdb.DuckDBPyConnection, list[str], list[str]]:
    """A phisher and a merchant paid by as many people: (db, victims, customers).

    A(1) forwards its victims' payments to A(2) within two hours; the merchant A(3), paid once by
    each customer, moves its takings to its exchange deposit A(4) once a month.
    """
    rows, victims, customers = _phisher_and_merchant_rows()
    return db(rows, labels=EXCHANGE), victims, customers


def _phisher_and_merchant_rows() -> tuple[list[dict], list[str], list[str]]:
    phisher, consolidation, merchant, merchant_deposit = A(1), A(2), A(3), A(4)
    victims, rows = _customers(100)
    customers, more = _customers(300)
    rows += more + _phisher(phisher, victims, consolidation, start_day=70)
    rows += [tx(c, merchant, ETH, minutes=(65 + i) * DAY) for i, c in enumerate(customers)]
    rows += [tx(merchant, merchant_deposit, 6 * ETH, minutes=95 * DAY)]
    return rows, victims, customers


def test_an_unlabelled_phisher_reaches_medium_by_behaviour_and_a_merchant_as_paid_stays_low() -> None:
    phisher, consolidation, merchant = A(1), A(2), A(3)
    # Many payers alone are no phishing: the merchant does not forward fast.
    con, victims, customers = _phisher_and_merchant()
    figures = phishing_inflow(con, RiskConfig()).set_index("address")
    assert bool(figures.at[phisher, "phishing"]) and not bool(figures.at[merchant, "phishing"])
    # As many payers (the phisher's gas from the exchange is one more).
    assert figures.at[merchant, "payers"] == figures.at[phisher, "payers"] - 1 == N_PAYERS
    assert figures.at[merchant, "fast_share"] < 0.5 <= figures.at[phisher, "fast_share"]

    ws, _ = score(con)
    assert ws.at[phisher, "risk_level"] in MEDIUM_UP, ws.at[phisher, "risk_breakdown"]
    assert "phishing_inflow" in ws.at[phisher, "patterns"]
    assert ws.at[merchant, "risk_level"] in LOW, ws.at[merchant, "risk_breakdown"]
    assert ws.loc[victims + customers, "risk_level"].isin(LOW).all()
    # The consolidation wallet is fed only by the phisher: its proceeds.
    paths = json.loads(ws.at[consolidation, "risk_breakdown"])["scam_rate"]["evidence"]["spread_paths"]
    assert paths and paths[0]["via"] == "proceeds" and paths[0]["source"] == phisher


def test_a_phishing_pattern_wallet_s_breakdown_carries_the_figures_its_pattern_measured() -> None:
    con, _, _ = _phisher_and_merchant()
    phisher = A(1)
    measured = phishing_inflow(con, RiskConfig()).set_index("address").loc[phisher]
    ws, _ = score(con)
    evidence = json.loads(ws.at[phisher, "risk_breakdown"])["scam_rate"]["evidence"]
    shown = evidence["pattern_figures"]["phishing_inflow"]
    keys = [c for c in PHISHING_COLUMNS if c not in ("address", "phishing", "phishing_small")]
    assert sorted(shown) == sorted(keys)
    for key in keys:
        assert shown[key] == pytest.approx(float(measured[key]), abs=1e-4), key
    assert shown["payers"] >= shown["payers_bound"] and shown["fast_share"] >= 0.5
    # A wallet with no pattern of its own shows no figures.
    assert json.loads(ws.at[A(3), "risk_breakdown"])["scam_rate"]["evidence"]["pattern_figures"] == {}


def test_a_person_paid_by_friends_forwarding_fast_with_a_life_of_their_own_is_no_phisher() -> None:
    person, deposit, phisher, consolidation = A(6), A(7), A(1), A(2)
    friends, rows = _customers(100)
    # Funded from the exchange, the person pays six people of their own over two months...
    rows += ordinary_history(6)
    # ...and moves each friend's payment on to their exchange deposit within two hours, as a
    # phisher forwards: everything but what it signs matches the shape.
    for i, f in enumerate(friends[:6]):
        rows.append(tx(f, person, ETH, minutes=(70 + i) * DAY))
        rows.append(tx(person, deposit, 9 * ETH // 10, minutes=(70 + i) * DAY + 120))
    victims, more = _customers(300)
    rows += more + _phisher(phisher, victims[:6], consolidation, start_day=70)
    con = db(rows, labels=EXCHANGE)
    figures = phishing_inflow(con, RiskConfig()).set_index("address")
    for shape in ("low_degree_share", "once_share", "fast_share", "top_share"):
        assert figures.at[person, shape] >= 0.5, shape
    # Half of what it signs goes elsewhere than its three largest destinations.
    assert figures.at[person, "top_tx_share"] < RiskConfig().phish_min_top_share
    assert figures.at[phisher, "top_tx_share"] == 1.0
    assert not figures.loc[person, ["phishing", "phishing_small"]].any()
    assert figures.loc[phisher, ["phishing", "phishing_small"]].any()
    ws, _ = score(con)
    assert ws.at[person, "risk_level"] in LOW, ws.at[person, "risk_breakdown"]
    assert ws.at[deposit, "risk_level"] in LOW, ws.at[deposit, "risk_breakdown"]


def test_a_receiver_paying_its_payers_back_or_sweeping_to_an_exchange_hot_wallet_is_no_phisher() -> None:
    game, sweeper, phisher, consolidation = A(1), A(2), A(3), A(5)
    players, rows = _customers(100)
    for i, p in enumerate(players):
        rows.append(tx(p, game, ETH, minutes=(70 + i) * DAY))
        rows.append(tx(game, p, ETH // 2, minutes=(70 + i) * DAY + 30))  # pays winnings back
    payers, more = _customers(300)
    rows += more
    for i, p in enumerate(payers):
        rows.append(tx(p, sweeper, ETH, minutes=(70 + i) * DAY))
        rows.append(tx(sweeper, HOT, ETH, minutes=(70 + i) * DAY + 60))  # an exchange's own sweep
    victims, more = _customers(500)
    rows += more + _phisher(phisher, victims, consolidation, start_day=70)
    # The hot wallet pays more wallets than any person does: a service, never a phisher itself.
    rows += [tx(HOT, A(9000 + i), ETH, minutes=i) for i in range(60)]
    figures = phishing_inflow(db(rows, labels=EXCHANGE), RiskConfig()).set_index("address")
    assert figures.at[game, "payback_share"] >= 0.5 and not bool(figures.at[game, "phishing"])
    assert figures.at[sweeper, "forward_share"] == 0.0 and not bool(figures.at[sweeper, "phishing"])
    assert bool(figures.at[phisher, "phishing"]) and HOT not in figures.index


def test_victims_shared_by_a_labelled_and_an_unlabelled_phisher_stay_low_and_lead_to_the_unlabelled_one() -> (
    None
):
    labelled, unlabelled, consolidation = A(1), A(2), A(3)
    victims, rows = _customers(100)
    rows += _phisher(labelled, victims, consolidation, start_day=70)
    # The same victim list, drained again a week later by a second account of the operator that
    # forwards slowly (no behaviour of its own to see): it is reached through the shared payers,
    # at the strength that path showed (mostly it reaches the victims' friends).
    rows.append(tx(HOT, unlabelled, ETH // 50, minutes=76 * DAY))
    rows += [tx(v, unlabelled, ETH // 2, minutes=(77 + i * 0.3) * DAY) for i, v in enumerate(victims[:6])]
    rows.append(tx(unlabelled, A(4), 2 * ETH, minutes=95 * DAY))
    labels = EXCHANGE + [
        {"address": labelled, "label_type": "phishing", "name": "Fake_Phishing1", "source": "t"}
    ]
    ws, _ = score(db(rows, labels=labels))
    assert ws.loc[victims, "risk_level"].isin(LOW).all(), ws.loc[victims, "risk_score"]
    assert ws.at[labelled, "risk_level"] in ("High", "Critical")
    paths = json.loads(ws.at[unlabelled, "risk_breakdown"])["scam_rate"]["evidence"]["spread_paths"]
    assert paths[0]["via"] == "shared_payers" and paths[0]["source"] == labelled
    assert 0 < paths[0]["value"] <= SpreadConfig().shared_payers_strength


def test_one_phishing_query_gives_the_pattern_and_the_collectors_what_their_own_queries_give() -> None:
    """`phishing_rows`, shared by `pattern_wallets` and `phishing_collectors`, changes neither."""
    rows, victims, _ = _phisher_and_merchant_rows()
    # A small phisher: three victims and its gas, under the pattern's five payers: a collector only.
    small = A(5)
    con = db(rows + _phisher(small, victims[:3], A(6), start_day=80), labels=EXCHANGE)
    shared = phishing_rows(con)
    hubs = _hubs(con)
    assert 2 <= shared.set_index("address").at[small, "payers"] < RiskConfig().phish_min_payers
    strict = phishing_inflow(con, RiskConfig(), hubs=hubs)
    assert small not in set(strict["address"]) and A(1) in set(strict["address"])
    kept = shared[shared["payers"] >= RiskConfig().phish_min_payers].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, strict)
    collectors, fed = phishing_collectors(con, hubs=hubs, rows=shared)
    assert (collectors, fed) == phishing_collectors(con, hubs=hubs)
    assert small in collectors
    edges = build_edges(con, GraphConfig(features_table=None)).edges
    pd.testing.assert_frame_equal(pattern_wallets(con, edges, phishing=shared), pattern_wallets(con, edges))
