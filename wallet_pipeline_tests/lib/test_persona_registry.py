"""The persona model through the real MLflow: logged, registered, promoted, loaded, refused."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from wallet_pipeline.lib.mlflow_session import MlflowSession, default_tracking_uri
from wallet_pipeline.lib.persona_registry import (
    MODEL_NAME,
    SCHEMA_ROWS,
    PersonaModelUnavailable,
    load_model_file,
    load_persona_model,
    log_persona_model,
    training_dataset,
    version_scorecard,
)
from wallet_pipeline.logic.personas import PersonaInputError, train_personas
from wallet_pipeline_tests.logic.test_personas import FAST, _table


@pytest.fixture(scope="module")
def trained():
    table = _table()
    return table, *train_personas(table, FAST)


def test_a_logged_model_is_registered_scores_like_the_original_and_loads_once_promoted(
    tmp_path: Path, trained
) -> None:
    table, model, report = trained
    session = MlflowSession(tracking_uri=default_tracking_uri(tmp_path))
    with pytest.raises(PersonaModelUnavailable, match="no promoted persona model"):
        load_persona_model(session.tracking_uri)
    with session.run("personas/persona_model", "dagster-run-1") as run:
        version = log_persona_model(model, report, {"radar.png": b"\x89PNG fake"})
    assert version == "1"
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "selection")}
    assert artifacts == {"selection/selection_table.csv", "selection/served_model.json"}
    card = version_scorecard(session.tracking_uri, version)
    # Promotion compares the served model: the refined winner, not its row of the selection table.
    assert report.final["refined"]
    assert card["silhouette"] == pytest.approx(report.final["silhouette"])
    assert card["stability"] == pytest.approx(report.final["stability"])

    session.promote(MODEL_NAME, version)
    loaded, loaded_version = load_persona_model(session.tracking_uri)
    assert loaded_version == "1"
    assert loaded.predict(table).equals(model.predict(table))
    # Any MLflow client scores through the pyfunc flavour, with the same output.
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")
    assert pyfunc.predict(table).equals(model.predict(table))
    with pytest.raises(PersonaModelUnavailable, match="no version or alias '7'"):
        load_persona_model(session.tracking_uri, "7")


def test_a_model_file_that_is_missing_not_a_model_or_trained_on_other_features_is_refused(
    tmp_path: Path, trained
) -> None:
    table, model, _ = trained
    with pytest.raises(PersonaModelUnavailable, match="does not exist"):
        load_model_file(tmp_path / "nope.pkl")
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"not": "a model"}))
    with pytest.raises(PersonaModelUnavailable, match="holds a dict, not a persona model"):
        load_model_file(other)
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"plain text")
    with pytest.raises(PersonaModelUnavailable, match="is not a persona model file"):
        load_model_file(garbage)
    good = tmp_path / "model.pkl"
    good.write_bytes(pickle.dumps(model))
    with pytest.raises(
        PersonaInputError, match="lack columns the model was trained on: \\['nft_transfers'\\]"
    ):
        load_model_file(good).predict(table.drop(columns=["nft_transfers"]))


def test_the_training_dataset_has_mlflows_schema_and_row_count_and_a_digest_of_every_row() -> None:
    table = _table()
    # Missing values only far past the rows the schema is read from: still not "required".
    table["late_gap"] = 1.0
    table.loc[len(table) - 1, "late_gap"] = None
    table = pd.concat([table] * (SCHEMA_ROWS // len(table) + 2), ignore_index=True)
    table["address"] = [f"0x{i:040x}" for i in range(len(table))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = mlflow.data.from_pandas(table, source="marts.wallet_features", name="marts.wallet_features")
    ours = training_dataset(table, "marts.wallet_features")
    assert ours.to_dict()["schema"] == theirs.to_dict()["schema"]
    assert ours.profile == theirs.profile == {"num_rows": len(table), "num_elements": table.size}
    assert '"required": false' in ours.to_dict()["schema"].split('"late_gap"')[1].split("}")[0]
    # A change in the last row, past the 10,000 rows MLflow's own digest reads, changes the digest.
    changed = table.copy()
    changed.loc[len(changed) - 1, "tx_count"] += 1
    assert training_dataset(changed, "x").digest != ours.digest
    assert training_dataset(table.copy(), "x").digest == ours.digest
