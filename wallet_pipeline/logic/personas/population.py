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
2. `Dormant Holder` when its last sent transaction is at least `dormant_days` days before the end
   of the data (`days_since_last_active`). Recency is a state, not a behaviour: left to the model it
   dominates every distance and splits each behaviour into recency slices. The threshold is fixed
   (a number of days) or, with "auto" (the default), learned at training by `fit_dormant_days`
   and stored in the model, so prediction applies the same number.
3. `Contract` when the contract column (default `is_contract`) is true.

A column the rule needs but the table lacks switches that part of the rule off.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.mixture import GaussianMixture

CONTRACT = "Contract"
SPOOFED_SENDER = "Spoofed Sender"
RECEIVE_ONLY = "Receive-only"
INACTIVE = "Inactive"
DORMANT = "Dormant Holder"
RULE_PERSONAS = (CONTRACT, SPOOFED_SENDER, RECEIVE_ONLY, INACTIVE, DORMANT)

# "auto" falls back to this when recency has no dormant mode, and never goes below the floor.
DEFAULT_DORMANT_DAYS = 90.0
MIN_DORMANT_DAYS = 30.0

RECEIVED_COLUMNS = ("received_tx_count", "erc20_transfers_in", "nft_transfers")
SPOOFED_OUT_COLUMN = "erc20_transfers_out"


def _col(features: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(features[name], errors="coerce").fillna(0).to_numpy()


def rule_personas(
    features: pd.DataFrame,
    contract_column: str | None = "is_contract",
    activity_column: str | None = "tx_count",
    min_tx_count: float = 1,
    recency_column: str | None = "days_since_last_active",
    dormant_days: float | None = 90,
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
    if recency_column and dormant_days is not None and recency_column in features.columns:
        since = pd.to_numeric(features[recency_column], errors="coerce").to_numpy(dtype=float)
        out[(since >= dormant_days) & (out == None)] = DORMANT  # noqa: E711 - elementwise on object array
    if contract_column and contract_column in features.columns:
        is_contract = features[contract_column].fillna(False).astype(bool).to_numpy()
        out[is_contract] = CONTRACT
    return pd.Series(out, index=features.index, name="rule_persona")


def fit_dormant_days(days_since_last_sent: np.ndarray, seed: int = 0) -> tuple[float, str]:
    """The dormancy threshold of a population, and how it was found.

    Days since the last sent transaction are bimodal when part of the population stopped: wallets
    in use keep the recency low, wallets that stopped pile up near the length of the data. A
    two-component Gaussian mixture on the days puts the threshold where the upper (stopped)
    component becomes the more likely one. The mixture is used only when the two modes are apart
    (means at least two standard deviations of the wider one apart, upper weight >= 1%) and the
    threshold is at least `MIN_DORMANT_DAYS`; otherwise `DEFAULT_DORMANT_DAYS`, the common 90-day
    line between an active and a dormant account.
    """
    x = np.asarray(days_since_last_sent, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 50 or np.ptp(x) == 0:
        return DEFAULT_DORMANT_DAYS, "fixed: too few wallets with a sent transaction to fit"
    rng = np.random.default_rng(seed)
    sample = x[rng.choice(len(x), min(len(x), 50_000), replace=False)].reshape(-1, 1)
    gmm = GaussianMixture(2, random_state=seed).fit(sample)
    means = gmm.means_.ravel()
    sds = np.sqrt(gmm.covariances_.ravel())
    hi, lo = int(np.argmax(means)), int(np.argmin(means))
    if means[hi] - means[lo] < 2 * sds.max() or gmm.weights_[hi] < 0.01:
        return DEFAULT_DORMANT_DAYS, "fixed: recency has no separate dormant mode"
    grid = np.linspace(means[lo], means[hi], 2_000).reshape(-1, 1)
    upper = gmm.predict_proba(grid)[:, hi] > 0.5
    threshold = float(grid[int(np.argmax(upper)), 0])
    if threshold < MIN_DORMANT_DAYS:
        return DEFAULT_DORMANT_DAYS, f"fixed: the fitted boundary ({threshold:.1f} days) is under the floor"
    return round(threshold, 1), (
        f"fitted: modes at {means[lo]:.1f} and {means[hi]:.1f} days (weights {gmm.weights_[lo]:.2f} / "
        f"{gmm.weights_[hi]:.2f}); boundary at equal posterior"
    )
