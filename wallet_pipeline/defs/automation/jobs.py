"""Jobs, built from groups and selections rather than lists of keys."""

from __future__ import annotations

import dagster as dg

full_pipeline_job = dg.define_asset_job(
    name="full_pipeline_job",
    selection=dg.AssetSelection.all(),
    description="Everything: raw extracts, dbt models and their checks.",
)
