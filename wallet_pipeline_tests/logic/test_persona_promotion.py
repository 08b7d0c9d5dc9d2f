from __future__ import annotations

import pytest

from wallet_pipeline.logic.personas.promotion import PromotionMargins, decide_promotion

CHAMPION = {"silhouette": 0.60, "stability": 0.95, "ece_heldout": 0.10, "min_share": 0.02}


def test_the_first_model_is_promoted_when_it_passes_the_floor() -> None:
    decision = decide_promotion(dict(CHAMPION), None)
    assert decision.promote
    assert decision.reasons == ["no champion yet"]
    assert set(decision.comparison["verdict"]) == {"no champion"}


@pytest.mark.parametrize(
    ("score", "value"),
    [("silhouette", 0.54), ("stability", 0.89), ("ece_heldout", 0.16)],
)
def test_a_model_worse_than_the_champion_by_more_than_the_margin_is_refused(score: str, value: float) -> None:
    decision = decide_promotion({**CHAMPION, score: value}, CHAMPION)
    assert not decision.promote
    assert any(r.startswith(score) for r in decision.reasons)
    assert decision.comparison.set_index("score").loc[score, "verdict"] == "worse"


def test_a_model_within_the_margins_is_promoted() -> None:
    candidate = {"silhouette": 0.56, "stability": 0.91, "ece_heldout": 0.14, "min_share": 0.02}
    assert decide_promotion(candidate, CHAMPION).promote
    strict = PromotionMargins(silhouette=0.0, stability=0.0, calibration_error=0.0)
    assert not decide_promotion(candidate, CHAMPION, strict).promote


def test_a_model_with_a_vanishing_cluster_or_missing_scores_is_refused() -> None:
    assert not decide_promotion({**CHAMPION, "min_share": 0.0}, None).promote
    missing = decide_promotion({"silhouette": 0.7}, CHAMPION)
    assert not missing.promote and "lacks scores" in missing.reasons[0]


def test_the_scorecard_reads_the_served_model_when_the_winner_was_refined() -> None:
    import pandas as pd

    from wallet_pipeline.logic.personas.promotion import scorecard
    from wallet_pipeline.logic.personas.selection import SelectionReport

    table = pd.DataFrame(
        {"candidate": ["w"], "winner": [True], "silhouette": [0.62], "stability": [0.93], "min_share": [0.02]}
    )
    served = {"refined": True, "silhouette": 0.58, "stability": 0.88, "min_share": 0.015}
    kwargs = {"table": table, "winner": "w", "rule": "", "calibration": {"ece_heldout": 0.1}}
    assert scorecard(SelectionReport(**kwargs, final=served)) == {
        "silhouette": 0.58,
        "stability": 0.88,
        "min_share": 0.015,
        "ece_heldout": 0.1,
    }
    unrefined = scorecard(SelectionReport(**kwargs, final={"refined": False}))
    assert (unrefined["silhouette"], unrefined["stability"]) == (0.62, 0.93)
