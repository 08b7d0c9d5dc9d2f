"""Which wallets the persona model sees: rules name some wallets before it, in training and prediction.

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
3. Operators (`operator_rules`, on by default): who runs the address, which does not change when
   it stops, so these override the never-sent and dormant states. What sets them apart is not in
   the model's features (shares of a wallet's activity) but in its volume, timing and funding;
   exchanges and bots are also too few for a cluster (on the default simulator the rules name
   12 and 59 wallets, under the 0.5% smallest cluster selection accepts), and farmers trade like
   retail wallets. Each is defined by stated behaviour:
   - `Airdrop Farmer`: first funded as one of a cohort, `funding_cohort_size` >= FARM_MIN_COHORT
     fresh wallets that one address funded in one burst with near-equal amounts, in a burst where
     at least FARM_MIN_UNIFORM_SHARE of the fresh wallets got that amount
     (`funding_cohort_size / funding_burst_size`). A sybil farm is funded that way; exchange
     withdrawals to new wallets come in every amount. A payroll paying ten new wallets the same
     sum within hours would look the same.
   - `High-Frequency Bot`: at least BOT_MIN_SENT transactions sent, at least
     BOT_MIN_TX_PER_ACTIVE_DAY per active day (one an hour, on average, on the days it acts), and
     machine timing: round the clock (`hour_of_day_entropy` >= BOT_MIN_HOUR_ENTROPY bits; someone
     who sleeps eight hours uses at most 16 of 24 hours, log2(16) = 4 bits) or on a timer
     (`inter_arrival_cv` <= BOT_MAX_INTERARRIVAL_CV; random timing gives 1, human bursts more).
   - `Institutional / Exchange`: a two-way hub: at least EXCHANGE_MIN_COUNTERPARTIES distinct
     counterparties, EXCHANGE_MIN_SENT transactions sent and EXCHANGE_MIN_RECEIVED received over
     the data's window. A hot wallet pays withdrawals out to many customers and takes deposit
     sweeps in; a bot sends a lot to few addresses, a popular receiver (an airdrop target, a
     donation address) receives from many and sends little. The counts are over the whole window
     (120 days on the default simulator): a much shorter window needs smaller numbers.
4. `Contract` when the contract column (default `is_contract`) is true.

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
AIRDROP_FARMER = "Airdrop Farmer"
HF_BOT = "High-Frequency Bot"
EXCHANGE = "Institutional / Exchange"
OPERATOR_PERSONAS = (EXCHANGE, HF_BOT, AIRDROP_FARMER)
RULE_PERSONAS = (CONTRACT, *OPERATOR_PERSONAS, SPOOFED_SENDER, RECEIVE_ONLY, INACTIVE, DORMANT)

# "auto" falls back to this when recency has no dormant mode, and never goes below the floor.
DEFAULT_DORMANT_DAYS = 90.0
MIN_DORMANT_DAYS = 30.0

RECEIVED_COLUMNS = ("received_tx_count", "erc20_transfers_in", "nft_transfers")
SPOOFED_OUT_COLUMN = "erc20_transfers_out"

# Operator rules (module docstring, 3). A farm is a fleet: ten wallets, not a household's few.
FARM_MIN_COHORT = 10
FARM_MIN_UNIFORM_SHARE = 0.8
FARM_COLUMNS = ("funding_cohort_size", "funding_burst_size")
BOT_MIN_SENT = 100  # enough transactions for their timing to mean something
BOT_MIN_TX_PER_ACTIVE_DAY = 24.0
BOT_MIN_HOUR_ENTROPY = 4.0
BOT_MAX_INTERARRIVAL_CV = 0.5
BOT_COLUMNS = ("tx_count", "avg_tx_per_day", "hour_of_day_entropy", "inter_arrival_cv")
EXCHANGE_MIN_COUNTERPARTIES = 500
EXCHANGE_MIN_SENT = 500
EXCHANGE_MIN_RECEIVED = 100
EXCHANGE_COLUMNS = ("unique_counterparties", "tx_count", "received_tx_count")
OPERATOR_COLUMNS = tuple(dict.fromkeys((*FARM_COLUMNS, *BOT_COLUMNS, *EXCHANGE_COLUMNS)))


def _col(features: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(features[name], errors="coerce").fillna(0).to_numpy()


def operator_rules_in_force(columns: object) -> tuple[str, ...]:
    """The operator personas whose rule can run on a table with these columns."""
    have = set(columns)
    rules = ((AIRDROP_FARMER, FARM_COLUMNS), (HF_BOT, BOT_COLUMNS), (EXCHANGE, EXCHANGE_COLUMNS))
    return tuple(name for name, cols in rules if set(cols) <= have)


def operator_personas(features: pd.DataFrame) -> np.ndarray:
    """Airdrop Farmer, High-Frequency Bot or Institutional / Exchange by the stated rules, else None.

    A rule whose columns the table lacks is off; a NULL in a column fails the test that reads it.
    """
    out = np.full(len(features), None, dtype=object)
    have = set(features.columns)

    def num(name: str) -> np.ndarray:
        return pd.to_numeric(features[name], errors="coerce").to_numpy(dtype=float)

    with np.errstate(invalid="ignore", divide="ignore"):
        if set(FARM_COLUMNS) <= have:
            cohort, burst = num("funding_cohort_size"), num("funding_burst_size")
            out[(cohort >= FARM_MIN_COHORT) & (cohort >= FARM_MIN_UNIFORM_SHARE * burst)] = AIRDROP_FARMER
        if set(BOT_COLUMNS) <= have:
            machine_timing = (num("hour_of_day_entropy") >= BOT_MIN_HOUR_ENTROPY) | (
                num("inter_arrival_cv") <= BOT_MAX_INTERARRIVAL_CV
            )
            bot = (
                (num("tx_count") >= BOT_MIN_SENT)
                & (num("avg_tx_per_day") >= BOT_MIN_TX_PER_ACTIVE_DAY)
                & machine_timing
            )
            out[bot] = HF_BOT
        if set(EXCHANGE_COLUMNS) <= have:
            hub = (
                (num("unique_counterparties") >= EXCHANGE_MIN_COUNTERPARTIES)
                & (num("tx_count") >= EXCHANGE_MIN_SENT)
                & (num("received_tx_count") >= EXCHANGE_MIN_RECEIVED)
            )
            out[hub] = EXCHANGE
    return out


def rule_personas(
    features: pd.DataFrame,
    contract_column: str | None = "is_contract",
    activity_column: str | None = "tx_count",
    min_tx_count: float = 1,
    recency_column: str | None = "days_since_last_active",
    dormant_days: float | None = 90,
    operator_rules: bool = True,
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
    if operator_rules:
        operator = operator_personas(features)
        named = operator != None  # noqa: E711 - elementwise on object array
        out[named] = operator[named]
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
