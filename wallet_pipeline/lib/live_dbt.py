"""Build `marts.wallet_features` in a small DuckDB file with the project's own dbt models.

Two ways, both from the one definition in `dbt_project/models`:

- `build_with_dbt`: `dbt run --select +wallet_features` on the file, through the dbt executable
  (data tests are not run: the raw contract and the batch run test the models). Exact, but dbt's
  start-up and parsing cost ~8 s per call.
- `build_with_compiled_sql`: the SQL that `dbt compile` produced for those models, executed in
  dependency order as the views and tables dbt would create. dbt compiles once per version of the
  project (the manifest is cached under a fingerprint of the project's files); each build then
  costs what DuckDB takes to run the models, a fraction of a second on one wallet's rows.

The compiled SQL names relations with the catalog of the file dbt compiled against (`live`), so
the file a build runs on is opened under that name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import duckdb

TARGET_MODEL = "wallet_features"
SELECTOR = f"+{TARGET_MODEL}"
# The compiled SQL says `"live"."staging"...`: dbt-duckdb names the catalog after the file.
CATALOG = "live"
_PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml")
_PROJECT_FOLDERS = ("models", "macros")
_compile_lock = threading.Lock()


class DbtBuildError(RuntimeError):
    """dbt could not compile or build the feature models; the message holds dbt's own lines."""


@dataclass(frozen=True)
class CompiledModel:
    """One model of the selection, as `dbt compile` rendered it.

    Attributes:
        name: model name.
        relation: quoted `"catalog"."schema"."name"`, as the compiled SQL of its children names it.
        schema: its schema.
        materialized: dbt's materialization: view, table, incremental or ephemeral.
        sql: the compiled select.
    """

    name: str
    relation: str
    schema: str
    materialized: str
    sql: str


@dataclass(frozen=True)
class DbtProjectRun:
    """How to run dbt on this project.

    Attributes:
        project_dir: the dbt project (`settings.DBT_PROJECT_DIR`); its profiles.yml is used.
        executable: the dbt executable (`settings.dbt_executable()`).
        env: variables the profile reads (`settings.dbt_env()`); the DuckDB path is replaced per call.
    """

    project_dir: Path
    executable: str
    env: Mapping[str, str]

    def invoke(self, args: list[str], db_path: Path, work: Path) -> None:
        """Run `dbt <args>` on the DuckDB file `db_path`, with target and logs under `work`."""
        env = {**os.environ, **self.env, "WALLET_DUCKDB_PATH": str(db_path)}
        command = [
            self.executable,
            *args,
            "--project-dir",
            str(self.project_dir),
            "--profiles-dir",
            str(self.project_dir),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
        ]
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise DbtBuildError(f"cannot run dbt ({self.executable}): {exc}") from exc
        if done.returncode != 0:
            lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
            raise DbtBuildError(f"dbt {args[0]} failed: " + " / ".join(lines[-8:]))


def project_fingerprint(project_dir: Path) -> str:
    """A digest of the files that decide the compiled SQL, and of the dbt version."""
    digest = hashlib.sha256()
    for version_of in ("dbt-core", "dbt-duckdb"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            digest.update(f"{version_of}={metadata.version(version_of)}\n".encode())
    paths = [project_dir / name for name in _PROJECT_FILES]
    for folder in _PROJECT_FOLDERS:
        paths.extend(sorted((project_dir / folder).rglob("*")))
    for path in paths:
        if path.is_file():
            digest.update(path.relative_to(project_dir).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def compiled_models(dbt: DbtProjectRun, cache_dir: Path) -> list[CompiledModel]:
    """The models `wallet_features` is built from, compiled, in an order that builds each after its inputs.

    The first call for a version of the project runs `dbt compile` (seconds) and caches the
    manifest under `cache_dir/<fingerprint>/`; later calls, in any process, read the cache.

    Raises:
        DbtBuildError: dbt failed to compile, or the manifest lacks the models.
    """
    folder = Path(cache_dir) / project_fingerprint(dbt.project_dir)
    manifest = folder / "manifest.json"
    with _compile_lock:
        if not manifest.exists():
            folder.parent.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix="compile_", dir=folder.parent))
            try:
                dbt.invoke(
                    ["compile", "--select", SELECTOR, "--indirect-selection", "empty", "--quiet"],
                    work / f"{CATALOG}.duckdb",
                    work,
                )
                folder.mkdir(exist_ok=True)
                # A rename, so another process never reads half a manifest.
                os.replace(work / "target" / "manifest.json", manifest)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    return _models_of(json.loads(manifest.read_text()))


def _models_of(manifest: dict) -> list[CompiledModel]:
    nodes = manifest["nodes"]
    target = next(
        (k for k, n in nodes.items() if n["resource_type"] == "model" and n["name"] == TARGET_MODEL), None
    )
    if target is None:
        raise DbtBuildError(f"the dbt manifest has no model {TARGET_MODEL}")
    ordered: list[str] = []
    seen: set[str] = set()

    def visit(unique_id: str) -> None:
        if unique_id in seen or unique_id not in nodes:
            return  # sources are tables of the raw schema, not built here
        seen.add(unique_id)
        for parent in nodes[unique_id]["depends_on"]["nodes"]:
            visit(parent)
        ordered.append(unique_id)

    visit(target)
    models = []
    for unique_id in ordered:
        node = nodes[unique_id]
        if node.get("compiled_code") is None:
            raise DbtBuildError(f"the dbt manifest holds no compiled SQL for {node['name']}")
        models.append(
            CompiledModel(
                name=node["name"],
                relation=node["relation_name"],
                schema=node["schema"],
                materialized=node["config"]["materialized"],
                sql=node["compiled_code"],
            )
        )
    return models


def build_with_compiled_sql(con: duckdb.DuckDBPyConnection, models: list[CompiledModel]) -> None:
    """Create every model's view or table in the connection's file, in order.

    The connection must have the file open as catalog `live` (the file `live.duckdb`).
    """
    row = con.execute("select current_database()").fetchone()
    if not row or row[0] != CATALOG:
        raise DbtBuildError(
            f"the compiled models build in catalog {CATALOG!r}, not {row[0] if row else None!r}"
        )
    for schema in sorted({m.schema for m in models if m.materialized != "ephemeral"}):
        con.execute(f'create schema if not exists "{schema}"')
    for model in models:
        if model.materialized == "ephemeral":
            continue  # dbt inlines it into its children's SQL
        kind = "view" if model.materialized == "view" else "table"
        try:
            con.execute(f"create or replace {kind} {model.relation} as (\n{model.sql}\n)")
        except duckdb.Error as exc:
            raise DbtBuildError(f"model {model.name} failed: {str(exc).splitlines()[0]}") from exc


def build_with_dbt(dbt: DbtProjectRun, db_path: Path) -> None:
    """`dbt run --select +wallet_features` on `db_path` (models only; tests are not run)."""
    work = Path(tempfile.mkdtemp(prefix="dbt_", dir=Path(db_path).parent))
    try:
        dbt.invoke(["run", "--select", SELECTOR, "--quiet"], Path(db_path), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
