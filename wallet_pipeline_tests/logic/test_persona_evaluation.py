from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wallet_pipeline.logic.personas.evaluation import evaluate_personas, reliability


def test_ari_precision_and_recall_against_the_truth() -> None:
    truth = pd.DataFrame(
        {
            "address": list("abcdef"),
            "persona": ["whale", "whale", "dormant", "dormant", "dormant", "contract"],
        }
    )
    predicted = pd.DataFrame(
        {
            "address": list("abcdef"),
            "persona": ["Whale", "Mixed", "Dormant Holder", "Dormant Holder", "Whale", "Contract"],
        }
    )
    result = evaluate_personas(predicted, truth)
    per = result.per_class.set_index("truth_class")
    assert per.loc["whale", "precision"] == pytest.approx(0.5)  # a, e
    assert per.loc["whale", "recall"] == pytest.approx(0.5)  # b went to Mixed
    assert per.loc["dormant", "precision"] == 1.0 and per.loc["dormant", "recall"] == pytest.approx(2 / 3)
    assert per.loc["contract", "recall"] == 1.0
    assert 0 < result.ari < 1
    assert result.confusion.loc["whale", "Mixed"] == 1
    perfect = evaluate_personas(truth.assign(persona=truth.persona.str.title()), truth)
    assert perfect.ari == pytest.approx(1.0)


def test_a_scored_address_without_truth_is_an_error() -> None:
    truth = pd.DataFrame({"address": ["a"], "persona": ["whale"]})
    with pytest.raises(ValueError, match="1 scored addresses have no truth row, e.g. b"):
        evaluate_personas(pd.DataFrame({"address": ["a", "b"], "persona": ["Whale", "Whale"]}), truth)


def test_reliability_sets_stated_confidence_against_how_often_it_is_right() -> None:
    # 10 wallets at 0.95, 9 of them right; 10 at 0.55, 5 right: calibrated. 10 at 1.0, 6 right: not.
    confidence = np.r_[np.full(10, 0.95), np.full(10, 0.55), np.full(10, 1.0)]
    correct = np.r_[np.arange(10) < 9, np.arange(10) < 5, np.arange(10) < 6]
    table, summary = reliability(confidence, correct)
    by_band = table.set_index("band")
    assert by_band.loc["(0.9, 0.95]", "accuracy"] == pytest.approx(0.9)
    assert by_band.loc["(0.5, 0.6]", "wallets"] == 10
    assert by_band.loc["(0.999, 1]", "accuracy"] == pytest.approx(0.6)
    # Only the top band misstates: |0.6 - 1.0| on a third of the wallets, plus 0.05 on each other third.
    assert summary["ece_vs_truth"] == pytest.approx((0.4 + 0.05 + 0.05) / 3)
    assert summary["share_at_0_99"] == pytest.approx(1 / 3)
    assert 0.5 < summary["auroc"] < 1


def test_evaluation_checks_confidence_only_where_the_model_decided() -> None:
    personas = ["whale", "whale", "contract", "retail_trader"]
    truth = pd.DataFrame({"address": list("abcd"), "persona": personas})
    predicted = pd.DataFrame(
        {
            "address": list("abcd"),
            "persona": ["Whale", "Active Retail Trader", "Contract", "Active Retail Trader"],
            "confidence": [0.9, 0.6, 1.0, 0.99],
        }
    )
    result = evaluate_personas(predicted, truth)
    # The contract is named by rule: three wallets are checked, two of them right.
    assert result.confidence["wallets"] == 3
    assert result.confidence["accuracy"] == pytest.approx(2 / 3)
    assert result.confidence["auroc"] == pytest.approx(1.0)  # the wrong one has the lowest confidence
    without = evaluate_personas(predicted.drop(columns="confidence"), truth)
    assert without.reliability.empty and without.confidence == {}
