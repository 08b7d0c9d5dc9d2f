"""What the command-line predictor needs: wallets to score from several inputs, and the printout.

Inputs are addresses (looked up in `marts.wallet_features`), a CSV of wallets (feature columns,
or just an id column to look up: `address`, `wallet_address`, ... or a column of 0x addresses)
or one JSON row of features.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from wallet_pipeline.logic.personas.model import PersonaInputError, PersonaModel, persona_column
from wallet_pipeline.logic.personas.preprocess import detect_id_column

ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")


class WalletsNotFound(LookupError):
    """Addresses the features table does not hold."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        super().__init__(f"not found in marts.wallet_features: {shown}")


def normalise_addresses(addresses: list[str]) -> list[str]:
    """Lower-cased addresses; a malformed one is refused with its value."""
    out = []
    for raw in addresses:
        a = raw.strip().lower()
        if not ADDRESS.match(a):
            raise PersonaInputError(f"{raw!r} is not an address: expected 0x and 40 hex digits")
        out.append(a)
    return out


def missing_addresses(wanted: list[str], found: pd.DataFrame) -> list[str]:
    """Addresses of `wanted` without a row in `found`."""
    have = set(found["address"])
    return [a for a in wanted if a not in have]


def read_wallets_csv(path: Path) -> pd.DataFrame:
    """A CSV of wallets whose id column (`address`, `wallet_address`, ...) is read as `address`."""
    if not path.exists():
        raise PersonaInputError(f"{path} does not exist")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise PersonaInputError(f"{path} is not a readable CSV: {exc}") from exc
    try:
        id_column = detect_id_column(table, "address")
    except ValueError as exc:
        raise PersonaInputError(f"{path}: {exc}") from exc
    table = table.rename(columns={id_column: "address"})
    table["address"] = table["address"].astype(str).str.strip().str.lower()
    return table


def read_wallet_row(text: str) -> pd.DataFrame:
    """One wallet's features as a JSON object: {"address": "0x...", "tx_count": 12, ...}."""
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PersonaInputError(f"--row is not JSON: {exc}") from exc
    if not isinstance(row, dict):
        raise PersonaInputError("--row must be one JSON object of column: value")
    row.setdefault("address", "row")
    return pd.DataFrame([row])


def needs_lookup(table: pd.DataFrame, model: PersonaModel) -> bool:
    """True when the table carries none of the model's features: score the stored rows instead."""
    return not any(c in table.columns for c in model.feature_columns)


def format_predictions(predictions: pd.DataFrame, model: PersonaModel, version: str, top: int = 0) -> str:
    """Per wallet: persona and confidence, then every persona's probability, highest first."""
    lines = [f"persona model {version}: features {', '.join(model.feature_columns)}"]
    for rec in predictions.to_dict("records"):
        lines.append("")
        lines.append(f"{rec['address']}: {rec['persona']} (confidence {rec['confidence']:.2f})")
        probs = sorted(((p, rec[persona_column(p)]) for p in model.personas), key=lambda x: -x[1])
        shown = [x for x in probs if x[1] > 0] if top <= 0 else probs[:top]
        for name, p in shown:
            lines.append(f"  {name:<26} {p:6.1%}")
    return "\n".join(lines)
