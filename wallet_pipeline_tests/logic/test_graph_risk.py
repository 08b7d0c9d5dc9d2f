from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from wallet_pipeline.logic.graph.reputation import wallet_reputation
from wallet_pipeline.logic.graph.risk import (
    RiskConfig,
    risk_level,
    rugged_tokens,
    score_clusters,
    score_wallets,
)
from wallet_pipeline_tests.logic.test_graph import T0, A, db, tx

CFG = RiskConfig(rug_min_buyers=3)
WETH, POOL, TOKEN = A(800), A(801), A(802)


def edge(src: str, dst: str, edge_type: str = "direct_transfer", weight: float = 1.0) -> dict:
    return {"src": src, "dst": dst, "edge_type": edge_type, "directed": True, "weight": weight,
            "first_time": T0, "last_time": T0, "n": 1, "evidence": []}  # fmt: skip


def edges_df(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def clusters_df(members: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(a, c, len(m)) for c, m in members.items() for a in m]
    return pd.DataFrame(rows, columns=["address", "cluster_id", "cluster_size"])


def trade(taker: str, bought: str, sold: str, usd: float, hours: float) -> dict:
    return {"block_time": T0 + pd.Timedelta(hours=hours), "tx_hash": f"0xt{taker}{hours}", "taker": taker,
            "tx_from": taker, "token_bought_address": bought, "token_sold_address": sold, "amount_usd": usd,
            "project_contract_address": POOL}  # fmt: skip


def add_dex(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    df = pd.DataFrame(rows)  # noqa: F841
    cols = ", ".join(df.columns)
    con.execute(f"insert into raw.dex_trades ({cols}) select {cols} from df")


def pair_db(rug: bool) -> duckdb.DuckDBPyConnection:
    """Two wallets sending to each other; the first created TOKEN, which four buyers bought."""
    con = db(
        [tx(A(1), A(2)), tx(A(2), A(1), minutes=5)],
        tokens=[{"address": TOKEN, "decimals": 18}],
        creations=[{"address": TOKEN, "creator_address": A(1), "block_timestamp": T0}],
    )
    buys = [trade(A(10 + i), TOKEN, WETH, 1000.0, hours=i + 1) for i in range(4)]
    dump = [trade(A(1), WETH, TOKEN, 5000.0, hours=10)] if rug else []
    add_dex(con, buys + dump)
    return con


def scores_of(con, members, edges, cfg=CFG):
    clusters = clusters_df(members)
    rep = wallet_reputation(con, features_table=None)
    cs = score_clusters(con, edges, clusters, rep, cfg)
    return cs.set_index("cluster_id"), rep, clusters


@pytest.mark.parametrize(
    ("score", "level"),
    [(100, "Critical"), (90, "Critical"), (89.9, "High"), (75, "High"), (74.9, "Medium"), (60, "Medium"),
     (59.9, "Low"), (40, "Low"), (39.9, "Minimal"), (0, "Minimal")],
)  # fmt: skip
def test_levels_change_exactly_at_their_lower_bounds(score: float, level: str) -> None:
    assert risk_level(score) == level


def test_breakdown_points_sum_to_the_score_and_stay_within_their_weights() -> None:
    con = pair_db(rug=True)
    cs, _, _ = scores_of(con, {"c1": [A(1), A(2)]}, edges_df(edge(A(1), A(2)), edge(A(2), A(1))))
    row = cs.loc["c1"]
    b = json.loads(row["risk_breakdown"])
    assert set(b) == {"scam_rate", "reputation", "density", "known_scammers"}
    assert abs(sum(f["points"] for f in b.values()) - row["risk_score"]) <= 0.05
    for f in b.values():
        assert 0 <= f["points"] <= 100 * f["weight"] + 1e-9
    assert b["scam_rate"]["evidence"]["tokens_created"] == 1


def test_a_dump_after_many_buys_marks_the_token_rugged() -> None:
    assert list(rugged_tokens(pair_db(rug=True), CFG)["token"]) == [TOKEN]
    assert rugged_tokens(pair_db(rug=False), CFG).empty


def test_a_cluster_that_rugged_its_token_scores_higher_than_the_same_cluster_without() -> None:
    e = edges_df(edge(A(1), A(2)), edge(A(2), A(1)))
    rugged, _, _ = scores_of(pair_db(rug=True), {"c1": [A(1), A(2)]}, e)
    clean, _, _ = scores_of(pair_db(rug=False), {"c1": [A(1), A(2)]}, e)
    assert rugged.at["c1", "scam_tokens"] == 1 and clean.at["c1", "scam_tokens"] == 0
    assert rugged.at["c1", "risk_score"] > clean.at["c1", "risk_score"]


def test_a_labelled_scammer_member_raises_known_scammers() -> None:
    rows = [tx(A(1), A(2)), tx(A(2), A(1), minutes=5)]
    label = [{"address": A(2), "label_type": "scam", "name": "Fake airdrop", "source": "t"}]
    e = edges_df(edge(A(1), A(2)), edge(A(2), A(1)))
    with_label, _, _ = scores_of(db(rows, labels=label), {"c1": [A(1), A(2)]}, e)
    without, _, _ = scores_of(db(rows), {"c1": [A(1), A(2)]}, e)
    assert with_label.at["c1", "known_scammers"] == 1 and without.at["c1", "known_scammers"] == 0
    assert with_label.at["c1", "risk_score"] > without.at["c1", "risk_score"]


def test_a_scam_labelled_wallet_has_a_lower_reputation_than_a_clean_old_diverse_wallet() -> None:
    hot = A(40)
    clean = [tx(A(1), A(100 + i), minutes=60 * 24 * 30 * i) for i in range(10)]  # 9 months, 10 payees
    clean += [tx(hot, A(1), minutes=7), tx(A(1), A(700), value=0, input="0x38ed1739", minutes=9)]
    scam = [tx(A(2), A(200 + i), minutes=60 * 24 * 30 * i) for i in range(10)]
    labels = [
        {"address": A(2), "label_type": "scam", "name": "Drainer", "source": "t"},
        {"address": hot, "label_type": "exchange", "name": "Kraken 1", "source": "t"},
    ]
    rep = wallet_reputation(db(clean + scam, labels=labels), features_table=None).set_index("address")
    assert rep.at[A(2), "reputation"] <= 10 < rep.at[A(1), "reputation"]
    assert rep.at[A(2), "label_points"] < 0


def test_an_exchange_user_pair_with_density_one_stays_below_high() -> None:
    hot, user, dep = A(40), A(50), A(51)
    rows = [tx(hot, user, minutes=0), tx(user, dep, minutes=60), tx(dep, hot, minutes=90)]
    labels = [{"address": hot, "label_type": "exchange", "name": "Kraken 1", "source": "t"}]
    con = db(rows, labels=labels)
    cs, rep, clusters = scores_of(con, {"c_u": [user, dep]}, edges_df(edge(user, dep, "deposit_address")))
    assert cs.at["c_u", "density"] == 1.0
    assert cs.at["c_u", "risk_level"] not in ("High", "Critical")
    ws = score_wallets(
        con, edges_df(edge(user, dep, "deposit_address")), clusters, rep, cs.reset_index(), CFG
    )
    assert not ws["risk_level"].isin(["High", "Critical"]).any()


def test_reputation_with_only_transfers_reports_the_factors_it_could_not_compute() -> None:
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute("create table raw.transactions (from_address varchar, to_address varchar)")
    con.execute(f"insert into raw.transactions values ('{A(1)}', '{A(2)}'), ('{A(2)}', '{A(3)}')")
    rep = wallet_reputation(con, features_table=None)
    missing = rep.attrs["missing_factors"]
    assert {"age", "counterparty_quality", "kind:token", "kind:nft", "kind:swap"} <= set(missing)
    assert "block_timestamp" in missing["age"]
    assert set(rep["address"]) == {A(1), A(2), A(3)}
    assert rep["reputation"].between(0, 100).all() and rep["age"].isna().all()
    assert rugged_tokens(con, CFG).empty
    # Its work tables are gone: the risk steps after it need the memory.
    left = con.execute(
        "select table_name from duckdb_tables() where temporary and table_name like 'r\\_%' escape '\\'"
    )
    assert left.fetchall() == []


def test_without_timestamps_counterparties_earn_no_reputation_and_with_them_they_do() -> None:
    # A(1) pays one address, A(2) pays four: over an unknown span the count says nothing of a life.
    pairs = [(A(1), A(10))] + [(A(2), A(20 + k)) for k in range(4)]
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute("create table raw.transactions (from_address varchar, to_address varchar)")
    con.execute("insert into raw.transactions values " + ", ".join(f"('{a}', '{b}')" for a, b in pairs))
    rep = wallet_reputation(con, features_table=None).set_index("address")
    assert rep.at[A(1), "reputation"] == rep.at[A(2), "reputation"]
    assert rep.at[A(2), "n_counterparties"] == 4
    timed = wallet_reputation(db([tx(a, b) for a, b in pairs]), features_table=None).set_index("address")
    assert timed.at[A(2), "reputation"] > timed.at[A(1), "reputation"]


def test_a_wallet_showing_a_malicious_pattern_scores_higher_than_its_clean_twin() -> None:
    rows = [tx(A(1), A(2)), tx(A(3), A(4))]
    con = db(rows)
    e = edges_df(edge(A(90), A(1), "poisoning"))
    rep = wallet_reputation(con, features_table=None)
    clusters = clusters_df({})
    cs = score_clusters(con, e, clusters, rep, CFG)
    ws = score_wallets(con, e, clusters, rep, cs, CFG).set_index("address")
    assert ws.at[A(1), "patterns"] == "poisoning" and pd.isna(ws.at[A(3), "patterns"])
    assert ws.at[A(1), "risk_score"] > ws.at[A(3), "risk_score"]
    assert ws["cluster_id"].isna().all()
