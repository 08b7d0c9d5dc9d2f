"""Clustering of the wallet graph: vectorized label propagation (scipy.sparse) or NetworkX Louvain.

Label propagation here is synchronous with a self-loop: every node takes the label with the largest
total weight among its neighbours and itself; ties go to the smallest label. Initial labels are a
seeded permutation of the nodes, so the seed decides ties and the result is deterministic. Each
iteration is a handful of numpy/scipy calls over the edge arrays (no Python loop over nodes).

Cluster ids are stable: a cluster's id is derived from its smallest member address
(`"c_" + address`), not from the seed or the iteration order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from wallet_pipeline.logic.graph.config import GraphConfig


@dataclass
class ClusterResult:
    """One row per clustered wallet (`address`, `cluster_id`, `cluster_size`) and a report."""

    clusters: pd.DataFrame
    iterations: int = 0
    super_clusters: list[dict] = field(default_factory=list)


def label_propagation(
    n: int,
    rows: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    seed: int = 0,
    max_iter: int = 100,
    self_weight: float = 1.0,
    tol: float = 0.0,
) -> tuple[np.ndarray, int]:
    """Label propagation on an undirected weighted graph given as edge arrays (each edge once).

    Stops when no label changes, when at most `tol * n` labels changed in an iteration, after
    `max_iter` iterations, or when the number of changes stops falling for five iterations.

    Returns (labels, iterations); labels are node indexes (the seeded-rank winner of each group).
    """
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0
    rng = np.random.default_rng(seed)
    rank = rng.permutation(n).astype(np.int64)  # label value of node i is rank[i]
    inv = np.empty(n, dtype=np.int64)
    inv[rank] = np.arange(n, dtype=np.int64)
    # Self-loop: a node's own label weighs `self_weight` times its heaviest edge, which stops the
    # two-node swaps of synchronous updates (ties then go to the smaller label).
    heaviest = np.zeros(n)
    np.maximum.at(heaviest, rows, weights)
    np.maximum.at(heaviest, cols, weights)
    r = np.concatenate([rows, cols, np.arange(n)]).astype(np.int64)
    c = np.concatenate([cols, rows, np.arange(n)]).astype(np.int64)
    w = np.concatenate([weights, weights, self_weight * heaviest]).astype(np.float64)
    order = np.argsort(r, kind="stable")
    r, c, w = r[order], c[order], w[order]
    indptr = np.searchsorted(r, np.arange(n + 1))
    labels = rank.copy()
    it = 0
    prev_changes = None
    stall = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        m = sp.csr_matrix((w, (r, labels[c])), shape=(n, n))
        m.sum_duplicates()  # also sorts the label indices within each row
        data, idx = m.data, m.indices
        starts = m.indptr[:-1]
        rowmax = np.maximum.reduceat(data, starts)
        row_of = np.repeat(np.arange(n), np.diff(m.indptr))
        best = np.where(data >= rowmax[row_of] - 1e-12, idx, n)
        new = np.minimum.reduceat(best, starts)
        changes = int(np.count_nonzero(new != labels))
        labels = new
        if changes == 0 or changes <= tol * n:
            break
        # Synchronous updates can oscillate on bipartite pieces: stop when progress stalls.
        stall = stall + 1 if prev_changes is not None and changes >= prev_changes else 0
        prev_changes = changes
        if stall >= 5:
            break
    del indptr
    return inv[labels], it


def louvain(n: int, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, seed: int, resolution: float):
    """NetworkX Louvain communities, as node-index labels (the smallest index of each community)."""
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(n))
    for a, b, w in zip(rows.tolist(), cols.tolist(), weights.tolist(), strict=True):
        if g.has_edge(a, b):
            g[a][b]["weight"] += w
        else:
            g.add_edge(a, b, weight=w)
    labels = np.arange(n)
    for comm in nx.community.louvain_communities(g, weight="weight", resolution=resolution, seed=seed):
        members = np.fromiter(comm, dtype=np.int64)
        labels[members] = members.min()
    return labels


def _split_super(
    members: np.ndarray, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, n: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Split one super-cluster: remove its in-cluster hubs (top 1% by weighted degree, at least one).

    Returns the pieces (connected components of the rest with at least two wallets) and the removed
    hubs. When removal leaves fewer than two pieces (a star: one actor and its many addresses), no
    split happens and the pieces list is empty.
    """
    inside = np.zeros(n, dtype=bool)
    inside[members] = True
    keep = inside[rows] & inside[cols]
    r, c, w = rows[keep], cols[keep], weights[keep]
    deg = np.bincount(r, weights=w, minlength=n) + np.bincount(c, weights=w, minlength=n)
    k = max(1, int(np.ceil(0.01 * len(members))))
    hubs = members[np.argsort(-deg[members], kind="stable")[:k]]
    is_hub = np.zeros(n, dtype=bool)
    is_hub[hubs] = True
    keep2 = ~is_hub[r] & ~is_hub[c]
    g = sp.coo_matrix((np.ones(int(keep2.sum())), (r[keep2], c[keep2])), shape=(n, n)).tocsr()
    _, comp = connected_components(g, directed=False)
    rest = members[~is_hub[members]]
    pieces = [p for p in (rest[comp[rest] == v] for v in np.unique(comp[rest])) if len(p) >= 2]
    if len(pieces) < 2:
        return [], hubs
    return pieces, hubs


def cluster_edges(edges: pd.DataFrame, cfg: GraphConfig | None = None) -> ClusterResult:
    """Cluster the wallets of an edge table (columns src, dst, weight; see `edges.build_edges`).

    Parallel edges of one pair (several rules, both directions, duplicates) add up first; pairs
    lighter than `min_cluster_weight` in total are then ignored. Wallets with no edge are not in
    the result (they are singletons). Clusters larger than
    `max_cluster_size` or `max_cluster_share` of the clustered wallets are split by removing their
    in-cluster hubs, and reported.
    """
    cfg = cfg or GraphConfig()
    empty = pd.DataFrame({"address": pd.Series(dtype=str), "cluster_id": pd.Series(dtype=str)})
    if edges is None or len(edges) == 0:
        return ClusterResult(clusters=empty.assign(cluster_size=pd.Series(dtype="int64")))
    e = edges[(edges["src"] != edges["dst"]) & edges["src"].notna() & edges["dst"].notna()]
    if len(e) == 0:
        return ClusterResult(clusters=empty.assign(cluster_size=pd.Series(dtype="int64")))
    a = np.minimum(e["src"].to_numpy(dtype=object), e["dst"].to_numpy(dtype=object))
    b = np.maximum(e["src"].to_numpy(dtype=object), e["dst"].to_numpy(dtype=object))
    nodes, inv = np.unique(np.concatenate([a, b]).astype(str), return_inverse=True)
    n = len(nodes)
    rows, cols = inv[: len(a)], inv[len(a) :]
    pair = pd.DataFrame({"r": rows, "c": cols, "w": e["weight"].to_numpy(dtype=float)})
    pair = pair.groupby(["r", "c"], sort=True, as_index=False)["w"].sum()
    pair = pair[pair["w"] >= cfg.min_cluster_weight]
    if len(pair) == 0:
        return ClusterResult(clusters=empty.assign(cluster_size=pd.Series(dtype="int64")))
    rows, cols, weights = pair["r"].to_numpy(), pair["c"].to_numpy(), pair["w"].to_numpy()
    iters = 0
    if cfg.method == "louvain":
        if n > cfg.louvain_max_nodes:
            raise ValueError(f"louvain is for small graphs: {n} nodes > louvain_max_nodes")
        labels = louvain(n, rows, cols, weights, cfg.seed, cfg.louvain_resolution)
    elif cfg.method == "lpa":
        labels, iters = label_propagation(
            n, rows, cols, weights, cfg.seed, cfg.max_iter, cfg.self_weight, cfg.lpa_tol
        )
    else:
        raise ValueError(f"unknown clustering method {cfg.method!r}")
    # Label propagation may give one label to disconnected pieces: split them.
    g = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, comp = connected_components(g, directed=False)
    _, labels = np.unique(np.stack([labels, comp], axis=1), axis=0, return_inverse=True)
    labels = labels.ravel()
    supers: list[dict] = []
    limit = min(cfg.max_cluster_size, max(2, int(cfg.max_cluster_share * n)))
    next_label = labels.max() + 1
    done: set[int] = set()
    while True:
        sizes = np.bincount(labels)
        big = [int(v) for v in np.flatnonzero(sizes > limit) if int(v) not in done]
        if not big:
            break
        for v in big:
            members = np.flatnonzero(labels == v)
            pieces, hubs = _split_super(members, rows, cols, weights, n)
            rec = {"size": int(len(members)), "hubs": nodes[hubs].tolist()[:20], "split_into": len(pieces)}
            supers.append(rec)
            if not pieces:
                done.add(v)
                continue
            for h in hubs:
                labels[h] = next_label
                next_label += 1
            for p in pieces:
                labels[p] = next_label
                next_label += 1
    out = pd.DataFrame({"address": nodes, "label": labels})
    first = out.groupby("label")["address"].transform("min")
    size = out.groupby("label")["address"].transform("size")
    out = pd.DataFrame({"address": nodes, "cluster_id": "c_" + first, "cluster_size": size.astype("int64")})
    out = out[out["cluster_size"] >= 2].reset_index(drop=True)
    return ClusterResult(clusters=out, iterations=iters, super_clusters=supers)
