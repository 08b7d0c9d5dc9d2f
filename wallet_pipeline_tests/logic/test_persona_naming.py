"""Names from profiles: unfit clusters described, Mixed by a stated measure, distinct names to read."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pandas as pd

from wallet_pipeline.logic.personas import PersonaConfig, train_personas
from wallet_pipeline.logic.personas.naming import (
    MIXED,
    NFT_MIN_TRADE_SHARE,
    RETAIL_TRADER,
    deposit_by_wallet,
    describe_unfit,
    display_names,
    fill_unfit,
    name_clusters,
    nft_by_wallet,
    profiles,
    wallet_names,
    whale_by_wallet,
)
from wallet_pipeline.logic.personas.population import (
    WHALE_TRADE_MULTIPLE,
    fit_whale_trade_size,
    passes_on_value,
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


def test_a_trader_is_named_by_what_it_trades_most_nft_trades_against_swaps() -> None:
    personas = ["Whale", RETAIL, NFT]
    # Three NFT clusters' wallets with half their transactions NFT trades (clearly above the line):
    # two NFT trades against one swap, two against two, one against three.
    p = np.array([[0.0, 0.2, 0.8]] * 3 + [[0.0, 0.7, 0.3]])
    rows = pd.DataFrame(
        {
            "nft_trade_share": [0.5, 0.5, 0.5, 0.6],
            "nft_transfers": [2, 2, 2, 6],
            "tx_count": [12, 12, 12, 10],
            "nft_buys": [1, 1, 1, 3],
            "nft_sells": [1, 1, 0, 3],
            "dex_trades": [1, 2, 3, np.nan],
        }
    )
    out = nft_by_wallet(p, rows, personas, over_swaps=True)
    # More NFT trades than swaps: NFT Trader; a tie or fewer: the broader persona, the confidence
    # kept. A retail cluster's wallet with six NFT trades and no swap known moves to NFT Trader.
    assert out.tolist() == [[0.0, 0.2, 0.8], [0.0, 0.8, 0.2], [0.0, 0.8, 0.2], [0.0, 0.3, 0.7]]
    # Off, or without the counts, only the share decides.
    assert nft_by_wallet(p, rows, personas)[:3].tolist() == p[:3].tolist()
    no_counts = rows.drop(columns="dex_trades")
    assert nft_by_wallet(p, no_counts, personas, over_swaps=True)[:3].tolist() == p[:3].tolist()


def test_a_wallet_swapping_at_a_whales_size_is_whale_and_keeps_the_confidence() -> None:
    personas = ["Dormant Holder", "Whale", RETAIL, NFT, "Deposit Forwarder"]
    p = np.array(
        [
            [0.0, 0.1, 0.8, 0.1, 0.0],  # retail by its shares, swaps at the line
            [0.0, 0.0, 0.3, 0.7, 0.0],  # NFT trader by its shares, far above the line
            [1.0, 0.0, 0.0, 0.0, 0.0],  # dormant by rule: who it is does not change when it stops
            [0.0, 0.1, 0.8, 0.1, 0.0],  # just under the line
            [0.0, 0.1, 0.8, 0.1, 0.0],  # no swap, no size (NULL)
            [0.0, 0.1, 0.1, 0.0, 0.8],  # a deposit forwarder is not read here
        ]
    )
    rows = pd.DataFrame({"avg_trade_size": [50_000.0, 2e6, 1e5, 49_999.0, np.nan, 1e6]})
    out = whale_by_wallet(p, rows, personas, 50_000.0)
    assert out.tolist() == [
        [0.0, 0.8, 0.1, 0.1, 0.0],
        [0.0, 0.7, 0.3, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0, 0.0],
        p[3].tolist(),
        p[4].tolist(),
        p[5].tolist(),
    ]
    # Off without the line, the column or a Whale persona.
    assert whale_by_wallet(p, rows, personas, None) is p
    assert whale_by_wallet(p, rows.rename(columns={"avg_trade_size": "x"}), personas, 1.0) is p
    assert whale_by_wallet(p[:, [0, 2, 3, 4]], rows, [personas[i] for i in (0, 2, 3, 4)], 1.0).shape == (6, 4)


def test_the_whale_line_is_a_multiple_of_the_median_trade_so_the_unit_cancels() -> None:
    sizes = np.array([100.0, 200.0, 300.0, np.nan, 0.0, 1e6])
    line, how = fit_whale_trade_size(sizes)
    assert line == WHALE_TRADE_MULTIPLE * 250.0 and "median" in how
    # Priced in cents rather than dollars, the same wallets pass.
    cents, _ = fit_whale_trade_size(sizes * 100)
    assert (sizes * 100 >= cents).tolist() == (sizes >= line).tolist()
    assert fit_whale_trade_size(np.array([np.nan, 0.0]))[0] is None


def test_a_deposit_address_passes_on_the_value_it_receives() -> None:
    personas = ["Dormant Holder", "Deposit Forwarder", RETAIL]
    sweep = {
        "forwarded_to_eoa_6h_share": 1.0,
        "collector_payment_share": 1.0,
        "dex_trades": 0,
        "nft_transfers": 0,
    }
    rows = pd.DataFrame(
        [
            sweep | {"eth_received": 1.0, "eth_sent": 0.999},  # swept, less the fee
            sweep | {"eth_received": 0.01, "eth_sent": 0.0093},  # a small deposit's fee is 7%
            sweep | {"eth_received": 1.0, "eth_sent": 0.4},  # paid an exchange part of its funds
            sweep | {"eth_received": 1.0, "eth_sent": 3.0},  # paid out more than it got here
            sweep | {"eth_received": 0.0, "eth_sent": 0.0},  # a token deposit address: no ETH
            sweep | {"eth_received": np.nan, "eth_sent": np.nan},  # amounts unknown
        ]
    )
    assert passes_on_value(rows, 0.1).tolist() == [True, True, False, False, True, True]
    assert passes_on_value(rows, None).all() and passes_on_value(rows.drop(columns="eth_sent"), 0.1).all()
    quiet = np.array([[1.0, 0.0, 0.0]] * 6)
    served = deposit_by_wallet(quiet, rows, personas, 0.1)
    assert served.argmax(1).tolist() == [1, 1, 0, 0, 1, 1]
    assert deposit_by_wallet(quiet, rows, personas).argmax(1).tolist() == [1] * 6  # not read: as before
    # The clusters' Deposit Forwarder that kept most of what it got is served its next likeliest.
    clustered = np.array([[0.0, 0.7, 0.3]] * 6)
    assert deposit_by_wallet(clustered, rows, personas, 0.1).argmax(1).tolist() == [1, 1, 2, 2, 1, 1]


def test_a_trained_model_serves_the_whale_and_value_tests_and_a_model_pickled_before_does_not() -> None:
    rng = np.random.default_rng(3)
    n = 600
    big = np.arange(n) < 12  # a few wallets swap at a whale's size yet send little ETH
    table = pd.DataFrame(
        {
            "address": [f"0x{i:040x}" for i in range(n)],
            "tx_count": rng.integers(5, 30, n),
            "dex_trades": rng.poisson(6, n) + 1,
            "eth_sent": rng.lognormal(0, 0.4, n),
            "nft_trade_share": 0.0,
            "nft_transfers": 0,
            "avg_trade_size": np.where(big, 1e6, rng.lognormal(6, 0.5, n)),
        }
    )
    table.loc[n - 30 :, "eth_sent"] = rng.lognormal(8, 0.3, 30)  # the top 5% by ETH: a Whale cluster
    # Five deposit addresses, too few for a cluster of their own: they sweep what they receive.
    sweepers = np.arange(20, 25)
    table = table.assign(
        forwarded_to_eoa_6h_share=0.0, collector_payment_share=0.0, eth_received=table.eth_sent
    )
    table.loc[sweepers, ["forwarded_to_eoa_6h_share", "collector_payment_share", "dex_trades"]] = [
        1.0,
        1.0,
        0,
    ]
    config = _small_config(("dex_trades", "eth_sent"), (2, 3), min_clusters=2)
    model, report = train_personas(table, config)
    median = float(np.median(table["avg_trade_size"]))
    assert report.population["whale_trade_size"] == WHALE_TRADE_MULTIPLE * median
    assert "Whale" in model.cluster_names
    served = model.predict(table)["persona"].to_numpy()
    assert (served[big] == "Whale").all()
    # No cluster carries Deposit Forwarder; the wallet test serves it all the same.
    assert "Deposit Forwarder" not in model.cluster_personas and "Deposit Forwarder" in model.personas
    assert (served[sweepers] == "Deposit Forwarder").all()
    old = pickle.loads(pickle.dumps(model))
    state = {
        k: v
        for k, v in old.config.__dict__.items()
        if k
        not in ("whale_trade_size", "nft_over_swaps", "deposit_max_value_gap", "wallet_tests_add_personas")
    }
    old.config = object.__new__(PersonaConfig)
    old.config.__setstate__(state)
    assert old.config.whale_trade_size is None and not old.config.nft_over_swaps
    assert old.config.deposit_max_value_gap is None
    assert not (old.predict(table)["persona"].to_numpy()[big] == "Whale").all()
    assert "Deposit Forwarder" not in old.personas
