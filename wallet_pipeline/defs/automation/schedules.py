"""Schedules and the files-folder sensor: when each part of the graph runs without anyone asking.

- `weekly_persona_retrain`: retrains the persona model and re-scores what reads it
  (`WALLET_RETRAIN_CRON`, Monday 00:00 UTC by default).
- Dune: `dune_daily_schedule` loads each new UTC day's partition shortly after the day ends; the
  models downstream follow through their automation conditions.
- Files: `export_folder_sensor` runs the whole graph when the export folder's files change.

- `alert_redelivery_schedule`: every hour, sends again the alerts a webhook has not received, so
  an alert reaches a webhook that was down without waiting for the next pipeline run (skipped
  when `WALLET_ALERT_WEBHOOKS` is unset).

- `wallet_automation`: evaluates the assets' automation conditions (`policy.py`), so what is
  downstream of new data updates.

All of them are on by default and run when the Dagster daemon runs (`python3 dev.py ui` starts
one); turn any off in the UI (Automation tab) or with `dagster schedule stop` / `dagster sensor stop`.
"""

from __future__ import annotations

import dagster as dg

from wallet_pipeline import settings

RETRAIN_TAGS = {"wallet_pipeline/trigger": "weekly_retrain"}


def weekly_persona_retrain(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    """The weekly retrain of the persona model on `job` (the personas group and what it feeds)."""
    return dg.ScheduleDefinition(
        name="weekly_persona_retrain",
        job=job,
        cron_schedule=settings.retrain_cron(),
        execution_timezone="UTC",
        tags=RETRAIN_TAGS,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            "Retrains the persona model on the current features; the promotion check decides whether "
            "it replaces the champion, and everything that reads personas is re-scored."
        ),
    )


def dune_daily_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    """Each UTC day's partition, an hour after the day ends (Dune's tables lag the chain a little)."""
    return dg.build_schedule_from_partitioned_job(
        job,
        name="dune_daily_schedule",
        hour_of_day=1,
        minute_of_hour=0,
        tags={"wallet_pipeline/trigger": "daily"},
    )


def export_folder_sensor(job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    """Runs `job` when the files of the export folder change (added, removed or rewritten)."""

    @dg.sensor(
        name="export_folder_sensor",
        job=job,
        minimum_interval_seconds=300,
        description="Runs the whole graph when the ethereum-etl export folder changes.",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        from wallet_pipeline.logic.ingestion.etl_files.discover import folder_fingerprint
        from wallet_pipeline.logic.ingestion.etl_files.report import EtlFilesError

        folder = settings.files_dir()
        if folder is None:
            return dg.SkipReason("WALLET_FILES_DIR is not set: no export folder to watch")
        try:
            fingerprint = folder_fingerprint(folder)
        except EtlFilesError as exc:
            return dg.SkipReason(str(exc))
        if fingerprint == context.cursor:
            return dg.SkipReason(f"{folder} unchanged since the last run it requested")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"files-{fingerprint}",
                    tags={
                        "wallet_pipeline/trigger": "export_folder_changed",
                        "wallet_pipeline/fingerprint": fingerprint,
                    },
                )
            ],
            cursor=fingerprint,
        )

    return _sensor


# Hourly: over the 72 h retry window a webhook down for a weekend gets 72 more chances, and a
# retry costs one short run when nothing waits.
ALERT_REDELIVERY_CRON = "23 * * * *"


def alert_redelivery_schedule() -> dg.ScheduleDefinition:
    """Runs `alert_redelivery_job` every hour when webhooks are configured."""
    from wallet_pipeline.defs.automation.jobs import alert_redelivery_job

    @dg.schedule(
        name="alert_redelivery_schedule",
        job=alert_redelivery_job,
        cron_schedule=ALERT_REDELIVERY_CRON,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Sends again, every hour, the stored alerts a webhook has not received.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        if not settings.alert_webhooks():
            return dg.SkipReason("WALLET_ALERT_WEBHOOKS is not set: no webhook to send alerts to")
        return dg.RunRequest(tags={"wallet_pipeline/trigger": "alert_redelivery"})

    return _schedule


def schedules_for(source: str, jobs: list[dg.UnresolvedAssetJobDefinition]) -> list[dg.ScheduleDefinition]:
    """The weekly retrain and the hourly alert redelivery for every source, and Dune's daily load."""
    from wallet_pipeline.defs.automation.jobs import persona_retrain_job

    schedules = [weekly_persona_retrain(persona_retrain_job), alert_redelivery_schedule()]
    if source == "dune":
        daily = next(j for j in jobs if j.name == "dune_daily_ingestion_job")
        schedules.append(dune_daily_schedule(daily))
    return schedules


automation_sensor = dg.AutomationConditionSensorDefinition(
    "wallet_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Updates assets whose automation condition is met: what is downstream of new data.",
)


def sensors_for(source: str, jobs: list[dg.UnresolvedAssetJobDefinition]) -> list[dg.SensorDefinition]:
    """The automation and drift sensors; the export-folder sensor for the files source."""
    from wallet_pipeline.defs.automation.sensors import build_persona_drift_sensor

    sensors: list[dg.SensorDefinition] = [
        automation_sensor,
        build_persona_drift_sensor(settings.drift_thresholds()),
    ]
    if source == "files":
        sensors.append(export_folder_sensor(next(j for j in jobs if j.name == "full_pipeline_job")))
    return sensors
