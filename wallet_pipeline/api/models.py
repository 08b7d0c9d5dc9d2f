"""The API's request and response shapes: the OpenAPI schema, and what every answer is checked against.

The fast path (`wallet_pipeline.api.index`) renders answers ahead of time through these same
models, so both paths give the same JSON.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from wallet_pipeline.logic.publish import flags as flag_store


def _as_utc(value: datetime) -> datetime:
    # Chain times are stored without a zone and are UTC; say so, as RFC 3339 requires a zone.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Utc = Annotated[datetime, AfterValidator(_as_utc)]


class Message(BaseModel):
    """An error: what went wrong and what to do."""

    detail: str | list[Any]


class Persona(BaseModel):
    """A wallet's persona and the probability of each persona."""

    persona: str | None
    confidence: float | None
    model_version: str | None
    probabilities: dict[str, float | None] = Field(
        description="probability of each persona, by its name as the persona model spells it "
        "(wallet_pipeline.logic.personas), e.g. 'High-Frequency Bot'"
    )


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
    first_time: Utc | None
    last_time: Utc | None
    evidence: list[str] | None = Field(description="transaction hashes behind the edge")


class AnalysisBody(BaseModel):
    """What an analysis says about the wallet itself; `Analysis` adds its checksum and its cluster."""

    address: str
    source: Literal["snapshot", "files", "dune"] = Field(
        description="snapshot: the published run; files or dune: fetched now, the address not being in it"
    )
    persona: Persona | None
    membership: Membership | None = Field(description="None: no link strong enough joins it to a cluster")
    wallet_risk: WalletRisk | None
    evidence_chain: list[EvidenceHop] = Field(description="edges from the cluster's anchor to the wallet")
    features: dict[str, Any] | None = Field(
        None, description="fetched addresses only: the wallet_features row the dbt models built for it"
    )
    computed_at: Utc | None = Field(None, description="fetched addresses only: when")
    persona_reason: str | None = Field(None, description="why there is no persona, when there is none")
    inexact_features: dict[str, str] | None = Field(
        None, description="fetched addresses only: features the fetch could not make exact, and why"
    )


class Analysis(AnalysisBody):
    """Everything the snapshot knows about a wallet: persona, cluster, risk and the evidence linking them."""

    checksum_address: str = Field(description="the EIP-55 form of the address")
    cluster: ClusterBrief | None


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
    first_seen: Utc | None
    last_active: Utc | None
    sub_clusters: int | None
    bridge_wallets: int | None
    dominant_personas: str | None


class ClusterPage(BaseModel):
    """One page of clusters matching the filters, with the total over all pages."""

    total: int = Field(description="clusters matching the filters, over all pages")
    page: int
    page_size: int
    newest_activity: Utc | None = Field(description="what active_within counts back from")
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
    as_of: Utc | None
    event: str | None
    size: int | None
    previous_size: int | None
    wallets_added: int | None
    wallets_departed: int | None
    related_ids: list[str] | None
    first_activity: Utc | None
    last_activity: Utc | None


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
    published_at: Utc | None
    run_id: str | None
    newest_activity: Utc | None
    clusters: int
    clusters_by_risk_level: dict[str, int]
    wallets_scored: int
    wallets_by_persona: dict[str, int]
    graph_stats: dict[str, Any] | None
    flags_active: int


class ExampleWallet(BaseModel):
    """A wallet to start an investigation from, and why it was picked."""

    address: str
    persona: str | None
    risk_score: float | None
    risk_level: str | None
    cluster_id: str | None
    why: str


class PersonaCount(BaseModel):
    """How many wallets hold a persona."""

    persona: str
    wallets: int


class Overview(BaseModel):
    """The landing view of the served snapshot: totals, the riskiest clusters and example wallets."""

    snapshot: str
    published_at: Utc | None
    newest_activity: Utc | None
    wallets: int = Field(description="distinct wallets with a risk score, a cluster or a persona")
    wallets_scored: int
    wallets_clustered: int
    wallets_with_persona: int
    clusters: int
    clusters_by_risk_level: dict[str, int] = Field(description="every level, zero included")
    wallets_by_risk_level: dict[str, int] = Field(description="every level, zero included")
    wallets_by_persona: list[PersonaCount] = Field(description="most common first")
    riskiest_clusters: list[ClusterSummary] = Field(description="riskiest first, then larger")
    example_wallets: list[ExampleWallet] = Field(
        description="the riskiest wallet of each of the five riskiest clusters, then the most "
        "confident wallet of each persona"
    )
    personas: list[str] = Field(description="every persona name the model uses, then any other held")


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
    """Whether the API is up, which snapshot, if any, it is serving, and whether its index is ready."""

    status: Literal["ok", "no_snapshot"]
    snapshot: str | None = None
    published_at: Utc | None = None
    index: Literal["ready", "building", "failed", "off"] | None = Field(
        None, description="ready: /analyze and /clusters answer from the rendered index; else from DuckDB"
    )


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


MAX_PAGE_SIZE = 200
RiskLevel = Literal["Critical", "High", "Medium", "Low", "Minimal"]


class ClusterQuery(BaseModel):
    """The filters, sort and page of `GET /clusters`, validated in one step.

    One model rather than eight separate query parameters: FastAPI checks each separate parameter
    in Python on every request, which cost more than answering the query.
    """

    risk_min: float = Field(0.0, ge=0, le=100, description="lowest risk score")
    risk_level: RiskLevel | None = Field(None, description="exact level")
    size: SizeBand | None = Field(None, description="size band; 50+ means more than 50")
    active_within: ActiveWithin | None = Field(
        None, description="active within this long of the snapshot's newest activity"
    )
    persona: str | None = Field(
        None, min_length=1, max_length=64, description="dominant personas contain this text"
    )
    sort: Literal["risk", "size", "last_active"] = Field("risk", description="descending")
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)

    def filters(self) -> dict:
        """The keyword arguments of `queries.list_clusters` and `SnapshotIndex.cluster_page_json`."""
        return {
            "risk_min": self.risk_min,
            "risk_level": self.risk_level,
            "size_band": self.size.value if self.size else None,
            "active_within": self.active_within.value if self.active_within else None,
            "persona": self.persona,
            "sort": self.sort,
            "page": self.page,
            "page_size": self.page_size,
        }


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI parameter objects for a model whose fields are query parameters, refs inlined."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return [
        {
            "name": name,
            "in": "query",
            "required": name in schema.get("required", []),
            "description": prop.get("description", ""),
            "schema": inline({k: v for k, v in prop.items() if k != "description"}),
        }
        for name, prop in schema["properties"].items()
    ]
