"""Which wallets the persona model sees: contracts and wallets that never sent are named by rule.

The same function runs at training and at prediction, so the model is fitted on exactly the
population it later scores.

Rule (in this order; a later match overrides an earlier one):

1. A wallet that sent fewer than `min_tx_count` transactions (default 1: it never sent one) has no
   sending behaviour to cluster: every feature measured on sent transactions is NULL or 0. It is
   - `Spoofed Sender` when it also never received a transaction, an ERC-20 or an NFT transfer, yet
     ERC-20 tokens left it (`erc20_transfers_out > 0`): the transfers were made by someone else's
     transaction, the signature of an address-poisoning look-alike;
   - `Receive-only` when it received a transaction, an ERC-20 or an NFT transfer;
   - `Inactive` otherwise, or when the table lacks the columns these tests need.
2. `Contract` when the contract column (default `is_contract`) is true.

A column the rule needs but the table lacks switches that part of the rule off.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CONTRACT = "Contract"
SPOOFED_SENDER = "Spoofed Sender"
RECEIVE_ONLY = "Receive-only"
INACTIVE = "Inactive"
RULE_PERSONAS = (CONTRACT, SPOOFED_SENDER, RECEIVE_ONLY, INACTIVE)

RECEIVED_COLUMNS = ("received_tx_count", "erc20_transfers_in", "nft_transfers")
SPOOFED_OUT_COLUMN = "erc20_transfers_out"


def _col(features: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(features[name], errors="coerce").fillna(0).to_numpy()


def rule_personas(
    features: pd.DataFrame,
    contract_column: str | None = "is_contract",
    activity_column: str | None = "tx_count",
    min_tx_count: float = 1,
) -> pd.Series:
    """Persona given by rule, or None for wallets the model must score (index as `features`)."""
    out = np.full(len(features), None, dtype=object)
    if activity_column and activity_column in features.columns:
        never_sent = _col(features, activity_column) < min_tx_count
        out[never_sent] = INACTIVE
        if all(c in features.columns for c in RECEIVED_COLUMNS):
            received = np.column_stack([_col(features, c) for c in RECEIVED_COLUMNS]).sum(1) > 0
            out[never_sent & received] = RECEIVE_ONLY
            if SPOOFED_OUT_COLUMN in features.columns:
                spoofed = never_sent & ~received & (_col(features, SPOOFED_OUT_COLUMN) > 0)
                out[spoofed] = SPOOFED_SENDER
    if contract_column and contract_column in features.columns:
        is_contract = features[contract_column].fillna(False).astype(bool).to_numpy()
        out[is_contract] = CONTRACT
    return pd.Series(out, index=features.index, name="rule_persona")
