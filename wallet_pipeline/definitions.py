"""The Dagster entry point: `dagster dev -m wallet_pipeline.definitions`."""

from __future__ import annotations

import dagster as dg

from wallet_pipeline import settings
from wallet_pipeline.defs.automation.gates import gate_checks
from wallet_pipeline.defs.automation.jobs import jobs_for, persona_retrain_job
from wallet_pipeline.defs.automation.policy import with_policy
from wallet_pipeline.defs.automation.schedules import schedules_for, sensors_for
from wallet_pipeline.defs.entities.assets import entity_assets, entity_checks
from wallet_pipeline.defs.graph.assets import graph_assets
from wallet_pipeline.defs.ingestion.assets import raw_assets_for
from wallet_pipeline.defs.ingestion.checks import raw_table_checks
from wallet_pipeline.defs.personas.assets import persona_assets, persona_checks
from wallet_pipeline.defs.publish.assets import publish_assets
from wallet_pipeline.defs.publish.runs import dead_run_sensor
from wallet_pipeline.defs.resources import build_resources
from wallet_pipeline.defs.transform.assets import wallet_dbt_models


@dg.definitions
def defs() -> dg.Definitions:
    """All assets, checks, jobs and resources, for the source `WALLET_SOURCE` names."""
    # Every setting is read now, so a bad one stops the run before the first asset writes.
    source = settings.check_all()
    assets = [
        *raw_assets_for(source),
        wallet_dbt_models,
        *persona_assets(source),
        *graph_assets,
        *entity_assets(source),
        *publish_assets,
    ]
    jobs = jobs_for(source)
    return dg.Definitions(
        assets=dg.map_asset_specs(with_policy, assets),
        asset_checks=[*raw_table_checks, *persona_checks, *entity_checks, *gate_checks],
        jobs=[*jobs, persona_retrain_job],
        schedules=schedules_for(source, jobs),
        sensors=[*sensors_for(source, jobs), dead_run_sensor],
        resources=build_resources(source),
        # DuckDB takes one writing process; steps run one after another in the run's process.
        executor=dg.in_process_executor,
    )
