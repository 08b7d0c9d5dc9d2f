"""Personas scored against a known truth (the simulator's `ground_truth.wallets.persona`).

The adjusted Rand index compares the partitions and ignores names. Precision and recall need names:
`TRUTH_OF` says which truth class each persona stands for; a persona without one (Mixed, Inactive,
Receive-only) counts against the recall of the classes it holds.

With a `confidence` column, `reliability` also checks it against the truth on the wallets the
model scored (a rule's persona is stated with confidence 1 and is left out): per confidence band,
how many wallets, their mean confidence and how many are right. The model's own calibration check
compares confidence with how often refits agree (calibration.py); this one asks whether a stated
0.8 is right four times in five, which only a known truth can say.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, roc_auc_score

from wallet_pipeline.logic.personas.population import CONTRACT, DORMANT, RULE_PERSONAS, SPOOFED_SENDER

TRUTH_OF = {
    "Institutional / Exchange": "exchange",
    "High-Frequency Bot": "hf_bot",
    "Whale": "whale",
    "NFT Trader": "nft_trader",
    "Deposit Forwarder": "deposit_address",
    "Airdrop Farmer": "airdrop_farmer",
    DORMANT: "dormant",
    "Active Retail Trader": "retail_trader",
    CONTRACT: "contract",
    SPOOFED_SENDER: "poisoning_lookalike",
}


@dataclass
class PersonaEvaluation:
    """ARI over every scored address, per-class precision / recall, and the confusion table."""

    ari: float
    wallets: int
    per_class: pd.DataFrame
    confusion: pd.DataFrame
    # Without a confidence column: empty.
    reliability: pd.DataFrame = field(default_factory=pd.DataFrame)
    confidence: dict = field(default_factory=dict)


# Confidence bands of the reliability table: finer near 1, where most scored wallets are.
CONFIDENCE_BANDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0)


def reliability(confidence: np.ndarray, correct: np.ndarray) -> tuple[pd.DataFrame, dict]:
    """Stated confidence against how often the persona is right, per band and overall.

    Returns the table (band, wallets, mean confidence, accuracy) and a summary: the expected
    calibration error over the bands (the wallet-weighted gap between confidence and accuracy),
    the area under the ROC curve of confidence as a predictor of being right (0.5: it says nothing),
    and the shares of wallets at 0.9 and 0.99 or more.
    """
    conf = np.asarray(confidence, dtype=float)
    right = np.asarray(correct, dtype=bool)
    if len(conf) == 0:
        return pd.DataFrame(), {}
    band = np.clip(np.searchsorted(CONFIDENCE_BANDS, conf, side="left") - 1, 0, len(CONFIDENCE_BANDS) - 2)
    rows = []
    for b in np.unique(band):
        inside = band == b
        lo, hi = CONFIDENCE_BANDS[b], CONFIDENCE_BANDS[b + 1]
        rows.append(
            {
                "band": f"({lo:g}, {hi:g}]" if b else f"[{lo:g}, {hi:g}]",
                "wallets": int(inside.sum()),
                "mean_confidence": float(conf[inside].mean()),
                "accuracy": float(right[inside].mean()),
            }
        )
    table = pd.DataFrame(rows)
    gap = (table["wallets"] * (table["accuracy"] - table["mean_confidence"]).abs()).sum()
    summary = {
        "wallets": int(len(conf)),
        "accuracy": float(right.mean()),
        "mean_confidence": float(conf.mean()),
        "ece_vs_truth": float(gap / len(conf)),
        "auroc": float(roc_auc_score(right, conf)) if 0 < right.sum() < len(right) else float("nan"),
        "share_at_0_9": float((conf >= 0.9).mean()),
        "share_at_0_99": float((conf >= 0.99).mean()),
    }
    return table, summary


def evaluate_personas(predicted: pd.DataFrame, truth: pd.DataFrame) -> PersonaEvaluation:
    """`predicted`: address, persona (and optionally confidence); `truth`: address, persona.

    Every predicted address must have a truth.
    """
    kept = ["address", "persona"] + (["confidence"] if "confidence" in predicted.columns else [])
    merged = predicted[kept].merge(
        truth[["address", "persona"]].rename(columns={"persona": "truth"}), on="address", how="left"
    )
    unknown = merged["truth"].isna()
    if unknown.any():
        example = merged.loc[unknown, "address"].iloc[0]
        raise ValueError(f"{int(unknown.sum())} scored addresses have no truth row, e.g. {example}")
    y, p = merged["truth"].to_numpy(), merged["persona"].to_numpy()
    mapped = np.array([TRUTH_OF.get(name, "") for name in p], dtype=object)
    rows = []
    for cls in sorted(set(y) | (set(mapped) - {""})):
        predicted_cls = mapped == cls
        actual = y == cls
        hits = int((predicted_cls & actual).sum())
        rows.append(
            {
                "truth_class": cls,
                "persona": next((k for k, v in TRUTH_OF.items() if v == cls), None),
                "wallets": int(actual.sum()),
                "predicted": int(predicted_cls.sum()),
                "precision": hits / predicted_cls.sum() if predicted_cls.any() else np.nan,
                "recall": hits / actual.sum() if actual.any() else np.nan,
            }
        )
    table, summary = pd.DataFrame(), {}
    if "confidence" in merged.columns:
        scored = ~np.isin(p, RULE_PERSONAS)
        table, summary = reliability(merged["confidence"].to_numpy()[scored], (mapped == y)[scored])
    return PersonaEvaluation(
        ari=float(adjusted_rand_score(y, p)),
        wallets=len(merged),
        per_class=pd.DataFrame(rows),
        confusion=pd.crosstab(pd.Series(y, name="truth"), pd.Series(p, name="persona")),
        reliability=table,
        confidence=summary,
    )
