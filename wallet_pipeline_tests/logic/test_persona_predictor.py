from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from wallet_pipeline.logic.personas import PersonaInputError, train_personas
from wallet_pipeline.logic.personas import predictor as pr
from wallet_pipeline_tests.logic.test_personas import FAST, _table


@pytest.fixture(scope="module")
def model():
    return train_personas(_table(), FAST)[0]


def test_addresses_are_normalised_and_a_malformed_one_is_refused() -> None:
    assert pr.normalise_addresses([" 0xABCDEF0000000000000000000000000000000001 "]) == [
        "0xabcdef0000000000000000000000000000000001"
    ]
    with pytest.raises(PersonaInputError, match="'0x12' is not an address"):
        pr.normalise_addresses(["0x12"])


def test_unknown_addresses_are_reported_by_name() -> None:
    found = pd.DataFrame({"address": ["0xa"]})
    missing = pr.missing_addresses(["0xa", "0xb"], found)
    assert missing == ["0xb"]
    assert str(pr.WalletsNotFound(missing)) == "not found in marts.wallet_features: 0xb"


def test_a_csv_without_features_is_looked_up_and_one_with_them_is_scored(tmp_path: Path, model) -> None:
    only = tmp_path / "addresses.csv"
    only.write_text("address\n0xAA\n")
    table = pr.read_wallets_csv(only)
    assert table["address"].tolist() == ["0xaa"] and pr.needs_lookup(table, model)
    rows = tmp_path / "rows.csv"
    _table().head(3).to_csv(rows, index=False)
    assert not pr.needs_lookup(pr.read_wallets_csv(rows), model)
    # Another table's id column is read as the address (logic/personas/preprocess.detect_id_column).
    other = tmp_path / "other.csv"
    other.write_text("wallet_address,n_txs\n0xAA,3\n")
    assert pr.read_wallets_csv(other)["address"].tolist() == ["0xaa"]
    bad = tmp_path / "bad.csv"
    bad.write_text("label,n_txs\nfoo,3\n")
    with pytest.raises(PersonaInputError, match="bad.csv: no wallet id column"):
        pr.read_wallets_csv(bad)
    with pytest.raises(PersonaInputError, match="does not exist"):
        pr.read_wallets_csv(tmp_path / "missing.csv")


def test_the_printout_names_the_persona_and_every_probability(model) -> None:
    row = _table().iloc[[0]]
    text = pr.format_predictions(model.predict(row), model, "version 3")
    lines = text.splitlines()
    assert lines[0].startswith("persona model version 3: features ")
    pred = model.predict(row).iloc[0]
    assert lines[2] == f"{row.address.iloc[0]}: {pred.persona} (confidence {pred.confidence:.2f})"
    assert len(lines) > 3 and all("%" in line for line in lines[3:])
    with pytest.raises(PersonaInputError, match="--row is not JSON"):
        pr.read_wallet_row("{tx_count: 3")
    assert pr.read_wallet_row('{"tx_count": 3}')["address"].tolist() == ["row"]
