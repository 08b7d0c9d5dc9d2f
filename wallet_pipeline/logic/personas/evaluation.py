"""Personas scored against a known truth (the simulator's `ground_truth.wallets.persona`).

The adjusted Rand index compares the partitions and ignores names. Precision and recall need names:
`TRUTH_OF` says which truth class each persona stands for; a persona without one (Mixed, Inactive,
Receive-only) counts against the recall of the classes it holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from wallet_pipeline.logic.personas.population import CONTRACT, DORMANT, SPOOFED_SENDER

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


def evaluate_personas(predicted: pd.DataFrame, truth: pd.DataFrame) -> PersonaEvaluation:
    """`predicted`: address, persona; `truth`: address, persona. Every predicted address must have a truth."""
    merged = predicted[["address", "persona"]].merge(
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
    return PersonaEvaluation(
        ari=float(adjusted_rand_score(y, p)),
        wallets=len(merged),
        per_class=pd.DataFrame(rows),
        confusion=pd.crosstab(pd.Series(y, name="truth"), pd.Series(p, name="persona")),
    )
