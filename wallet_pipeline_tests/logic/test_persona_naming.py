"""Names from profiles: unfit clusters described, Mixed by a stated measure, distinct names to read."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from wallet_pipeline.logic.personas import PersonaConfig, train_personas
from wallet_pipeline.logic.personas.naming import (
    MIXED,
    NFT_MIN_TRADE_SHARE,
    RETAIL_TRADER,
    describe_unfit,
    display_names,
    fill_unfit,
    name_clusters,
    nft_by_wallet,
    profiles,
    wallet_names,
)

NFT = "NFT Trader"
RETAIL = RETAIL_TRADER


def _three_clusters(n: int = 100, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Cluster 0 trades NFTs, cluster 1 never does and is busy on `calls`, cluster 2 is half of each."""
    rng = np.random.default_rng(seed)
    nft = np.r_[rng.integers(2, 9, n), np.zeros(n), np.where(np.arange(n) % 2 == 0, rng.integers(2, 9, n), 0)]
    raw = pd.DataFrame(
        {
            "nft_transfers": nft.astype(float),
            "nft_trade_share": np.where(nft > 0, 0.6, 0.0),
            "calls": np.r_[rng.normal(5, 1, n), rng.normal(40, 3, n), rng.normal(5, 1, n)],
        }
    )
    return raw, np.repeat([0, 1, 2], n)


def _small_config(features: tuple[str, ...], k_range: tuple[int, ...], **extra: object) -> PersonaConfig:
    """A configuration that trains a few hundred synthetic wallets in seconds, no operator rules."""
    return PersonaConfig(
        feature_columns=features,
        k_range=k_range,
        gmm_covariance_types=("diag",),
        selection_sample=600,
        eval_sample=400,
        small_sample=300,
        stability_refits=2,
        operator_rules=False,
        **extra,
    )


def test_a_cluster_no_persona_fits_is_described_and_mixed_only_when_its_wallets_disagree() -> None:
    raw, labels = _three_clusters()
    vocabulary = name_clusters(profiles(raw, labels, 3), 3)
    # Half of cluster 2 holds NFT transfers: under the 60% the NFT test asks of a cluster.
    assert vocabulary == [NFT, MIXED, MIXED]

    names, agreement = describe_unfit(vocabulary, raw, labels, 3)

    # Every wallet of cluster 1, alone, fits nothing: it is one thing, told by its busy column.
    assert agreement[1] == {"top_wallet_answer": MIXED, "share": 1.0}
    assert names[1].startswith("High calls")
    # Cluster 2's wallets split evenly between NFT Trader and nothing: no answer holds over half.
    assert agreement[2]["share"] == 0.5
    assert names[2] == MIXED
    assert names[0] == NFT


def test_one_wallet_is_named_by_the_same_tests_as_a_cluster() -> None:
    raw, _ = _three_clusters()
    assert wallet_names(raw, np.array([0, 150, 200, 201])) == [NFT, MIXED, NFT, MIXED]
    # A name a rule gives is skipped for a wallet as for a cluster.
    assert wallet_names(raw, np.array([0]), skip=(NFT,)) == [MIXED]


def test_several_mixed_clusters_are_told_apart_by_size() -> None:
    raw, labels = _three_clusters()
    # Cluster 1 made as mixed as cluster 2 (half its wallets trade NFTs), cluster 2 made smaller,
    # and a large cluster 3 that never trades NFTs keeps NFT transfers rare in the population.
    raw.loc[100:199:2, ["nft_transfers", "nft_trade_share"]] = [4.0, 0.6]
    labels[290:] = 0
    quiet = pd.DataFrame({"nft_transfers": 0.0, "nft_trade_share": 0.0, "calls": np.linspace(15, 25, 200)})
    raw, labels = pd.concat([raw, quiet], ignore_index=True), np.r_[labels, np.full(200, 3)]
    names, agreement = describe_unfit([NFT, MIXED, MIXED, MIXED], raw, labels, 4)
    assert agreement[1]["share"] == agreement[2]["share"] == 0.5
    assert names[:3] == [NFT, MIXED, "Mixed (2)"]
    assert not names[3].startswith(MIXED)


def test_a_refits_unfit_cluster_votes_for_the_winners_name_of_most_of_its_wallets() -> None:
    reference = np.array(["High calls"] * 6 + ["Whale"] * 4, dtype=object)
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    assert fill_unfit([MIXED, MIXED], labels, reference) == ["High calls", "Whale"]
    # A cluster the vocabulary named keeps its name.
    assert fill_unfit(["Whale", MIXED], labels, reference) == ["Whale", "Whale"]


def test_clusters_sharing_a_persona_are_told_apart_by_what_differs_among_them() -> None:
    raw, labels = _three_clusters()
    names = display_names(["Active Retail Trader", "Active Retail Trader", NFT], raw, labels, 3)
    assert names[2] == NFT
    assert names[0].startswith("Active Retail Trader: ") and names[1].startswith("Active Retail Trader: ")
    # Against its sibling: cluster 1 is the busy one, cluster 0 the one trading NFTs.
    assert names[1].startswith("Active Retail Trader: high calls")
    assert names[0].startswith("Active Retail Trader: high nft")
    assert len(set(names)) == 3


def test_a_trained_model_shows_one_distinct_name_per_cluster_old_models_too() -> None:
    rng = np.random.default_rng(1)
    n = 300
    table = pd.DataFrame(
        {
            "address": [f"0x{i:040x}" for i in range(2 * n)],
            "tx_count": rng.integers(2, 30, 2 * n),
            "dex_trades": np.r_[rng.poisson(8, n), np.zeros(n)],
            "eth_sent": np.r_[rng.lognormal(0, 0.4, n), rng.lognormal(3, 0.4, n)],
            "nft_transfers": 0,
        }
    )
    config = _small_config(("dex_trades", "eth_sent"), (2, 3, 4))
    model, report = train_personas(table, config)
    shown = model.cluster_labels
    assert len(shown) == len(model.cluster_names) == len(set(shown))
    assert all(s.startswith(n.split(" (")[0]) for s, n in zip(shown, model.cluster_names, strict=True))
    assert report.names["final"] == model.cluster_names
    # A model pickled before display names: the shared names get a size suffix instead.
    old = dataclasses.replace(model, display_names=())
    assert len(set(old.cluster_labels)) == len(model.cluster_names)


def test_between_retail_and_nft_trader_a_wallet_clearly_on_one_side_picks_and_keeps_the_confidence() -> None:
    personas = ["Whale", RETAIL, NFT]
    p = np.array(
        [
            [0.0, 0.7, 0.3],  # a retail cluster's wallet, 6 NFT trades in 10 transactions
            [0.0, 0.2, 0.8],  # an NFT cluster's wallet, 1 NFT trade in 10
            [0.0, 0.1, 0.9],  # an NFT cluster's NFT trader
            [0.6, 0.3, 0.1],  # a whale that trades NFTs: not between the two
            [0.0, 0.4, 0.6],  # no NFT data (NULL): no NFT trade seen
            [0.0, 0.9, 0.1],  # the share without a transfer is no NFT trade
            [0.0, 0.8, 0.2],  # 2 NFT trades in 7: its interval holds the line, the clusters decide
            [0.0, 0.3, 0.7],  # the same wallet in an NFT cluster stays NFT Trader
        ]
    )
    rows = pd.DataFrame(
        {
            "nft_trade_share": [0.6, 0.1, 0.5, 0.9, None, 0.3, 2 / 7, 2 / 7],
            "nft_transfers": [4, 1, 6, 9, None, 0, 2, 2],
            "tx_count": [10, 10, 12, 10, 5, 10, 7, 7],
        }
    )
    out = nft_by_wallet(p, rows, personas)
    assert out.tolist() == [
        [0.0, 0.3, 0.7],
        [0.0, 0.8, 0.2],
        [0.0, 0.1, 0.9],
        [0.6, 0.3, 0.1],
        [0.0, 0.6, 0.4],
        [0.0, 0.9, 0.1],
        [0.0, 0.8, 0.2],
        [0.0, 0.3, 0.7],
    ]
    assert p[0].tolist() == [0.0, 0.7, 0.3]  # the input is left as it was
    # Without the evidence the line is not clear: one NFT trade in two transactions is not enough.
    thin = nft_by_wallet(
        p[:1], pd.DataFrame({"nft_trade_share": [0.5], "nft_transfers": [1], "tx_count": [2]}), personas
    )
    assert thin.tolist() == [[0.0, 0.7, 0.3]]
    # Off without a column it reads or without one of the two personas.
    assert nft_by_wallet(p, rows.drop(columns="tx_count"), personas) is p
    assert nft_by_wallet(p, rows, ["Whale", RETAIL, "Deposit Forwarder"]) is p


def test_a_trained_model_serves_the_wallet_test_and_a_model_pickled_before_it_does_not() -> None:
    rng = np.random.default_rng(2)
    retail, traders = 500, 150
    # Retail wallets trade on DEXes, one in five also made an NFT trade or two (shares up to 0.4);
    # NFT traders' shares spread across the line from 0.15.
    share = np.r_[np.where(rng.uniform(size=retail) < 0.2, rng.uniform(0.1, 0.4, retail), 0.0),
                  rng.uniform(0.15, 0.9, traders)]  # fmt: skip
    table = pd.DataFrame(
        {
            "address": [f"0x{i:040x}" for i in range(retail + traders)],
            "tx_count": rng.integers(5, 30, retail + traders),
            "dex_trades": np.r_[rng.poisson(6, retail), rng.poisson(1, traders)],
            "eth_sent": rng.lognormal(0, 0.4, retail + traders),
            "nft_trade_share": share,
            "nft_transfers": np.where(share > 0, rng.integers(1, 20, retail + traders), 0),
        }
    )
    config = _small_config(("dex_trades", "nft_trade_share"), (2, 3), min_clusters=2)
    model, _ = train_personas(table, config)
    served = model.predict(table).set_index("address")["persona"].to_numpy()
    pair = np.isin(served, [RETAIL, NFT])
    assert pair.sum() > retail and (served == NFT).any()  # the model serves both personas
    # Clearly on one side (at least five transactions): most NFT trades, or none at all.
    mostly_nft = (table["nft_trade_share"] >= 0.7).to_numpy() & pair
    no_nft = (table["nft_transfers"] == 0).to_numpy() & pair
    assert mostly_nft.any() and no_nft.any()
    assert (served[mostly_nft] == NFT).all() and (served[no_nft] == RETAIL).all()
    old = dataclasses.replace(model, config=dataclasses.replace(model.config, nft_by_wallet=False))
    by_cluster = old.predict(table).set_index("address")["persona"].to_numpy()
    # The clusters alone put some wallets on the wrong side; the wallet test moves them, each to
    # the side of the line its own share is on, and leaves a wallet on the line as served.
    moved = served != by_cluster
    assert moved.any() and pair[moved].all()
    above = (table["nft_trade_share"] >= NFT_MIN_TRADE_SHARE).to_numpy()
    assert ((served == NFT) == above)[moved].all()
    near = (table["nft_trade_share"] - NFT_MIN_TRADE_SHARE).abs().to_numpy() < 0.01
    assert near.any() and not moved[near].any()
