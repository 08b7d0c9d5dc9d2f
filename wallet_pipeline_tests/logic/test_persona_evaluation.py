from __future__ import annotations

import pandas as pd
import pytest

from wallet_pipeline.logic.personas.evaluation import evaluate_personas


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
