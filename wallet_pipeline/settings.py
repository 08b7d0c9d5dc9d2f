"""The one place that reads the environment: deployment, paths, the data source and group names.

Every variable is optional; the defaults run the whole pipeline offline on the embedded simulator.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

# The folder convention of the Spark engine lives with its session (logic/ may not import settings).
from wallet_pipeline.logic.spark import session as spark_session

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

ENVIRONMENTS = ("local", "ci", "prod")
SOURCES = ("simulator", "files", "dune")
ENGINES = ("duckdb", "spark")

# Asset groups, one per pipeline stage; jobs select by these.
INGESTION = "ingestion"
STAGING = "staging"
INTERMEDIATE = "intermediate"
MARTS = "marts"
GROUND_TRUTH = "ground_truth"


class SettingsError(ValueError):
    """An environment variable holds a value the pipeline cannot use."""


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = os.environ.get(name, "").strip().lower() or default
    if value not in allowed:
        raise SettingsError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value


def get_environment() -> str:
    """`WALLET_ENV`: local (default), ci or prod; also the dbt target name."""
    return _choice("WALLET_ENV", "local", ENVIRONMENTS)


def get_source() -> str:
    """`WALLET_SOURCE`: where raw data comes from: simulator (default), files or dune."""
    return _choice("WALLET_SOURCE", "simulator", SOURCES)


def get_engine() -> str:
    """`WALLET_ENGINE`: what runs the dbt models: duckdb (default) or spark (docs/spark.md)."""
    return _choice("WALLET_ENGINE", "duckdb", ENGINES)


def dbt_target() -> str:
    """The dbt profile's target: the environment's name, with `_spark` when Spark runs the models."""
    return get_environment() + ("_spark" if get_engine() == "spark" else "")


def spark_dir() -> Path:
    """`WALLET_SPARK_DIR`: Spark's warehouse, metastore and landed raw Parquet (`<data>/spark`)."""
    explicit = os.environ.get("WALLET_SPARK_DIR")
    return Path(explicit).resolve() if explicit else spark_session.spark_dir(data_dir())


def spark_raw_dir() -> Path:
    """Where the raw tables land as Parquet for Spark, one folder per table."""
    return spark_dir() / "raw_parquet"


def data_dir() -> Path:
    """`WALLET_DATA_DIR`: where the DuckDB file, spill files and run artefacts live."""
    return Path(os.environ.get("WALLET_DATA_DIR") or REPO_ROOT / "data").resolve()


def duckdb_path() -> Path:
    """`WALLET_DUCKDB_PATH`: the DuckDB file that dbt and Dagster share."""
    explicit = os.environ.get("WALLET_DUCKDB_PATH")
    return Path(explicit).resolve() if explicit else data_dir() / "wallet_pipeline.duckdb"


def files_dir() -> Path | None:
    """`WALLET_FILES_DIR`: the ethereum-etl export folder read when `WALLET_SOURCE=files`."""
    value = os.environ.get("WALLET_FILES_DIR")
    return Path(value).expanduser().resolve() if value else None


def duckdb_memory_limit() -> str:
    """`WALLET_DUCKDB_MEMORY_LIMIT`: DuckDB's memory cap; past it DuckDB spills to disk."""
    return os.environ.get("WALLET_DUCKDB_MEMORY_LIMIT", "4GB")


def duckdb_threads() -> int:
    """`WALLET_DUCKDB_THREADS`: DuckDB worker threads (default: all cores)."""
    value = os.environ.get("WALLET_DUCKDB_THREADS")
    if not value:
        return os.cpu_count() or 1
    if not value.isdigit() or int(value) < 1:
        raise SettingsError(f"WALLET_DUCKDB_THREADS={value!r} is not a positive whole number")
    return int(value)


def duckdb_settings() -> dict[str, str | int | bool]:
    """Connection settings shared by the Dagster resource and the dbt profile."""
    return {
        "memory_limit": duckdb_memory_limit(),
        "threads": duckdb_threads(),
        "temp_directory": str(data_dir() / "duckdb_spill"),
        # Keeping insertion order forces order-preserving operators and costs memory at scale.
        "preserve_insertion_order": False,
    }


def simulator_wallets() -> int:
    """`WALLET_SIM_WALLETS`: wallets the simulator generates by default (20,000)."""
    return _positive_int("WALLET_SIM_WALLETS", 20_000)


def simulator_seed() -> int:
    """`WALLET_SIM_SEED`: the simulator's seed (42)."""
    return _positive_int("WALLET_SIM_SEED", 42, allow_zero=True)


def _positive_int(name: str, default: int, allow_zero: bool = False) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    if not value.isdigit() or (int(value) == 0 and not allow_zero):
        raise SettingsError(f"{name}={value!r} is not a positive whole number")
    return int(value)


def dbt_env() -> dict[str, str]:
    """Variables the dbt profile reads, so dbt opens the same file with the same limits."""
    s = duckdb_settings()
    return {
        "WALLET_DUCKDB_PATH": str(duckdb_path()),
        "WALLET_DUCKDB_MEMORY_LIMIT": str(s["memory_limit"]),
        "WALLET_DUCKDB_THREADS": str(s["threads"]),
        "WALLET_DUCKDB_TEMP_DIR": str(s["temp_directory"]),
        "WALLET_SPARK_DIR": str(spark_dir()),
        "WALLET_SPARK_RAW_DIR": str(spark_raw_dir()),
    }


def dbt_executable() -> str:
    """The dbt installed beside this Python, so dbt is found without an activated venv."""
    import shutil
    import sys

    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def dune_start_date() -> str:
    """`WALLET_DUNE_START_DATE`: the first day of the Dune source's daily partitions."""
    value = os.environ.get("WALLET_DUNE_START_DATE", "2024-07-01")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise SettingsError(f"WALLET_DUNE_START_DATE={value!r} is not a date like 2024-07-01") from None
    return value


def dune_query_ids() -> dict[str, int]:
    """`WALLET_DUNE_QUERY_IDS`: saved Dune query ids, `transactions=123,token_transfers=456`.

    Queries without an id run as SQL text through Dune's execute-SQL endpoint. The live analysis
    queries (`live_transactions=...`) may be saved too.
    """
    from wallet_pipeline.logic.ingestion.dune_queries import DUNE_QUERIES, LIVE_QUERIES

    ids: dict[str, int] = {}
    for item in filter(None, (p.strip() for p in os.environ.get("WALLET_DUNE_QUERY_IDS", "").split(","))):
        name, _, number = item.partition("=")
        if name.strip() not in {**DUNE_QUERIES, **LIVE_QUERIES} or not number.strip().isdigit():
            raise SettingsError(
                f"WALLET_DUNE_QUERY_IDS entry {item!r} is not name=id "
                f"with a name among {', '.join(DUNE_QUERIES)} (or a live_* query)"
            )
        ids[name.strip()] = int(number)
    return ids


def dune_key_is_set() -> bool:
    """Whether `DUNE_API_KEY` holds a value (Dagster reads the value itself through its EnvVar)."""
    return bool(os.environ.get("DUNE_API_KEY", "").strip())


def dune_api_key() -> str:
    """`DUNE_API_KEY`, for live analysis, which runs outside Dagster. A secret: never log or show it."""
    return os.environ.get("DUNE_API_KEY", "").strip()


def dune_base_url() -> str | None:
    """`DUNE_API_BASE_URL`: the Dune API root (tests point it at the local emulator)."""
    return os.environ.get("DUNE_API_BASE_URL") or None


def dune_page_size() -> int:
    """`WALLET_DUNE_PAGE_SIZE`: rows per Dune results page (50,000)."""
    return _positive_int("WALLET_DUNE_PAGE_SIZE", 50_000)


def dune_max_rows() -> int:
    """`WALLET_DUNE_MAX_ROWS`: most rows one query may return for one day (5,000,000)."""
    return _positive_int("WALLET_DUNE_MAX_ROWS", 5_000_000)


def dune_poll_seconds() -> float:
    """`WALLET_DUNE_POLL_SECONDS`: wait between Dune status polls (2 s)."""
    value = os.environ.get("WALLET_DUNE_POLL_SECONDS", "2")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 600:
        raise SettingsError(f"WALLET_DUNE_POLL_SECONDS={value!r} is not a number of seconds in (0, 600]")
    return seconds


def mlflow_uri_is_set() -> bool:
    """Whether `MLFLOW_TRACKING_URI` is set (it may carry credentials, so Dagster reads it as an EnvVar)."""
    return bool(os.environ.get("MLFLOW_TRACKING_URI", "").strip())


def default_tracking_uri(folder: Path) -> str:
    """The sqlite MLflow tracking store in a data folder (`<folder>/mlflow/mlflow.db`)."""
    return f"sqlite:///{(folder / 'mlflow' / 'mlflow.db').resolve()}"


def mlflow_tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI`, else a sqlite store in the data folder (`<data>/mlflow/mlflow.db`)."""
    return os.environ.get("MLFLOW_TRACKING_URI", "").strip() or default_tracking_uri(data_dir())


def _share(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise SettingsError(f"{name}={value!r} is not a share between 0 and 1")
    return share


def gate_max_row_drop() -> float:
    """`WALLET_GATE_MAX_ROW_DROP`: the share by which a gated table's rows may fall between runs (0.5)."""
    return _share("WALLET_GATE_MAX_ROW_DROP", 0.5)


def gate_max_single_value_share() -> float:
    """`WALLET_GATE_MAX_SINGLE_VALUE_SHARE`: the largest share one persona may hold (0.95)."""
    return _share("WALLET_GATE_MAX_SINGLE_VALUE_SHARE", 0.95)


def retrain_cron() -> str:
    """`WALLET_RETRAIN_CRON`: when the persona model retrains (Monday 00:00 UTC: `0 0 * * 1`)."""
    from dagster._utils.schedules import is_valid_cron_string

    value = os.environ.get("WALLET_RETRAIN_CRON", "").strip() or "0 0 * * 1"
    if not is_valid_cron_string(value):
        raise SettingsError(f"WALLET_RETRAIN_CRON={value!r} is not a cron expression (e.g. '0 0 * * 1')")
    return value


def freshness_hours() -> int:
    """`WALLET_FRESHNESS_HOURS`: hours after which the outputs users read count as stale (48)."""
    return _positive_int("WALLET_FRESHNESS_HOURS", 48)


def alert_webhooks() -> str | None:
    """`WALLET_ALERT_WEBHOOKS`: where alerts go (format: logic/automation/webhooks.py); a secret."""
    return os.environ.get("WALLET_ALERT_WEBHOOKS", "").strip() or None


def alert_webhook_list() -> list:  # noqa: ANN201 - logic.automation.webhooks.Webhook, imported lazily
    """`WALLET_ALERT_WEBHOOKS` parsed (`logic/automation/webhooks.py`): [] when unset.

    Raises:
        SettingsError: a malformed entry; the message names the variable and the entry, and shows
            only `scheme://host/...` of its URL.
    """
    from wallet_pipeline.logic.automation.webhooks import WebhookSpecError, parse_webhooks

    try:
        return parse_webhooks(alert_webhooks())
    except WebhookSpecError as exc:
        raise SettingsError(f"WALLET_ALERT_WEBHOOKS: {exc}") from None


def alert_retry_hours() -> float:
    """`WALLET_ALERT_RETRY_HOURS`: how long an undelivered alert is sent again (72 h), then expired.

    72 h outlasts a webhook that is down from a Friday evening to a Monday morning (about 64 h);
    an alert older than that tells an investigator little the cluster page does not.
    """
    value = os.environ.get("WALLET_ALERT_RETRY_HOURS", "").strip()
    if not value:
        return 72.0
    try:
        hours = float(value)
    except ValueError:
        hours = -1.0
    if not 0 < hours <= 24 * 90:
        raise SettingsError(f"WALLET_ALERT_RETRY_HOURS={value!r} is not a number of hours in (0, 2160]")
    return hours


def alert_min_risk() -> float:
    """`WALLET_ALERT_MIN_RISK`: the risk score (0-100) from which a cluster's changes raise alerts (75)."""
    value = os.environ.get("WALLET_ALERT_MIN_RISK", "").strip()
    if not value:
        return 75.0
    try:
        score = float(value)
    except ValueError:
        score = -1.0
    if not 0 <= score <= 100:
        raise SettingsError(f"WALLET_ALERT_MIN_RISK={value!r} is not a risk score between 0 and 100")
    return score


def flags_path() -> Path:
    """`WALLET_FLAGS_PATH`: the analysts' flags on clusters, a SQLite file no pipeline run rewrites."""
    explicit = os.environ.get("WALLET_FLAGS_PATH")
    return Path(explicit).resolve() if explicit else data_dir() / "analyst_flags.sqlite"


def drift_thresholds():  # noqa: ANN201 - logic.automation.drift.DriftThresholds, imported lazily
    """`WALLET_DRIFT_PSI` (0.2), `_KS_PVALUE` (0.01), `_PERSONA_CHANGE` (0.1), `_MIN_FEATURES` (1).

    When the drift sensor retrains the persona model; see `logic/automation/drift.py`.
    """
    from wallet_pipeline.logic.automation.drift import thresholds_from_env

    try:
        return thresholds_from_env(os.environ)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def snapshot_dir() -> Path:
    """`WALLET_SNAPSHOT_DIR`: where read-only snapshots are published (`snapshots/` by the DuckDB file)."""
    explicit = os.environ.get("WALLET_SNAPSHOT_DIR")
    return Path(explicit).resolve() if explicit else duckdb_path().parent / "snapshots"


def api_keys() -> dict[str, str] | None:
    """`WALLET_API_KEYS`: `name:sha256hex,...`, the API's keys, stored hashed (None: not set)."""
    spec = os.environ.get("WALLET_API_KEYS", "").strip()
    if not spec:
        return None
    from wallet_pipeline.logic.publish.api_keys import KeySpecError, parse_key_spec

    try:
        return parse_key_spec(spec)
    except KeySpecError as exc:
        raise SettingsError(f"WALLET_API_KEYS: {exc}") from None


def api_port() -> int:
    """`WALLET_API_PORT`: the investigator API and page's port on 127.0.0.1 (8800)."""
    return _positive_int("WALLET_API_PORT", 8800)


def _usable_dir(name: str, path: Path) -> None:
    """Refuse a folder path that is a file or sits under one (it could never be created)."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise SettingsError(f"{name}: {p} is a file, not a folder")
            return


def check_all() -> str:
    """Read every setting the pipeline uses, so a bad one stops it before the first asset runs.

    The getters are otherwise read when an asset needs them: a malformed webhook spec surfaced
    after raw, dbt, personas and entities had been rewritten. The definitions call this when
    they load, so the CLI, the UI and the daemon all refuse to start such a run.

    Returns:
        The source (`WALLET_SOURCE`).

    Raises:
        SettingsError: the first unusable value; the message names its variable.
    """
    get_environment()
    source = get_source()
    get_engine()
    _usable_dir("WALLET_DATA_DIR", data_dir())
    _usable_dir("WALLET_DUCKDB_PATH (its folder)", duckdb_path().parent)
    if duckdb_path().is_dir():
        raise SettingsError(f"WALLET_DUCKDB_PATH: {duckdb_path()} is a folder, not a DuckDB file")
    _usable_dir("WALLET_SNAPSHOT_DIR", snapshot_dir())
    _usable_dir("WALLET_SPARK_DIR", spark_dir())
    if flags_path().is_dir():
        raise SettingsError(f"WALLET_FLAGS_PATH: {flags_path()} is a folder, not a SQLite file")
    _usable_dir("WALLET_FLAGS_PATH (its folder)", flags_path().parent)
    duckdb_settings()
    simulator_wallets()
    simulator_seed()
    if source == "files":
        # Unset is allowed: a run from the UI may name the folder in the asset's config.
        folder = files_dir()
        if folder is not None and not folder.is_dir():
            raise SettingsError(f"WALLET_FILES_DIR={str(folder)!r} is not a folder")
    if source == "dune":
        dune_start_date()
        dune_query_ids()
        dune_page_size()
        dune_max_rows()
        dune_poll_seconds()
    gate_max_row_drop()
    gate_max_single_value_share()
    retrain_cron()
    freshness_hours()
    drift_thresholds()
    alert_min_risk()
    alert_retry_hours()
    alert_webhook_list()
    return source
