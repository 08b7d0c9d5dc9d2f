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
