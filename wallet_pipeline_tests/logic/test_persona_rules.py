"""The persona rules are window-free: the same behaviour in a week and in a year gets the same persona.

Each wallet below is a behaviour stated as rates and shares (transactions per active day, share of
the window it was active, share of the window since its last sent transaction, timing); its
feature row is what that behaviour leaves in a window of W days. The rules and the dormancy
threshold learned at training (population.py) must give every behaviour one persona whatever W is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wallet_pipeline.logic.personas import PersonaConfig
from wallet_pipeline.logic.personas.model import _kept_by_rhythm
from wallet_pipeline.logic.personas.population import (
    AIRDROP_FARMER,
    DORMANT,
    EXCHANGE,
    HF_BOT,
    fit_dormant_days,
    silent_gaps,
)

# behaviour: (tx per active day, share of the window's days active, share of the window since the
# last sent tx, hour-of-day entropy, inter-arrival CV, payees per sent tx, contracts per payee,
# received per sent tx, DEX trades per sent tx, funded as one of a cohort of)
BEHAVIOURS = {
    "retail": (2.0, 0.3, 0.1, 2.5, 2.0, 0.4, 0.5, 0.3, 0.3, 0),
    "retail_quiet_lately": (1.0, 0.2, 0.5, 1.5, 1.8, 0.5, 0.5, 0.5, 0.5, 0),
    "stopped_early": (2.0, 0.05, 0.9, 0.0, 1.0, 0.5, 0.5, 0.5, 0.0, 0),
    "clock_bot": (150.0, 1.0, 0.0, 4.5, 0.1, 0.01, 1.0, 0.0, 0.9, 0),
    "hot_wallet": (40.0, 1.0, 0.0, 4.5, 1.2, 0.9, 0.003, 0.15, 0.0, 0),
    "farm_member": (3.0, 0.3, 0.3, 3.0, 1.5, 0.7, 0.5, 0.1, 0.2, 30),
}


def _features(window: float, copies: int = 40) -> pd.DataFrame:
    """`copies` wallets of each behaviour, as their feature rows in a window of `window` days."""
    rng = np.random.default_rng(0)
    rows = []
    for name, (
        rate,
        active,
        since,
        entropy,
        cv,
        payees,
        contracts,
        received,
        dex,
        cohort,
    ) in BEHAVIOURS.items():
        for i in range(copies):
            jitter = rng.uniform(0.95, 1.05)
            active_days = max(1, round(active * window * jitter))
            sent = max(1, round(rate * active_days))
            counterparties = max(1, round(payees * sent))
            rows.append(
                {
                    "address": f"{name}_{i}",
                    "group": name,
                    "is_contract": False,
                    "tx_count": sent,
                    "active_days": active_days,
                    "avg_tx_per_day": sent / active_days,
                    "received_tx_count": round(received * sent),
                    "unique_counterparties": counterparties,
                    "unique_contracts_called": round(contracts * counterparties),
                    "hour_of_day_entropy": entropy,
                    "inter_arrival_cv": cv,
                    "dex_trades": round(dex * sent),
                    "nft_transfers": 0,
                    "days_since_last_active": min(window, since * window * jitter),
                    # Present since the window began: the rhythm test (population.py, rule 2) runs.
                    "wallet_age_days": window,
                    "funding_cohort_size": cohort,
                    "funding_burst_size": cohort,
                }
            )
    # Someone sent on the window's first day and never again: the recency the window is measured by.
    rows.append(rows[-1] | {"address": "first_day", "group": "first_day", "days_since_last_active": window})
    return pd.DataFrame(rows)


def _rules(window: float) -> pd.Series:
    """Rule persona per wallet, with the dormancy threshold learned the way training learns it."""
    table = _features(window)
    days, _ = fit_dormant_days(table["days_since_last_active"].to_numpy())
    rule = PersonaConfig(dormant_days=days).rules(table)
    return pd.Series(rule.to_numpy(), index=table["group"])


@pytest.mark.parametrize("short, long", [(7.0, 365.0), (10.0, 120.0)])
def test_the_same_behaviour_gets_the_same_persona_in_a_short_and_a_long_window(
    short: float, long: float
) -> None:
    a, b = _rules(short), _rules(long)
    expected = {
        "retail": None,
        "retail_quiet_lately": None,
        "stopped_early": DORMANT,
        "clock_bot": HF_BOT,
        "hot_wallet": EXCHANGE,
        "farm_member": AIRDROP_FARMER,
    }
    for group, persona in expected.items():
        got_short = set(a[group].tolist())
        got_long = set(b[group].tolist())
        assert got_short == got_long == {persona}, (group, got_short, got_long)


def test_a_bot_that_ran_a_day_and_a_half_is_a_bot_in_any_window() -> None:
    # 60 transactions on a 30-minute clock, round the clock, over three calendar dates.
    bot = {
        "address": "short_bot",
        "is_contract": False,
        "tx_count": 60,
        "active_days": 3,
        "avg_tx_per_day": 20.0,
        "hour_of_day_entropy": 4.5,
        "inter_arrival_cv": 0.08,
        "received_tx_count": 0,
        "unique_counterparties": 3,
        "unique_contracts_called": 3,
        "dex_trades": 55,
        "nft_transfers": 0,
    }
    for window in (7.0, 365.0):
        table = pd.DataFrame([bot | {"days_since_last_active": 0.2 * window}])
        assert PersonaConfig(dormant_days=0.8 * window).rules(table).tolist() == [HF_BOT]


def _fleet(members: int, sent: int, prefix: str, tokens: int = 2) -> list[dict]:
    """`members` wallets that ran one script: every activity count the same, no funding cohort."""
    row = {
        "is_contract": False,
        "tx_count": sent,
        "received_tx_count": 1,
        "active_days": 4,
        "avg_tx_per_day": sent / 4,
        "unique_counterparties": 8,
        "unique_contracts_called": 4,
        "unique_method_ids": 5,
        "unique_tokens": tokens,
        "erc20_transfers_in": 3,
        "erc20_transfers_out": 2,
        "dex_trades": 2,
        "nft_transfers": 0,
        "hour_of_day_entropy": 3.1,
        "inter_arrival_cv": 1.6,
        "days_since_last_active": 3.0,
        "funding_cohort_size": 1,
        "funding_burst_size": 1,
    }
    return [row | {"address": f"{prefix}_{i}"} for i in range(members)]


def test_a_fleet_running_one_script_is_a_farm_without_a_funding_cohort() -> None:
    from wallet_pipeline.logic.personas.population import FARM_MIN_COHORT, FARM_MIN_LOCKSTEP_SENT

    table = pd.DataFrame(
        _fleet(FARM_MIN_COHORT, 11, "chain_farm")
        + _fleet(FARM_MIN_COHORT - 1, 11, "small_group", tokens=3)  # one short of a fleet
        + _fleet(FARM_MIN_COHORT, FARM_MIN_LOCKSTEP_SENT - 1, "few_sent")  # too little to tell
    )
    rule = PersonaConfig(dormant_days=30.0).rules(table)
    got = dict(zip(table.address, rule, strict=True))
    for address, persona in got.items():
        expected = AIRDROP_FARMER if address.startswith("chain_farm") else None
        assert persona == expected, address
    # Scored alone, a member has no fleet to be seen in.
    assert PersonaConfig(dormant_days=30.0).rules(table.iloc[:1]).tolist() == [None]
    # One count apart and the member is no longer in step.
    table.loc[0, "dex_trades"] = 3
    assert PersonaConfig(dormant_days=30.0).rules(table).iloc[:FARM_MIN_COHORT].isna().all()


def _quiet(address: str, active_days: int, age: float, since: float) -> dict:
    """A wallet with `active_days` dates it sent on, first seen `age` days ago, last sent `since` ago."""
    return {
        "address": address,
        "is_contract": False,
        "tx_count": 2 * active_days,
        "active_days": active_days,
        "avg_tx_per_day": 2.0,
        "received_tx_count": 1,
        "wallet_age_days": age,
        "days_since_last_active": since,
    }


@pytest.mark.parametrize("window", [30.0, 365.0])
def test_a_wallet_on_a_two_week_rhythm_is_not_dormant_and_one_silent_after_a_busy_start_is(
    window: float,
) -> None:
    rows = [
        # Sends every two weeks; the last one two days before the end.
        _quiet("fortnightly", round(window / 14), window, 2.0),
        # The same rhythm, its last fortnight not come round yet.
        _quiet("fortnightly_due", round(window / 14), window, 13.0),
        # Busy on five of the window's first days, silent since.
        _quiet("busy_start", 5, window, window - 3.0),
        # Sent on the first day only (what the window is measured by): one day has no rhythm.
        _quiet("first_day", 1, window, window),
    ]
    table = pd.DataFrame(rows)
    days, _ = fit_dormant_days(table["days_since_last_active"].to_numpy())
    got = dict(zip(table.address, PersonaConfig(dormant_days=days).rules(table), strict=True))
    assert got == {"fortnightly": None, "fortnightly_due": None, "busy_start": DORMANT, "first_day": DORMANT}


def test_a_slow_regular_wallet_is_not_dormant_for_a_silence_short_against_its_own_rhythm() -> None:
    # A third-party table: a year of each wallet's history, a fixed 30-day threshold.
    table = pd.DataFrame(
        [
            _quiet("monthly_payer", 12, 365.0, 40.0),  # a payment every ~30 days, the last 40 days ago
            _quiet("stopped", 12, 365.0, 200.0),  # twelve dates in its first 165 days, silent since
            _quiet("one_day", 1, 365.0, 40.0),  # no gap to measure: the days decide
        ]
    )
    rule = PersonaConfig(dormant_days=30.0).rules(table)
    assert rule.tolist() == [None, DORMANT, DORMANT]
    # Without the rhythm test 40 quiet days are dormancy for every wallet.
    days_only = PersonaConfig(dormant_days=30.0, dormant_gap_multiple=None).rules(table)
    assert days_only.tolist() == [DORMANT, DORMANT, DORMANT]
    # The training report's count of wallets the rhythm kept from dormancy, without a second pass.
    assert _kept_by_rhythm(table, rule, PersonaConfig(dormant_days=30.0)) == 1
    assert _kept_by_rhythm(table, rule, PersonaConfig(dormant_days=None)) == 0
    # A table without the age column has no rhythm to read: the days decide.
    no_age = PersonaConfig(dormant_days=30.0).rules(table.drop(columns="wallet_age_days"))
    assert no_age.tolist() == [DORMANT, DORMANT, DORMANT]


def test_silent_gaps_is_the_silence_over_the_wallets_typical_gap() -> None:
    table = pd.DataFrame(
        {
            "active_days": [11, 1, 2, 3, None],
            "wallet_age_days": [120.0, 50.0, 30.0, 10.0, 10.0],
            "days_since_last_active": [20.0, 40.0, 29.99, 9.0, 5.0],
        }
    )
    gaps = silent_gaps(table)
    # 100 days over 10 gaps: a 10-day rhythm, 20 days silent. Two dates minutes apart: one hour.
    assert gaps[0] == pytest.approx(2.0)
    assert gaps[2] == pytest.approx(29.99 * 24)
    assert gaps[3] == pytest.approx(9.0 / 0.5)
    assert np.isnan(gaps[1]) and np.isnan(gaps[4])


@pytest.mark.parametrize("weeks", [1, 52])
def test_the_served_wallet_tests_read_shares_so_a_week_and_a_year_agree(weeks: int) -> None:
    from wallet_pipeline.logic.personas.naming import deposit_by_wallet, nft_by_wallet, whale_by_wallet
    from wallet_pipeline.logic.personas.population import fit_whale_trade_size

    # A week of each behaviour, or a year of the same: every count grows with the window, every
    # amount per trade stays, and a deposit address passes on what it gets whatever the sums.
    retail_trying_nfts = {"nft_buys": 1, "nft_sells": 1, "dex_trades": 2, "nft_transfers": 2, "tx_count": 4}
    nft_trader = {"nft_buys": 3, "nft_sells": 2, "dex_trades": 1, "nft_transfers": 5, "tx_count": 8}
    rows = pd.DataFrame([retail_trying_nfts, nft_trader]) * weeks
    rows["nft_trade_share"] = (rows.nft_buys + rows.nft_sells) / rows.tx_count
    personas = ["Whale", "Active Retail Trader", "NFT Trader", "Deposit Forwarder", "Dormant Holder"]
    undecided = np.array([[0.0, 0.5, 0.5, 0.0, 0.0], [0.0, 0.55, 0.45, 0.0, 0.0]])
    traders = nft_by_wallet(undecided, rows, personas, over_swaps=True).argmax(1)
    assert [personas[i] for i in traders] == ["Active Retail Trader", "NFT Trader"]
    trade_sizes = np.r_[np.full(95, 400.0), np.full(5, 150_000.0)]
    line, _ = fit_whale_trade_size(trade_sizes)
    sizes = pd.DataFrame({"avg_trade_size": trade_sizes[[0, -1]]})
    whales = whale_by_wallet(np.array([[0.0, 1.0, 0.0, 0.0, 0.0]] * 2), sizes, personas, line)
    assert whales.argmax(1).tolist() == [1, 0]
    sweep = {"forwarded_to_eoa_6h_share": 1.0, "collector_payment_share": 1.0, "dex_trades": 0}
    deposits = pd.DataFrame(
        [
            sweep | {"nft_transfers": 0, "eth_received": 0.8 * weeks, "eth_sent": 0.799 * weeks},
            sweep | {"nft_transfers": 0, "eth_received": 2.0 * weeks, "eth_sent": 0.5 * weeks},
        ]
    )
    quiet = np.array([[0.0, 0.0, 0.0, 0.0, 1.0]] * 2)
    served = deposit_by_wallet(quiet, deposits, personas, 0.1).argmax(1)
    assert [personas[i] for i in served] == ["Deposit Forwarder", "Dormant Holder"]
