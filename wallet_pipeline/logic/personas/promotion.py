"""Whether a newly trained persona model may replace the promoted one.

A candidate is promoted when no score is worse than the champion's by more than its margin:

* silhouette (on the evaluation sample) may drop by at most `silhouette`;
* stability (mean ARI against bootstrap refits) may drop by at most `stability`;
* the held-out calibration error may rise by at most `calibration_error`;
* the smallest cluster may not hold under `min_cluster_share` of the modelled wallets (a floor,
  not a comparison: cluster sizes move with every refit).

The first model has no champion and is promoted if it passes the absolute floor alone. Margins
rather than "strictly better": refits on new days of data move every score a little, and a model
that is as good keeps names and probabilities current.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from wallet_pipeline.logic.personas.selection import SelectionReport

# Scores compared with the champion's, and whether higher is better.
SCORES = {"silhouette": True, "stability": True, "ece_heldout": False}


@dataclass(frozen=True)
class PromotionMargins:
    """How much worse than the champion a candidate may be and still be promoted."""

    silhouette: float = 0.05
    stability: float = 0.05
    calibration_error: float = 0.05
    min_cluster_share: float = 0.001

    def allowed(self, score: str) -> float:
        return {
            "silhouette": self.silhouette,
            "stability": self.stability,
            "ece_heldout": self.calibration_error,
        }[score]


@dataclass
class PromotionDecision:
    """The verdict, one line of reason per score, and the side-by-side table."""

    promote: bool
    reasons: list[str] = field(default_factory=list)
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)


def scorecard(report: SelectionReport) -> dict[str, float]:
    """The scores of a training run that promotion compares: the served model's, plus calibration.

    The served model is the refined winner when selection's winner was fitted again
    (`report.final`), else the winner's row of the selection table.
    """
    win = report.final if report.final.get("refined") else report.table[report.table["winner"]].iloc[0]
    return {
        "silhouette": float(win["silhouette"]),
        "stability": float(win["stability"]),
        "min_share": float(win["min_share"]),
        "ece_heldout": float(report.calibration["ece_heldout"]),
    }


def decide_promotion(
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    margins: PromotionMargins | None = None,
) -> PromotionDecision:
    """Promote `candidate` unless a score is worse than `champion`'s by more than its margin."""
    margins = margins or PromotionMargins()
    missing = [s for s in (*SCORES, "min_share") if s not in candidate]
    if missing:
        return PromotionDecision(False, [f"candidate lacks scores {missing}: cannot compare"])
    rows, reasons, ok = [], [], True
    if candidate["min_share"] < margins.min_cluster_share:
        ok = False
        reasons.append(
            f"smallest cluster holds {candidate['min_share']:.4f} of wallets, "
            f"below the floor {margins.min_cluster_share}"
        )
    for score, higher_is_better in SCORES.items():
        new = candidate[score]
        old = None if champion is None else champion.get(score)
        allowed = margins.allowed(score)
        if old is None:
            verdict = "no champion"
        else:
            worse_by = (old - new) if higher_is_better else (new - old)
            passed = worse_by <= allowed + 1e-12
            verdict = "ok" if passed else "worse"
            if not passed:
                ok = False
                reasons.append(
                    f"{score} {new:.4f} is worse than the champion's {old:.4f} by {worse_by:.4f} "
                    f"(allowed {allowed})"
                )
        rows.append(
            {"score": score, "candidate": new, "champion": old, "allowed": allowed, "verdict": verdict}
        )
    if ok:
        reasons.append("no champion yet" if champion is None else "no score worse than allowed")
    return PromotionDecision(ok, reasons, pd.DataFrame(rows))
