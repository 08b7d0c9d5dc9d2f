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
        spread = 4 if name == "dormant" else 6
        n = per_group // 5 if name == "whale" else per_group  # whales are rare: named by the top 5%
        frames.append(
            pd.DataFrame(
                {
                    "group": name,
                    # Dormant wallets stopped early in the 120-day window (the rule: 0.8 of it).
                    "days_since_last_active": np.clip(rng.normal(dsla, spread, n), 0, 120),
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


def test_probabilities_sum_to_one_and_claim_no_more_than_the_refits_show(trained) -> None:
    table, model, report = trained
    pred = model.predict(table)
    p = pred[[persona_column(n) for n in model.personas]].to_numpy()
    assert np.allclose(p.sum(1), 1.0)
    assert ((p >= 0) & (p <= 1)).all()
    # The refined winner is a mixture: its posterior is the probability (T = 1), and the ensemble's
    # mean of it must match how often calibration refits outside the ensemble keep the persona.
    # On these planted groups they always do, so confidence near 1 is what calibration asks for;
    # where fits disagree it is their share (test_the_served_persona_is_the_mean_vote_of_the_ensemble).
    calibration = report.calibration
    assert (calibration["temperature"], calibration["temperature_from"]) == (1.0, "mixture posterior")
    assert calibration["ece_heldout_vs_raw_agreement"] <= 0.05
    assert 0 <= calibration["ece_heldout"] <= 0.3
    # A centroid model's scores are distances: its temperature is fitted, as before the ensemble.
    plain, plain_report = train_personas(table, PersonaConfig(**{**FAST.__dict__, "refine": False}))
    assert plain.clusterer.kind == "centroid"  # K-Means wins these blobs unrefined
    assert plain_report.calibration["temperature_from"] == "fitted on clusters"
    assert plain_report.calibration["temperature"] != 1.0
    modelled = plain.predict(table)[rule_personas(table).isna().to_numpy()]
    assert modelled.confidence.std() > 0.01  # tempered distances are not one-hot


def test_names_stay_with_the_same_wallets_after_a_retrain_with_another_seed(trained) -> None:
    table, model, _ = trained
    other = PersonaConfig(**{**FAST.__dict__, "seed": 7})
    retrained, _ = train_personas(table, other, previous=model)
    before, after = model.predict(table).persona, retrained.predict(table).persona
    assert (before == after).mean() >= 0.95


def test_a_retrain_on_shuffled_wallets_keeps_the_previous_names(trained) -> None:
    table, model, _ = trained
    from dataclasses import replace

    from wallet_pipeline.logic.personas import RULE_PERSONAS

    greek = ["Alpha", "Beta", "Gamma", "Delta", "Eps", "Zeta"]
    renamed = {name: greek[i] for i, name in enumerate(sorted(set(model.personas) - set(RULE_PERSONAS)))}
    model_b = pickle.loads(pickle.dumps(model))
    # Every fit of the ensemble is renamed: the previous model's personas are what it served.
    model_b.cluster_names = [renamed[n] for n in model.cluster_names]
    model_b.members = tuple(
        replace(m, cluster_names=[renamed[n] for n in m.cluster_names]) for m in model.members
    )
    assert set(model_b.predict(table).persona) - set(RULE_PERSONAS) <= set(greek)
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


def test_auto_dormancy_is_a_share_of_the_window_the_recency_spans() -> None:
    from wallet_pipeline.logic.personas.population import DORMANT_WINDOW_SHARE, fit_dormant_days

    rng = np.random.default_rng(0)
    for window in (7.0, 365.0):
        active = rng.uniform(0, 0.5, 3_000) * window
        stopped = rng.uniform(0.85, 1.0, 300) * window
        days, how = fit_dormant_days(np.r_[active, stopped])
        assert days == pytest.approx(DORMANT_WINDOW_SHARE * np.r_[active, stopped].max(), abs=1e-3)
        assert how.startswith("share of the window")
    days, how = fit_dormant_days(np.array([np.nan]))
    assert days == 90 and how.startswith("fixed")
    table = _table()
    model, report = train_personas(table, PersonaConfig(**{**FAST.__dict__, "dormant_days": "auto"}))
    window = table.loc[table.tx_count > 0, "days_since_last_active"].max()
    assert (
        report.population["dormant_days"]
        == model.config.dormant_days
        == pytest.approx(0.8 * window, abs=1e-3)
    )
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


# --- Operator rules: Institutional / Exchange, High-Frequency Bot, Airdrop Farmer (population.py) ---


def _operators() -> pd.DataFrame:
    """One wallet per rule, each followed by near misses that fail exactly one test of that rule."""
    base = {
        "tx_count": 20,
        "received_tx_count": 5,
        "unique_counterparties": 10,
        "avg_tx_per_day": 2.0,
        "hour_of_day_entropy": 2.0,
        "inter_arrival_cv": 1.5,
        "funding_cohort_size": np.nan,
        "funding_burst_size": np.nan,
        "days_since_last_active": 5.0,
        "unique_contracts_called": 4,
        "dex_trades": 1,
        "nft_transfers": 0,
        "is_contract": False,
    }
    exchange = {
        "tx_count": 900,
        "received_tx_count": 150,
        "unique_counterparties": 800,
        "avg_tx_per_day": 8.0,
        "hour_of_day_entropy": 4.5,
        "inter_arrival_cv": 1.2,
        "unique_contracts_called": 3,
        "dex_trades": 0,
    }
    bot = {"tx_count": 500, "avg_tx_per_day": 120.0, "hour_of_day_entropy": 4.5, "inter_arrival_cv": 0.1}
    farmer = {"funding_cohort_size": 40, "funding_burst_size": 40}
    rows = {
        "exchange": exchange,
        # A second-tier hot wallet over a week: the same shares at a thirtieth of the volume.
        "exchange_small": exchange
        | {"tx_count": 30, "received_tx_count": 5, "unique_counterparties": 27, "unique_contracts_called": 2},
        "exchange_sleeps": exchange | {"hour_of_day_entropy": 3.9},
        "exchange_pays_the_same_addresses": exchange | {"unique_counterparties": 449},
        "exchange_calls_protocols": exchange | {"unique_contracts_called": 81},
        "exchange_receives_nothing": exchange | {"received_tx_count": 0},
        "exchange_trades": exchange | {"dex_trades": 1},
        "exchange_trades_nfts": exchange | {"nft_transfers": 2},
        # No decoded trades in the source: unknown trades do not stop the rule.
        "exchange_no_trade_tables": exchange | {"dex_trades": np.nan, "nft_transfers": np.nan},
        "bot": bot,
        "bot_on_a_timer_by_day": bot | {"hour_of_day_entropy": 2.0},
        "bot_round_the_clock_random_timing": bot | {"inter_arrival_cv": 1.0},
        # A bot that ran a day and a half: 60 transactions over three calendar dates.
        "bot_short_lived": bot | {"tx_count": 60, "avg_tx_per_day": 20.0},
        "bot_few_sent": bot | {"tx_count": 23},
        "bot_slow": bot | {"avg_tx_per_day": 11.9},
        "bot_human_timing": bot | {"hour_of_day_entropy": 3.9, "inter_arrival_cv": 0.6},
        "bot_unknown_timing": bot | {"hour_of_day_entropy": np.nan, "inter_arrival_cv": np.nan},
        "farmer": farmer,
        "farmer_small_cohort": {"funding_cohort_size": 9, "funding_burst_size": 9},
        "farmer_cohort_lost_in_a_busy_burst": {"funding_cohort_size": 15, "funding_burst_size": 340},
        "farmer_off_amount": {"funding_cohort_size": 0, "funding_burst_size": 40},
        "farmer_dormant": farmer | {"days_since_last_active": 400.0},
        "farmer_never_sent": farmer | {"tx_count": 0, "days_since_last_active": np.nan},
        "exchange_contract": exchange | {"is_contract": True},
        "retail": {},
    }
    table = pd.DataFrame([base | r for r in rows.values()])
    table.insert(0, "address", list(rows))
    return table


def test_operator_rules_name_exchanges_bots_and_farmers_and_each_threshold_matters() -> None:
    from wallet_pipeline.logic.personas.population import AIRDROP_FARMER, EXCHANGE, HF_BOT

    table = _operators()
    got = dict(zip(table.address, rule_personas(table, dormant_days=90), strict=True))
    expected = {
        "exchange": EXCHANGE,
        "exchange_small": EXCHANGE,
        "exchange_no_trade_tables": EXCHANGE,
        "bot": HF_BOT,
        "bot_short_lived": HF_BOT,
        "bot_on_a_timer_by_day": HF_BOT,  # regular gaps alone are machine timing
        "bot_round_the_clock_random_timing": HF_BOT,  # so is activity in every hour
        "farmer": AIRDROP_FARMER,
        # Who runs the address outlives its activity: operators override Dormant and never-sent.
        "farmer_dormant": AIRDROP_FARMER,
        "farmer_never_sent": AIRDROP_FARMER,
        "exchange_contract": CONTRACT,  # a contract stays a contract
    }
    for address, persona in got.items():
        assert persona == expected.get(address), address


def test_operator_rules_are_off_when_asked_or_without_their_columns() -> None:
    from wallet_pipeline.logic.personas.population import (
        AIRDROP_FARMER,
        EXCHANGE,
        FARM_COLUMNS,
        HF_BOT,
        operator_rules_in_force,
    )

    table = _operators()
    off = rule_personas(table, dormant_days=90, operator_rules=False)
    assert not off.isin([EXCHANGE, HF_BOT, AIRDROP_FARMER]).any()
    assert off[table.address == "farmer_dormant"].item() == DORMANT
    without_funding = table.drop(columns=list(FARM_COLUMNS))
    persona = dict(zip(table.address, rule_personas(without_funding), strict=True))
    assert persona["farmer"] is None and persona["bot"] == HF_BOT and persona["exchange"] == EXCHANGE
    assert operator_rules_in_force(without_funding.columns) == (HF_BOT, EXCHANGE)
    assert operator_rules_in_force(["address"]) == ()
    # Text where a number belongs counts as unknown: the test that reads it fails, nothing raises.
    garbled = table.astype({"funding_cohort_size": object}).assign(funding_cohort_size="many")
    assert not rule_personas(garbled).eq(AIRDROP_FARMER).any()


def test_a_model_trained_with_operator_rules_keeps_their_wallets_out_of_its_clusters() -> None:
    from wallet_pipeline.logic.personas.population import HF_BOT

    table = _table().assign(avg_tx_per_day=2.0, hour_of_day_entropy=2.0, inter_arrival_cv=1.2)
    bots = table.index[table.group == "retail"][:15]
    table.loc[bots, ["tx_count", "avg_tx_per_day", "hour_of_day_entropy", "inter_arrival_cv"]] = [
        400,
        100.0,
        4.5,
        0.1,
    ]
    model, report = train_personas(table, FAST)
    pred = model.predict(table).set_index("address")
    assert (pred.loc[table.address[bots], "persona"] == HF_BOT).all()
    assert report.population[HF_BOT] == 15 and report.population["modelled"] == 440 - 15
    assert HF_BOT not in model.cluster_names  # a name a rule gives is never a cluster's
    off, _ = train_personas(table, PersonaConfig(**{**FAST.__dict__, "operator_rules": False}))
    assert not off.predict(table).set_index("address").loc[table.address[bots], "persona"].eq(HF_BOT).any()


def _deposits() -> pd.DataFrame:
    """A deposit address that sweeps to a collector, then near misses that fail one test each."""
    deposit = {
        "tx_count": 1,
        "days_since_last_active": 5.0,
        "forwarded_to_eoa_6h_share": 1.0,
        "collector_payment_share": 1.0,
        "dex_trades": 0,
        "nft_transfers": 0,
        "is_contract": False,
    }
    rows = {
        "deposit": deposit,
        "deposit_mostly_to_collectors": deposit | {"collector_payment_share": 0.8},
        "deposit_no_trade_tables": deposit | {"dex_trades": np.nan, "nft_transfers": np.nan},
        "forwards_to_a_friend": deposit | {"collector_payment_share": 0.0},
        "pays_collectors_now_and_then": deposit | {"collector_payment_share": 0.79},
        "keeps_what_it_receives": deposit | {"forwarded_to_eoa_6h_share": 0.79},
        "trades_on_a_dex": deposit | {"dex_trades": 1},
        "trades_nfts": deposit | {"nft_transfers": 2},
        "unknown_destinations": deposit | {"collector_payment_share": np.nan},
    }
    table = pd.DataFrame(list(rows.values()))
    table.insert(0, "address", list(rows))
    return table


def test_a_deposit_address_sweeps_to_a_collector_and_each_test_matters() -> None:
    from wallet_pipeline.logic.personas.population import sweeps_to_collector

    table = _deposits()
    got = dict(zip(table.address, sweeps_to_collector(table), strict=True))
    assert {a for a, yes in got.items() if yes} == {
        "deposit",
        "deposit_mostly_to_collectors",
        "deposit_no_trade_tables",
    }
    assert not sweeps_to_collector(table.drop(columns="collector_payment_share")).any()


def test_the_wallet_test_moves_a_sweeper_to_deposit_forwarder_and_keeps_the_confidence() -> None:
    from wallet_pipeline.logic.personas.naming import deposit_by_wallet
    from wallet_pipeline.logic.personas.population import DEPOSIT_FORWARDER

    # A deposit address, a wallet forwarding to a friend, one paying collectors now and then, one unknown.
    table = (
        _deposits()
        .set_index("address")
        .loc[["deposit", "forwards_to_a_friend", "pays_collectors_now_and_then", "unknown_destinations"]]
    )
    table = table.assign(collector_payment_share=[1.0, 0.0, 0.2, np.nan])
    personas = ["Whale", DEPOSIT_FORWARDER, "Active Retail Trader"]
    p = np.array([[0.7, 0.1, 0.2], [0.1, 0.6, 0.3], [0.1, 0.6, 0.3], [0.1, 0.6, 0.3]])
    moved = deposit_by_wallet(p, table, personas)
    # The sweeper becomes Deposit Forwarder, the friend's forwarder its next likeliest persona; at
    # 0.2 and with no payment known the clusters' answer stands.
    assert moved.tolist() == [[0.1, 0.7, 0.2], [0.1, 0.3, 0.6], [0.1, 0.6, 0.3], [0.1, 0.6, 0.3]]
    assert deposit_by_wallet(p, table, ["Whale", "Dormant Holder", "Active Retail Trader"]) is p
    assert deposit_by_wallet(p, table.drop(columns="collector_payment_share"), personas) is p
    # A forwarder the clusters are sure of has no next likeliest persona: it stays.
    sure = np.array([[0.0, 1.0, 0.0]] * 4)
    assert deposit_by_wallet(sure, table, personas)[1].tolist() == [0.0, 1.0, 0.0]


def test_a_model_serves_sweepers_as_deposit_forwarder_and_a_model_pickled_before_does_not() -> None:
    from wallet_pipeline.logic.personas.population import DEPOSIT_FORWARDER

    table = _table().assign(forwarded_to_eoa_6h_share=0.0, collector_payment_share=0.0)
    # Wallets that pass on everything to wallets few others pay: a Deposit Forwarder cluster.
    friends = table.index[table.group == "retail"][:60]
    table.loc[friends, ["forwarded_to_eoa_6h_share", "dex_trades"]] = [1.0, 0]
    # Whales that sweep to a collector, some of them long silent: deposit addresses.
    sweepers = table.index[table.group == "whale"][:20]
    table.loc[sweepers, ["forwarded_to_eoa_6h_share", "collector_payment_share", "dex_trades"]] = [
        1.0,
        1.0,
        0,
    ]
    table.loc[sweepers[:5], "days_since_last_active"] = 119.0
    model, report = train_personas(table, FAST)
    assert DEPOSIT_FORWARDER in model.cluster_names
    # The silent ones are Dormant Holder by rule, so training never saw them; served, they sweep.
    assert model.config.rules(table).loc[sweepers[:5]].eq(DORMANT).all()
    pred = model.predict(table).set_index("address")
    assert (pred.loc[table.address[sweepers], "persona"] == DEPOSIT_FORWARDER).all()
    assert (pred.loc[table.address[sweepers[:5]], "confidence"] == 1.0).all()
    # The forwarders that pay no collector are served their next likeliest persona.
    assert not pred.loc[table.address[friends], "persona"].eq(DEPOSIT_FORWARDER).any()
    off, _ = train_personas(table, PersonaConfig(**{**FAST.__dict__, "deposit_by_wallet": False}))
    served_off = off.predict(table).set_index("address")
    assert not served_off.loc[table.address[sweepers], "persona"].eq(DEPOSIT_FORWARDER).all()
    assert served_off.loc[table.address[friends], "persona"].eq(DEPOSIT_FORWARDER).mean() > 0.5
    old = pickle.loads(pickle.dumps(model))
    state = {k: v for k, v in old.config.__dict__.items() if k != "deposit_by_wallet"}
    old.config = object.__new__(PersonaConfig)
    old.config.__setstate__(state)
    assert not old.config.deposit_by_wallet


# --- The served model: refinement and the ensemble (refinement.py, model.py) ---


def test_refinement_puts_the_boundary_where_a_tight_and_a_broad_cluster_cross() -> None:
    from wallet_pipeline.logic.personas.refinement import refine
    from wallet_pipeline.logic.personas.selection import ClusterModel

    rng = np.random.default_rng(0)
    tight = rng.normal(0.0, 0.1, (2_000, 1))
    broad = rng.normal(3.0, 1.5, (2_000, 1))
    z = np.vstack([tight, broad])
    start = ClusterModel("kmeans", {"k": 2}, "centroid", np.array([[0.2], [2.5]]))
    # Half-way between the centroids, 1.0 goes to the tight cluster; its density there is nil.
    assert start.predict(np.array([[1.0]]))[0] == 0
    refined, info = refine(start, z, seed=0)
    assert info["refined"] and info["clusters_after"] == 2 and refined.kind == "gmm"
    assert refined.predict(np.array([[1.0], [0.05]])).tolist() == [1, 0]
    truth = np.r_[np.zeros(2_000), np.ones(2_000)]
    assert (refined.predict(z) == truth).mean() > (start.predict(z) == truth).mean()


def test_refinement_drops_clusters_left_empty_and_leaves_a_single_cluster_alone() -> None:
    from wallet_pipeline.logic.personas.refinement import refine
    from wallet_pipeline.logic.personas.selection import ClusterModel

    rng = np.random.default_rng(1)
    z = np.vstack([rng.normal(0, 1, (300, 2)), rng.normal(8, 1, (300, 2))])
    far = ClusterModel("hdbscan", {}, "centroid", np.array([[0.0, 0.0], [8.0, 8.0], [500.0, 500.0]]))
    refined, info = refine(far, z, seed=0)
    assert (info["clusters_before"], info["clusters_after"], refined.n_clusters) == (3, 2, 2)
    # A component of 8 wallets in 608 (1.3%) stays at min_share 1% and goes at 2%, EM rerun without it.
    tiny = np.vstack([z, rng.normal(4, 0.1, (8, 2))])
    three = ClusterModel("hdbscan", {}, "centroid", np.array([[0.0, 0.0], [8.0, 8.0], [4.0, 4.0]]))
    kept, info = refine(three, tiny, seed=0, min_share=0.01)
    assert kept.n_clusters == 3 and info["dropped_under_min_share"] == 0
    pruned, info = refine(three, tiny, seed=0, min_share=0.02)
    assert pruned.n_clusters == 2 and info["dropped_under_min_share"] == 1 and info["clusters_after"] == 2
    assert np.bincount(pruned.predict(tiny)).min() >= 0.02 * len(tiny)
    one = ClusterModel("kmeans", {"k": 1}, "centroid", np.zeros((1, 2)))
    same, info = refine(one, z, seed=0)
    assert same is one and not info["refined"]


def test_the_served_persona_is_the_mean_vote_of_the_ensemble(trained) -> None:
    from dataclasses import replace

    from wallet_pipeline.logic.personas.model import Member

    table, model, report = trained
    assert len(model.members) == FAST.stability_refits
    assert report.final["refined"] and report.final["ensemble_members"] == 1 + FAST.stability_refits
    assert {"silhouette", "stability", "min_share", "persona_agreement"} <= set(report.final)
    # Three fits: the winner says "Alpha" for every cluster, two members say "Beta": Beta wins 2:1.
    alpha = replace(model, cluster_names=["Alpha"] * model.clusterer.n_clusters, members=())
    beta = Member(model.clusterer, ["Beta"] * model.clusterer.n_clusters)
    voted = replace(alpha, members=(beta, beta)).predict(table)
    modelled = model.config.rules(table).isna().to_numpy()
    assert (voted.persona[modelled] == "Beta").all()
    assert np.allclose(voted.loc[modelled, persona_column("Beta")], 2 / 3)
    assert (alpha.predict(table).persona[modelled] == "Alpha").all()  # alone, the winner decides


def test_names_are_inherited_from_the_persona_most_of_a_clusters_wallets_had() -> None:
    from wallet_pipeline.logic.personas.naming import inherit_names

    labels = np.array([0] * 10 + [1] * 10 + [2] * 10)
    previous = np.array(
        ["Old A"] * 6 + ["Old B"] * 4  # cluster 0: 60% had Old A
        + ["Old A"] * 4 + ["Old B"] * 3 + [None] * 3  # cluster 1: 40%, not enough
        + [DORMANT] * 10,  # cluster 2: a name the new model's rule gives
        dtype=object,
    )  # fmt: skip
    names, matches = inherit_names(["New 0", "New 1", "New 2"], labels, previous, 0.5, skip=(DORMANT,))
    assert names == ["Old A", "New 1", "New 2"]
    assert matches[0] == {"previous_persona": "Old A", "overlap": 0.6}
    assert matches[1]["overlap"] == 0.4
    nobody = np.full(30, None, dtype=object)
    assert inherit_names(["x", "y", "z"], labels, nobody, 0.5) == (["x", "y", "z"], {})


def test_profile_percentiles_count_ties_as_half_like_the_definition() -> None:
    from wallet_pipeline.logic.personas.naming import profiles

    raw = pd.DataFrame({"a": [0.0, 0.0, 1.0, 2.0, 3.0, np.nan], "b": [5.0, 5.0, 5.0, 5.0, 1.0, 0.0]})
    labels = np.array([0, 0, 1, 1, 1, 1])
    prof = profiles(raw, labels, 2).set_index(["cluster", "column"])
    # Cluster 1's median of a is 2 (NULL left out); of the 5 known values 3 are below it, 1 equal.
    assert prof.loc[(1, "a"), "median"] == 2.0 and prof.loc[(1, "a"), "percentile"] == (3 + 0.5) / 5
    assert prof.loc[(0, "a"), "percentile"] == (0 + 0.5 * 2) / 5
    assert prof.loc[(0, "b"), "percentile"] == (2 + 0.5 * 4) / 6
    assert prof.loc[(1, "b"), "nonzero_share"] == 0.75 and prof.loc[(0, "b"), "size"] == 2


def test_a_model_pickled_before_the_operator_rules_and_the_ensemble_predicts_as_it_was_trained(
    trained,
) -> None:
    from wallet_pipeline.logic.personas.population import HF_BOT

    table, model, _ = trained
    bots = table.assign(avg_tx_per_day=100.0, hour_of_day_entropy=4.5, inter_arrival_cv=0.1, tx_count=500)
    assert (model.predict(bots).persona[~bots.is_contract] == HF_BOT).all()
    old = pickle.loads(pickle.dumps(model))
    state = dict(old.config.__dict__)
    for knob in ("operator_rules", "refine", "ensemble"):
        del state[knob]
    old_config = object.__new__(PersonaConfig)
    old_config.__setstate__(state)
    old.config = old_config
    del old.__dict__["members"]  # a pickle from before the ensemble has no such attribute
    assert old.members == () and not old.config.operator_rules
    assert not (old.predict(bots).persona == HF_BOT).any()


@pytest.mark.parametrize("refine_sample", [0, -5, 2.5, "all"])
def test_a_refinement_sample_that_is_not_a_positive_whole_number_is_refused(refine_sample) -> None:
    with pytest.raises(PersonaInputError, match="refine_sample"):
        train_personas(_table(), PersonaConfig(**{**FAST.__dict__, "refine_sample": refine_sample}))


def test_a_refused_candidate_is_not_eligible_and_the_rule_picks_among_the_rest() -> None:
    table = pd.DataFrame(
        {
            "candidate": ["coarse", "fine", "other"],
            "k": [3, 20, 6],
            "silhouette": [0.70, 0.62, 0.55],
            "stability": [0.85, 0.90, 0.95],
            "min_share": [0.02, 0.01, 0.02],
            "bic": [np.nan, np.nan, np.nan],
        }
    )
    first, _ = choose_winner(table, PersonaConfig())
    second, ranked = choose_winner(table, PersonaConfig(), refused={"coarse": 0.3})
    assert (first, second) == ("coarse", "fine")
    row = ranked.set_index("candidate").loc["coarse"]
    assert not row["eligible"] and row["refused_served_stability"] == 0.3


def _unstable(monkeypatch, how_many: int) -> list[str]:
    """Make the first `how_many` refined winners look unstable; returns the winners tried."""
    import wallet_pipeline.logic.personas.model as model_module

    real, tried = model_module.score_model, []

    def score(model, refits, z_fit, z_eval):  # noqa: ANN001, ANN202 - the real signature
        tried.append(model.method + str(model.params.get("k", model.params.get("min_cluster_share"))))
        row = real(model, refits, z_fit, z_eval)
        return row | {"stability": 0.1 + 0.01 * len(tried)} if len(tried) <= how_many else row

    monkeypatch.setattr(model_module, "score_model", score)
    return tried


def test_a_winner_unstable_once_refined_is_refused_and_the_next_winner_served(monkeypatch) -> None:
    tried = _unstable(monkeypatch, 1)
    model, report = train_personas(_table(), FAST)
    assert len(tried) == 2
    ((refused, stability),) = report.final["refused"].items()
    assert stability == pytest.approx(0.11) and refused != report.winner and report.final["held"]
    table = report.table.set_index("candidate")
    assert table.loc[report.winner, "winner"] and not table.loc[refused, "eligible"]
    assert "refused" in report.rule


def test_when_no_refined_winner_holds_the_most_stable_one_tried_is_served(monkeypatch) -> None:
    from wallet_pipeline.logic.personas.model import MAX_WINNERS_TRIED

    tried = _unstable(monkeypatch, 99)
    _, report = train_personas(_table(), FAST)
    assert len(tried) == MAX_WINNERS_TRIED and not report.final["held"]
    assert report.final["stability"] == pytest.approx(
        0.1 + 0.01 * MAX_WINNERS_TRIED
    )  # the last was the most stable
    assert (
        len(report.final["refused"]) == MAX_WINNERS_TRIED - 1 and report.winner not in report.final["refused"]
    )


def test_by_default_only_candidates_naming_the_most_personas_compete_on_silhouette() -> None:
    table = pd.DataFrame(
        {
            "candidate": ["three_clusters", "fine", "finer_but_weaker"],
            "k": [3, 20, 8],
            "n_personas": [2, 4, 4],
            "silhouette": [0.70, 0.62, 0.55],
            "stability": [1.0, 0.93, 0.99],
            "min_share": [0.02, 0.015, 0.02],
            "bic": [np.nan, np.nan, np.nan],
        }
    )
    by_personas, ranked = choose_winner(table, PersonaConfig())
    by_silhouette, _ = choose_winner(table, PersonaConfig(selection="silhouette"))
    assert (by_personas, by_silhouette) == ("fine", "three_clusters")
    assert ranked.set_index("candidate").loc["three_clusters", "eligible"]  # eligible, just outnamed
    # An ineligible candidate's names do not count: unstable, its four personas do not raise the bar.
    shaky = table.assign(n_personas=[2, 4, 5], stability=[1.0, 0.93, 0.5])
    assert choose_winner(shaky, PersonaConfig())[0] == "fine"


def test_the_default_selection_reports_the_personas_each_candidate_names(trained) -> None:
    _, model, report = trained
    assert {"n_personas", "names"} <= set(report.table.columns)
    assert report.table["named_silhouette"].isna().all()  # only "named" selection pays for it
    win = report.table[report.table.winner].iloc[0]
    assert win.n_personas == report.table.loc[report.table.eligible, "n_personas"].max()
    assert "Mixed" not in win.names or win.n_personas < win.n_names
