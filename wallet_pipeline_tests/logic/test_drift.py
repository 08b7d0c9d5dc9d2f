from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from wallet_pipeline.logic.automation.drift import (
    DriftInputError,
    DriftThresholds,
    compare,
    data_fingerprint,
    drift_columns,
    feature_reference,
    persona_change_share,
    persona_reference,
    psi,
    thresholds_from_env,
)
from wallet_pipeline.logic.personas import train_personas
from wallet_pipeline_tests.logic.test_personas import FAST, _table

COLUMNS = ["share", "count", "flag"]


def _features(seed: int = 0, rows: int = 4_000, share_mean: float = 0.2) -> pd.DataFrame:
    """Zero-inflated share, heavy-tailed count, a boolean: the shapes of marts.wallet_features."""
    rng = np.random.default_rng(seed)
    share = np.where(rng.random(rows) < 0.6, 0.0, np.clip(rng.normal(share_mean, 0.1, rows), 0, 1))
    share[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "address": [f"0x{i:040x}" for i in range(rows)],
            "share": share,
            "count": rng.lognormal(2, 1, rows).round(),
            "flag": rng.random(rows) < 0.1,
        }
    )


def test_the_same_data_has_zero_psi_and_never_asks_for_a_retrain() -> None:
    table = _features()
    report = compare(feature_reference(table, COLUMNS), table)
    assert report.features["psi"].max() == pytest.approx(0.0, abs=1e-12)
    assert report.features["ks_pvalue"].min() > 0.5
    assert report.same_data
    assert report.should_retrain(DriftThresholds()) == (
        False,
        "features are the ones the model was trained on",
    )


def test_new_data_from_the_same_distribution_stays_below_the_thresholds() -> None:
    report = compare(feature_reference(_features(seed=0), COLUMNS), _features(seed=1))
    assert not report.same_data
    assert report.features["psi"].max() < 0.02
    retrain, reason = report.should_retrain(DriftThresholds())
    assert not retrain
    assert reason.startswith("below thresholds: largest PSI")


def test_a_shifted_feature_has_a_large_psi_a_tiny_ks_pvalue_and_asks_for_a_retrain_naming_it() -> None:
    report = compare(feature_reference(_features(seed=0), COLUMNS), _features(seed=1, share_mean=0.6))
    row = report.features.set_index("feature").loc["share"]
    assert row["psi"] > 0.5
    assert row["ks_pvalue"] < 1e-10
    assert report.features.set_index("feature").loc["count", "psi"] < 0.02
    retrain, reason = report.should_retrain(DriftThresholds())
    assert retrain
    assert reason.startswith("PSI >= 0.2 on 1 feature(s): share ")
    # Twice the drifted features required: one is not enough.
    assert not report.should_retrain(DriftThresholds(min_features=2))[0]


def test_a_large_psi_on_a_small_table_is_not_drift_unless_the_ks_test_agrees() -> None:
    reference = feature_reference(_features(seed=0), COLUMNS)
    small = _features(seed=5, rows=12)
    report = compare(reference, small)
    noisy = report.features[report.features["psi"] >= 0.2]
    assert len(noisy), "12 rows over 10 bins give a large PSI by chance"
    assert (noisy["ks_pvalue"] > 0.01).all()
    assert report.drifted_features(DriftThresholds()).empty


def test_a_feature_turning_null_drifts_through_its_null_bin_and_null_share_change() -> None:
    current = _features(seed=1).assign(share=np.nan)
    report = compare(feature_reference(_features(seed=0), COLUMNS), current)
    row = report.features.set_index("feature").loc["share"]
    assert row["null_share_current"] == 1.0
    assert row["null_share_change"] == pytest.approx(1.0 - row["null_share_reference"])
    assert np.isnan(row["ks_pvalue"])
    assert row["psi"] > 1
    assert report.should_retrain(DriftThresholds())[1].startswith("PSI >= 0.2 on 1 feature(s): share ")
    assert "(all NULL)" in report.should_retrain(DriftThresholds())[1]


def test_psi_follows_its_formula_and_an_empty_bin_counts_as_epsilon() -> None:
    expected = (0.3 - 0.5) * np.log(0.3 / 0.5) + (0.7 - 0.5) * np.log(0.7 / 0.5)
    assert psi([0.5, 0.5], [0.3, 0.7]) == pytest.approx(expected)
    assert psi([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]) == 0.0
    empty = psi([1.0, 0.0], [0.5, 0.5])
    assert np.isfinite(empty)
    assert empty == pytest.approx(
        (1e-4 - 0.5) * 0 + (0.5 - 1.0) * np.log(0.5) + (0.5 - 1e-4) * np.log(0.5 / 1e-4)
    )


def test_a_point_mass_gets_a_bin_of_its_own() -> None:
    reference = feature_reference(_features(), COLUMNS)["columns"]["share"]
    assert reference["edges"][0] == 0.0
    assert reference["shares"][0] == pytest.approx(0.6 * 0.95, abs=0.03)
    assert len(reference["edges"]) < 9


def test_the_reference_is_json_and_carries_the_fingerprint_rows_and_samples() -> None:
    table = _features()
    reference = json.loads(json.dumps(feature_reference(table, COLUMNS, sample_size=500)))
    assert reference["rows"] == 4_000
    assert reference["fingerprint"] == data_fingerprint(table, COLUMNS)
    assert len(reference["columns"]["share"]["sample"]) == 500
    assert not np.isnan(reference["columns"]["share"]["sample"]).any()
    assert sum(reference["columns"]["count"]["shares"]) == pytest.approx(1.0)


def test_the_fingerprint_ignores_row_order_and_number_type_and_sees_one_changed_value() -> None:
    table = _features()
    shuffled = table.sample(frac=1.0, random_state=3).assign(count=lambda t: t["count"].astype("Int64"))
    assert data_fingerprint(shuffled, COLUMNS) == data_fingerprint(table, COLUMNS)
    changed = table.copy()
    changed.loc[17, "count"] += 1
    assert data_fingerprint(changed, COLUMNS) != data_fingerprint(table, COLUMNS)


def test_a_current_table_without_a_monitored_column_is_refused_naming_it() -> None:
    reference = feature_reference(_features(), COLUMNS)
    with pytest.raises(DriftInputError, match=r"lack columns \['flag'\]"):
        compare(reference, _features().drop(columns=["flag"]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"psi": 0}, "DriftThresholds.psi must be a number in \\(0, inf\\), not 0"),
        ({"psi": -0.1}, "DriftThresholds.psi"),
        ({"psi": float("nan")}, "DriftThresholds.psi"),
        ({"ks_pvalue": 0}, "DriftThresholds.ks_pvalue must be a number in \\(0, 1\\]"),
        ({"ks_pvalue": 1.5}, "DriftThresholds.ks_pvalue"),
        ({"persona_change": 0.0}, "DriftThresholds.persona_change"),
        ({"persona_change": 2}, "DriftThresholds.persona_change"),
        ({"min_features": 0}, "DriftThresholds.min_features must be a whole number >= 1, not 0"),
        ({"min_features": 1.5}, "DriftThresholds.min_features"),
        ({"psi": "0.2"}, "DriftThresholds.psi"),
    ],
)
def test_thresholds_out_of_range_are_refused_naming_the_field(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DriftThresholds(**kwargs)


def test_thresholds_come_from_environment_variables_with_errors_naming_the_variable() -> None:
    assert thresholds_from_env({}) == DriftThresholds()
    env = {
        "WALLET_DRIFT_PSI": "0.25",
        "WALLET_DRIFT_KS_PVALUE": "0.001",
        "WALLET_DRIFT_PERSONA_CHANGE": " 0.2 ",
        "WALLET_DRIFT_MIN_FEATURES": "2",
    }
    assert thresholds_from_env(env) == DriftThresholds(0.25, 0.001, 0.2, 2)
    with pytest.raises(ValueError, match="WALLET_DRIFT_PSI='high' is not a number"):
        thresholds_from_env({"WALLET_DRIFT_PSI": "high"})
    with pytest.raises(ValueError, match="WALLET_DRIFT_MIN_FEATURES='1.5' is not a whole number"):
        thresholds_from_env({"WALLET_DRIFT_MIN_FEATURES": "1.5"})
    with pytest.raises(ValueError, match="DriftThresholds.persona_change must be a number in"):
        thresholds_from_env({"WALLET_DRIFT_PERSONA_CHANGE": "1.5"})


@pytest.fixture(scope="module")
def persona_model():
    table = _table()
    model, _ = train_personas(table, FAST)
    return table, model


def test_persona_change_share_is_zero_on_the_training_wallets_and_counts_the_wallets_that_moved(
    persona_model,
) -> None:
    table, model = persona_model
    stored = persona_reference(model, table, sample_size=10_000)
    same = persona_change_share(model, stored, table)
    assert same.share == 0.0
    assert same.compared == len(table)
    assert same.mix_shift == pytest.approx(0.0)
    # The NFT traders stop trading NFTs: those still modelled get another persona.
    nft = table["group"] == "nft"
    moved = table.assign(nft_transfers=np.where(nft, 0, table["nft_transfers"]))
    change = persona_change_share(model, stored, moved)
    before = model.predict(table).set_index("address")["persona"]
    after = model.predict(moved).set_index("address")["persona"]
    assert change.share == pytest.approx((before != after).mean())
    assert change.share > 0.1
    assert change.mix_shift > 0.1
    assert sum(change.moves.values()) == (before != after).sum()
    # Wallets gone from the table are counted, not compared.
    partial = persona_change_share(model, stored, table.iloc[:100])
    assert (partial.compared, partial.missing) == (100, len(table) - 100)


def test_a_report_with_a_model_asks_for_a_retrain_when_personas_change_past_the_threshold(
    persona_model,
) -> None:
    table, model = persona_model
    columns = drift_columns(model, table.columns)
    assert columns[: len(model.feature_columns)] == list(model.feature_columns)
    assert {"tx_count", "days_since_last_active", "is_contract"} <= set(columns)
    assert len(columns) == len(set(columns))  # tx_count is read by several rules, listed once
    reference = feature_reference(table, columns)
    reference["personas"] = persona_reference(model, table)
    nft = table["group"] == "nft"
    moved = table.assign(nft_transfers=np.where(nft, 0, table["nft_transfers"]))
    report = compare(reference, moved, model=model)
    assert report.metrics()["persona_change_share"] == report.persona_change_share
    retrain, reason = report.should_retrain(DriftThresholds(psi=50.0))
    assert retrain
    assert reason.startswith(f"persona changed for {report.persona_change_share:.1%} of {len(table):,}")
    assert not report.should_retrain(DriftThresholds(psi=50.0, persona_change=0.99))[0]


def test_drift_columns_include_the_operator_rule_columns_only_for_a_model_that_applies_them() -> None:
    from types import SimpleNamespace

    from wallet_pipeline.logic.personas import PersonaConfig

    table = ["address", "forwarded_to_eoa_6h_share", "tx_count", "funding_cohort_size", "funding_burst_size"]
    operators = {"funding_cohort_size", "funding_burst_size"}
    on = SimpleNamespace(config=PersonaConfig(), feature_columns=("forwarded_to_eoa_6h_share",))
    off = SimpleNamespace(config=PersonaConfig(operator_rules=False), feature_columns=on.feature_columns)
    assert operators <= set(drift_columns(on, table))
    assert not operators & set(drift_columns(off, table))
    assert drift_columns(on, table).count("tx_count") == 1


def test_drift_columns_include_the_deposit_columns_only_for_a_model_that_reads_them() -> None:
    from types import SimpleNamespace

    from wallet_pipeline.logic.personas import PersonaConfig

    table = ["address", "forwarded_to_eoa_6h_share", "collector_payment_share", "dex_trades"]
    on = SimpleNamespace(config=PersonaConfig(), feature_columns=("forwarded_to_eoa_6h_share",))
    off = SimpleNamespace(config=PersonaConfig(deposit_by_wallet=False), feature_columns=on.feature_columns)
    assert {"collector_payment_share", "dex_trades"} <= set(drift_columns(on, table))
    assert "collector_payment_share" not in drift_columns(off, table)


def test_drift_columns_include_the_serving_test_columns_only_for_a_model_that_reads_them() -> None:
    from types import SimpleNamespace

    from wallet_pipeline.logic.personas import PersonaConfig

    table = ["address", "forwarded_to_eoa_6h_share", "nft_buys", "nft_sells", "avg_trade_size", "eth_sent"]
    features = ("forwarded_to_eoa_6h_share",)
    on = SimpleNamespace(config=PersonaConfig(), feature_columns=features)
    off = SimpleNamespace(
        config=PersonaConfig(nft_over_swaps=False, whale_trade_size=None, deposit_max_value_gap=None),
        feature_columns=features,
    )
    read = {"nft_buys", "nft_sells", "avg_trade_size", "eth_sent"}
    assert read <= set(drift_columns(on, table))
    assert not read & set(drift_columns(off, table))


def test_drift_columns_include_the_history_columns_only_for_a_model_that_reads_them() -> None:
    from types import SimpleNamespace

    from wallet_pipeline.logic.personas import PersonaConfig

    table = ["address", "forwarded_to_eoa_6h_share", "prior_tx_count", "active_days", "wallet_age_days"]
    history = {"prior_tx_count", "active_days", "wallet_age_days"}
    features = ("forwarded_to_eoa_6h_share",)
    on = SimpleNamespace(config=PersonaConfig(dormant_max_prior=40.0), feature_columns=features)
    off = SimpleNamespace(config=PersonaConfig(dormant_max_prior=None), feature_columns=features)
    assert history <= set(drift_columns(on, table))
    # The window's own rhythm (active days) is read by other rules too; the history count only here.
    assert "prior_tx_count" not in drift_columns(off, table)
