"""Which wallets the persona model sees: contracts and inactive wallets are named by rule.

The same function runs at training and at prediction, so the model is fitted on exactly the
population it later scores.

Rule (in this order):

1. `Contract` when the contract column (default `is_contract`) is true.
2. `Inactive` when the wallet sent fewer than `min_tx_count` transactions (default 1: it never sent
   one). Such a wallet has no sending behaviour to cluster: every feature measured on sent
   transactions (recency, rate, timing, fees) is NULL or 0 for it. In the simulator they are mostly
   the poisoners' look-alike addresses.

A column the rule needs but the table lacks switches that part of the rule off.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CONTRACT = "Contract"
INACTIVE = "Inactive"
RULE_PERSONAS = (CONTRACT, INACTIVE)


def rule_personas(
    features: pd.DataFrame,
    contract_column: str | None = "is_contract",
    activity_column: str | None = "tx_count",
    min_tx_count: float = 1,
) -> pd.Series:
    """Persona given by rule, or None for wallets the model must score (index as `features`)."""
    out = np.full(len(features), None, dtype=object)
    if activity_column and activity_column in features.columns:
        activity = pd.to_numeric(features[activity_column], errors="coerce").fillna(0).to_numpy()
        out[activity < min_tx_count] = INACTIVE
    if contract_column and contract_column in features.columns:
        is_contract = features[contract_column].fillna(False).astype(bool).to_numpy()
        out[is_contract] = CONTRACT
    return pd.Series(out, index=features.index, name="rule_persona")
