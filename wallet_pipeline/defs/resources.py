"""Resources, the same for every environment: what differs is the settings they are built from."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource

from wallet_pipeline import settings
from wallet_pipeline.defs.transform.project import wallet_dbt_project
from wallet_pipeline.lib.duckdb_resource import DuckDBFile
from wallet_pipeline.lib.dune import DuneResource
from wallet_pipeline.lib.mlflow_session import MlflowSession


def build_resources(source: str = "simulator") -> dict[str, Any]:
    """The DuckDB file and the dbt CLI, both pointed at `settings.duckdb_path()`; Dune for that source."""
    path = settings.duckdb_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb_config = settings.duckdb_settings()
    # dagster-dbt hands dbt a copy of os.environ; profiles.yml reads these, so dbt opens the
    # same file with the same memory cap as Dagster does.
    os.environ.update(settings.dbt_env())
    resources: dict[str, Any] = {
        "duckdb": DuckDBFile(database=str(path), connection_config=duckdb_config),
        "dbt": DbtCliResource(
            project_dir=wallet_dbt_project(),
            # WALLET_ENV's output, or its `_spark` twin on WALLET_ENGINE=spark (profiles.yml).
            target=settings.dbt_target(),
            dbt_executable=settings.dbt_executable(),
        ),
        # EnvVar when set: a remote tracking URI may carry credentials, which config would show.
        "mlflow": MlflowSession(
            tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI")
            if settings.mlflow_uri_is_set()
            else settings.mlflow_tracking_uri()
        ),
    }
    if source == "dune":
        resources["dune"] = DuneResource(
            # EnvVar keeps the key out of config and the UI. Unset, the resource gets no key and
            # the first Dune asset fails with one line saying what to set, before any request.
            api_key=dg.EnvVar("DUNE_API_KEY") if settings.dune_key_is_set() else "",
            base_url=settings.dune_base_url(),
            query_ids=settings.dune_query_ids(),
            page_size=settings.dune_page_size(),
            max_rows=settings.dune_max_rows(),
            poll_seconds=settings.dune_poll_seconds(),
        )
    return resources
