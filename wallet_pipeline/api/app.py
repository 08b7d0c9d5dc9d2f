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

import contextlib
import re
import threading
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import duckdb
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field

from wallet_pipeline.api import queries
from wallet_pipeline.api.auth import HEADER, hash_key, key_name
from wallet_pipeline.api.web import mount_web
from wallet_pipeline.logic import flags as flag_store
from wallet_pipeline.logic.snapshot import (
    NoSnapshotError,
    SnapshotError,
    connect_snapshot,
    current_snapshot,
)

MAX_PAGE_SIZE = 200
FETCH_LATER = (
    "fetching an address that is not in the snapshot from the configured source (Dune or files) "
    "and scoring it with the promoted model is not built yet"
)


# ---------------------------------------------------------------- snapshot connections


class SnapshotPool:
    """One read-only connection per snapshot file, a cursor per request; follows `CURRENT`.

    The two newest files stay open, so a request that started on the previous snapshot finishes
    on it while the next request already reads the new one.
    """

    KEEP_OPEN = 2

    def __init__(self, snapshot_dir: Path) -> None:
        self.snapshot_dir = Path(snapshot_dir)
        self._lock = threading.Lock()
        self._open: dict[str, tuple[duckdb.DuckDBPyConnection, queries.SnapshotMeta]] = {}

    def current(self) -> tuple[duckdb.DuckDBPyConnection, queries.SnapshotMeta]:
        """The connection and facts of the snapshot `CURRENT` names now."""
        path = current_snapshot(self.snapshot_dir)
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
            entry = (con, queries.read_meta(con, name))
            self._open[name] = entry
            while len(self._open) > self.KEEP_OPEN:
                old = next(iter(self._open))
                self._open.pop(old)[0].close()
            return entry

    @contextlib.contextmanager
    def reader(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, queries.SnapshotMeta]]:
        """A cursor of its own (DuckDB connections are not shared between threads) and the facts."""
        base, meta = self.current()
        cur = base.cursor()
        try:
            yield cur, meta
        finally:
            cur.close()

    def close(self) -> None:
        """Close every open snapshot connection."""
        with self._lock:
            for con, _ in self._open.values():
                con.close()
            self._open.clear()


# ---------------------------------------------------------------- response and request models


class Message(BaseModel):
    """An error: what went wrong and what to do."""

    detail: str | list[Any]


class Persona(BaseModel):
    """A wallet's persona and the probability of each persona."""

    persona: str | None
    confidence: float | None
    model_version: str | None
    probabilities: dict[str, float | None] = Field(description="p_<persona> columns, by persona key")


class Membership(BaseModel):
    """The cluster a wallet belongs to, its sub-cluster and whether it bridges clusters."""

    cluster_id: str
    sub_cluster_id: str | None = None
    is_bridge: bool | None = None
    bridge_reason: str | None = None
    cluster_size: int | None = None


class WalletRisk(BaseModel):
    """A wallet's own risk score and level, reputation, patterns and how the score was built."""

    risk_score: float | None
    risk_level: str | None
    reputation: float | None
    patterns: str | None
    breakdown: dict[str, Any] = Field(description="per factor: value, weight, points, evidence")


class ClusterBrief(BaseModel):
    """The cluster a wallet belongs to, in brief: size, risk and dominant personas."""

    cluster_id: str
    size: int | None
    risk_score: float | None
    risk_level: str | None
    risk_breakdown: dict[str, Any]
    dominant_personas: str | None


class EvidenceHop(BaseModel):
    """One edge on the path from the cluster's anchor to the wallet, with the transactions behind it."""

    hop: int
    anchor: str | None
    src: str | None
    dst: str | None
    edge_type: str | None
    weight: float | None
    first_time: datetime | None
    last_time: datetime | None
    evidence: list[str] | None = Field(description="transaction hashes behind the edge")


class Analysis(BaseModel):
    """Everything the snapshot knows about a wallet: persona, cluster, risk and the evidence linking them."""

    address: str
    checksum_address: str
    source: Literal["snapshot"] = Field(description="where the answer came from")
    persona: Persona | None
    membership: Membership | None = Field(description="None: no link strong enough joins it to a cluster")
    wallet_risk: WalletRisk | None
    cluster: ClusterBrief | None
    evidence_chain: list[EvidenceHop] = Field(description="edges from the cluster's anchor to the wallet")


class ClusterSummary(BaseModel):
    """One cluster in the list: size, risk, reputation, tokens and activity window."""

    cluster_id: str
    size: int | None
    risk_score: float | None
    risk_level: str | None
    scam_rate: float | None
    reputation: float | None
    known_scammers: int | None
    tokens_created: int | None
    scam_tokens: int | None
    first_seen: datetime | None
    last_active: datetime | None
    sub_clusters: int | None
    bridge_wallets: int | None
    dominant_personas: str | None


class ClusterPage(BaseModel):
    """One page of clusters matching the filters, with the total over all pages."""

    total: int = Field(description="clusters matching the filters, over all pages")
    page: int
    page_size: int
    newest_activity: datetime | None = Field(description="what active_within counts back from")
    items: list[ClusterSummary]


class ClusterStats(ClusterSummary):
    """A cluster's summary plus its density, flagged wallets and risk breakdown."""

    model_config = ConfigDict(extra="allow")
    density: float | None = None
    flagged_wallets: int | None = None
    risk_breakdown: dict[str, Any]


class Member(BaseModel):
    """A wallet in a cluster, with its sub-cluster, bridge flag, risk and persona."""

    address: str
    sub_cluster_id: str | None
    is_bridge: bool | None
    bridge_reason: str | None
    risk_score: float | None
    risk_level: str | None
    reputation: float | None
    patterns: str | None
    persona: str | None


class SubCluster(BaseModel):
    """A sub-cluster within a cluster: its size and how many bridge wallets it has."""

    sub_cluster_id: str
    size: int
    bridge_wallets: int


class Bridge(BaseModel):
    """A wallet that links sub-clusters or clusters, and why it counts as a bridge."""

    address: str
    is_articulation: bool | None
    linked_clusters: list[str] | None
    bridge_reason: str | None


class HistoryEvent(BaseModel):
    """One event in a cluster's timeline across pipeline runs: how its membership changed."""

    run_id: str | None
    as_of: datetime | None
    event: str | None
    size: int | None
    previous_size: int | None
    wallets_added: int | None
    wallets_departed: int | None
    related_ids: list[str] | None
    first_activity: datetime | None
    last_activity: datetime | None


class Token(BaseModel):
    """A token created by a wallet in the cluster, and whether it is known to be a scam."""

    token: str
    creator: str
    is_scam: bool | None = Field(description="None: the snapshot keeps only the cluster's count")


class LinkedCluster(BaseModel):
    """Another cluster linked to this one, by link type and strength."""

    other_cluster_id: str
    link_type: str | None
    n: int | None
    weight: float | None


class ClusterDetail(BaseModel):
    """A cluster in full: stats, members, sub-clusters, bridges, history, tokens and linked clusters."""

    cluster: ClusterStats
    members: list[Member] = Field(description="riskiest first, up to member_limit")
    members_shown: int
    sub_clusters: list[SubCluster]
    bridges: list[Bridge]
    history: list[HistoryEvent] = Field(description="timeline, oldest first")
    tokens_created: list[Token]
    linked_clusters: list[LinkedCluster]


class Node(BaseModel):
    """A wallet in the cluster's network graph, with its persona, risk and bridge flag."""

    id: str = Field(description="the wallet address")
    sub_cluster_id: str | None
    is_bridge: bool | None
    risk_score: float | None
    risk_level: str | None
    reputation: float | None
    persona: str | None


class Edge(BaseModel):
    """A link between two wallets in the cluster's network graph, with its type and weight."""

    source: str
    target: str
    edge_type: str | None
    weight: float | None
    directed: bool | None
    n: int | None


class ClusterNetwork(BaseModel):
    """A cluster's network graph: its wallets as nodes and their links as edges."""

    cluster_id: str
    nodes: list[Node]
    edges: list[Edge]


class Stats(BaseModel):
    """Totals for the current snapshot: clusters by risk level, wallets by persona and active flags."""

    snapshot: str
    published_at: datetime | None
    run_id: str | None
    newest_activity: datetime | None
    clusters: int
    clusters_by_risk_level: dict[str, int]
    wallets_scored: int
    wallets_by_persona: dict[str, int]
    graph_stats: dict[str, Any] | None
    flags_active: int


class FlagIn(BaseModel):
    """A request to flag a cluster: a reason from the fixed list and an optional note."""

    model_config = ConfigDict(extra="forbid")
    reason: Literal[flag_store.REASONS]  # type: ignore[valid-type]
    note: str = Field("", max_length=2000)


class Flag(BaseModel):
    """An investigator's flag on a cluster: who raised it, why, when and its status."""

    flag_id: int
    cluster_id: str
    original_cluster_id: str
    reason: str
    note: str
    flagged_by: str
    flagged_at: str
    status: str
    updated_at: str


class Health(BaseModel):
    """Whether the API is up and which snapshot, if any, it is serving."""

    status: Literal["ok", "no_snapshot"]
    snapshot: str | None = None
    published_at: datetime | None = None


class SizeBand(StrEnum):
    """Cluster size bands for filtering the cluster list."""

    small = "2-5"
    medium = "6-20"
    large = "21-50"
    huge = "50+"


class ActiveWithin(StrEnum):
    """How recently a cluster must have been active, counted back from the newest activity."""

    day = "24h"
    week = "7d"
    month = "30d"


RiskLevel = Literal[queries.RISK_LEVELS]  # type: ignore[valid-type]
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


def create_app(snapshot_dir: Path, api_keys: dict[str, str] | None, flags_path: Path) -> FastAPI:
    """The API over the snapshots in `snapshot_dir`.

    Args:
        snapshot_dir: Folder holding `CURRENT` and the snapshot files (`settings.snapshot_dir()`).
        api_keys: {name: sha256 hex digest of the key} (`auth.parse_key_spec`); `{}` admits no
            one, None switches the check off (local use only).
        flags_path: The analysts' flags, a SQLite file (`settings.flags_path()`).
    """
    pool = SnapshotPool(snapshot_dir)
    flags_path = Path(flags_path)
    header = APIKeyHeader(name=HEADER, auto_error=False, description="an API key configured by name")

    def require_key(presented: Annotated[str | None, Security(header)]) -> str:
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
        description=(
            "Personas, entity clusters and risk from the last published snapshot of the pipeline. "
            f"Every endpoint but /health needs an `{HEADER}` header."
        ),
    )
    app.state.snapshot_pool = pool

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
            _, meta = pool.current()
        except SnapshotError:
            return {"status": "no_snapshot"}
        return {"status": "ok", "snapshot": meta.name, "published_at": meta.published_at}

    api = APIRouter(dependencies=[Depends(require_key)], responses={**UNAUTHORIZED, **NO_SNAPSHOT})

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
            404: {"model": Message, "description": "address not in the snapshot"},
            422: {"model": Message, "description": "malformed address"},
        },
    )
    def analyze(address: Annotated[str, PathParam(max_length=200, description="0x + 40 hex")]) -> dict:
        try:
            normalised = queries.parse_address(address)
        except ValueError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        with pool.reader() as (con, meta):
            result = queries.analyze_wallet(con, meta, normalised)
        if result is None:
            raise HTTPException(
                404,
                detail=f"{normalised} is not in the current snapshot (it has no scored activity in the "
                f"loaded data); {FETCH_LATER}",
            )
        return result

    @api.get(
        "/clusters", summary="Clusters by risk, size, recent activity and persona", response_model=ClusterPage
    )
    def clusters(
        risk_min: Annotated[float, Query(ge=0, le=100, description="lowest risk score")] = 0.0,
        risk_level: Annotated[RiskLevel | None, Query(description="exact level")] = None,
        size: Annotated[SizeBand | None, Query(description="size band; 50+ means more than 50")] = None,
        active_within: Annotated[
            ActiveWithin | None,
            Query(description="active within this long of the snapshot's newest activity"),
        ] = None,
        persona: Annotated[
            str | None, Query(min_length=1, max_length=64, description="dominant personas contain this text")
        ] = None,
        sort: Annotated[Literal["risk", "size", "last_active"], Query(description="descending")] = "risk",
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    ) -> dict:
        with pool.reader() as (con, meta):
            return queries.list_clusters(
                con,
                meta,
                risk_min=risk_min,
                risk_level=risk_level,
                size_band=size.value if size else None,
                active_within=active_within.value if active_within else None,
                persona=persona,
                sort=sort,
                page=page,
                page_size=page_size,
            )

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

    @api.post(
        "/clusters/{cluster_id}/flags",
        summary="Flag a cluster; the flag records the API key's name",
        response_model=Flag,
        status_code=201,
        responses=NOT_FOUND,
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
    return create_app(settings.snapshot_dir(), keys, settings.flags_path())


def session_key() -> dict[str, str]:
    """A random key for this process only, printed once; stored hashed like configured keys."""
    import secrets
    import sys

    key = secrets.token_urlsafe(24)
    print(  # noqa: T201 - the user must see this process's key once
        f"WALLET_API_KEYS is not set; this process's API key (header X-API-Key): {key}", file=sys.stderr
    )
    return {"session": hash_key(key)}
