"""Wallet personas: rule-based population, preprocessing, model selection, calibration, naming.

model, report = train_personas(features)           # features: address + numeric columns
model.predict(features)                            # address, persona, confidence, p_<persona>...
model, report = train_personas(new, previous=model)  # same wallets keep the same names
"""

from wallet_pipeline.logic.personas.model import (
    WALLET_FEATURES,
    PersonaConfig,
    PersonaInputError,
    PersonaModel,
    persona_column,
    train_personas,
)
from wallet_pipeline.logic.personas.naming import MIXED, VOCABULARY
from wallet_pipeline.logic.personas.population import (
    AIRDROP_FARMER,
    CONTRACT,
    DORMANT,
    EXCHANGE,
    HF_BOT,
    INACTIVE,
    OPERATOR_PERSONAS,
    RECEIVE_ONLY,
    RULE_PERSONAS,
    SPOOFED_SENDER,
    rule_personas,
)
from wallet_pipeline.logic.personas.selection import WINNER_RULE, SelectionReport

__all__ = [
    "AIRDROP_FARMER",
    "CONTRACT",
    "DORMANT",
    "EXCHANGE",
    "HF_BOT",
    "INACTIVE",
    "MIXED",
    "OPERATOR_PERSONAS",
    "RECEIVE_ONLY",
    "RULE_PERSONAS",
    "SPOOFED_SENDER",
    "VOCABULARY",
    "WALLET_FEATURES",
    "WINNER_RULE",
    "PersonaConfig",
    "PersonaInputError",
    "PersonaModel",
    "SelectionReport",
    "persona_column",
    "rule_personas",
    "train_personas",
]
