"""MLflow helpers that import neither Dagster nor MLflow at module level.

The default store, the alias name, and a direct read of a sqlite registry for the command line.
`mlflow_session` re-exports them; `settings` and the `persona` command import them from here so that
finding the promoted model costs milliseconds, not the seconds of importing Dagster and MLflow.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

CHAMPION = "champion"


def point_mlflow_at(uri: str) -> None:
    """Point MLflow's fluent API and registry at `uri`, leaving the environment as it was.

    MLflow exports the URI it is given as MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI (for its
    subprocesses); settings would then mistake it for the user's choice and pin every later data
    folder of this process to the first store.
    """
    import mlflow

    saved = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


class RegistryMiss(LookupError):
    """The sqlite registry has no such model version or alias."""


def sqlite_model_location(tracking_uri: str, model_name: str, ref: str) -> tuple[str, Path] | None:
    """(version, local folder of the logged model's files) that alias or version `ref` names.

    Read straight from a local sqlite store's `model_versions` and `registered_model_aliases` tables
    (MLflow 3's schema), read-only. None when the store is not a local sqlite file, or its tables or
    the model's files are not where MLflow 3 puts them: the caller then asks MLflow itself. Raises
    RegistryMiss when the tables are there and hold no such version or alias.
    """
    if not tracking_uri.startswith("sqlite:///"):
        return None
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    if not db.is_file():
        return None
    try:
        con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        if ref.isdigit():
            row = con.execute(
                "select version, storage_location from model_versions where name = ? and version = ?",
                [model_name, int(ref)],
            ).fetchone()
        else:
            row = con.execute(
                "select v.version, v.storage_location from registered_model_aliases a "
                "join model_versions v on v.name = a.name and v.version = a.version "
                "where a.name = ? and a.alias = ?",
                [model_name, ref],
            ).fetchone()
    except sqlite3.Error:
        return None  # another schema (an older or newer MLflow): MLflow reads it
    finally:
        con.close()
    if row is None:
        raise RegistryMiss(f"{model_name} has no version or alias {ref!r}")
    version, location = row
    parsed = urlparse(location or "")
    if parsed.scheme != "file":
        return None
    folder = Path(unquote(parsed.path))
    return (str(version), folder) if folder.is_dir() else None
