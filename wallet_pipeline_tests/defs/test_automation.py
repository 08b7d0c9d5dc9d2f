"""Schedules and sensors of the automation: what they request, and when they stay quiet."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from wallet_pipeline import settings
from wallet_pipeline.defs.automation.jobs import full_pipeline_job, persona_retrain_job
from wallet_pipeline.defs.automation.schedules import (
    alert_redelivery_schedule,
    export_folder_sensor,
    weekly_persona_retrain,
)
from wallet_pipeline.logic.ingestion.etl_files.discover import folder_fingerprint


def test_the_weekly_retrain_runs_on_monday_at_midnight_utc_and_tags_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WALLET_RETRAIN_CRON", raising=False)
    schedule = weekly_persona_retrain(persona_retrain_job)
    assert schedule.cron_schedule == "0 0 * * 1" and schedule.execution_timezone == "UTC"
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 23, tzinfo=UTC))
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.tags["wallet_pipeline/trigger"] == "weekly_retrain"
    assert schedule.job_name == "persona_retrain_job"


def test_the_retrain_schedule_follows_its_setting_and_refuses_a_bad_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WALLET_RETRAIN_CRON", "30 2 * * 0")
    assert weekly_persona_retrain(persona_retrain_job).cron_schedule == "30 2 * * 0"
    monkeypatch.setenv("WALLET_RETRAIN_CRON", "every monday")
    with pytest.raises(settings.SettingsError, match="WALLET_RETRAIN_CRON"):
        weekly_persona_retrain(persona_retrain_job)


def test_the_retrain_job_takes_the_persona_group() -> None:
    from wallet_pipeline.definitions import defs

    job = defs().resolve_job_def("persona_retrain_job")
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {"personas/persona_model", "personas/wallet_personas", "personas/persona_profiles"} <= keys
    assert not any(k.startswith("raw/") for k in keys)


def _export(folder: Path, rows: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "transactions.csv").write_text("hash,from_address\n" + rows)


def test_the_export_folder_sensor_runs_once_per_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "export"
    _export(folder, "0x1,0xa\n")
    monkeypatch.setenv("WALLET_FILES_DIR", str(folder))
    sensor = export_folder_sensor(full_pipeline_job)
    first = sensor.evaluate_tick(dg.build_sensor_context(cursor=None))
    [request] = first.run_requests
    assert request.tags["wallet_pipeline/trigger"] == "export_folder_changed"
    again = sensor.evaluate_tick(dg.build_sensor_context(cursor=first.cursor))
    assert not again.run_requests and "unchanged" in again.skip_message
    _export(folder, "0x1,0xa\n0x2,0xb\n")
    changed = sensor.evaluate_tick(dg.build_sensor_context(cursor=first.cursor))
    assert len(changed.run_requests) == 1 and changed.cursor != first.cursor


def test_the_export_folder_sensor_skips_with_a_reason_when_the_folder_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WALLET_FILES_DIR", str(tmp_path / "nowhere"))
    result = export_folder_sensor(full_pipeline_job).evaluate_tick(dg.build_sensor_context())
    assert not result.run_requests and "does not exist" in result.skip_message


def test_the_folder_fingerprint_ignores_hidden_and_non_data_files(tmp_path: Path) -> None:
    _export(tmp_path, "0x1,0xa\n")
    before = folder_fingerprint(tmp_path)
    (tmp_path / ".DS_Store").write_text("x")
    (tmp_path / "README.txt").write_text("notes")
    assert folder_fingerprint(tmp_path) == before
    os.utime(tmp_path / "transactions.csv", ns=(1, 1))
    assert folder_fingerprint(tmp_path) != before


@pytest.mark.dbt
def test_new_raw_data_requests_everything_downstream_and_no_retrain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WALLET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WALLET_DUCKDB_PATH", str(tmp_path / "wallet_pipeline.duckdb"))
    monkeypatch.setenv("WALLET_SOURCE", "simulator")
    from wallet_pipeline.definitions import defs

    definitions = defs()
    instance = dg.DagsterInstance.ephemeral()
    raw = [
        k
        for k in definitions.resolve_asset_graph().get_all_asset_keys()
        if k.path[0] in ("raw", "ground_truth")
    ]
    job = definitions.resolve_job_def("full_pipeline_job")

    def land(seed: int) -> None:
        config = {"ops": {"simulated_chain": {"config": {"n_wallets": 300, "seed": seed}}}}
        assert job.execute_in_process(instance=instance, asset_selection=raw, run_config=config).success

    land(1)
    baseline = dg.evaluate_automation_conditions(defs=definitions, instance=instance)
    land(2)
    result = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=baseline.cursor)
    requested = {
        key: result.get_num_requested(dg.AssetKey(key.split("/")))
        for key in (
            "marts/wallet_features",
            "graph/wallet_edges",
            "entities/clusters",
            "entities/wallet_risk",
        )
    }
    assert all(n == 1 for n in requested.values()), requested
    assert result.get_num_requested(dg.AssetKey(["personas", "persona_model"])) == 0
    assert result.get_num_requested(dg.AssetKey(["raw", "transactions"])) == 0


def test_the_alert_redelivery_schedule_runs_hourly_only_when_webhooks_are_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schedule = alert_redelivery_schedule()
    assert schedule.job_name == "alert_redelivery_job" and schedule.cron_schedule == "23 * * * *"
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 23, 5, 23, tzinfo=UTC))
    monkeypatch.delenv("WALLET_ALERT_WEBHOOKS", raising=False)
    assert "WALLET_ALERT_WEBHOOKS is not set" in schedule.evaluate_tick(context).skip_message
    monkeypatch.setenv("WALLET_ALERT_WEBHOOKS", "generic:80=https://siem.example.org/in")
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.tags["wallet_pipeline/trigger"] == "alert_redelivery"
