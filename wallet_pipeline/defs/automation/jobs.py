"""Jobs, built from groups and selections rather than lists of keys."""

from __future__ import annotations

import dagster as dg

full_pipeline_job = dg.define_asset_job(
    name="full_pipeline_job",
    selection=dg.AssetSelection.all(),
    description="Everything: raw extracts, dbt models and their checks.",
)


persona_retrain_job = dg.define_asset_job(
    name="persona_retrain_job",
    # The entity steps read personas for their cross view; they do not depend on them, so the
    # retrain refreshes the personas and what declares them upstream (the published snapshot).
    selection=dg.AssetSelection.groups("personas").downstream(),
    description=(
        "Retrain the persona model, promote it behind its check, re-score every wallet and republish; "
        "run by the weekly schedule and the drift sensor."
    ),
    tags={"wallet_pipeline/job": "retrain"},
)


def jobs_for(source: str) -> list[dg.UnresolvedAssetJobDefinition]:
    """The jobs of a source.

    A daily-partitioned source cannot share one job with the unpartitioned models, so Dune gets
    a partitioned ingestion job and a features job.
    """
    if source != "dune":
        return [full_pipeline_job]
    from wallet_pipeline.defs.ingestion.dune_assets import daily_partitions, dune_daily

    daily = dg.AssetSelection.assets(dune_daily)
    return [
        dg.define_asset_job(
            name="dune_daily_ingestion_job",
            selection=daily,
            partitions_def=daily_partitions,
            description="One UTC day from Dune into the raw tables; backfill a range from the UI.",
        ),
        dg.define_asset_job(
            name="features_job",
            selection=dg.AssetSelection.all() - daily,
            description="Reference tables from Dune, then every dbt model and check.",
        ),
    ]


@dg.job(
    name="alert_redelivery_job",
    description=(
        "Sends again the stored alerts a webhook has not received (until WALLET_ALERT_RETRY_HOURS "
        "old); run hourly by alert_redelivery_schedule."
    ),
    tags={"wallet_pipeline/job": "alert_redelivery"},
)
def alert_redelivery_job() -> None:
    """One op: `redeliver_alerts`."""
    from wallet_pipeline.defs.entities.alerts import redeliver_alerts

    redeliver_alerts()
