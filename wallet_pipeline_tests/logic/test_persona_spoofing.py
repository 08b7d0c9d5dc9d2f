"""A wallet that made ERC-20 transfers in a silent wallet's name is a High-Frequency Bot.

`spoofed_transfers_sent` (marts.wallet_features) counts the transfers a sender's own transactions
made out of wallets that never sent a transaction, are not contracts, nor the contract called, nor
the zero address: an address-poisoning operator's forged transfers. It acts a few times a day at
random, so the timing rule never names it; this count does, in training and in prediction, as the
other operator rules (population.py, rule 3).
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from wallet_pipeline.logic.automation.drift import drift_columns
from wallet_pipeline.logic.personas import PersonaConfig, rule_personas, train_personas
from wallet_pipeline.logic.personas.population import (
    CONTRACT,
    DORMANT,
    HF_BOT,
    SPOOFING_COLUMN,
    operator_rules_in_force,
)
from wallet_pipeline_tests.logic.test_personas import FAST, _table


def _wallets() -> pd.DataFrame:
    # An operator's timing is a person's: a few sends a day at random, never the bot rule's.
    base = {
        "tx_count": 60,
        "avg_tx_per_day": 4.0,
        "hour_of_day_entropy": 4.2,
        "inter_arrival_cv": 1.4,
        "days_since_last_active": 5.0,
        "is_contract": False,
        SPOOFING_COLUMN: 0,
    }
    rows = {
        "operator": {SPOOFING_COLUMN: 40},
        "operator_one_transfer": {SPOOFING_COLUMN: 1},
        # Who runs the address outlives its activity, as for the other operators.
        "operator_stopped": {SPOOFING_COLUMN: 3, "days_since_last_active": 400.0},
        "operator_contract": {SPOOFING_COLUMN: 3, "is_contract": True},
        "retail": {},
        "retail_stopped": {"days_since_last_active": 400.0},
        # No token transfers in the source: unknown is not evidence.
        "unknown": {SPOOFING_COLUMN: np.nan},
    }
    table = pd.DataFrame([base | r for r in rows.values()])
    table.insert(0, "address", list(rows))
    return table


def test_one_transfer_in_a_silent_wallets_name_makes_a_bot_and_overrides_dormancy() -> None:
    table = _wallets()
    got = dict(zip(table.address, rule_personas(table, dormant_days=90), strict=True))
    assert got == {
        "operator": HF_BOT,
        "operator_one_transfer": HF_BOT,
        "operator_stopped": HF_BOT,
        "operator_contract": CONTRACT,
        "retail": None,
        "retail_stopped": DORMANT,
        "unknown": None,
    }


def test_the_spoofing_rule_is_off_when_asked_or_without_its_column() -> None:
    table = _wallets()
    assert not rule_personas(table, dormant_days=90, spoofing_rule=False).eq(HF_BOT).any()
    assert not rule_personas(table.drop(columns=SPOOFING_COLUMN), dormant_days=90).eq(HF_BOT).any()
    assert not rule_personas(table, dormant_days=90, operator_rules=False).eq(HF_BOT).any()
    assert operator_rules_in_force(["address", SPOOFING_COLUMN]) == (HF_BOT,)
    assert operator_rules_in_force(["address", SPOOFING_COLUMN], spoofing=False) == ()
    garbled = table.astype({SPOOFING_COLUMN: object}).assign(**{SPOOFING_COLUMN: "many"})
    assert not rule_personas(garbled, dormant_days=90).eq(HF_BOT).any()


def test_a_trained_model_names_operators_outside_its_clusters_and_one_pickled_before_does_not() -> None:
    table = _table().assign(**{SPOOFING_COLUMN: 0})
    operators = table.index[table.group == "retail"][:6]
    table.loc[operators, SPOOFING_COLUMN] = [1, 2, 5, 40, 300, 1]
    model, report = train_personas(table, FAST)
    pred = model.predict(table).set_index("address")
    assert (pred.loc[table.address[operators], "persona"] == HF_BOT).all()
    assert (pred.loc[table.address.drop(operators), "persona"] != HF_BOT).all()
    assert report.population[HF_BOT] == 6 and HF_BOT not in model.cluster_names
    old = pickle.loads(pickle.dumps(model))
    state = dict(old.config.__dict__)
    del state["spoofing_rule"]
    old.config = object.__new__(PersonaConfig)
    old.config.__setstate__(state)
    assert not old.config.spoofing_rule
    assert not (
        old.predict(table).set_index("address").loc[table.address[operators], "persona"] == HF_BOT
    ).any()


def test_drift_watches_the_spoofing_column_only_for_a_model_that_reads_it() -> None:
    from types import SimpleNamespace

    table = ["address", "forwarded_to_eoa_6h_share", "tx_count", SPOOFING_COLUMN]
    features = ("forwarded_to_eoa_6h_share",)
    on = SimpleNamespace(config=PersonaConfig(), feature_columns=features)
    off = SimpleNamespace(config=PersonaConfig(spoofing_rule=False), feature_columns=features)
    no_operators = SimpleNamespace(config=PersonaConfig(operator_rules=False), feature_columns=features)
    assert SPOOFING_COLUMN in drift_columns(on, table)
    assert SPOOFING_COLUMN not in drift_columns(off, table)
    assert SPOOFING_COLUMN not in drift_columns(no_operators, table)
