"""Resources, the same for every environment: what differs is the settings they are built from."""

from __future__ import annotations

import os
from typing import Any

from dagster_dbt import DbtCliResource

from wallet_pipeline import settings
from wallet_pipeline.defs.transform.project import wallet_dbt_project
from wallet_pipeline.lib.duckdb_resource import DuckDBFile


def build_resources() -> dict[str, Any]:
    """The DuckDB file and the dbt CLI, both pointed at `settings.duckdb_path()`."""
    path = settings.duckdb_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb_config = settings.duckdb_settings()
    # dagster-dbt hands dbt a copy of os.environ; profiles.yml reads these, so dbt opens the
    # same file with the same memory cap as Dagster does.
    os.environ.update(settings.dbt_env())
    return {
        "duckdb": DuckDBFile(database=str(path), connection_config=duckdb_config),
        "dbt": DbtCliResource(
            project_dir=wallet_dbt_project(),
            target=settings.get_environment(),
            dbt_executable=settings.dbt_executable(),
        ),
    }
