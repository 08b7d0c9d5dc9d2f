"""Live analysis: features and persona of an address the published snapshot does not hold.

    config = LiveConfig.from_settings()
    result = analyze_live("0xabc...", source=settings.get_source(), config=config)

One call fetches the wallet's activity from the configured source into a DuckDB file of its own
with the raw schema, builds `marts.wallet_features` there with the project's dbt models (the one
definition of the features; `lib/live_dbt.py`), and scores the row with the champion persona
model from the MLflow registry. The file is deleted afterwards.

A feature of one wallet depends on more than the wallet's own rows: whether the addresses it
paid are contracts (forwarding counts outflows to people only), which of its tokens are ERC-721
and their decimals, whether the wallet itself created a contract or emits token events, the
other fresh fundings of its first funder (its funding burst), and the newest block of the data
(ages are measured to it). The fetch therefore takes three rounds:

1. the wallet's rows: transactions from or to it (and, in files, the one that created it), token
   transfers from or to it, its DEX and NFT trades, its balance and labels, and the newest
   transaction of the source;
2. context for the addresses those rows name: for every address the wallet sent ETH or tokens
   to, its first transaction sent, its first call received, its creation and its first transfer
   as a token; for every token it moved, its creation, metadata and first NFT sale; the
   wallet's own creation and first transfer as a token; in files, the transactions and blocks
   that date its token transfers; every ETH transfer of its first funder (unless the funder is a
   hub with more than `funder_sends_cap` of them);
3. for every address that funder paid, its first transaction sent and its first ETH received.

With that context, every rule of the models sees for this wallet what it sees over the whole
data, so the features equal the batch's for the same data (docs/live_analysis.md lists them and
the exceptions). Each source answers the rounds the same way: files by DuckDB predicates over the
export (`etl_files/subset.py`), Dune by the `live_*` queries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb

from wallet_pipeline.logic.ingestion.dune_queries import LIVE_QUERIES, LiveDuneQuery
from wallet_pipeline.logic.ingestion.etl_files import EtlFilesError, load_etl_files
from wallet_pipeline.logic.ingestion.etl_files.subset import FilesSubset
from wallet_pipeline.logic.ingestion.live_rows import (
    DUNE_TABLES,
    FUNDER_FEATURES,
    LIVE_FUNDER_SENDS_CAP,
    OWN_QUERIES,
    POPULATION_FEATURES,
    POPULATION_REASON,
    NoLiveSource,
    SourceUnavailable,
    WalletNotInSource,
    context_of,
    drop_repeated_keys,
    features_of,
    funded_by,
    funder_gap,
    involved,
    list_queries,
    normalise_address,
    pick_files_rows,
)
from wallet_pipeline.logic.ingestion.raw_store import RawLoad, raw_load

# Importers of the live analysis find its errors and constants here too.
__all__ = [
    "FUNDER_FEATURES",
    "DuneAccess",
    "LiveConfig",
    "NoLiveSource",
    "SourceUnavailable",
    "WalletNotInSource",
    "analyze_live",
    "prepare",
]

LIVE_SOURCES = ("files", "dune")
ENGINES = ("compiled", "dbt")
# Live calls answer a person waiting: transport failures are retried briefly, not for minutes.
LIVE_DUNE_REQUEST_TIMEOUT = 15.0
LIVE_DUNE_RETRY_BUDGET = 10.0
LIVE_DUNE_EXECUTION_TIMEOUT = 300.0
_DUNE_PARALLEL = 5


@dataclass(frozen=True)
class DuneAccess:
    """How live analysis reaches Dune.

    Attributes:
        api_key: the Dune API key (a secret: kept out of repr and every message).
        base_url: API root; None for Dune's.
        query_ids: saved query id per query name (live queries without one run as SQL text).
        page_size: rows per results page.
        max_rows: most rows one query may return for the wallet.
        poll_seconds: wait between status polls.
        request_timeout: seconds one HTTP request may take.
        retry_budget: seconds of retries of transient errors per call.
        execution_timeout: seconds one execution may take before it is cancelled.
    """

    api_key: str = field(default="", repr=False)
    base_url: str | None = None
    query_ids: Mapping[str, int] = field(default_factory=dict)
    page_size: int = 50_000
    max_rows: int = 5_000_000
    poll_seconds: float = 2.0
    request_timeout: float = LIVE_DUNE_REQUEST_TIMEOUT
    retry_budget: float = LIVE_DUNE_RETRY_BUDGET
    execution_timeout: float = LIVE_DUNE_EXECUTION_TIMEOUT


@dataclass(frozen=True)
class LiveConfig:
    """Everything a live analysis needs besides the address and the source.

    Attributes:
        work_dir: where each analysis makes its temporary DuckDB file and where the compiled dbt
            models are cached (`<data>/live`).
        files_dir: the export folder of the files source.
        dune: Dune access for the dune source.
        tracking_uri: the MLflow store holding the champion persona model; None: no persona.
        engine: "compiled" runs the SQL dbt compiled for the models (fast); "dbt" runs
            `dbt run` on the file (slow, the same result).
        funder_sends_cap: most ETH transfers of the wallet's first funder fetched to rebuild its
            funding burst; a funder with more (an exchange) leaves the funding features inexact.
        dbt_project_dir: the dbt project.
        dbt_executable: the dbt executable.
        dbt_env: variables the dbt profile reads (`settings.dbt_env()`).
        duckdb_settings: DuckDB settings (memory limit, threads) for the temporary file.
    """

    work_dir: Path
    files_dir: Path | None = None
    dune: DuneAccess = field(default_factory=DuneAccess)
    tracking_uri: str | None = None
    engine: str = "compiled"
    funder_sends_cap: int = LIVE_FUNDER_SENDS_CAP
    dbt_project_dir: Path | None = None
    dbt_executable: str = "dbt"
    dbt_env: Mapping[str, str] = field(default_factory=dict)
    duckdb_settings: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls) -> LiveConfig:
        """The configuration the environment gives (`wallet_pipeline.settings`)."""
        from wallet_pipeline import settings

        return cls(
            work_dir=settings.data_dir() / "live",
            files_dir=settings.files_dir(),
            dune=DuneAccess(
                api_key=settings.dune_api_key(),
                base_url=settings.dune_base_url(),
                query_ids=settings.dune_query_ids(),
                page_size=settings.dune_page_size(),
                max_rows=settings.dune_max_rows(),
                poll_seconds=settings.dune_poll_seconds(),
            ),
            tracking_uri=settings.mlflow_tracking_uri(),
            dbt_project_dir=settings.DBT_PROJECT_DIR,
            dbt_executable=settings.dbt_executable(),
            dbt_env=settings.dbt_env(),
            duckdb_settings=settings.duckdb_settings(),
        )


def analyze_live(address: str, *, source: str, config: LiveConfig) -> dict[str, Any]:
    """Fetch one address from `source`, build its features with the dbt models, predict its persona.

    Args:
        address: 0x and 40 hex digits, any case (the caller checks EIP-55 checksums).
        source: "files" or "dune" (`settings.get_source()`); "simulator" has nothing to fetch.
        config: `LiveConfig.from_settings()`, or one made by hand.

    Returns:
        `address`; `source`; `features`, the address's `marts.wallet_features` row (column: value,
        exact DuckDB values: Decimal, datetime, ...); `persona`, {persona, confidence,
        model_version, probabilities {persona key: p}} from the champion, or None with
        `persona_reason` saying why; `computed_at` (UTC); `fetched_rows` per raw table;
        `timings` in seconds (fetch, features, persona, total); and, only when some feature
        could not be given its whole context, `inexact_features` {column: why}.

    Raises:
        ValueError: the address is malformed, or the source or engine unknown.
        NoLiveSource: the source is the simulator, which has no wallet beyond the snapshot.
        SourceUnavailable: the source cannot be read or reached, or answered with an error.
        WalletNotInSource: the source holds no activity of the address.
        DbtBuildError: dbt could not compile or build the models (an installation problem).
    """
    wallet = normalise_address(address)
    if source == "simulator":
        raise NoLiveSource(
            f"{wallet}: the simulator source has no wallets beyond the published snapshot; live "
            "analysis fetches from WALLET_SOURCE=files or dune"
        )
    if source not in LIVE_SOURCES:
        raise ValueError(f"source {source!r} is not one of {', '.join(LIVE_SOURCES)}")
    if config.engine not in ENGINES:
        raise ValueError(f"engine {config.engine!r} is not one of {', '.join(ENGINES)}")
    started = time.perf_counter()
    timings: dict[str, float] = {}
    runs = Path(config.work_dir) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    _sweep(runs)
    work = Path(tempfile.mkdtemp(prefix="live_", dir=runs))
    try:
        db_path = work / "live.duckdb"
        con = _connect(db_path, work, config)
        try:
            fetch = _fetch_files if source == "files" else _fetch_dune
            fetched, gaps = fetch(con, wallet, config, work)
            timings["fetch"] = time.perf_counter() - started
            if not involved(con, wallet):
                raise WalletNotInSource(f"{wallet} has no activity in the {source} source")
            mark = time.perf_counter()
            if config.engine == "dbt":
                con.close()
                _build_with_dbt(db_path, work, config)
                con = _connect(db_path, work, config)
            else:
                _build_with_compiled_sql(con, config)
            features = features_of(con, wallet)
            if features is None:
                raise WalletNotInSource(
                    f"{wallet} has no wallet_features row from the {source} source (its only rows "
                    "were quarantined, or it is the zero address)"
                )
            frame = con.execute("select * from marts.wallet_features where address = ?", [wallet]).df()
            # Measured against the fetched rows only, these would be wrong, not merely rough: unknown
            # instead, so the persona's per-wallet deposit test stays out of it.
            for name in POPULATION_FEATURES:
                if name in features:
                    features[name] = None
                    frame[name] = float("nan")
                    gaps[name] = POPULATION_REASON
            timings["features"] = time.perf_counter() - mark
        finally:
            con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mark = time.perf_counter()
    persona, reason = _persona(frame, config.tracking_uri)
    timings["persona"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    result: dict[str, Any] = {
        "address": wallet,
        "source": source,
        "features": features,
        "persona": persona,
        "computed_at": dt.datetime.now(dt.UTC),
        "fetched_rows": fetched,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    if persona is None:
        result["persona_reason"] = reason
    inexact = {name: why for name, why in gaps.items() if name in features}
    if inexact:
        result["inexact_features"] = inexact
    return result


def prepare(config: LiveConfig) -> None:
    """Do now what the first analysis would otherwise wait for: compile the models, load the champion.

    For a server's start-up. A missing champion is not an error here (analyses then answer
    without a persona); a dbt that cannot compile raises `DbtBuildError`.
    """
    if config.engine == "compiled":
        from wallet_pipeline.lib.live_dbt import compiled_models

        compiled_models(_dbt_project(config), Path(config.work_dir) / "dbt")
    if config.tracking_uri is not None:
        _champion(config.tracking_uri)


def _sweep(runs: Path) -> None:
    """Delete the folders of analyses a killed process left behind (older than an hour)."""
    cutoff = time.time() - 3600
    for folder in runs.glob("live_*"):
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def _connect(db_path: Path, work: Path, config: LiveConfig) -> duckdb.DuckDBPyConnection:
    # The spill folder is the call's own: concurrent analyses must not share DuckDB temp files.
    settings = {**config.duckdb_settings, "temp_directory": str(work / "spill")}
    return duckdb.connect(str(db_path), config={k: v for k, v in settings.items() if v is not None})


# ---------------------------------------------------------------- files


def _fetch_files(
    con: duckdb.DuckDBPyConnection, wallet: str, config: LiveConfig, work: Path
) -> tuple[dict[str, int], dict[str, str]]:
    folder = config.files_dir
    if folder is None:
        raise SourceUnavailable("WALLET_FILES_DIR is not set: the files source has no export folder to read")
    try:
        subset = FilesSubset(con, Path(folder))
    except EtlFilesError as exc:
        raise SourceUnavailable(f"the export folder {folder} cannot be used: {exc}") from None
    except OSError as exc:
        raise SourceUnavailable(f"the export folder {folder} cannot be read: {exc.strerror or exc}") from None
    try:
        try:
            gaps = pick_files_rows(con, subset, wallet, config.funder_sends_cap)
        except (duckdb.Error, OSError) as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SourceUnavailable(f"the export folder {folder} cannot be read: {message}") from None
        export = subset.write(work / "export")
    finally:
        subset.close()
    try:
        # A table of a few hundred picked rows says nothing about the export's share of bad rows:
        # the batch load judges that; here bad rows are only quarantined.
        report = load_etl_files(con, export, max_reject_fraction=1.0)
    except EtlFilesError as exc:
        raise SourceUnavailable(f"the rows of {wallet} in {folder} cannot be loaded: {exc}") from None
    return {t.raw_table: t.rows_loaded for t in report.tables.values() if t.raw_table}, gaps


# ---------------------------------------------------------------- dune


def _fetch_dune(
    con: duckdb.DuckDBPyConnection, wallet: str, config: LiveConfig, work: Path
) -> tuple[dict[str, int], dict[str, str]]:
    access = config.dune
    cap = config.funder_sends_cap
    gaps: dict[str, str] = {}
    with raw_load(con, source="dune") as load:
        for table in DUNE_TABLES:
            load.mark_provided(table)
        own = [LIVE_QUERIES[n].bind(address=wallet) for n in OWN_QUERIES]
        _run_dune(load, [*own, LIVE_QUERIES["live_latest_transaction"]], access)

        context = context_of(con, wallet, load.staged("transactions"), load.staged("token_transfers"))
        queries = list_queries(
            ("live_context_transactions", context.paid),
            ("live_context_token_transfers", (*context.paid, wallet)),
            ("live_contract_creations", (*context.paid, *context.tokens, wallet)),
            ("live_context_nft_trades", context.tokens),
            ("live_tokens", context.tokens),
        )
        funder_query = None
        if context.funder:
            funder_query = LIVE_QUERIES["live_funder_transactions"].bind(address=context.funder)
            queries.append(funder_query)
        capped = _run_dune(load, queries, access, row_caps={"live_funder_transactions": cap})

        if funder_query is not None and context.funder:
            if "live_funder_transactions" in capped:
                gaps = funder_gap(context.funder, cap)
            else:
                funded = funded_by(con, context.funder, load.staged("transactions"))
                _run_dune(load, list_queries(("live_context_transactions", funded)), access)
        drop_repeated_keys(load)
    return dict(load.row_counts), gaps


def _run_dune(
    load: RawLoad,
    queries: list[LiveDuneQuery],
    access: DuneAccess,
    row_caps: Mapping[str, int] | None = None,
) -> set[str]:
    """Run the queries on Dune side by side and append their rows to the load.

    A query named in `row_caps` that returns more rows than its cap is dropped, not failed;
    the names of those are returned.
    """
    from wallet_pipeline.lib.dune import DuneFetcher, DuneRowCapError, DuneRun, DuneSourceError
    from wallet_pipeline.logic.ingestion.dune_source import DuneRowsError, rows_to_table

    caps = dict(row_caps or {})

    def fetch(query: LiveDuneQuery) -> list[list[dict[str, Any]]] | None:
        # A fetcher per thread: each has its own HTTP session.
        fetcher = DuneFetcher(
            api_key=access.api_key,
            base_url=access.base_url,
            query_ids=dict(access.query_ids),
            page_size=access.page_size,
            # A capped query asks for one row more than its cap, so "more than" shows.
            max_rows=caps[query.name] + 1 if query.name in caps else access.max_rows,
            poll_seconds=access.poll_seconds,
            execution_timeout=access.execution_timeout,
            retry_budget=access.retry_budget,
            request_timeout=access.request_timeout,
            network_retries=0,
        )
        try:
            return list(fetcher.pages(query, None, DuneRun(query=query.name, day=None)))
        except DuneRowCapError:
            if query.name in caps:
                return None
            raise

    if not queries:
        return set()
    try:
        with ThreadPoolExecutor(max_workers=min(_DUNE_PARALLEL, len(queries))) as pool:
            answers = list(pool.map(fetch, queries))
        for query, pages in zip(queries, answers, strict=True):
            for page in pages or ():
                load.append(query.raw_table, rows_to_table(query, page))
    except (DuneSourceError, DuneRowsError) as exc:
        raise SourceUnavailable(_reason(access, str(exc))) from None
    except Exception as exc:  # noqa: BLE001 - dune-client raises bare errors on odd answers
        raise SourceUnavailable(_reason(access, f"unreadable answer: {type(exc).__name__}: {exc}")) from None
    return {q.name for q, pages in zip(queries, answers, strict=True) if pages is None}


def _reason(access: DuneAccess, message: str) -> str:
    """Where Dune was asked and what went wrong, with the key masked should any layer echo it."""
    host = urlsplit(access.base_url).hostname if access.base_url else None
    port = urlsplit(access.base_url).port if access.base_url else None
    where = f"{host}:{port}" if host and port else host or "api.dune.com"
    text = f"Dune at {where}: {message}"
    return text.replace(access.api_key, "***") if access.api_key else text


# ---------------------------------------------------------------- features and persona


def _dbt_project(config: LiveConfig):  # noqa: ANN202 - lib.live_dbt.DbtProjectRun
    from wallet_pipeline.lib.live_dbt import DbtProjectRun

    if config.dbt_project_dir is None:
        from wallet_pipeline import settings

        project = settings.DBT_PROJECT_DIR
    else:
        project = Path(config.dbt_project_dir)
    return DbtProjectRun(project_dir=project, executable=config.dbt_executable, env=dict(config.dbt_env))


def _build_with_compiled_sql(con: duckdb.DuckDBPyConnection, config: LiveConfig) -> None:
    from wallet_pipeline.lib.live_dbt import build_with_compiled_sql, compiled_models

    models = compiled_models(_dbt_project(config), Path(config.work_dir) / "dbt")
    build_with_compiled_sql(con, models)


def _build_with_dbt(db_path: Path, work: Path, config: LiveConfig) -> None:
    from wallet_pipeline.lib.live_dbt import build_with_dbt

    project = _dbt_project(config)
    env = {**project.env, "WALLET_DUCKDB_TEMP_DIR": str(work / "spill")}
    build_with_dbt(dataclasses.replace(project, env=env), db_path)


_models: dict[tuple[str, str], Any] = {}
_models_lock = threading.Lock()


def _champion(tracking_uri: str) -> tuple[Any, str] | str:
    """The champion model and its version, loaded once per version; or why there is none."""
    from mlflow.exceptions import MlflowException

    from wallet_pipeline.lib.persona_registry import (
        PersonaModelUnavailable,
        load_persona_model,
        resolve_version,
    )

    try:
        version = resolve_version(tracking_uri)
        with _models_lock:
            key = (tracking_uri, version)
            if key not in _models:
                _models[key] = load_persona_model(tracking_uri, version)[0]
            return _models[key], version
    except PersonaModelUnavailable as exc:
        return str(exc)
    except (MlflowException, OSError) as exc:
        return f"the persona model cannot be loaded: {type(exc).__name__}: {str(exc)[:300]}"


def _persona(features, tracking_uri: str | None) -> tuple[dict[str, Any] | None, str | None]:  # noqa: ANN001 - a DataFrame
    """The champion's persona of the one feature row, or None and the reason."""
    if tracking_uri is None:
        return None, "no MLflow tracking store is configured"
    from wallet_pipeline.logic.personas import PersonaInputError, persona_column

    loaded = _champion(tracking_uri)
    if isinstance(loaded, str):
        return None, loaded
    model, version = loaded
    try:
        scored = model.predict(features).iloc[0]
    except PersonaInputError as exc:
        return None, f"champion version {version} cannot score these features: {exc}"
    return {
        "persona": scored["persona"],
        "confidence": float(scored["confidence"]),
        "model_version": version,
        "probabilities": {persona_column(p)[2:]: float(scored[persona_column(p)]) for p in model.personas},
    }, None
