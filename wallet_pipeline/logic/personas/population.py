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
2. `Dormant Holder` when the wallet's silence is long against the window and against its own
   rhythm. Against the window: its last sent transaction lies in the first fifth of the data's
   window, `days_since_last_active` >= DORMANT_WINDOW_SHARE (0.8) of the window. Recency is a
   state, not a behaviour: left to the model it dominates every distance and splits each behaviour
   into recency slices. A share of the window, not a number of days, because a wallet in use keeps
   sending while the window runs, whatever its length: over the 20 random worlds of
   `benchmarks/quality.py` (windows of 9 to 346 days) the wallets planted as stopped had at least
   0.84 to 0.88 of the window behind them in every world (10th percentile), and 2-10% of retail
   wallets were as quiet (docs/personas.md, "Window-free rules"). A fixed 30-day floor never fired
   in a 10-day window, and a learned number of days split a year's window far from where the
   wallets stopped. The threshold is fixed (a number of days) or, with "auto" (the default), set
   at training by `fit_dormant_days` and stored in the model, so prediction applies the same
   number of days.
   Against its rhythm: the silence is at least DORMANT_GAP_MULTIPLE (3) of the wallet's typical
   gap between active days, the stretch from its first appearance (`wallet_age_days`) to its last
   sent transaction over its `active_days` - 1 gaps. A wallet that keeps its rhythm, one active
   day per typical gap at random, stays silent that long with probability e^-3, 5%. The gap is
   measured from the wallet's first appearance, received transfers included, so it is if anything
   too long, and the test errs toward "still in use". A wallet with one active day has no gap to
   measure: the window alone decides (what the data says about it is that it sent once, early).
   With the window test at 0.8 the rhythm test can only matter for a wallet with a slower rhythm
   than the window shows (a fixed number of days shorter than the window, or a table whose ages
   reach back before the window, a third-party per-wallet table): a wallet paying rent every month
   in a year of data is not dormant after 40 days of a 30-day threshold. The rhythm does not
   name a wallet dormant on its own: stopping after a busy stretch in mid-window is what churned
   retail wallets do, and over the 20 random worlds calling those dormant (silence of half the
   window and ten gaps) lowered the median ARI (docs/personas.md).
   Served, not in training: a wallet long in use before the data is scored by the model instead,
   when it had sent more transactions before the data began (`prior_tx_count`, the nonce of its
   first sent transaction in it) than DORMANT_PRIOR_QUANTILE (0.9) of the senders still in use
   (not quiet by the window: a mostly stopped population would pull the line down) and its silence
   is under RELEASE_MAX_GAPS (7) of the population's typical gaps between active days
   (`long_history`; both lines set at training and stored). A holder's whole history is short; in
   a window of a few days, a slow retail wallet with hundreds of transactions behind it that sent
   once early looks, in the window, like a wallet that stopped. The gap bound keeps the test to
   silences a wallet at the population's pace could show: in long windows nearly every wallet
   quiet since the first fifth had stopped, whatever its history (docs/personas.md, round 6).
   Training leaves these wallets out as before, so the clusters do not move.
   A deposit address that swept early in the window is named Dormant Holder here like any
   other wallet and kept out of the model's training; the served model then names it Deposit
   Forwarder by its own row (`sweeps_to_collector`, naming.deposit_by_wallet): an exchange runs it
   for a customer, whether the customer still uses it or not.
3. Operators (`operator_rules`, on by default): who runs the address, which does not change when
   it stops, so these override the never-sent and dormant states. What sets them apart is not in
   the model's features (shares of a wallet's activity) but in their rate, timing, payees and
   funding; exchanges and bots are also too few for a cluster (on the default simulator the rules
   name 12 and 59 wallets, under the 0.5% smallest cluster selection accepts), and farmers trade
   like retail wallets. Each is a rate or a share, so a day's extract and a year of files give the
   same persona to the same behaviour; the only counts are the evidence a timing test needs:
   - `Airdrop Farmer`: first funded as one of a cohort, `funding_cohort_size` >= FARM_MIN_COHORT
     fresh wallets that one address funded in one burst with near-equal amounts, in a burst where
     at least FARM_MIN_UNIFORM_SHARE of the fresh wallets got that amount
     (`funding_cohort_size / funding_burst_size`). A sybil farm is funded that way; exchange
     withdrawals to new wallets come in every amount. A payroll paying ten new wallets the same
     sum within hours would look the same. Farms funded in a chain (each member funds the next)
     or through relays have no such cohort, so a farmer is also a wallet of a lockstep fleet: at
     least FARM_MIN_COHORT wallets whose every activity count (LOCKSTEP_COLUMNS: sent, received,
     active days, counterparties, contracts, methods, tokens, ERC-20 transfers in and out, DEX
     trades, NFT transfers) is the same, each with at least FARM_MIN_LOCKSTEP_SENT (6) sent. A farm
     runs one script on every member; people who happen to do the same thing ten times over are
     rare past a handful of transactions: on the default world (24,000 wallets) 92 ordinary
     wallets shared one common five-transaction pattern, and at six or more no ten ordinary
     wallets shared every count on it or on the 20 random worlds, where the test found 937 of the
     958 planted farmers. Chance repeats grow with the population: a chain of millions may need a
     larger fleet. This test reads the population, so it needs the whole table: a wallet scored
     alone has no fleet.
   - `High-Frequency Bot`: at least BOT_MIN_TX_PER_ACTIVE_DAY (12) transactions per active day (one
     every two hours, on average, on the days it acts; a bot on a 1-15 minute clock that runs a
     day or two spreads 50-150 transactions over two or three calendar dates, 17-24 a date) and
     machine timing: round the clock (`hour_of_day_entropy` >= BOT_MIN_HOUR_ENTROPY bits; someone
     who sleeps eight hours uses at most 16 of 24 hours, log2(16) = 4 bits) or on a timer
     (`inter_arrival_cv` <= BOT_MAX_INTERARRIVAL_CV; random timing gives 1, human bursts more);
     and at least BOT_MIN_SENT (24) transactions, enough for the timing to mean something (an
     entropy of 4 bits needs 16 distinct hours). The old floor of 100 sent missed every bot that
     ran for a day or two.
   - `Institutional / Exchange`: a hot wallet pays customers, round the clock: activity in every
     hour (`hour_of_day_entropy` >= BOT_MIN_HOUR_ENTROPY), most sent transactions to an address
     not paid before (`unique_counterparties` >= EXCHANGE_MIN_PAYEE_SHARE of `tx_count`), payees
     rather than protocols (`unique_contracts_called` <= EXCHANGE_MAX_CONTRACT_SHARE of
     `unique_counterparties`: the few tokens it pays out in), funds coming in (refills, deposit
     sweeps: `received_tx_count` > 0), and neither DEX nor NFT trades. A bot sends to a few pools,
     a retail or NFT wallet sleeps and calls many contracts, a forwarder pays one address. The
     earlier counts (500 counterparties and 500 sent over the window) held for the 120-day default
     world only and missed every second-tier hot wallet.
   - `High-Frequency Bot` also (`spoofing_rule`, on by default): the wallet's own transactions moved
     ERC-20 tokens out of a wallet that never sent a transaction in the data and is neither the
     sender, the contract called, the zero address nor a contract (`spoofed_transfers_sent` >=
     BOT_MIN_SPOOFED_TRANSFERS, 1). An address-poisoning operator forges such transfers from its
     look-alikes (the Spoofed Senders of rule 1, the other side of the same rows); it acts a few
     times a day at random, so the timing test above never names it. A count of events, not of
     activity: moving a silent wallet's tokens needs its signature or a token that skips the
     allowance, which ordinary wallets never show (false positives on the random worlds:
     docs/personas.md, round 8). On a real chain a relayer or solver settling orders signed
     off-chain by silent wallets counts too: an operator, if not a bot by timing.
4. `Contract` when the contract column (default `is_contract`) is true.

A column the rule needs but the table lacks switches that part of the rule off.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CONTRACT = "Contract"
SPOOFED_SENDER = "Spoofed Sender"
RECEIVE_ONLY = "Receive-only"
INACTIVE = "Inactive"
DORMANT = "Dormant Holder"
AIRDROP_FARMER = "Airdrop Farmer"
HF_BOT = "High-Frequency Bot"
EXCHANGE = "Institutional / Exchange"
DEPOSIT_FORWARDER = "Deposit Forwarder"
OPERATOR_PERSONAS = (EXCHANGE, HF_BOT, AIRDROP_FARMER)
RULE_PERSONAS = (CONTRACT, *OPERATOR_PERSONAS, SPOOFED_SENDER, RECEIVE_ONLY, INACTIVE, DORMANT)

# "auto": the last sent transaction in the first fifth of the window (module docstring, 2); the
# fixed fallback when no wallet sent anything to measure the window by.
DORMANT_WINDOW_SHARE = 0.8
DEFAULT_DORMANT_DAYS = 90.0
# Silence of at least this many of the wallet's own typical gaps between active days (module
# docstring, 2): a wallet on its rhythm is that quiet with probability e^-3.
DORMANT_GAP_MULTIPLE = 3.0
RHYTHM_COLUMNS = ("active_days", "wallet_age_days")
# A holder's whole history is short: a wallet that had sent more transactions before the data
# began (`prior_tx_count`, the nonce of its first sent transaction in the data) than this share of
# the senders still in use (not quiet by the window) is in long use, not holding (module docstring, 2).
DORMANT_PRIOR_QUANTILE = 0.9
PRIOR_COLUMN = "prior_tx_count"
# ... and only while its silence is shorter than this many of the population's typical gaps between
# active days: past that, a wallet in use at the population's pace would have sent again.
RELEASE_MAX_GAPS = 7.0

RECEIVED_COLUMNS = ("received_tx_count", "erc20_transfers_in", "nft_transfers")
SPOOFED_OUT_COLUMN = "erc20_transfers_out"

# Operator rules (module docstring, 3). A farm is a fleet: ten wallets, not a household's few.
FARM_MIN_COHORT = 10
FARM_MIN_UNIFORM_SHARE = 0.8
FARM_COLUMNS = ("funding_cohort_size", "funding_burst_size")
FARM_MIN_LOCKSTEP_SENT = 6
LOCKSTEP_COLUMNS = (
    "tx_count",
    "received_tx_count",
    "active_days",
    "unique_counterparties",
    "unique_contracts_called",
    "unique_method_ids",
    "unique_tokens",
    "erc20_transfers_in",
    "erc20_transfers_out",
    "dex_trades",
    "nft_transfers",
)
BOT_MIN_SENT = 24  # evidence for the timing tests, not a volume: see the module docstring
BOT_MIN_TX_PER_ACTIVE_DAY = 12.0
BOT_MIN_HOUR_ENTROPY = 4.0
BOT_MAX_INTERARRIVAL_CV = 0.5
BOT_COLUMNS = ("tx_count", "avg_tx_per_day", "hour_of_day_entropy", "inter_arrival_cv")
EXCHANGE_MIN_PAYEE_SHARE = 0.5
EXCHANGE_MAX_CONTRACT_SHARE = 0.1
EXCHANGE_COLUMNS = (
    "hour_of_day_entropy",
    "unique_counterparties",
    "tx_count",
    "unique_contracts_called",
    "received_tx_count",
    "dex_trades",
    "nft_transfers",
)
OPERATOR_COLUMNS = tuple(dict.fromkeys((*FARM_COLUMNS, *LOCKSTEP_COLUMNS, *BOT_COLUMNS, *EXCHANGE_COLUMNS)))
# Transfers made in a silent wallet's name (module docstring, 3): one is already what ordinary
# wallets never do. Apart from OPERATOR_COLUMNS: models pickled before the test do not read it.
BOT_MIN_SPOOFED_TRANSFERS = 1
SPOOFING_COLUMN = "spoofed_transfers_sent"
# A deposit address (sweeps_to_collector): most of what it receives passed on, most of what it
# pays to a collecting address, no trade.
DEPOSIT_MIN_FORWARD_SHARE = 0.8
DEPOSIT_MIN_COLLECTOR_SHARE = 0.8
DEPOSIT_COLUMNS = ("forwarded_to_eoa_6h_share", "collector_payment_share", "dex_trades", "nft_transfers")
# A trader is named by what it trades most: NFT trades against DEX swaps (naming.nft_by_wallet).
SWAP_COLUMNS = ("nft_buys", "nft_sells", "dex_trades")
# A whale's swaps: at least this many times the median trader's mean swap size (naming.whale_by_wallet).
# On the 20 kept random worlds nine in ten whales that swapped had at least 36-265 times their
# world's median (87 or more in 19 of the 20), the other wallets' 99.9th percentile was 17-154
# times it; the line sits in that valley (docs/personas.md, round 7).
WHALE_TRADE_MULTIPLE = 50.0
TRADE_SIZE_COLUMN = "avg_trade_size"
# ... and it passes on the value it receives: ETH sent within this share of the ETH received (the
# sweep keeps back only its fee, which on a small deposit can reach a few percent). On the 20 kept
# random worlds 3,150 of the 3,154 deposit addresses that received ETH and sent something sent
# 0.99-1.0 of it; the stopped wallets served Deposit Forwarder sent 0.06-3.7 of it (5th-90th
# percentile; docs/personas.md, round 7).
DEPOSIT_MAX_VALUE_GAP = 0.1
VALUE_COLUMNS = ("eth_sent", "eth_received")
# ... and a wallet that forwards yet pays a collector less than a fifth of the time (the mirror of
# the 0.8 above) pays people, not an exchange: no deposit address (naming.deposit_by_wallet).
DEPOSIT_MAX_FRIEND_COLLECTOR_SHARE = 0.2


def _col(features: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(features[name], errors="coerce").fillna(0).to_numpy()


def operator_rules_in_force(columns: object, spoofing: bool = True) -> tuple[str, ...]:
    """The operator personas whose rule can run on a table with these columns."""
    have = set(columns)
    rules = (
        (AIRDROP_FARMER, FARM_COLUMNS),
        (AIRDROP_FARMER, LOCKSTEP_COLUMNS),
        (HF_BOT, BOT_COLUMNS),
        (EXCHANGE, EXCHANGE_COLUMNS),
        *([(HF_BOT, (SPOOFING_COLUMN,))] if spoofing else []),
    )
    return tuple(dict.fromkeys(name for name, cols in rules if set(cols) <= have))


def lockstep_fleet_size(features: pd.DataFrame) -> np.ndarray:
    """How many wallets of the table share each wallet's activity counts (LOCKSTEP_COLUMNS)."""
    counts = features[list(LOCKSTEP_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    return counts.groupby(list(LOCKSTEP_COLUMNS), dropna=False)["tx_count"].transform("size").to_numpy()


def operator_personas(features: pd.DataFrame, spoofing: bool = True) -> np.ndarray:
    """Airdrop Farmer, High-Frequency Bot or Institutional / Exchange by the stated rules, else None.

    A rule whose columns the table lacks is off; a NULL in a column fails the test that reads it.
    `spoofing`: a wallet that made transfers in a silent wallet's name is a High-Frequency Bot.
    """
    out = np.full(len(features), None, dtype=object)
    have = set(features.columns)

    def num(name: str) -> np.ndarray:
        return pd.to_numeric(features[name], errors="coerce").to_numpy(dtype=float)

    with np.errstate(invalid="ignore", divide="ignore"):
        if set(FARM_COLUMNS) <= have:
            cohort, burst = num("funding_cohort_size"), num("funding_burst_size")
            out[(cohort >= FARM_MIN_COHORT) & (cohort >= FARM_MIN_UNIFORM_SHARE * burst)] = AIRDROP_FARMER
        if set(LOCKSTEP_COLUMNS) <= have and len(features):
            fleet = lockstep_fleet_size(features)
            out[(fleet >= FARM_MIN_COHORT) & (num("tx_count") >= FARM_MIN_LOCKSTEP_SENT)] = AIRDROP_FARMER
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
            payees = num("unique_counterparties")
            # No trade recorded is no trade: a source without decoded trades leaves these NULL.
            trades = np.nan_to_num(num("dex_trades")) + np.nan_to_num(num("nft_transfers"))
            hub = (
                (num("hour_of_day_entropy") >= BOT_MIN_HOUR_ENTROPY)
                & (payees >= EXCHANGE_MIN_PAYEE_SHARE * num("tx_count"))
                & (num("unique_contracts_called") <= EXCHANGE_MAX_CONTRACT_SHARE * payees)
                & (num("received_tx_count") > 0)
                & (trades == 0)
            )
            out[hub] = EXCHANGE
        if spoofing and SPOOFING_COLUMN in have:
            # Last: a forged transfer is an act, where the tests above read the shape of activity.
            out[num(SPOOFING_COLUMN) >= BOT_MIN_SPOOFED_TRANSFERS] = HF_BOT
    return out


def rule_personas(
    features: pd.DataFrame,
    contract_column: str | None = "is_contract",
    activity_column: str | None = "tx_count",
    min_tx_count: float = 1,
    recency_column: str | None = "days_since_last_active",
    dormant_days: float | None = 90,
    operator_rules: bool = True,
    dormant_gap_multiple: float | None = DORMANT_GAP_MULTIPLE,
    spoofing_rule: bool = True,
) -> pd.Series:
    """Persona given by rule, or None for wallets the model must score (index as `features`).

    `dormant_gap_multiple`: the silence must also be this many of the wallet's typical gaps between
    active days (`silent_gaps`); None, or a table without RHYTHM_COLUMNS, tests the days alone.
    """
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
        quiet = since >= dormant_days
        if dormant_gap_multiple is not None and set(RHYTHM_COLUMNS) <= set(features.columns):
            # NaN (one active day: no gap) passes; a NULL age or count leaves the days to decide.
            quiet &= ~(silent_gaps(features, recency_column) < dormant_gap_multiple)
        out[quiet & (out == None)] = DORMANT  # noqa: E711 - elementwise on object array
    if operator_rules:
        operator = operator_personas(features, spoofing_rule)
        named = operator != None  # noqa: E711 - elementwise on object array
        out[named] = operator[named]
    if contract_column and contract_column in features.columns:
        is_contract = features[contract_column].fillna(False).astype(bool).to_numpy()
        out[is_contract] = CONTRACT
    return pd.Series(out, index=features.index, name="rule_persona")


def sweeps_to_collector(features: pd.DataFrame, max_value_gap: float | None = None) -> np.ndarray:
    """Which wallets act as a deposit address; all False without DEPOSIT_COLUMNS.

    A deposit address an exchange runs for one customer passes on what it receives
    (`forwarded_to_eoa_6h_share` >= DEPOSIT_MIN_FORWARD_SHARE, 0.8: the vocabulary's forwarder
    line), pays it to a collecting address (`collector_payment_share` >=
    DEPOSIT_MIN_COLLECTOR_SHARE, 0.8: most of its payments go to an address that is not a contract
    and is paid by as many distinct payers as the top 1% of paid addresses, an exchange's hot
    wallet) and trades nothing. Whom it pays sets it apart from a stopped wallet that forwarded its
    one withdrawal to a friend, and from a whale that moves 10 ETH on within hours: both forward
    everything too. A NULL share fails its test; no trade recorded is no trade (a source without
    decoded trades leaves the trade columns NULL). With `max_value_gap` (DEPOSIT_MAX_VALUE_GAP in
    the served model), it must also pass on the value it received (`passes_on_value`).
    """
    if not set(DEPOSIT_COLUMNS) <= set(features.columns):
        return np.zeros(len(features), dtype=bool)

    def num(name: str) -> np.ndarray:
        return pd.to_numeric(features[name], errors="coerce").to_numpy(dtype=float)

    traded = np.nan_to_num(num("dex_trades")) + np.nan_to_num(num("nft_transfers")) > 0
    with np.errstate(invalid="ignore"):
        return (
            (num("forwarded_to_eoa_6h_share") >= DEPOSIT_MIN_FORWARD_SHARE)
            & (num("collector_payment_share") >= DEPOSIT_MIN_COLLECTOR_SHARE)
            & ~traded
            & passes_on_value(features, max_value_gap)
        )


def passes_on_value(features: pd.DataFrame, max_gap: float | None = DEPOSIT_MAX_VALUE_GAP) -> np.ndarray:
    """Which wallets sent on about the ETH they received: within `max_gap` of it (a share).

    A deposit address is swept: what a customer paid in goes out again, less the sweep's fee. A
    wallet that paid an exchange part of its funds and kept the rest (a holder that stopped, a
    retail wallet topping up its account) forwards too, by count, but not the value. True where the
    wallet received no ETH or its amounts are unknown (a token deposit address has only tokens to
    pass on), and everywhere without VALUE_COLUMNS or with `max_gap` None (the test off).
    """
    if max_gap is None or not set(VALUE_COLUMNS) <= set(features.columns):
        return np.ones(len(features), dtype=bool)
    sent, received = (
        pd.to_numeric(features[c], errors="coerce").to_numpy(dtype=float) for c in VALUE_COLUMNS
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.abs(sent / received - 1)
    return ~(received > 0) | ~np.isfinite(gap) | (gap <= max_gap)


def silent_gaps(features: pd.DataFrame, recency_column: str = "days_since_last_active") -> np.ndarray:
    """How many of its own typical gaps between active days a wallet has been silent; NaN without a gap.

    The typical gap is the stretch from the wallet's first appearance to its last sent transaction
    (`wallet_age_days` - `recency_column`) over its `active_days` - 1 gaps between active days.
    NaN for a wallet with fewer than two active days or a missing value. A gap under an hour (two
    active dates a few minutes apart across midnight) counts as an hour, so the ratio stays finite.
    """
    since, gap = _active_day_gaps(features, recency_column)
    with np.errstate(invalid="ignore", divide="ignore"):
        return since / np.maximum(gap, 1 / 24)


def _active_day_gaps(features: pd.DataFrame, recency_column: str) -> tuple[np.ndarray, np.ndarray]:
    """Each wallet's silence (the recency column) and its typical gap between active days (NaN: none)."""

    def num(name: str) -> np.ndarray:
        return pd.to_numeric(features[name], errors="coerce").to_numpy(dtype=float)

    since, age, days = num(recency_column), num("wallet_age_days"), num("active_days")
    with np.errstate(invalid="ignore", divide="ignore"):
        return since, np.where(days >= 2, (age - since) / (days - 1), np.nan)


def long_history(
    features: pd.DataFrame,
    max_prior: float | None,
    max_silence_days: float | None,
    recency_column: str = "days_since_last_active",
) -> np.ndarray:
    """Wallets in long use before the data whose silence in it is short against the population's pace.

    True where `prior_tx_count` > `max_prior` and the recency column < `max_silence_days`. All False
    without the columns or either line; a NULL count (a source without nonces) is no evidence.
    """
    if max_prior is None or max_silence_days is None or PRIOR_COLUMN not in features.columns:
        return np.zeros(len(features), dtype=bool)
    if recency_column not in features.columns:
        return np.zeros(len(features), dtype=bool)
    prior = pd.to_numeric(features[PRIOR_COLUMN], errors="coerce").to_numpy(dtype=float)
    since = pd.to_numeric(features[recency_column], errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        return (prior > max_prior) & (since < max_silence_days)


def typical_gap_days(features: pd.DataFrame, recency_column: str = "days_since_last_active") -> float | None:
    """Median gap between active days (`silent_gaps`) over wallets with two or more; None if none."""
    if not set(RHYTHM_COLUMNS) <= set(features.columns) or recency_column not in features.columns:
        return None
    gap = _active_day_gaps(features, recency_column)[1]
    gap = gap[np.isfinite(gap)]
    return float(np.median(gap)) if len(gap) else None


def fit_dormant_max_prior(prior_tx_count: np.ndarray) -> tuple[float | None, str]:
    """The most transactions sent before the data a Dormant Holder may have, and how it was found.

    The DORMANT_PRIOR_QUANTILE quantile of `prior_tx_count` (given over the senders still in use);
    None (the test off) when none has a known count or the quantile is 0 (data that starts at the
    chain's beginning: every wallet's history is inside it).
    """
    x = np.asarray(prior_tx_count, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return None, "off: no wallet with a known prior_tx_count"
    line = float(np.quantile(x, DORMANT_PRIOR_QUANTILE))
    if line <= 0:
        return None, "off: nine in ten wallets sent nothing before the data"
    return line, (
        f"quantile {DORMANT_PRIOR_QUANTILE:g} of prior_tx_count over the senders in use: "
        f"a wallet with more than {line:g} transactions before the data is not dormant"
    )


def fit_whale_trade_size(avg_trade_size: np.ndarray) -> tuple[float | None, str]:
    """The mean swap size from which a wallet is Whale (naming.whale_by_wallet), and how it was found.

    WHALE_TRADE_MULTIPLE times the median `avg_trade_size` of the wallets that swapped (given over
    the senders): a multiple of the population's own typical trade, so the unit (USD or any other)
    and the price level cancel. None (the test off) when no wallet has a known size above 0.
    """
    x = np.asarray(avg_trade_size, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    if len(x) == 0:
        return None, f"off: no wallet with a known {TRADE_SIZE_COLUMN}"
    median = float(np.median(x))
    return WHALE_TRADE_MULTIPLE * median, (
        f"{WHALE_TRADE_MULTIPLE:g} x the median {TRADE_SIZE_COLUMN} of {median:.4g} over {len(x)} traders"
    )


def fit_dormant_days(days_since_last_sent: np.ndarray, seed: int = 0) -> tuple[float, str]:
    """The dormancy threshold of a population in days, and how it was found.

    DORMANT_WINDOW_SHARE of the window the wallets' sent transactions span: the longest time since
    a wallet's last sent transaction (someone sends on the first day of any busy window, so this
    is the window up to hours). Measured on the recency column itself, so a table without ages or
    dates gets the same rule. `seed` is unused; it stays for callers that pass one.
    """
    del seed
    x = np.asarray(days_since_last_sent, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0 or x.max() <= 0:
        return DEFAULT_DORMANT_DAYS, "fixed: no wallet with a sent transaction to measure the window by"
    window = float(x.max())
    return round(DORMANT_WINDOW_SHARE * window, 3), (
        f"share of the window: last sent transaction at least {DORMANT_WINDOW_SHARE:g} of the "
        f"{window:.2f}-day window ago"
    )
