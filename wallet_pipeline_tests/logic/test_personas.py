from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from wallet_pipeline.logic.personas import (
    CONTRACT,
    DORMANT,
    INACTIVE,
    RECEIVE_ONLY,
    SPOOFED_SENDER,
    PersonaConfig,
    PersonaInputError,
    persona_column,
    rule_personas,
    train_personas,
)
from wallet_pipeline.logic.personas.naming import name_cluster
from wallet_pipeline.logic.personas.selection import choose_winner

FAST = PersonaConfig(
    feature_columns=("days_since_last_active", "nft_transfers", "dex_trades", "eth_sent"),
    k_range=(2, 3, 4, 5),
    gmm_covariance_types=("diag",),
    selection_sample=1_500,
    eval_sample=600,
    small_sample=600,
    stability_refits=3,
)


def _table(seed: int = 0, per_group: int = 200) -> pd.DataFrame:
    """Planted groups: dormant, retail, NFT traders, few whales; plus contracts and inactive wallets."""
    rng = np.random.default_rng(seed)
    groups = {
        "dormant": (110, 0.0, 0.0, 0.1),
        "retail": (20, 0.0, 8.0, 0.5),
        "nft": (25, 12.0, 1.0, 1.0),
        "whale": (30, 0.0, 2.0, 500.0),
    }
    frames = []
    for name, (dsla, nft, dex, eth) in groups.items():
        n = per_group // 5 if name == "whale" else per_group  # whales are rare: named by the top 5%
        frames.append(
            pd.DataFrame(
                {
                    "group": name,
                    "days_since_last_active": np.clip(rng.normal(dsla, 6, n), 0, 120),
                    "nft_transfers": rng.poisson(nft, n),
                    "dex_trades": rng.poisson(dex, n),
                    "eth_sent": eth * rng.lognormal(0, 0.4, n),
                    "tx_count": rng.integers(2, 30, n),
                    "is_contract": False,
                }
            )
        )
    extra = pd.DataFrame(
        {
            "group": ["contract"] * 10 + ["inactive"] * 10,
            "days_since_last_active": [np.nan] * 20,
            "nft_transfers": 0,
            "dex_trades": 0,
            "eth_sent": 0.0,
            "tx_count": 0,
            "is_contract": [True] * 10 + [False] * 10,
        }
    )
    out = pd.concat(frames + [extra], ignore_index=True)
    out.insert(0, "address", [f"0x{i:040x}" for i in range(len(out))])
    return out


@pytest.fixture(scope="module")
def trained():
    table = _table()
    model, report = train_personas(table, FAST)
    return table, model, report


def test_contracts_and_inactive_wallets_are_named_by_rule_in_training_and_prediction(trained) -> None:
    table, model, report = trained
    pred = model.predict(table).set_index("address")
    contracts = table.loc[table.group == "contract", "address"]
    inactive = table.loc[table.group == "inactive", "address"]
    assert (pred.loc[contracts, "persona"] == CONTRACT).all()
    assert (pred.loc[inactive, "persona"] == INACTIVE).all()
    assert (pred.loc[contracts, "confidence"] == 1.0).all()
    dormant = table.loc[table.group == "dormant", "address"]
    assert (pred.loc[dormant, "persona"] == DORMANT).all()  # 110 days without a sent transaction
    assert report.population["modelled"] == 440
    rule = rule_personas(table)
    assert rule.isna().sum() == 440 and (rule == CONTRACT).sum() == 10 and (rule == DORMANT).sum() == 200


def test_planted_groups_are_recovered_and_named_from_their_profile(trained) -> None:
    table, model, _ = trained
    pred = model.predict(table)
    active = table.group.isin(["dormant", "retail", "nft", "whale"])
    by_group = pd.crosstab(table.group[active], pred.persona[active])
    dominant = by_group.idxmax(axis=1)
    assert dominant["dormant"] == "Dormant Holder"
    assert dominant["nft"] == "NFT Trader"
    assert dominant["whale"] == "Whale"
    assert (by_group.max(axis=1) / by_group.sum(axis=1) >= 0.9).all()


def test_selection_report_compares_every_method_and_names_one_winner(trained) -> None:
    _, _, report = trained
    table = report.table
    assert {"kmeans", "gmm", "hdbscan", "agglomerative"} <= set(table.method)
    assert table.winner.sum() == 1
    assert table.loc[table.winner, "candidate"].item() == report.winner
    assert table.loc[table.method == "gmm", "bic"].notna().all()
    for col in ("silhouette", "davies_bouldin", "calinski_harabasz", "stability", "balance"):
        assert col in table.columns
    assert "silhouette" in report.rule


def test_probabilities_sum_to_one_and_are_not_degenerate(trained) -> None:
    table, model, report = trained
    pred = model.predict(table)
    p = pred[[persona_column(n) for n in model.personas]].to_numpy()
    assert np.allclose(p.sum(1), 1.0)
    assert ((p >= 0) & (p <= 1)).all()
    modelled = pred[rule_personas(table).isna().to_numpy()]
    assert (modelled.confidence > 0.99).mean() < 0.9
    assert modelled.confidence.std() > 0.01
    assert 0 <= report.calibration["ece_heldout"] <= 0.3


def test_names_stay_with_the_same_wallets_after_a_retrain_with_another_seed(trained) -> None:
    table, model, _ = trained
    other = PersonaConfig(**{**FAST.__dict__, "seed": 7})
    retrained, _ = train_personas(table, other, previous=model)
    before, after = model.predict(table).persona, retrained.predict(table).persona
    assert (before == after).mean() >= 0.95


def test_a_retrain_on_shuffled_wallets_keeps_the_previous_names(trained) -> None:
    table, model, _ = trained
    greek = ["Alpha", "Beta", "Gamma", "Delta", "Eps", "Zeta"]
    renamed = {name: greek[i] for i, name in enumerate(sorted(set(model.cluster_names)))}
    model_b = pickle.loads(pickle.dumps(model))
    model_b.cluster_names = [renamed[n] for n in model.cluster_names]
    retrained, report = train_personas(table.sample(frac=1, random_state=3), FAST, previous=model_b)
    assert set(retrained.cluster_names) <= set(renamed.values())
    assert "matches" in report.names


def test_empty_table_is_refused() -> None:
    with pytest.raises(PersonaInputError, match="empty"):
        train_personas(_table().iloc[0:0], FAST)


def test_missing_configured_column_is_refused() -> None:
    with pytest.raises(PersonaInputError, match="dex_trades"):
        train_personas(_table().drop(columns="dex_trades"), FAST)


def test_missing_address_column_is_refused() -> None:
    with pytest.raises(PersonaInputError, match="address"):
        train_personas(_table().drop(columns="address"), FAST)


def test_all_null_and_constant_columns_are_refused() -> None:
    table = _table()
    with pytest.raises(PersonaInputError, match="entirely null"):
        train_personas(table.assign(eth_sent=np.nan), FAST)
    with pytest.raises(PersonaInputError, match="constant"):
        train_personas(table.assign(dex_trades=3), FAST)


def test_predict_refuses_features_the_model_was_not_trained_on(trained) -> None:
    table, model, _ = trained
    with pytest.raises(PersonaInputError, match="trained on"):
        model.predict(table.drop(columns="nft_transfers"))
    with pytest.raises(PersonaInputError, match="not numeric"):
        model.predict(table.assign(eth_sent="a lot"))


def test_any_numeric_table_is_accepted_with_the_default_column_choice() -> None:
    table = _table()[["address", "days_since_last_active", "dex_trades", "eth_sent", "nft_transfers"]]
    table = table.dropna()
    config = PersonaConfig(**{**FAST.__dict__, "feature_columns": None, "methods": ("kmeans",)})
    model, _ = train_personas(table, config)
    assert set(model.feature_columns) == {"days_since_last_active", "dex_trades", "eth_sent", "nft_transfers"}
    assert len(model.predict(table)) == len(table)


def test_model_survives_a_pickle_round_trip(trained) -> None:
    table, model, _ = trained
    restored = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(restored.predict(table), model.predict(table))


def test_wallets_that_never_sent_are_split_into_spoofed_senders_receive_only_and_inactive() -> None:
    table = pd.DataFrame(
        {
            "address": ["spoofed", "receiver", "token_receiver", "empty", "sender", "contract"],
            "tx_count": [0, 0, 0, 0, 3, 0],
            "received_tx_count": [0, 2, 0, 0, 1, 0],
            "erc20_transfers_in": [0, 0, 4, 0, 0, 0],
            "nft_transfers": [0, 0, 0, 0, 0, 0],
            "erc20_transfers_out": [3, 0, 0, 0, 2, 5],
            "is_contract": [False, False, False, False, False, True],
        }
    )
    rule = rule_personas(table).tolist()
    assert rule == [SPOOFED_SENDER, RECEIVE_ONLY, RECEIVE_ONLY, INACTIVE, None, CONTRACT]
    # Without the received / token-out columns every wallet that never sent stays Inactive.
    plain = rule_personas(table[["address", "tx_count", "is_contract"]]).tolist()
    assert plain == [INACTIVE, INACTIVE, INACTIVE, INACTIVE, None, CONTRACT]


def _profile(columns: dict[str, tuple[float, float, float]]) -> pd.DataFrame:
    """Profile rows of one cluster from {column: (median, percentile, nonzero share)}."""
    return pd.DataFrame(
        [
            {"cluster": 0, "column": c, "size": 100, "median": m, "percentile": p, "nonzero_share": nz,
             "population_nonzero_share": 0.5}
            for c, (m, p, nz) in columns.items()
        ]
    )  # fmt: skip


def test_deposit_forwarders_are_named_by_their_forwarding_share_not_the_eth_ratio() -> None:
    base = {
        "dex_trades": (0, 0.3, 0.0),
        "nft_transfers": (0, 0.3, 0.0),
        "days_since_last_active": (80, 0.7, 1.0),
    }
    # ETH out/in ratio pulled below 0.8 by members that kept some ETH, but every inflow is forwarded.
    forwarding = base | {"eth_sent": (0.5, 0.4, 1.0), "eth_received": (1.0, 0.5, 1.0)}
    assert (
        name_cluster(_profile(forwarding | {"forwarded_eoa_6h_share": (1.0, 0.9, 1.0)}))
        == "Deposit Forwarder"
    )
    # A share that says "not forwarded" wins over a high ETH ratio.
    kept = base | {"eth_sent": (1.0, 0.5, 1.0), "eth_received": (1.0, 0.5, 1.0)}
    assert name_cluster(_profile(kept | {"forwarded_eoa_6h_share": (0.0, 0.3, 0.0)})) == "Dormant Holder"
    # Without the share column the ETH ratio still decides.
    assert name_cluster(_profile(kept | {"forward_ratio": (1.0, 0.5, 1.0)})) == "Deposit Forwarder"


def test_named_selection_prefers_the_candidate_whose_names_separate_best_over_raw_silhouette() -> None:
    table = pd.DataFrame(
        {
            "candidate": ["split", "merged"],
            "k": [6, 4],
            "silhouette": [0.60, 0.50],
            "named_silhouette": [0.30, 0.50],
            "bic": [np.nan, np.nan],
            "stability": [0.95, 0.95],
            "min_share": [0.05, 0.05],
        }
    )
    by_silhouette, _ = choose_winner(table, PersonaConfig())
    by_names, _ = choose_winner(table, PersonaConfig(selection="named"))
    assert (by_silhouette, by_names) == ("split", "merged")


def test_distinct_selection_drops_candidates_that_give_two_clusters_the_same_name() -> None:
    table = pd.DataFrame(
        {
            "candidate": ["two_retail_clusters", "one_name_each"],
            "k": [6, 4],
            "n_names": [5, 4],
            "silhouette": [0.60, 0.45],
            "bic": [np.nan, np.nan],
            "stability": [0.95, 0.95],
            "min_share": [0.05, 0.05],
        }
    )
    winner, ranked = choose_winner(table, PersonaConfig(selection="distinct"))
    assert winner == "one_name_each"
    assert not ranked.set_index("candidate").loc["two_retail_clusters", "eligible"]


def test_training_with_named_selection_reports_names_per_candidate_and_refuses_unknown_rules() -> None:
    table = _table()
    model, report = train_personas(table, PersonaConfig(**{**FAST.__dict__, "selection": "named"}))
    assert {"n_names", "named_silhouette", "names"} <= set(report.table.columns)
    win = report.table[report.table.winner].iloc[0]
    assert win.named_silhouette == report.table.loc[report.table.eligible, "named_silhouette"].max() or (
        win.named_silhouette >= report.table.loc[report.table.eligible, "named_silhouette"].max() - 0.02
    )
    assert win.n_names == len(set(model.cluster_names))
    with pytest.raises(PersonaInputError, match="unknown selection"):
        train_personas(table, PersonaConfig(selection="elbow"))


def test_dormant_rule_uses_days_since_the_last_sent_transaction_and_can_be_switched_off() -> None:
    table = pd.DataFrame(
        {
            "address": ["0xa", "0xb", "0xc", "0xd"],
            "tx_count": [3, 3, 3, 0],
            "days_since_last_active": [89.9, 90.0, 400.0, np.nan],
            "is_contract": [False, False, True, False],
        }
    )
    assert rule_personas(table).tolist() == [None, DORMANT, CONTRACT, INACTIVE]
    assert rule_personas(table, dormant_days=None).tolist() == [None, None, CONTRACT, INACTIVE]
    assert PersonaConfig(dormant_days=30).rules(table).tolist() == [DORMANT, DORMANT, CONTRACT, INACTIVE]


def test_a_tie_on_silhouette_goes_to_the_finer_partition_unless_stable_is_asked_for() -> None:
    table = pd.DataFrame(
        {
            "candidate": ["kmeans(k=4)", "kmeans(k=6)", "kmeans(k=8)", "gmm(k=3)"],
            "k": [4, 6, 8, 3],
            "silhouette": [0.55, 0.57, 0.56, 0.40],
            "stability": [0.99, 0.95, 0.90, 1.0],
            "min_share": [0.05, 0.02, 0.01, 0.2],
            "bic": [np.nan, np.nan, np.nan, 1.0],
        }
    )
    finer, _ = choose_winner(table, PersonaConfig())
    stable, _ = choose_winner(table, PersonaConfig(tie_break="stable"))
    assert finer == "kmeans(k=8)"
    assert stable == "kmeans(k=4)"
    # Outside the 0.02 band nothing is tied: the best silhouette wins either way.
    narrow, _ = choose_winner(table, PersonaConfig(silhouette_tie=0.001))
    assert narrow == "kmeans(k=6)"


def test_auto_dormancy_puts_the_threshold_between_the_modes_and_falls_back_to_90_days_without_one() -> None:
    from wallet_pipeline.logic.personas.population import fit_dormant_days

    rng = np.random.default_rng(0)
    active = rng.exponential(15, 3_000)
    stopped = rng.uniform(150, 180, 1_000)
    days, how = fit_dormant_days(np.r_[active, stopped])
    assert 70 < days < 150 and how.startswith("fitted")
    days, how = fit_dormant_days(active)
    assert days == 90 and how.startswith("fixed")
    table = _table()
    model, report = train_personas(table, PersonaConfig(**{**FAST.__dict__, "dormant_days": "auto"}))
    assert report.population["dormant_days"] == model.config.dormant_days
    assert isinstance(model.config.dormant_days, float)  # prediction applies the trained number
    with pytest.raises(PersonaInputError, match="dormant_days must be"):
        train_personas(table, PersonaConfig(**{**FAST.__dict__, "dormant_days": "soon"}))


def test_default_features_a_source_cannot_fill_are_left_out_and_reported() -> None:
    from wallet_pipeline.logic.personas import WALLET_FEATURES

    rng = np.random.default_rng(3)
    n = 400
    table = pd.DataFrame(
        {
            "address": [f"0x{i:040x}" for i in range(n)],
            "tx_count": rng.integers(1, 20, n),
            "forwarded_to_eoa_6h_share": np.r_[np.ones(n // 4), rng.uniform(0, 0.2, n - n // 4)],
            "nft_trade_share": np.nan,  # the export had no NFT trades
            "dex_trade_share": np.nan,  # nor DEX trades
            "large_transfer_share": np.r_[rng.uniform(0.3, 0.6, 20), np.zeros(n - 20)],
        }
    )
    config = PersonaConfig(**{**FAST.__dict__, "feature_columns": None})
    model, report = train_personas(table, config)
    assert set(WALLET_FEATURES) <= set(table.columns)
    assert report.population["dropped_features"] == ["nft_trade_share", "dex_trade_share"]
    assert model.feature_columns == ("forwarded_to_eoa_6h_share", "large_transfer_share")
    with pytest.raises(PersonaInputError, match="entirely null"):
        train_personas(table.assign(forwarded_to_eoa_6h_share=np.nan, large_transfer_share=np.nan), config)
