from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from wallet_pipeline.logic.graph import GraphConfig, build_edges
from wallet_pipeline.logic.graph.entities import build_entities
from wallet_pipeline.logic.graph.services import exchange_name, find_services, without_double_deposits
from wallet_pipeline.logic.graph.store import replace_tables
from wallet_pipeline_tests.logic.test_graph import ETH, A, db, tx

# Exchange Y carries no label: its hot wallets are hubs by degree only.
CFG = GraphConfig(features_table=None, hub_min_degree=15)


def _exchange(first: int, hot: list[str], second: str | None, minute: int) -> tuple[list[dict], dict]:
    """One exchange's flows: customers' deposits swept into its hot wallets, payouts, refills.

    Addresses from `first` on: three customers with a deposit address each (the first sweeps into
    every hot wallet), four unrelated customers sharing one deposit address, and the second tier.
    """
    rows: list[dict] = []
    own = [(A(first + i), A(first + 10 + i)) for i in range(3)]
    for i, (user, dep) in enumerate(own):
        for k in range(2):
            t = minute + 100 * i + 10 * k
            rows.append(tx(user, dep, value=2 * ETH, minutes=t))
            rows.append(tx(dep, hot[(i + k) % len(hot) if i == 0 else i % len(hot)], 2 * ETH, t + 5))
    shared = A(first + 20)
    customers = [A(first + 21 + i) for i in range(4)]
    for i, c in enumerate(customers):
        rows.append(tx(c, shared, value=ETH, minutes=minute + 400 + 10 * i))
        rows.append(tx(shared, hot[0], value=ETH, minutes=minute + 405 + 10 * i))
    # Withdrawals: every hot wallet pays many (a degree hub without a label).
    for h, hw in enumerate(hot):
        rows += [tx(hw, A(first + 100 + 20 * h + j), ETH // 10, minute + 500 + j) for j in range(16)]
    if second:
        rows += [tx(hot[k % len(hot)], second, 5 * ETH, minute + 600 + k) for k in range(3)]
        rows += [tx(second, A(first + 200 + j), ETH // 10, minute + 610 + j) for j in range(20)]
    return rows, {"own": own, "shared": shared, "customers": customers}


@pytest.fixture(scope="module")
def two_exchanges():
    hx, hy = [A(1), A(2)], [A(3), A(4)]
    x_rows, x = _exchange(1000, hx, A(5), 0)
    y_rows, y = _exchange(2000, hy, A(6), 2000)
    # A customer of X wrongly labelled with X's name: a label alone makes no hot wallet.
    wrong = A(7)
    rows = (
        x_rows + y_rows + [tx(hx[0], wrong, ETH, 3000 + k) for k in range(3)] + [tx(wrong, A(8), ETH, 3100)]
    )
    labels = [
        {"address": hx[0], "label_type": "exchange", "name": "Kraken 1", "source": "t"},
        {"address": hx[1], "label_type": "exchange", "name": "Kraken 14", "source": "t"},
        {"address": wrong, "label_type": "exchange", "name": "Kraken 9", "source": "t"},
    ]
    con = db(rows, labels=labels)
    res = build_edges(con, CFG)
    con.register("g_e", res.edges)
    con.register("g_h", res.hubs)
    replace_tables(con, "graph", {"wallet_edges": "select * from g_e", "hubs": "select * from g_h"})
    built = build_entities(con, run_id="t", as_of=datetime(2024, 8, 1))
    return con, built, {"X": (hx, A(5), x), "Y": (hy, A(6), y), "wrong": wrong}


def test_two_exchanges_come_out_as_two_service_clusters_without_their_customers(two_exchanges):
    _, built, ex = two_exchanges
    wc = built.tables["wallet_clusters"].set_index("address")
    service_clusters = []
    for name in ("X", "Y"):
        hot, second, flows = ex[name]
        own = [*hot, second, flows["shared"]]
        ids = wc.loc[own, "cluster_id"]
        assert ids.nunique() == 1, name
        members = set(wc.index[wc["cluster_id"] == ids.iloc[0]])
        assert members == set(own), name
        assert wc.loc[own, "is_service"].all()
        roles = wc.loc[own, "service_role"].tolist()
        assert roles == ["hot_wallet"] * len(hot) + ["secondary_hot_wallet", "deposit_address"]
        service_clusters.append(ids.iloc[0])
    assert service_clusters[0] != service_clusters[1]
    # The service is named by its labels' exchange name; the unlabelled one has none.
    assert set(wc.loc[ex["X"][0], "service_name"]) == {"Kraken"}
    assert wc.loc[ex["Y"][0], "service_name"].isna().all()
    assert ex["wrong"] not in wc.index or wc.loc[ex["wrong"], "cluster_id"] not in service_clusters
    assert "2 exchanges form service clusters: 4 hot wallets, 2 second-tier" in " ".join(built.report_lines())


def test_a_customers_own_deposit_address_stays_with_them_attributed_to_the_exchange(two_exchanges):
    _, built, ex = two_exchanges
    wc = built.tables["wallet_clusters"].set_index("address")
    for name in ("X", "Y"):
        hot, _, flows = ex[name]
        service = wc.loc[hot[0], "cluster_id"]
        for user, dep in flows["own"]:
            assert wc.loc[user, "cluster_id"] == wc.loc[dep, "cluster_id"] != service
            assert wc.loc[dep, "service_role"] == "deposit_address"
            assert wc.loc[dep, "service_cluster_id"] == service
            assert pd.isna(wc.loc[user, "service_role"])


def test_customers_sharing_a_deposit_address_are_linked_only_as_its_evidence_allows(two_exchanges):
    con, built, ex = two_exchanges
    wc = built.tables["wallet_clusters"].set_index("address")
    edges = con.sql("select * exclude (evidence) from graph.wallet_edges").df()
    pairs = find_services(con, edges).edges.query("edge_type == 'shared_deposit'")
    for name in ("X", "Y"):
        customers = ex[name][2]["customers"]
        # Four senders: each pair keeps the weight of their deposit edges, too weak to join alone.
        dep_weight = edges.loc[
            edges["src"].isin(customers) & (edges["edge_type"] == "deposit_address"), "weight"
        ]
        assert dep_weight.nunique() == 1 and dep_weight.iloc[0] < GraphConfig().min_cluster_weight
        mine = pairs[pairs["src"].isin(customers) & pairs["dst"].isin(customers)]
        assert len(mine) == 6 and (mine["weight"] == dep_weight.iloc[0]).all()
        clustered = [c for c in customers if c in wc.index]
        assert not clustered, clustered


def test_service_members_have_an_evidence_chain_with_sweep_hashes(two_exchanges):
    _, built, ex = two_exchanges
    chains = built.tables["cluster_evidence"]
    shared = ex["X"][2]["shared"]
    mine = chains[chains["address"] == shared]
    assert len(mine) >= 1 and mine["hop"].max() >= 1
    hop = mine[mine["dst"] == shared].iloc[0] if (mine["dst"] == shared).any() else mine.iloc[-1]
    assert "service_sweep" in hop["edge_type"] and len(hop["evidence"]) > 0


@pytest.mark.parametrize(
    ("label", "name"),
    [("Binance 14", "Binance"), ("Kraken: 7", "Kraken"), ("Coinbase Hot Wallet", "Coinbase Hot Wallet")],
)
def test_exchange_name_drops_the_wallet_number(label, name):
    assert exchange_name(label) == name


def test_a_graph_without_hubs_or_deposit_addresses_has_no_service():
    # A bare transfer list: no hubs table stored, no deposit address, no label table rows.
    con = db([tx(A(1), A(2)), tx(A(2), A(3), minutes=1)])
    res = build_edges(con, CFG)
    s = find_services(con, res.edges)
    assert s.members.empty and s.deposits.empty and s.edges.empty
    assert list(s.members.columns) == [
        "address",
        "service_id",
        "service_role",
        "service_kind",
        "service_name",
    ]


def test_a_deposit_paid_often_counts_once_when_asked():
    rows = [
        {"src": A(1), "dst": A(9), "edge_type": "deposit_address"},
        {"src": A(1), "dst": A(9), "edge_type": "direct_transfer"},
        {"src": A(1), "dst": A(2), "edge_type": "direct_transfer"},
        {"src": A(9), "dst": A(1), "edge_type": "direct_transfer"},
    ]
    kept = without_double_deposits(pd.DataFrame(rows))
    assert kept.to_dict("records") == [rows[0], rows[2], rows[3]]
