"""The dbt project, with its manifest parsed before the definitions load."""

from __future__ import annotations

import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

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
        _parse(project)
    return project


def _parse(project: DbtProject) -> None:
    """Write the manifest without another process ever reading half of it.

    Processes that load the definitions at once (test workers, the UI and a CLI run) all parse:
    each parses into a folder of its own and renames its manifest into place, which is atomic.
    """
    target = Path(project.project_dir) / project.target_path  # as is when already absolute
    target.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="parse-", dir=target))
    try:
        partial = target / "partial_parse.msgpack"
        if partial.exists():
            shutil.copy2(partial, work / partial.name)  # keeps dbt's partial parsing fast
        dbt = DbtCliResource(project_dir=project, dbt_executable=settings.dbt_executable())
        dbt.cli(["parse", "--quiet"], target_path=work).wait()
        if (work / partial.name).exists():
            os.replace(work / partial.name, partial)
        os.replace(work / "manifest.json", project.manifest_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
