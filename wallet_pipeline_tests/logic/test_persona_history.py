"""A wallet long in use before the data is not a Dormant Holder for a short silence.

`prior_tx_count` (the lowest nonce of a wallet's sent transactions in the data) is what the wallet
sent before the data began. Served (not in training), a wallet quiet since early in the window with
more history than nine in ten senders still in use, silent for fewer than RELEASE_MAX_GAPS of the
population's typical gaps between active days, is scored by the model (population.long_history).
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from wallet_pipeline.logic.personas import PersonaConfig, PersonaInputError, train_personas
from wallet_pipeline.logic.personas.population import (
    DORMANT,
    DORMANT_PRIOR_QUANTILE,
    RELEASE_MAX_GAPS,
    fit_dormant_max_prior,
    long_history,
    typical_gap_days,
)
from wallet_pipeline_tests.logic.test_personas import FAST, _table


def test_long_history_needs_more_prior_sends_than_the_line_and_a_silence_under_the_days() -> None:
    table = pd.DataFrame(
        {
            "prior_tx_count": [200, 200, 20, np.nan, 200],
            "days_since_last_active": [30.0, 90.0, 30.0, 30.0, np.nan],
        }
    )
    assert long_history(table, 100, 60).tolist() == [True, False, False, False, False]
    assert not long_history(table, None, 60).any()
    assert not long_history(table, 100, None).any()
    assert not long_history(table.drop(columns="prior_tx_count"), 100, 60).any()


def test_the_prior_line_is_a_quantile_of_the_senders_and_off_when_history_is_all_inside() -> None:
    prior = np.arange(1, 101, dtype=float)
    line, how = fit_dormant_max_prior(np.r_[prior, np.nan])
    assert line == pytest.approx(np.quantile(prior, DORMANT_PRIOR_QUANTILE))
    assert "quantile" in how
    # Data from the chain's first block: nine in ten wallets sent nothing before it.
    assert fit_dormant_max_prior(np.r_[np.zeros(95), np.full(5, 40.0)])[0] is None
    assert fit_dormant_max_prior(np.array([np.nan]))[0] is None


def test_the_typical_gap_is_the_median_over_wallets_with_two_active_days_or_more() -> None:
    table = pd.DataFrame(
        {
            "active_days": [1, 3, 5, 2],
            "wallet_age_days": [50.0, 30.0, 50.0, 12.0],
            "days_since_last_active": [40.0, 10.0, 10.0, 2.0],
        }
    )
    # Gaps: none, (30 - 10) / 2 = 10, (50 - 10) / 4 = 10, (12 - 2) / 1 = 10.
    assert typical_gap_days(table) == pytest.approx(10.0)
    assert typical_gap_days(table.drop(columns="active_days")) is None
    assert typical_gap_days(table.assign(active_days=1)) is None


def _with_history() -> tuple[pd.DataFrame, pd.Index]:
    """The planted table with active days and ages, and 20 dormant wallets long in use before it."""
    table = _table()
    dormant = table.group == "dormant"
    # A 120-day window: retail, NFT and whale wallets act on 6 days each, the dormant ones on one.
    table["wallet_age_days"] = 120.0
    table["active_days"] = np.where(dormant, 1, np.where(table.tx_count > 0, 6, 0))
    table["prior_tx_count"] = np.where(table.tx_count > 0, 5.0, np.nan)
    veterans = table.index[dormant][:20]
    table.loc[veterans, "prior_tx_count"] = 500.0
    return table, veterans


def test_a_veteran_quiet_for_under_seven_typical_gaps_is_scored_and_training_does_not_change() -> None:
    table, veterans = _with_history()
    model, report = train_personas(table, FAST)
    gap = typical_gap_days(table[table.tx_count > 0])
    assert model.config.dormant_max_prior == pytest.approx(5.0)
    assert model.config.dormant_release_days == pytest.approx(RELEASE_MAX_GAPS * gap, abs=1e-3)
    assert table.loc[veterans, "days_since_last_active"].max() < model.config.dormant_release_days
    # Training names them Dormant Holder by rule and leaves them out, as without the test.
    assert model.config.rules(table).loc[veterans].eq(DORMANT).all()
    assert report.population["modelled"] == 440
    pred = model.predict(table).set_index("address")
    assert not pred.loc[table.address[veterans], "persona"].eq(DORMANT).any()
    others = table.address[(table.group == "dormant") & ~table.index.isin(veterans)]
    assert pred.loc[others, "persona"].eq(DORMANT).all()
    # Off, or a silence past the days, and they stay Dormant Holder.
    for knobs in ({"dormant_max_prior": None}, {"dormant_release_days": 50.0}):
        off, _ = train_personas(table, PersonaConfig(**{**FAST.__dict__, **knobs}))
        assert (
            off.predict(table).set_index("address").loc[table.address[veterans], "persona"].eq(DORMANT).all()
        )


def test_the_prior_line_is_read_from_the_senders_still_in_use() -> None:
    table, veterans = _with_history()
    # Stopped wallets with 50 transactions behind them: a fifth of the senders, enough to set the
    # senders' 0.9 quantile; the wallets in use have 5 each, and 5 is the line.
    stopped = table.index[(table.group == "dormant") & ~table.index.isin(veterans)]
    table.loc[stopped, "prior_tx_count"] = 50.0
    senders = table.loc[table.tx_count > 0, "prior_tx_count"]
    assert np.quantile(senders, DORMANT_PRIOR_QUANTILE) == 50.0
    model, _ = train_personas(table, FAST)
    assert model.config.dormant_max_prior == pytest.approx(5.0)


def test_a_model_pickled_before_the_history_test_keeps_its_dormant_holders() -> None:
    table, veterans = _with_history()
    model, _ = train_personas(table, FAST)
    old = pickle.loads(pickle.dumps(model))
    state = {
        k: v for k, v in old.config.__dict__.items() if k not in ("dormant_max_prior", "dormant_release_days")
    }
    old.config = object.__new__(PersonaConfig)
    old.config.__setstate__(state)
    assert old.config.dormant_max_prior is None
    assert old.predict(table).set_index("address").loc[table.address[veterans], "persona"].eq(DORMANT).all()


@pytest.mark.parametrize(
    ("knob", "value"), [("dormant_max_prior", -1), ("dormant_max_prior", "many"), ("dormant_release_days", 0)]
)
def test_history_knobs_out_of_range_are_refused(knob: str, value: object) -> None:
    with pytest.raises(PersonaInputError, match=knob):
        train_personas(_table(), PersonaConfig(**{**FAST.__dict__, knob: value}))
