"""Evidence chains: for every clustered wallet, the edges that join it to its cluster's anchor.

An analyst checks a link, or a user appeals one, by reading the chain: one row per hop, with the
rules that link the pair, their times and transaction hashes.

- Anchor: per cluster, the wallet with the highest summed weight of in-cluster edges of clustering
  strength (ties: smallest address). A cluster whose in-cluster graph is not connected (label
  propagation may leave a label on pieces joined only through other clusters' wallets) gets one
  anchor per connected piece, chosen the same way.
- Path: fewest hops from the anchor, then the heaviest edges (Dijkstra on 1 + eps * max_w / w with
  eps small enough that one hop outweighs every tie-break). All anchors are sources of one scipy
  `dijkstra(min_only=True)` call (the virtual-source trick), so it is a single sparse operation.
- One row per hop (hop 1 leaves the anchor, src is the anchor side); `edge_type` lists every rule
  linking the pair, comma separated and sorted, weak ones included; `weight` is the pair's summed
  weight; `evidence` the pair's transaction hashes, earliest first, at most `evidence_cap`. The
  anchor has one row with hop 0 and NULL edge fields, so every clustered wallet appears.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, dijkstra

from wallet_pipeline.logic.graph.edges import EDGE_COLUMNS
from wallet_pipeline.logic.graph.structure import (
    EdgeNodes,
    EvidenceReader,
    StructureConfig,
    capped_evidence,
    cluster_index,
    edge_evidence,
    edge_nodes,
    joined_types,
    strong_pairs,
)

EVIDENCE_COLUMNS = [
    "address",
    "cluster_id",
    "anchor",
    "hop",
    "src",
    "dst",
    "edge_type",
    "weight",
    "first_time",
    "last_time",
    "evidence",
]


def _anchors(
    n: int, pairs: pd.DataFrame, cluster: np.ndarray
) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    """Anchor node of each node's connected in-cluster piece, the anchors, and the cost graph."""
    a, b, w = pairs["a"].to_numpy(), pairs["b"].to_numpy(), pairs["w"].to_numpy(dtype=float)
    deg = np.bincount(a, weights=w, minlength=n) + np.bincount(b, weights=w, minlength=n)
    adj = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)).tocsr()
    _, comp = connected_components(adj, directed=False)
    # Pairs are in-cluster, so a piece never spans two clusters; the cluster key only sorts.
    order = np.lexsort((np.arange(n), -deg, comp, cluster))
    first = np.ones(n, dtype=bool)
    first[1:] = comp[order][1:] != comp[order][:-1]
    anchors = order[first]
    anchor_of = np.empty(n, dtype=np.int64)
    anchor_of[comp[anchors]] = anchors
    anchor_of = anchor_of[comp]
    cost = np.ones(0)
    if len(a):
        # Fewest hops first: the tie-break terms of a whole path sum to at most 0.5 < one hop.
        sizes = np.bincount(comp)
        eps = 0.5 / (sizes.max() * (w.max() / w.min()))
        cost = 1.0 + eps * (w.max() / w)
    graph = sp.coo_matrix((cost, (a, b)), shape=(n, n)).tocsr()
    return anchor_of, anchors, graph


def _walk(pred: np.ndarray) -> pd.DataFrame:
    """Hops of every node's path back to its source: columns node, step (0 = last hop), u, v."""
    wallet = np.flatnonzero(pred >= 0)
    cur = wallet.copy()
    parts = []
    step = 0
    while len(cur):
        p = pred[cur]
        parts.append(pd.DataFrame({"node": wallet, "step": step, "u": p, "v": cur}))
        keep = pred[p] >= 0
        wallet, cur = wallet[keep], p[keep]
        step += 1
    if not parts:
        return pd.DataFrame({k: np.zeros(0, dtype=np.int64) for k in ("node", "step", "u", "v")})
    return pd.concat(parts, ignore_index=True)


def _hop_facts(
    edges: pd.DataFrame,
    en: EdgeNodes,
    n: int,
    hops: tuple[np.ndarray, np.ndarray],
    cap: int,
    read_evidence: EvidenceReader | None,
) -> dict:
    """Rules, summed weight, times and hashes of the pair of each hop (u, v): one array per field."""
    u, v = hops
    hop_key = np.minimum(u, v) * np.int64(n) + np.maximum(u, v)
    keys, hop_g = np.unique(hop_key, return_inverse=True)
    edge_key = np.minimum(en.i, en.j) * np.int64(n) + np.maximum(en.i, en.j)
    at = np.minimum(np.searchsorted(keys, edge_key), max(len(keys) - 1, 0))
    hit = keys[at] == edge_key if len(keys) else np.zeros(len(edge_key), dtype=bool)
    g, rows, w = at[hit], edges.iloc[en.pos[hit]], en.w[hit]
    first = rows["first_time"].to_numpy()
    k = len(keys)
    facts = {
        "edge_type": np.array(joined_types(g, rows["edge_type"].to_numpy(dtype=object), k), dtype=object),
        "weight": np.bincount(g, weights=w, minlength=k),
        "first_time": pd.Series(first).groupby(g).min().reindex(range(k)).to_numpy(),
        "last_time": pd.Series(rows["last_time"].to_numpy()).groupby(g).max().reindex(range(k)).to_numpy(),
        "evidence": np.array(
            capped_evidence(g, first, edge_evidence(rows, read_evidence), k, cap) + [None], dtype=object
        )[:-1],  # the extra None keeps numpy from making a 2-d array of equal-length lists
    }
    hop_g = hop_g.ravel()
    return {name: col[hop_g] for name, col in facts.items()}


def evidence_chains(
    edges: pd.DataFrame,
    clusters: pd.DataFrame,
    cfg: StructureConfig | None = None,
    read_evidence: EvidenceReader | None = None,
) -> pd.DataFrame:
    """The chain of edges joining every clustered wallet to its cluster's anchor, one row per hop.

    `read_evidence`: see `structure.edge_evidence` (None: `edges` has its evidence column).

    Returns:
        Columns address, cluster_id, anchor, hop, src, dst, edge_type, weight, first_time, last_time,
        evidence; the anchor's own row has hop 0 and NULL edge fields. Sorted by cluster_id,
        address, hop. A wallet's chain length is its largest hop.
    """
    cfg = cfg or StructureConfig()
    idx = cluster_index(clusters)
    n = idx.n
    if n == 0:
        return _empty()
    en = edge_nodes(edges, idx)
    pairs = strong_pairs(en, idx, cfg.min_cluster_weight)
    anchor_of, anchors, graph = _anchors(n, pairs, idx.cluster)
    pred = np.full(n, -9999, dtype=np.int64)
    if len(pairs):
        _, pred, _ = dijkstra(graph, directed=False, indices=anchors, return_predecessors=True, min_only=True)
    hops = _walk(pred)
    roots = np.flatnonzero(pred < 0)
    root_rows = pd.DataFrame(
        {
            "address": idx.nodes[roots],
            "cluster_id": idx.cluster_ids[idx.cluster[roots]],
            "anchor": idx.nodes[anchor_of[roots]],
            "hop": np.zeros(len(roots), dtype=np.int64),
        }
    )
    if len(hops) == 0:
        return root_rows.reindex(columns=EVIDENCE_COLUMNS).sort_values(
            ["cluster_id", "address"], ignore_index=True
        )
    node, u, v = hops["node"].to_numpy(), hops["u"].to_numpy(), hops["v"].to_numpy()
    depth = np.bincount(node, minlength=n)
    rows = pd.DataFrame(
        {
            "address": idx.nodes[node],
            "cluster_id": idx.cluster_ids[idx.cluster[node]],
            "anchor": idx.nodes[anchor_of[node]],
            "hop": (depth[node] - hops["step"].to_numpy()).astype(np.int64),
            "src": idx.nodes[u],
            "dst": idx.nodes[v],
            **_hop_facts(edges, en, n, (u, v), cfg.evidence_cap, read_evidence),
        }
    )
    out = pd.concat([root_rows, rows], ignore_index=True)
    out = out.reindex(columns=EVIDENCE_COLUMNS)
    return out.sort_values(["cluster_id", "address", "hop"], ignore_index=True)


def explain_link(edges: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Every edge between wallets `a` and `b` (either direction), heaviest first: what links the pair."""
    if edges is None or len(edges) == 0:
        return _empty().iloc[:0, :0].reindex(columns=EDGE_COLUMNS)
    e = edges[((edges["src"] == a) & (edges["dst"] == b)) | ((edges["src"] == b) & (edges["dst"] == a))]
    return e.sort_values(["weight", "edge_type"], ascending=[False, True], ignore_index=True)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "address": pd.Series(dtype=object),
            "cluster_id": pd.Series(dtype=object),
            "anchor": pd.Series(dtype=object),
            "hop": pd.Series(dtype="int64"),
            "src": pd.Series(dtype=object),
            "dst": pd.Series(dtype=object),
            "edge_type": pd.Series(dtype=object),
            "weight": pd.Series(dtype=float),
            "first_time": pd.Series(dtype="datetime64[us]"),
            "last_time": pd.Series(dtype="datetime64[us]"),
            "evidence": pd.Series(dtype=object),
        }
    )
