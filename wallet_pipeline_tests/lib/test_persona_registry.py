"""The persona model through the real MLflow: logged, registered, promoted, loaded, refused."""

from __future__ import annotations

import pickle
from pathlib import Path

import mlflow
import pytest

from wallet_pipeline.lib.mlflow_session import MlflowSession, default_tracking_uri
from wallet_pipeline.lib.persona_registry import (
    MODEL_NAME,
    PersonaModelUnavailable,
    load_model_file,
    load_persona_model,
    log_persona_model,
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
