"""The investigator API: FastAPI over the last published snapshot.

```python
app = create_app(snapshot_dir, {"alice": hash_key("…")}, flags_path)   # uvicorn.run(app, host="127.0.0.1")
```

Every endpoint but `/health` needs an `X-API-Key` header whose SHA-256 is configured
(`wallet_pipeline.api.auth`); without one the answer is 401 and no data. Readers open the file
`CURRENT` names, read-only, and look at `CURRENT` again on every request: when the pipeline
publishes a new snapshot the next request reads it, and while a run writes the pipeline's own
database the API keeps answering from the last published one. `api_keys=None` switches the key
check off (local use on 127.0.0.1 only; flags then record `local`).
"""

import asyncio
import contextlib
import functools
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import duckdb
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from wallet_pipeline.api import queries
from wallet_pipeline.api.auth import HEADER, hash_key, key_name
from wallet_pipeline.api.bounds import BodyLimit, bounded_errors, unknown_query_error
from wallet_pipeline.api.index import SnapshotIndex, load_or_build
from wallet_pipeline.api.models import (
    Analysis,
    ClusterDetail,
    ClusterNetwork,
    ClusterPage,
    ClusterQuery,
    Flag,
    FlagIn,
    Health,
    Message,
    Overview,
    Stats,
    query_parameters,
)
from wallet_pipeline.api.web import mount_web
from wallet_pipeline.lib.live_dbt import DbtBuildError
from wallet_pipeline.lib.live_wallet import (
    LiveConfig,
    SourceUnavailable,
    WalletNotInSource,
    analyze_live,
    prepare,
)
from wallet_pipeline.logic.publish import flags as flag_store
from wallet_pipeline.logic.publish.snapshot import (
    POINTER,
    NoSnapshotError,
    SnapshotError,
    connect_snapshot,
    current_snapshot,
)

log = logging.getLogger(__name__)
LIVE_AT_ONCE = 2  # live analyses in flight per process: each runs the feature models on a file


# ---------------------------------------------------------------- snapshot connections


@dataclass
class Served:
    """One published snapshot as the API serves it: a read-only connection, its facts, its index.

    `index` stays None while it is built in the background (or when building failed, with the
    reason in `index_error`); requests then take the slow path through DuckDB.
    """

    con: duckdb.DuckDBPyConnection
    meta: queries.SnapshotMeta
    index: SnapshotIndex | None = None
    index_error: str | None = None
    index_done: threading.Event | None = None


class SnapshotPool:
    """One read-only connection per snapshot file, a cursor per request; follows `CURRENT`.

    The two newest files stay open, so a request that started on the previous snapshot finishes
    on it while the next request already reads the new one. Each newly seen snapshot gets its
    index (`wallet_pipeline.api.index`) loaded or built in a background thread.
    """

    KEEP_OPEN = 2

    def __init__(self, snapshot_dir: Path, use_index: bool = True) -> None:
        self.snapshot_dir = Path(snapshot_dir)
        self.use_index = use_index
        self._lock = threading.Lock()
        self._open: dict[str, Served] = {}
        self._pointer: tuple[tuple[int, int, int], Path | None] | None = None

    def current(self) -> Served:
        """The snapshot `CURRENT` names now."""
        path = self._pointed_to()
        if path is not None and path.name in self._open:
            return self._open[path.name]
        with self._lock:
            if path is not None and path.name in self._open:
                return self._open[path.name]
            con = connect_snapshot(self.snapshot_dir)  # raises NoSnapshotError with the reason
            row = con.execute(
                "select path from duckdb_databases() where database_name = current_database()"
            ).fetchone()
            name = Path(row[0]).name
            served = Served(con, queries.read_meta(con, name), index_done=threading.Event())
            self._open[name] = served
            while len(self._open) > self.KEEP_OPEN:
                old = next(iter(self._open))
                self._open.pop(old).con.close()
        if self.use_index:
            threading.Thread(target=self._index, args=(served,), name=f"index {name}", daemon=True).start()
        else:
            served.index_done.set()
        return served

    def _pointed_to(self) -> Path | None:
        # Publishing replaces `CURRENT` (a new inode), so an unchanged stat means an unchanged
        # name: one stat per request instead of opening and reading the file.
        try:
            st = os.stat(self.snapshot_dir / POINTER)
        except FileNotFoundError:
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._pointer
        if cached is not None and cached[0] == key:
            return cached[1]
        path = current_snapshot(self.snapshot_dir)
        self._pointer = (key, path)
        return path

    def _index(self, served: Served) -> None:
        cur = served.con.cursor()
        try:
            # The landing view's totals take seconds on a large snapshot: ready before it is asked.
            queries.overview(cur, served.meta)
        except Exception as exc:  # noqa: BLE001 - /overview will meet it again and answer with it
            log.warning("snapshot %s: overview not prepared (%s)", served.meta.name, exc)
        try:
            served.index = load_or_build(cur, served.meta, self.snapshot_dir)
        except Exception as exc:  # noqa: BLE001 - the slow path still answers; say why once
            served.index_error = f"{type(exc).__name__}: {exc}"
            log.warning("snapshot %s: no index, answering from DuckDB (%s)", served.meta.name, exc)
        finally:
            cur.close()
            served.index_done.set()

    def wait_for_index(self, timeout: float = 60.0) -> SnapshotIndex | None:
        """The current snapshot's index once its build ended (None when it failed or is off)."""
        served = self.current()
        served.index_done.wait(timeout)
        return served.index

    @contextlib.contextmanager
    def reader(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, queries.SnapshotMeta]]:
        """A cursor of its own (DuckDB connections are not shared between threads) and the facts."""
        served = self.current()
        cur = served.con.cursor()
        try:
            yield cur, served.meta
        finally:
            cur.close()

    def close(self) -> None:
        """Close every open snapshot connection."""
        with self._lock:
            for served in self._open.values():
                served.index_done.wait(60)  # a build still reading would fail on a closed connection
                served.con.close()
            self._open.clear()


ExportFormat = Literal["csv", "json", "graphml"]
ClusterId = Annotated[str, PathParam(min_length=1, max_length=200, description="e.g. c_0x…")]

UNAUTHORIZED = {401: {"model": Message, "description": "missing or unknown X-API-Key"}}
NO_SNAPSHOT = {503: {"model": Message, "description": "no snapshot has been published yet"}}
NOT_FOUND = {404: {"model": Message, "description": "unknown cluster"}}
_MEDIA = {"csv": "text/csv", "json": "application/json", "graphml": "application/graphml+xml"}


def _flag_rows(frame) -> list[dict]:
    return [
        {k: (int(v) if k == "flag_id" else ("" if v is None else str(v))) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


# ---------------------------------------------------------------- the app


def create_app(
    snapshot_dir: Path,
    api_keys: dict[str, str] | None,
    flags_path: Path,
    use_index: bool = True,
    live: Callable[[str], dict] | None = None,
) -> FastAPI:
    """The API over the snapshots in `snapshot_dir`.

    Args:
        snapshot_dir: Folder holding `CURRENT` and the snapshot files (`settings.snapshot_dir()`).
        api_keys: {name: sha256 hex digest of the key} (`auth.parse_key_spec`); `{}` admits no
            one, None switches the check off (local use only).
        flags_path: The analysts' flags, a SQLite file (`settings.flags_path()`).
        use_index: Answer `/analyze` and `/clusters` from each snapshot's rendered index once it
            is built (False: always from DuckDB, the slow path).
        live: For an address the snapshot lacks: fetch it from the source, build its features and
            ask the champion model (`live_from_settings`); None: such an address is 404.
    """
    pool = SnapshotPool(snapshot_dir, use_index=use_index)
    flags_path = Path(flags_path)
    header = APIKeyHeader(name=HEADER, auto_error=False, description="an API key configured by name")

    # async: a plain function dependency would cost every request a hop to the thread pool.
    async def require_key(presented: Annotated[str | None, Security(header)]) -> str:
        if api_keys is None:
            return "local"
        name = key_name(presented, api_keys)
        if name is None:
            raise HTTPException(
                401,
                detail=f"missing or unknown API key: send one in the {HEADER} header",
                headers={"WWW-Authenticate": HEADER},
            )
        return name

    app = FastAPI(
        title="wallet_pipeline investigator API",
        version="1",
        # Served by `mount_web` from the vendored Swagger UI: FastAPI's own pages load it from CDNs.
        docs_url=None,
        redoc_url=None,
        description=(
            "Personas, entity clusters and risk from the last published snapshot of the pipeline. "
            f"Every endpoint but /health needs an `{HEADER}` header."
        ),
    )
    app.state.snapshot_pool = pool
    app.add_middleware(BodyLimit)
    live_slots = asyncio.Semaphore(LIVE_AT_ONCE)

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        refused = _without_key(request)
        if refused is not None:
            return refused
        # The input is quoted only as an excerpt: a 10 MB value came back whole.
        return JSONResponse({"detail": bounded_errors(jsonable_encoder(exc.errors()))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:  # a body FastAPI could not parse, before the key was checked
            refused = _without_key(request)
            if refused is not None:
                return refused
        return await http_exception_handler(request, exc)

    def _without_key(request: Request) -> JSONResponse | None:
        # FastAPI parses a body before the key dependency runs: without a key the answer is 401
        # whatever the input, so nothing about its validation is told to a caller without one.
        if api_keys is None or key_name(request.headers.get(HEADER), api_keys) is not None:
            return None
        return JSONResponse(
            {"detail": f"missing or unknown API key: send one in the {HEADER} header"},
            status_code=401,
            headers={"WWW-Authenticate": HEADER},
        )

    async def known_query_only(request: Request) -> None:
        route = request.scope.get("route")
        errors = unknown_query_error(route, request.query_params.multi_items()) if route else None
        if errors:
            raise RequestValidationError(errors)

    @app.exception_handler(SnapshotError)
    def _no_snapshot(request: Request, exc: SnapshotError) -> JSONResponse:
        reason = (
            "no snapshot has been published yet: materialize publish/snapshot (it runs at the end of "
            "the full pipeline)"
            if isinstance(exc, NoSnapshotError)
            else f"the snapshot cannot be read: {exc}"
        )
        return JSONResponse({"detail": reason}, status_code=503)

    @app.exception_handler(duckdb.CatalogException)
    def _missing_table(request: Request, exc: duckdb.CatalogException) -> JSONResponse:
        first = str(exc).splitlines()[0]
        return JSONResponse(
            {
                "detail": f"the current snapshot lacks a table this endpoint reads ({first}); "
                "run the full pipeline so it publishes the entity tables"
            },
            status_code=503,
        )

    @app.get(
        "/health", summary="Liveness and which snapshot is served (no key needed)", response_model=Health
    )
    def health() -> dict:
        try:
            served = pool.current()
        except SnapshotError:
            return {"status": "no_snapshot"}
        if not pool.use_index:
            index = "off"
        elif served.index is not None:
            index = "ready"
        else:
            index = "failed" if served.index_error else "building"
        meta = served.meta
        return {"status": "ok", "snapshot": meta.name, "published_at": meta.published_at, "index": index}

    api = APIRouter(
        dependencies=[Depends(require_key), Depends(known_query_only)],
        responses={**UNAUTHORIZED, **NO_SNAPSHOT},
    )

    def known_cluster(con: duckdb.DuckDBPyConnection, cluster_id: str) -> None:
        if not queries.cluster_exists(con, cluster_id):
            raise HTTPException(
                404,
                detail=f"no cluster {cluster_id[:100]!r} in the current snapshot; "
                "list them with GET /clusters",
            )

    @api.get(
        "/analyze/{address}",
        summary="Persona, cluster, risk and evidence of one wallet",
        response_model=Analysis,
        responses={
            404: {"model": Message, "description": "not in the snapshot, nor in the source"},
            422: {"model": Message, "description": "malformed address"},
            503: {"model": Message, "description": "no snapshot, or the source cannot be reached"},
        },
    )
    async def analyze(
        address: Annotated[str, PathParam(max_length=200, description="0x + 40 hex")],
    ) -> Response | dict:
        try:
            normalised = queries.parse_address(address)
        except ValueError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        served = pool.current()
        if served.index is not None:
            body = served.index.analysis_json(normalised)
            result = None if body is None else Response(body, media_type="application/json")
        else:
            result = await run_in_threadpool(_analyze_slowly, normalised)
        if result is None:
            result = await _analyze_live(normalised)
        return result

    async def _analyze_live(address: str) -> dict:
        if live is None:
            raise HTTPException(
                404,
                detail=f"{address} is not in the current snapshot (it has no scored activity in the "
                "loaded data), and the configured source cannot be asked about one address: the "
                "simulator has no wallets beyond the snapshot; with WALLET_SOURCE=files or dune the "
                "address is fetched and scored",
            )
        async with live_slots:
            try:
                found = await run_in_threadpool(live, address)
            except SourceUnavailable as exc:
                raise HTTPException(503, detail=f"{address} is not in the snapshot and {exc}") from None
            except WalletNotInSource as exc:
                raise HTTPException(404, detail=f"not in the current snapshot, and {exc}") from None
            except DbtBuildError as exc:
                raise HTTPException(
                    503, detail=f"{address} is not in the snapshot and its features cannot be built: {exc}"
                ) from None
        return live_analysis(found)

    def _analyze_slowly(address: str) -> dict | None:
        with pool.reader() as (con, meta):
            return queries.analyze_wallet(con, meta, address)

    @api.get(
        "/clusters",
        summary="Clusters by risk, size, recent activity and persona",
        response_model=ClusterPage,
        responses={422: {"model": Message, "description": "a filter out of range"}},
        openapi_extra={"parameters": query_parameters(ClusterQuery)},
    )
    async def clusters(request: Request) -> Response | dict:
        # The query is validated by one pydantic call, not by FastAPI parameter by parameter,
        # which took longer than answering it (`models.ClusterQuery`); the parameters are
        # documented in the OpenAPI schema from the same model.
        try:
            query = ClusterQuery.model_validate(dict(request.query_params))
        except ValidationError as exc:
            errors = [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
            raise RequestValidationError(errors) from None
        filters = query.filters()
        served = pool.current()
        if served.index is not None:
            return Response(served.index.cluster_page_json(**filters), media_type="application/json")
        return await run_in_threadpool(_clusters_slowly, filters)

    def _clusters_slowly(filters: dict) -> dict:
        with pool.reader() as (con, meta):
            return queries.list_clusters(con, meta, **filters)

    @api.get(
        "/clusters/{cluster_id}",
        summary="One cluster: statistics, breakdown, timeline, members, tokens, sub-clusters, bridges",
        response_model=ClusterDetail,
        responses=NOT_FOUND,
    )
    def cluster(
        cluster_id: ClusterId,
        member_limit: Annotated[
            int, Query(ge=1, le=5000, description="members listed, riskiest first")
        ] = 500,
    ) -> dict:
        with pool.reader() as (con, meta):
            detail = queries.cluster_detail(con, meta, cluster_id, member_limit)
        if detail is None:
            raise HTTPException(404, detail=f"no cluster {cluster_id[:100]!r} in the current snapshot")
        return detail

    @api.get(
        "/clusters/{cluster_id}/graph",
        summary=(
            "The cluster's network: wallets with persona, risk and bridge flag; edges with type and weight"
        ),
        response_model=ClusterNetwork,
        responses=NOT_FOUND,
    )
    def cluster_graph(cluster_id: ClusterId) -> dict:
        with pool.reader() as (con, meta):
            known_cluster(con, cluster_id)
            return queries.cluster_network(con, meta, cluster_id)

    @api.get(
        "/clusters/{cluster_id}/export",
        summary="Download one cluster: csv (its members only), json (everything) or graphml",
        response_class=Response,
        responses={
            **NOT_FOUND,
            200: {"content": {m: {} for m in _MEDIA.values()}, "description": "the file"},
        },
    )
    def export(cluster_id: ClusterId, format: ExportFormat = "json") -> Response:  # noqa: A002 - the API's word
        with pool.reader() as (con, _):
            known_cluster(con, cluster_id)
            text = queries.export_cluster_text(con, cluster_id, format)
        safe = re.sub(r"[^A-Za-z0-9_]", "_", cluster_id)[:120]
        return Response(
            text,
            media_type=_MEDIA[format],
            headers={"Content-Disposition": f'attachment; filename="{safe}.{format}"'},
        )

    @api.get("/stats", summary="Totals of the served snapshot", response_model=Stats)
    def stats() -> dict:
        with pool.reader() as (con, meta):
            result = queries.stats(con, meta)
        result["flags_active"] = int((flag_store.list_flags(flags_path)["status"] == "active").sum())
        return result

    @api.get(
        "/overview",
        summary="Where to start: totals by risk level and persona, riskiest clusters, example wallets",
        response_model=Overview,
    )
    def overview() -> dict:
        with pool.reader() as (con, meta):
            return queries.overview(con, meta)

    @api.post(
        "/clusters/{cluster_id}/flags",
        summary="Flag a cluster; the flag records the API key's name",
        response_model=Flag,
        status_code=201,
        responses={**NOT_FOUND, 400: {"model": Message, "description": "the body is not JSON"}},
    )
    def add_flag(cluster_id: ClusterId, body: FlagIn, who: Annotated[str, Depends(require_key)]) -> dict:
        with pool.reader() as (con, _):
            known_cluster(con, cluster_id)
        flag_id = flag_store.add_flag(flags_path, cluster_id, body.reason, body.note, flagged_by=who)
        rows = _flag_rows(flag_store.list_flags(flags_path, cluster_id=cluster_id))
        return next(r for r in rows if r["flag_id"] == flag_id)

    @api.get("/flags", summary="Analysts' flags, newest last", response_model=list[Flag])
    def list_flags(
        cluster_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
        include_removed: bool = False,
    ) -> list[dict]:
        frame = flag_store.list_flags(flags_path, cluster_id=cluster_id, include_removed=include_removed)
        return _flag_rows(frame)

    app.include_router(api)
    mount_web(app)
    return app


def create_app_from_environment() -> FastAPI:
    """`create_app` configured like the pipeline, for `uvicorn --factory`.

    Run it with `uvicorn --factory wallet_pipeline.api.app:create_app_from_environment`.
    Keys come from `WALLET_API_KEYS`; without it, a key is made for this process and printed once,
    so the API never answers without one.
    """
    from wallet_pipeline import settings

    keys = settings.api_keys()
    if keys is None:
        keys = session_key()
    return create_app(settings.snapshot_dir(), keys, settings.flags_path(), live=live_from_settings())


def live_from_settings(warm_up: bool = True) -> Callable[[str], dict] | None:
    """Live analysis from the configured source (`WALLET_SOURCE`); None for the simulator.

    `warm_up` compiles the feature models and loads the champion in the background, so the first
    analysis does not wait 10 s for them; a failure there is logged and met again by that request.
    """
    from wallet_pipeline import settings

    source = settings.get_source()
    if source not in ("files", "dune"):
        return None
    config = LiveConfig.from_settings()

    def warm() -> None:
        try:
            prepare(config)
        except Exception as exc:  # noqa: BLE001 - a request will meet it again, with its reason
            log.warning("live analysis could not warm up: %s", exc)

    if warm_up:
        threading.Thread(target=warm, name="live warm-up", daemon=True).start()
    return functools.partial(analyze_live, source=source, config=config)


def live_analysis(found: dict) -> dict:
    """An `Analysis` of an address scored live: persona and features, no cluster or risk yet."""
    features = {k: float(v) if isinstance(v, Decimal) else v for k, v in found["features"].items()}
    persona = found["persona"]
    if persona is not None:
        # The live path keys probabilities like the snapshot's columns; the API names them.
        names = queries.persona_names([persona.get("persona")])
        persona = {
            **persona,
            "probabilities": {
                queries.persona_name(k, names): v for k, v in (persona.get("probabilities") or {}).items()
            },
        }
    return {
        "address": found["address"],
        "checksum_address": queries.checksum_address(found["address"]),
        "source": found["source"],
        "persona": persona,
        "membership": None,
        "wallet_risk": None,
        "cluster": None,
        "evidence_chain": [],
        "features": features,
        "computed_at": found["computed_at"],
        "persona_reason": found.get("persona_reason"),
        "inexact_features": found.get("inexact_features"),
    }


def session_key() -> dict[str, str]:
    """A random key for this process only, printed once; stored hashed like configured keys."""
    import secrets
    import sys

    key = secrets.token_urlsafe(24)
    print(  # noqa: T201 - the user must see this process's key once
        f"WALLET_API_KEYS is not set; this process's API key (header X-API-Key): {key}", file=sys.stderr
    )
    return {"session": hash_key(key)}
