from __future__ import annotations

from pathlib import Path

import pytest

from wallet_pipeline import settings


def test_defaults_run_the_simulator_locally_with_the_file_in_the_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("WALLET_ENV", "WALLET_SOURCE", "WALLET_DUCKDB_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WALLET_DATA_DIR", str(tmp_path))
    assert settings.get_environment() == "local"
    assert settings.get_source() == "simulator"
    assert settings.duckdb_path() == tmp_path.resolve() / "wallet_pipeline.duckdb"


@pytest.mark.parametrize(
    ("name", "value", "reader"),
    [
        ("WALLET_ENV", "staging", settings.get_environment),
        ("WALLET_SOURCE", "bigquery", settings.get_source),
        ("WALLET_DUCKDB_THREADS", "two", settings.duckdb_threads),
        ("WALLET_SIM_WALLETS", "-5", settings.simulator_wallets),
    ],
)
def test_a_value_the_pipeline_cannot_use_is_refused_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, reader
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(settings.SettingsError, match=name):
        reader()


def test_an_unknown_engine_is_refused_naming_the_variable_and_the_engines_there_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WALLET_ENGINE", "trino")
    with pytest.raises(settings.SettingsError) as raised:
        settings.check_all()
    assert str(raised.value) == "WALLET_ENGINE='trino' is not one of duckdb, spark"


@pytest.mark.parametrize(
    ("env", "engine", "target"),
    [
        ("local", "", "local"),
        ("ci", "duckdb", "ci"),
        ("local", "Spark", "local_spark"),
        ("prod", "spark", "prod_spark"),
    ],
)
def test_the_engine_picks_the_dbt_target_of_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: str, engine: str, target: str
) -> None:
    monkeypatch.setenv("WALLET_ENV", env)
    monkeypatch.setenv("WALLET_ENGINE", engine)
    assert settings.dbt_target() == target


def test_every_dbt_target_is_an_output_of_the_profile() -> None:
    import yaml

    profile = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "dbt_project" / "profiles.yml").read_text()
    )
    outputs = profile["wallet_pipeline"]["outputs"]
    expected = {env + suffix for env in settings.ENVIRONMENTS for suffix in ("", "_spark")}
    assert set(outputs) == expected
    assert {outputs[env]["type"] for env in settings.ENVIRONMENTS} == {"duckdb"}
    assert {outputs[env + "_spark"]["type"] for env in settings.ENVIRONMENTS} == {"spark"}


def test_dbt_reads_the_same_file_as_dagster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WALLET_DUCKDB_PATH", str(tmp_path / "x.duckdb"))
    assert settings.dbt_env()["WALLET_DUCKDB_PATH"] == str(tmp_path / "x.duckdb")


def test_dbt_sets_the_spill_folder_once_when_the_database_opens() -> None:
    # dbt-duckdb re-applies `settings` on every cursor; once a model has spilled, DuckDB refuses to
    # switch temp_directory ("Cannot switch temporary directory after the current one has been
    # used") and every later model fails. Measured with a 300MB limit on 200,000 simulated wallets.
    import yaml

    profile = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "dbt_project" / "profiles.yml").read_text()
    )
    local = profile["wallet_pipeline"]["outputs"]["local"]
    assert "temp_directory" in local["config_options"]
    assert "temp_directory" not in local["settings"]


@pytest.mark.parametrize(
    ("name", "value", "read"),
    [
        ("WALLET_GATE_MAX_ROW_DROP", "1.5", settings.gate_max_row_drop),
        ("WALLET_GATE_MAX_SINGLE_VALUE_SHARE", "most", settings.gate_max_single_value_share),
        ("WALLET_ALERT_MIN_RISK", "120", settings.alert_min_risk),
        ("WALLET_FRESHNESS_HOURS", "-3", settings.freshness_hours),
        ("WALLET_API_PORT", "http", settings.api_port),
        ("WALLET_DRIFT_PSI", "0", settings.drift_thresholds),
        ("WALLET_API_KEYS", "alice:not-a-digest", settings.api_keys),
    ],
)
def test_an_automation_setting_out_of_range_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, read
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(settings.SettingsError, match=name):
        read()


def test_automation_settings_have_their_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "WALLET_GATE_MAX_ROW_DROP",
        "WALLET_ALERT_MIN_RISK",
        "WALLET_FRESHNESS_HOURS",
        "WALLET_API_PORT",
    ):
        monkeypatch.delenv(name, raising=False)
    assert settings.gate_max_row_drop() == 0.5
    assert settings.alert_min_risk() == 75.0
    assert settings.freshness_hours() == 48
    assert settings.api_port() == 8800


BAD_SETTINGS = [
    ("WALLET_ALERT_WEBHOOKS", "slack:high=https://hooks.slack.com/services/T0/B0/SECRET"),
    ("WALLET_ALERT_WEBHOOKS", "generic:50=ftp://siem.example.org/in"),
    ("WALLET_ALERT_MIN_RISK", "high"),
    ("WALLET_ALERT_RETRY_HOURS", "0"),
    ("WALLET_GATE_MAX_ROW_DROP", "2"),
    ("WALLET_RETRAIN_CRON", "every monday"),
    ("WALLET_DRIFT_PSI", "-1"),
    ("WALLET_SOURCE", "bigquery"),
    ("WALLET_SIM_WALLETS", "many"),
]


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_the_definitions_refuse_to_load_with_a_bad_setting_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str
) -> None:
    from wallet_pipeline.definitions import defs

    monkeypatch.setenv("WALLET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(name, value)
    with pytest.raises(settings.SettingsError, match=name) as raised:
        defs()
    assert "SECRET" not in str(raised.value)


def test_a_data_folder_that_is_a_file_is_refused_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "taken").write_text("not a folder")
    monkeypatch.setenv("WALLET_DATA_DIR", str(tmp_path / "taken" / "data"))
    with pytest.raises(settings.SettingsError, match="WALLET_DATA_DIR"):
        settings.check_all()


def test_the_alert_retry_window_defaults_to_72_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WALLET_ALERT_RETRY_HOURS", raising=False)
    assert settings.alert_retry_hours() == 72.0


def test_a_malformed_webhook_spec_stops_materialize_before_any_asset_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from wallet_pipeline.cli import main

    for name in ("WALLET_DUCKDB_PATH", "WALLET_SNAPSHOT_DIR", "WALLET_FLAGS_PATH", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WALLET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("WALLET_SOURCE", "simulator")
    monkeypatch.setenv("WALLET_SIM_WALLETS", "1500")
    monkeypatch.setenv("WALLET_ALERT_WEBHOOKS", "slack:75=https://hooks.slack.com/services/T0/B0/SECRET;oops")
    assert main(["materialize"]) == 2
    err = capsys.readouterr().err
    assert "WALLET_ALERT_WEBHOOKS" in err and "entry 2" in err and "SECRET" not in err
    # No asset ran: no raw table, no persona model, no MLflow store.
    assert not (tmp_path / "data" / "wallet_pipeline.duckdb").exists()
    assert not (tmp_path / "data" / "mlflow").exists()
