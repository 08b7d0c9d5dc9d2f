"""Entity clusters and risk: groups of wallets one actor controls, how risky they are, and why.

graph/wallet_edges -> entity_clusters (wallet_clusters with stable ids, cluster_history,
cluster_edges, cluster_evidence, cluster_links) -> entity_risk (wallet_reputation, clusters,
wallet_risk, graph_stats) -> cluster_evaluation (simulator only: against the planted entities).
"""

from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from wallet_pipeline import settings
from wallet_pipeline.lib.duckdb_resource import DuckDBFile

GROUP = "entities"
EDGES = dg.AssetKey(["graph", "wallet_edges"])
FEATURES = dg.AssetKey(["marts", "wallet_features"])
TRUTH = dg.AssetKey(["ground_truth", "wallets"])
RAW_FOR_RISK = (
    "transactions",
    "token_transfers",
    "tokens",
    "address_labels",
    "contract_creations",
    "dex_trades",
)


def _key(name: str) -> dg.AssetKey:
    return dg.AssetKey([GROUP, name])


def _spec(key: dg.AssetKey, deps: list[dg.AssetKey], description: str) -> dg.AssetSpec:
    return dg.AssetSpec(key, deps=deps, group_name=GROUP, kinds={"duckdb"}, description=description)


WALLET_CLUSTERS = _key("wallet_clusters")
CLUSTERS = _key("clusters")
WALLET_RISK = _key("wallet_risk")


class ClusteringConfig(dg.Config):
    """How wallets are grouped; the defaults are what the schedules use."""

    method: str = Field(
        default="lpa", description="'lpa' (label propagation) or 'louvain' (NetworkX, small graphs)."
    )
    seed: int = Field(default=0, description="Seed of the label order (lpa) or of Louvain.")
    min_cluster_weight: float = Field(
        default=0.5, description="Summed weight a pair of wallets needs to take part in clustering."
    )
    max_cluster_size: int = Field(
        default=5_000, description="Wallets past which a cluster is a super-cluster."
    )
    max_cluster_share: float = Field(
        default=0.2, description="Share of clustered wallets past which a cluster is a super-cluster."
    )
    sub_cluster_min_size: int = Field(default=30, description="Clusters at least this big get sub-clusters.")
    min_overlap: float = Field(
        default=0.5, description="Share of a previous cluster's wallets a new cluster needs to keep its id."
    )


@dg.multi_asset(
    specs=[
        _spec(
            WALLET_CLUSTERS,
            [EDGES, FEATURES],
            (
                "entities.wallet_clusters: every clustered wallet with its stable cluster id, sub-cluster "
                "and bridge flag. Wallets in no cluster are absent (they stand alone)."
            ),
        ),
        _spec(
            _key("cluster_history"),
            [EDGES],
            (
                "entities.cluster_history: one row per cluster and run: new, grew, shrank, merged, split, "
                "dissolved, with wallets added and departed. Only grows."
            ),
        ),
        _spec(
            _key("cluster_edges"),
            [EDGES],
            "entities.cluster_edges: the edges inside each cluster, with their evidence.",
        ),
        _spec(
            _key("cluster_evidence"),
            [EDGES],
            (
                "entities.cluster_evidence: for every clustered wallet, the chain of edges (rule, time, "
                "transaction hashes) that joins it to its cluster's anchor wallet."
            ),
        ),
        _spec(
            _key("bridge_wallets"),
            [EDGES],
            (
                "entities.bridge_wallets: articulation points of a cluster and wallets with links into "
                "other clusters, with the clusters they link."
            ),
        ),
        _spec(
            _key("cluster_links"),
            [EDGES, dg.AssetKey(["raw", "token_transfers"])],
            "entities.cluster_links: transfers and rare shared tokens between clusters.",
        ),
    ],
    name="entity_clusters",
)
def entity_clusters(
    context: dg.AssetExecutionContext, config: ClusteringConfig, duckdb: DuckDBFile
) -> Iterator[dg.MaterializeResult]:
    """Cluster the wallet graph, keep the previous run's ids, and explain every membership."""
    from wallet_pipeline.logic.graph.entities import build_entities, write_entities

    with duckdb.get_connection() as con:
        built = build_entities(
            con,
            method=config.method,
            seed=config.seed,
            min_cluster_weight=config.min_cluster_weight,
            max_cluster_size=config.max_cluster_size,
            max_cluster_share=config.max_cluster_share,
            sub_cluster_min_size=config.sub_cluster_min_size,
            min_overlap=config.min_overlap,
            run_id=context.run_id,
            as_of=datetime.now(UTC).replace(tzinfo=None),
            **_engine_clustering(config),
        )
        written = write_entities(con, built)
    for line in built.report_lines():
        context.log.info(line)
    meta = built.metadata
    yield dg.MaterializeResult(
        asset_key=WALLET_CLUSTERS,
        metadata={
            "dagster/row_count": written["wallet_clusters"],
            "clustered_on": settings.get_engine(),
            **{k: (dg.MetadataValue.json(v) if isinstance(v, dict | list) else v) for k, v in meta.items()},
        },
    )
    events = built.history["event"].value_counts().to_dict() if len(built.history) else {}
    yield dg.MaterializeResult(
        asset_key=_key("cluster_history"),
        metadata={"rows_added": written["cluster_history"], "events": dg.MetadataValue.json(events)},
    )
    for name in ("cluster_edges", "cluster_evidence", "bridge_wallets", "cluster_links"):
        yield dg.MaterializeResult(asset_key=_key(name), metadata={"dagster/row_count": written[name]})


def _engine_clustering(config: ClusteringConfig) -> dict:
    """The clustering of WALLET_ENGINE=spark: `cluster_edges` on Spark, with the compiled propagation.

    The driver's propagation gives the DuckDB engine's clusters member for member
    (docs/spark_graph.md); Spark's own rounds need not, and the clusters must not depend on the
    engine. The DuckDB engine passes nothing: `build_entities` clusters with `cluster_edges`.
    """
    if settings.get_engine() != "spark":
        return {}
    if config.method != "lpa":
        raise dg.Failure(
            f"WALLET_ENGINE=spark clusters by label propagation (method 'lpa'), not {config.method!r}"
        )
    from wallet_pipeline.logic.spark.clustering import spark_clusterer
    from wallet_pipeline.logic.spark.session import local_session

    return {"cluster": spark_clusterer(local_session(settings.data_dir(), folder=settings.spark_dir()))}


@dg.multi_asset(
    specs=[
        _spec(
            _key("wallet_reputation"),
            [*(dg.AssetKey(["raw", t]) for t in RAW_FOR_RISK), FEATURES],
            (
                "entities.wallet_reputation: a 0-100 score per address from age, activity diversity, "
                "counterparty quality and labels, with each factor."
            ),
        ),
        _spec(
            CLUSTERS,
            [WALLET_CLUSTERS, _key("cluster_edges"), EDGES],
            (
                "entities.clusters: one row per cluster: size, risk score 0-100 and level with its "
                "breakdown (scam rate, reputation, density, known scammers), tokens created, first and "
                "last activity, dominant personas."
            ),
        ),
        _spec(
            WALLET_RISK,
            [WALLET_CLUSTERS, EDGES],
            "entities.wallet_risk: a risk score 0-100, level and breakdown for every address.",
        ),
        _spec(
            _key("graph_stats"),
            [WALLET_CLUSTERS],
            "entities.graph_stats: one row: clusters, high-risk clusters, sizes, wallets.",
        ),
    ],
    name="entity_risk",
)
def entity_risk(context: dg.AssetExecutionContext, duckdb: DuckDBFile) -> Iterator[dg.MaterializeResult]:
    """Score every cluster and wallet 0-100 and keep the reasons."""
    from wallet_pipeline.logic.graph.entities import score_entities
    from wallet_pipeline.logic.graph.store import ENTITIES_SCHEMA, replace_tables

    with duckdb.get_connection() as con:
        scored = score_entities(con, run_id=context.run_id)
        written = replace_tables(con, ENTITIES_SCHEMA, scored.tables)
    yield dg.MaterializeResult(
        asset_key=_key("wallet_reputation"),
        metadata={"dagster/row_count": written["wallet_reputation"], **scored.reputation_metadata},
    )
    yield dg.MaterializeResult(
        asset_key=CLUSTERS,
        metadata={
            "dagster/row_count": written["clusters"],
            "clusters_by_level": dg.MetadataValue.json(scored.cluster_levels),
            "riskiest": dg.MetadataValue.md(scored.riskiest_markdown),
        },
    )
    yield dg.MaterializeResult(
        asset_key=WALLET_RISK,
        metadata={
            "dagster/row_count": written["wallet_risk"],
            "wallets_by_level": dg.MetadataValue.json(scored.wallet_levels),
        },
    )
    yield dg.MaterializeResult(
        asset_key=_key("graph_stats"),
        metadata={k: v for k, v in scored.stats.items() if isinstance(v, int | float | str)},
    )


# "Giant" means most of the clustered wallets in one cluster; on a large chain that is a hub that
# glued unrelated groups, on a small export (three clusters of a few wallets) it is ordinary data.
GIANT_CLUSTER_SHARE = 0.5


@dg.asset_check(
    asset=WALLET_CLUSTERS,
    blocking=False,
    description=(
        "Warns when one cluster holds more than half of the clustered wallets: on a large chain a "
        "giant cluster means a hub glued unrelated groups, and its risk would spread to everyone in "
        "it. A warning, not a stop: on a small export it is ordinary data."
    ),
)
def no_giant_cluster(duckdb: DuckDBFile) -> dg.AssetCheckResult:
    """The largest cluster against all clustered wallets, with the figures in the message."""
    with duckdb.get_connection() as con:
        cluster_id, largest, total, clusters = con.execute(
            "select arg_max(cluster_id, n), coalesce(max(n), 0), coalesce(sum(n), 0), count(*) from "
            "(select cluster_id, count(*) n from entities.wallet_clusters group by cluster_id)"
        ).fetchone()
    share = largest / total if total else 0.0
    giant = share > GIANT_CLUSTER_SHARE
    return dg.AssetCheckResult(
        passed=not giant,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"largest cluster {cluster_id} holds {int(largest):,} of {int(total):,} clustered wallets "
            f"({share:.1%}) in {int(clusters):,} clusters; a warning above {GIANT_CLUSTER_SHARE:.0%}"
            if total
            else "no clustered wallets"
        ),
        metadata={
            "largest_cluster": int(largest),
            "largest_cluster_id": str(cluster_id),
            "clustered_wallets": int(total),
            "clusters": int(clusters),
            "share": round(share, 4),
            "threshold": GIANT_CLUSTER_SHARE,
        },
    )


@dg.asset_check(
    asset=CLUSTERS,
    blocking=True,
    description=(
        "Every cluster's risk breakdown adds up to its score within 0.05 (the score is the sum of "
        "points rounded to 0.01, itself rounded to 0.1), and every score is within 0-100."
    ),
)
def risk_breakdown_adds_up(duckdb: DuckDBFile) -> dg.AssetCheckResult:
    """Re-adds every stored breakdown."""
    from wallet_pipeline.logic.graph.entities import BREAKDOWN_TOLERANCE, breakdown_mismatches

    with duckdb.get_connection() as con:
        bad = breakdown_mismatches(con)
    return dg.AssetCheckResult(
        passed=len(bad) == 0,
        description=(
            f"{len(bad):,} clusters whose points differ from their score by more than "
            f"{BREAKDOWN_TOLERANCE:.2f} or whose score is outside 0-100 (e.g. {', '.join(bad[:5])})"
            if bad
            else None
        ),
        metadata={
            "mismatched_clusters": len(bad),
            "examples": ", ".join(bad[:5]) or "none",
            "tolerance": round(BREAKDOWN_TOLERANCE, 6),
        },
    )


@dg.asset(
    key=_key("cluster_evaluation"),
    deps=[CLUSTERS, WALLET_RISK, TRUTH],
    group_name=GROUP,
    kinds={"duckdb"},
)
def cluster_evaluation(duckdb: DuckDBFile) -> dg.MaterializeResult:
    """entities.cluster_evaluation: clusters and risk against the simulator's planted entities.

    B-cubed precision, recall and F1 of clusters; recall of malicious entities at High or above;
    benign entities and wallets at High or above.
    """
    from wallet_pipeline.logic.graph.entities import evaluate_entities
    from wallet_pipeline.logic.graph.store import ENTITIES_SCHEMA, replace_tables

    with duckdb.get_connection() as con:
        result = evaluate_entities(con)
        replace_tables(con, ENTITIES_SCHEMA, {"cluster_evaluation": result.table})
    return dg.MaterializeResult(
        metadata={
            k: (dg.MetadataValue.json(v) if isinstance(v, dict) else v) for k, v in result.metadata.items()
        }
    )


def entity_assets(source: str) -> list[dg.AssetsDefinition]:
    """The entity assets of a source: the evaluation needs the simulator's truth."""
    from wallet_pipeline.defs.entities.alerts import alerts

    assets = [entity_clusters, entity_risk, alerts]
    return [*assets, cluster_evaluation] if source == "simulator" else assets


entity_checks = [no_giant_cluster, risk_breakdown_adds_up]
