"""Wallet graph and entity clustering: edge rules in DuckDB SQL, hub guards, label propagation.

```python
from wallet_pipeline.logic.graph import GraphConfig, build_edges, cluster_edges, evaluate_clusters

res = build_edges(con)                 # EdgeResult: edges, hubs, bad_input, skipped_rules, counts
clusters = cluster_edges(res.edges)    # ClusterResult: clusters (address, cluster_id, cluster_size)
scores = evaluate_clusters(con, clusters.clusters)   # simulator ground truth only
```
See docs/graph.md.
"""

from wallet_pipeline.logic.graph.clustering import ClusterResult, cluster_edges, label_propagation
from wallet_pipeline.logic.graph.config import GraphConfig
from wallet_pipeline.logic.graph.edges import EDGE_COLUMNS, RULES, EdgeResult, build_edges, prepare
from wallet_pipeline.logic.graph.evaluation import bcubed, evaluate_clusters
from wallet_pipeline.logic.graph.hubs import detect_hubs

__all__ = [
    "EDGE_COLUMNS",
    "RULES",
    "ClusterResult",
    "EdgeResult",
    "GraphConfig",
    "bcubed",
    "build_edges",
    "cluster_edges",
    "detect_hubs",
    "evaluate_clusters",
    "label_propagation",
    "prepare",
]
