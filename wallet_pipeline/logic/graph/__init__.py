"""Wallet graph, entity clusters and risk, with no Dagster import.

Edge rules in DuckDB SQL, hub guards, label propagation, stable ids, structure, evidence chains,
reputation and risk scores.

```python
from wallet_pipeline.logic.graph import GraphConfig, build_edges, cluster_edges, evaluate_clusters

res = build_edges(con)                 # EdgeResult: edges, hubs, bad_input, skipped_rules, counts
clusters = cluster_edges(res.edges)    # ClusterResult: clusters (address, cluster_id, cluster_size)
scores = evaluate_clusters(con, clusters.clusters)   # simulator ground truth only
```
The entity steps the assets run are in `entities` (build_entities, score_entities); see docs/graph.md.
"""

from wallet_pipeline.logic.graph.clustering import ClusterResult, cluster_edges, label_propagation
from wallet_pipeline.logic.graph.config import GraphConfig
from wallet_pipeline.logic.graph.edges import EDGE_COLUMNS, RULES, EdgeResult, build_edges, prepare
from wallet_pipeline.logic.graph.evaluation import bcubed, evaluate_clusters
from wallet_pipeline.logic.graph.evidence import evidence_chains, explain_link
from wallet_pipeline.logic.graph.export import cluster_bundle, export_cluster, write_cluster
from wallet_pipeline.logic.graph.history import assign_stable_ids
from wallet_pipeline.logic.graph.hubs import detect_hubs
from wallet_pipeline.logic.graph.reputation import wallet_reputation
from wallet_pipeline.logic.graph.risk import RiskConfig, risk_level, score_clusters, score_wallets
from wallet_pipeline.logic.graph.structure import StructureConfig, bridge_wallets, cluster_links, sub_clusters

__all__ = [
    "EDGE_COLUMNS",
    "RULES",
    "ClusterResult",
    "EdgeResult",
    "GraphConfig",
    "RiskConfig",
    "StructureConfig",
    "assign_stable_ids",
    "bcubed",
    "bridge_wallets",
    "build_edges",
    "cluster_bundle",
    "cluster_edges",
    "cluster_links",
    "detect_hubs",
    "evaluate_clusters",
    "evidence_chains",
    "explain_link",
    "export_cluster",
    "label_propagation",
    "prepare",
    "risk_level",
    "score_clusters",
    "score_wallets",
    "sub_clusters",
    "wallet_reputation",
    "write_cluster",
]
