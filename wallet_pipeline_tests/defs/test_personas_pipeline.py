"""Personas through Dagster, with the real dbt, DuckDB and MLflow, on a small simulated chain."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import mlflow
import numpy as np
import pytest

from wallet_pipeline.lib.persona_registry import MODEL_NAME
from wallet_pipeline.logic.personas import RULE_PERSONAS
from wallet_pipeline_tests.defs.runs import Run, execute

pytestmark = [pytest.mark.dbt, pytest.mark.slow]

PERSONA_KEYS = [
    dg.AssetKey(["personas", name])
    for name in ("persona_model", "wallet_personas", "persona_profiles", "persona_evaluation")
]


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.DagsterInstance]:
    """A local instance like a user's DAGSTER_HOME: it keeps compute logs (and the plots beside them)."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as local:
        yield local


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("personas")
    config = {"ops": {"simulated_chain": {"config": {"n_wallets": 1_500, "seed": 11}}}}
    yield Run(folder, execute(folder, config, instance=instance))


def _client(folder: Path) -> mlflow.MlflowClient:
    uri = f"sqlite:///{folder / 'mlflow' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    return mlflow.MlflowClient(uri, registry_uri=uri)


def test_the_first_model_is_registered_promoted_and_scores_every_wallet(first: Run) -> None:
    assert first.result.success
    promotion = [
        e for e in first.result.get_asset_check_evaluations() if e.check_name == "persona_model_promotion"
    ]
    assert len(promotion) == 1 and promotion[0].passed
    client = _client(first.folder)
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == "1"

    scored = first.sql("select * from personas.wallet_personas")
    features = first.sql("select address, is_contract from marts.wallet_features")
    assert sorted(scored["address"]) == sorted(features["address"])
    assert set(scored["model_version"]) == {"1"}
    probs = scored.filter(like="p_")
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert np.allclose(probs.max(axis=1), scored["confidence"])
    contracts = scored.merge(features, on="address").query("is_contract")
    assert (contracts["persona"] == "Contract").all() and len(contracts) > 0
    # Not the degenerate all-certain output: modelled wallets spread their probability.
    modelled = scored[~scored["persona"].isin(RULE_PERSONAS)]
    assert modelled["confidence"].quantile(0.1) < 0.99

    profiles = first.sql("select * from personas.persona_profiles")
    assert set(profiles["persona"]) <= set(scored["persona"])
    # One distinct name per cluster to read, each beginning with the persona it serves.
    shown = profiles.drop_duplicates("cluster")
    assert shown["cluster_name"].is_unique
    assert all(n.startswith(p) for n, p in zip(shown["cluster_name"], shown["persona"], strict=True))
    evaluation = first.sql("select * from personas.persona_evaluation")
    assert evaluation["ari"].iloc[0] > 0.3  # a persona model that agrees with the truth, not a random one
    # Confidence against the truth, on exactly the wallets the model decided.
    reliability = first.sql("select * from personas.persona_reliability")
    assert reliability["wallets"].sum() == len(modelled)
    assert ((reliability["accuracy"] >= 0) & (reliability["accuracy"] <= 1)).all()
    run = client.get_run(client.get_model_version(MODEL_NAME, "1").run_id)
    assert run.data.tags["dagster.run_id"] == first.result.run_id
    assert {"silhouette", "stability", "ece_heldout", "eval_ari", "eval_confidence_ece_vs_truth"} <= set(
        run.data.metrics
    )
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {"plots/projection.png", "plots/persona_radar.png"}


def test_a_refused_model_keeps_the_champion_and_a_retrain_keeps_the_names(first: Run) -> None:
    before = first.sql("select address, persona from personas.wallet_personas order by address")
    impossible = {
        "ops": {
            "personas__persona_model": {"config": {"seed": 1}},
            # The new model would have to beat the champion's silhouette by 1.0: it cannot.
            "personas__persona_model_persona_model_promotion": {"config": {"silhouette_margin": -1.0}},
        }
    }
    refused = execute(first.folder, impossible, PERSONA_KEYS[:3])
    check = [e for e in refused.get_asset_check_evaluations() if e.check_name == "persona_model_promotion"]
    assert len(check) == 1 and not check[0].passed
    client = _client(first.folder)
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == "1"
    # The blocking check stopped scoring: the stored personas are the champion's, untouched.
    assert not any(e.asset_key == PERSONA_KEYS[1] for e in refused.get_asset_materialization_events())
    same = first.sql("select address, persona from personas.wallet_personas order by address")
    assert same.equals(before)

    # Scores of 1,500 wallets move with the seed by more than the margins; the default seed is
    # the schedule's retrain on unchanged data, which must be promoted and scored.
    promoted = execute(first.folder, {}, PERSONA_KEYS[:3])
    verdict = [e for e in promoted.get_asset_check_evaluations() if e.check_name == "persona_model_promotion"]
    assert promoted.success, verdict[0].description if verdict else "no promotion check ran"
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == "3"
    after = first.sql("select address, persona, model_version from personas.wallet_personas order by address")
    assert set(after["model_version"]) == {"3"}
    kept = (after["persona"].to_numpy() == before["persona"].to_numpy()).mean()
    assert kept >= 0.95


def test_the_command_line_predictor_prints_the_champions_personas(
    first: Run, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from wallet_pipeline.cli import main

    monkeypatch.setenv("WALLET_DATA_DIR", str(first.folder))
    monkeypatch.setenv("WALLET_DUCKDB_PATH", str(first.db))
    monkeypatch.setenv("DAGSTER_HOME", str(first.folder / "dagster_home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    scored = first.sql(
        "select * from personas.wallet_personas where persona = 'Active Retail Trader' limit 1"
    )
    address = scored["address"].iloc[0]
    assert main(["persona", address.upper().replace("0X", "0x")]) == 0
    out = capsys.readouterr().out
    version = scored["model_version"].iloc[0]
    assert out.startswith(f"persona model version {version} (champion): features ")
    assert f"{address}: Active Retail Trader (confidence {scored['confidence'].iloc[0]:.2f})" in out

    unknown = "0x" + "ab" * 20
    assert main(["persona", unknown]) == 1
    assert capsys.readouterr().err.strip() == f"error: not found in marts.wallet_features: {unknown}"
    assert main(["persona", "0x12"]) == 1
    assert "'0x12' is not an address" in capsys.readouterr().err
    assert main(["persona", address, "--model-file", str(first.folder / "nope.pkl")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_the_promoted_model_carries_the_drift_reference_of_its_training_features(first: Run) -> None:
    from wallet_pipeline.lib.persona_registry import load_drift_reference

    reference = load_drift_reference(f"sqlite:///{first.folder / 'mlflow' / 'mlflow.db'}")
    champion = _client(first.folder).get_model_version_by_alias(MODEL_NAME, "champion").version
    assert reference is not None and reference["model_version"] == str(champion)
    features = first.sql("select count(*) n from marts.wallet_features")
    assert reference["rows"] == int(features["n"][0])
    assert set(reference["columns"]) >= {"forwarded_to_eoa_6h_share", "nft_trade_share"}


def test_the_model_shows_its_pictures_inline_links_its_mlflow_run_and_says_how_long_training_takes(
    first: Run, instance: dg.DagsterInstance
) -> None:
    materializations = {
        e.asset_key: e.materialization for e in first.result.get_asset_materialization_events()
    }
    model = materializations[PERSONA_KEYS[0]].metadata
    profiles = materializations[PERSONA_KEYS[2]].metadata
    run_id = model["mlflow_run_id"].value
    experiment = _client(first.folder).get_run(run_id).info.experiment_id
    assert isinstance(model["mlflow_run"], dg.UrlMetadataValue)
    assert model["mlflow_run"].value == (
        f"http://127.0.0.1:5000/#/experiments/{experiment}/runs/{run_id}?workflowType=machine_learning"
    )
    for picture in (model["projection"], model["radar"], profiles["radar"]):
        # Short enough for the UI to draw it in the metadata table (it hides 1,000+ characters).
        assert len(picture.value) < 1000, picture.value[:100]
        found = re.fullmatch(r"!\[[^\]]+\]\(/logs/(.+)/png\)", picture.value)
        assert found, picture.value
        key = found.group(1).split("/")
        assert key[0] == first.result.run_id
        png = Path(instance.compute_log_manager.get_captured_local_path(key, "png")).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
    logs = [e.user_message for e in instance.all_logs(first.result.run_id) if e.step_key]
    wallets = int(first.sql("select count(*) n from marts.wallet_features")["n"][0])
    estimate = [
        m for m in logs if m.startswith(f"Progress: training the persona model on {wallets:,} wallets")
    ]
    assert len(estimate) == 1, logs[:5]


def test_the_registry_describes_the_model_its_versions_and_the_training_data(first: Run) -> None:
    client = _client(first.folder)
    registered = client.get_registered_model(MODEL_NAME)
    assert registered.description.startswith("Personas of Ethereum wallets")
    version = client.get_model_version(MODEL_NAME, "1")
    wallets = int(first.sql("select count(*) n from marts.wallet_features")["n"][0])
    assert version.description.startswith(f"Trained on {wallets:,} wallets of marts.wallet_features")
    assert "Silhouette 0." in version.description and "Winner: " in version.description
    ari = float(first.sql("select ari from personas.persona_evaluation limit 1")["ari"][0])
    assert f"adjusted Rand index {ari:.3f} over " in version.description
    run = client.get_run(version.run_id)
    (dataset,) = [d.dataset for d in run.inputs.dataset_inputs]
    assert dataset.name == "marts.wallet_features"
    assert '"num_rows": ' + str(wallets) in dataset.profile
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_a_model_of_another_export_is_not_compared_with_a_champion_of_other_data(first: Run) -> None:
    from wallet_pipeline.lib.persona_registry import FEED_TAG
    from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, write_etl_files

    export = first.folder / "other_export"
    write_etl_files(SimulatorConfig(seed=12, n_wallets=1_000), export, fmt="csv")
    client = _client(first.folder)
    champion = str(client.get_model_version_by_alias(MODEL_NAME, "champion").version)
    strict = {
        "ops": {"personas__persona_model_persona_model_promotion": {"config": {"silhouette_margin": -1.0}}}
    }
    selection = dg.AssetSelection.assets(*PERSONA_KEYS[:3]).upstream().required_multi_asset_neighbors()

    other = execute(
        first.folder,
        strict,
        selection,
        env={"WALLET_SOURCE": "files", "WALLET_FILES_DIR": str(export)},
    )

    verdict = [e for e in other.get_asset_check_evaluations() if e.check_name == "persona_model_promotion"]
    assert other.success, verdict[0].description if verdict else "no promotion check ran"
    assert "not compared" in verdict[0].description
    new = client.get_model_version_by_alias(MODEL_NAME, "champion")
    assert str(new.version) != champion
    assert client.get_run(new.run_id).data.tags[FEED_TAG] == f"files:{export.resolve()}"
    assert (
        client.get_run(client.get_model_version(MODEL_NAME, champion).run_id).data.tags[FEED_TAG]
        == "simulator"
    )
