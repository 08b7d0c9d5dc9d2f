from __future__ import annotations

from pathlib import Path

import pytest

from wallet_pipeline.cli import main


def test_where_prints_the_duckdb_file_and_data_folder(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["where"]) == 0
    out = capsys.readouterr().out
    assert str(data_dir / "wallet_pipeline.duckdb") in out
    assert (data_dir / "dagster_home" / "dagster.yaml").read_text().startswith("telemetry:")


def test_a_setting_the_pipeline_cannot_use_is_one_line_and_exit_code_2(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("WALLET_DUCKDB_THREADS", "many")
    assert main(["materialize"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: WALLET_DUCKDB_THREADS='many' is not a positive whole number"
