from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from wallet_pipeline.lib.mlflow_session import DAGSTER_RUN_TAG, MlflowSession, default_tracking_uri


@pytest.fixture
def session(tmp_path: Path) -> MlflowSession:
    return MlflowSession(tracking_uri=default_tracking_uri(tmp_path), experiment="test")


def test_the_default_store_is_a_sqlite_file_in_the_data_folder_with_artifacts_beside_it(
    session: MlflowSession, tmp_path: Path
) -> None:
    with session.run("personas/persona_model", "abcdef123456") as run:
        mlflow.log_text("hello", "note.txt")
    assert (tmp_path / "mlflow" / "mlflow.db").exists()
    assert (tmp_path / "mlflow" / "artifacts").is_dir()
    assert mlflow.get_run(run.info.run_id).data.tags[DAGSTER_RUN_TAG] == "abcdef123456"


def test_a_retried_step_resumes_its_mlflow_run(session: MlflowSession) -> None:
    with session.run("personas/persona_model", "run-one-xxxx") as first:
        mlflow.log_metric("attempt", 1)
    with session.run("personas/persona_model", "run-one-xxxx") as again:
        mlflow.log_metric("attempt", 2)
    with session.run("personas/persona_model", "run-two-xxxx") as other:
        pass
    assert again.info.run_id == first.info.run_id != other.info.run_id
    assert mlflow.get_run(first.info.run_id).info.run_name == "personas.persona_model-run-one-"


def test_promotion_moves_the_champion_alias(session: MlflowSession) -> None:
    from sklearn.dummy import DummyClassifier

    assert session.champion_version("wallet_personas") is None
    versions = []
    for constant in (0, 1):
        with session.run("personas/persona_model", f"run-{constant}-xxxxx"):
            model = DummyClassifier(strategy="constant", constant=constant).fit([[0], [1]], [0, 1])
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name="wallet_personas")
            versions.append(str(info.registered_model_version))
    session.promote("wallet_personas", versions[0])
    assert session.champion_version("wallet_personas") == versions[0]
    session.promote("wallet_personas", versions[1])
    champion = mlflow.sklearn.load_model("models:/wallet_personas@champion")
    assert champion.predict([[5]])[0] == 1


def test_pointing_mlflow_at_a_store_leaves_the_environment_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wallet_pipeline import settings
    from wallet_pipeline.lib.mlflow_session import point_mlflow_at

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("WALLET_DATA_DIR", str(tmp_path / "b"))
    point_mlflow_at(default_tracking_uri(tmp_path / "a"))
    assert mlflow.get_tracking_uri() == default_tracking_uri(tmp_path / "a")
    # MLflow exports the URI it is given; a second data folder in this process must not inherit it.
    assert not settings.mlflow_uri_is_set()
    assert settings.mlflow_tracking_uri() == default_tracking_uri(tmp_path / "b")
