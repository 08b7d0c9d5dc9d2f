"""The dbt project, with its manifest parsed before the definitions load."""

from __future__ import annotations

from functools import cache

from dagster_dbt import DbtCliResource, DbtProject

from wallet_pipeline import settings


@cache
def wallet_dbt_project() -> DbtProject:
    """The dbt project; outside prod the manifest is re-parsed on load so edits to models show.

    dbt's partial parsing makes the re-parse take a few seconds. In prod the manifest is built
    ahead of time with
    `dagster-dbt project prepare-and-package --file wallet_pipeline/defs/transform/project.py`.
    """
    project = DbtProject(
        project_dir=settings.DBT_PROJECT_DIR,
        profiles_dir=settings.DBT_PROJECT_DIR,
        target=settings.get_environment(),
    )
    if settings.get_environment() != "prod" or not project.manifest_path.exists():
        dbt = DbtCliResource(project_dir=project, dbt_executable=settings.dbt_executable())
        dbt.cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project
