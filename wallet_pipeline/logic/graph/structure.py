"""Structure inside and between wallet clusters: sub-clusters, bridge wallets, cross-cluster links.

Inputs are the edge table of `edges.build_edges` (src, dst, edge_type, weight, first_time,
last_time, n, evidence) and the cluster table of `clustering.cluster_edges` (address, cluster_id).
"In-cluster edges of clustering strength" are the pairs of wallets of one cluster whose edges, summed
over rules and directions like `cluster_edges` does, weigh at least `min_cluster_weight`.

- `sub_clusters`: Louvain communities inside each cluster of at least `sub_cluster_min_size`
  wallets; `sub_cluster_id` is `"s_" + smallest member address` (globally unique because clusters
  are disjoint, and stable while the membership is), NULL for smaller clusters.
- `bridge_wallets`: articulation points of each cluster's in-cluster graph, and wallets with an edge
  (any weight by default) to a wallet of another cluster.
- `cluster_links`: pairs of clusters joined by edges ("transfer") or by rare tokens that wallets of
  both received ("shared_token").

Everything is vectorized over edge arrays (numpy, pandas, scipy.sparse, DuckDB) except NetworkX
Louvain, which runs once per large cluster, and NetworkX articulation points, which run once on the
union of all in-cluster graphs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from wallet_pipeline.logic.graph.config import BURN_ADDRESSES, GraphConfig
from wallet_pipeline.logic.graph.hubs import table_columns

SUB_CLUSTER_COLUMNS = ["address", "cluster_id", "sub_cluster_id"]
BRIDGE_COLUMNS = ["address", "cluster_id", "is_articulation", "linked_clusters", "bridge_reason"]
LINK_COLUMNS = [
    "cluster_a",
    "cluster_b",
    "link_type",
    "n",
    "weight",
    "first_time",
    "last_time",
    "evidence",
    "edge_types",
]


@dataclass(frozen=True)
class StructureConfig:
    """Settings of sub-clusters, bridges, cluster links and evidence chains.

    `min_cluster_weight` must be the `GraphConfig.min_cluster_weight` the clusters were built with;
    `StructureConfig.from_graph(graph_cfg)` copies it (and the seed, resolution and token rarity).
    """

    min_cluster_weight: float = 0.5
    sub_cluster_min_size: int = 30
    resolution: float = 1.0
    seed: int = 0
    # NetworkX Louvain takes ~1 s per 100k edges: a cluster larger than this stays one sub-cluster.
    sub_cluster_max_size: int = 200_000
    # Edges (per rule) at least this heavy make a cross-cluster bridge or a transfer link; 0 = any:
    # even a single weak transfer between two clusters is worth an analyst's look.
    bridge_min_weight: float = 0.0
    max_linked_clusters: int = 50  # linked_clusters lists at most this many cluster ids
    # shared_token: only tokens received by at most this many wallets (same rarity as token_cohold).
    shared_token_max_holders: int = 50
    evidence_cap: int = 10  # transaction hashes or token addresses kept per link or hop

    @classmethod
    def from_graph(cls, graph_cfg: GraphConfig, **overrides) -> StructureConfig:
        """A config consistent with the `GraphConfig` the clusters were built with."""
        base = {
            "min_cluster_weight": graph_cfg.min_cluster_weight,
            "seed": graph_cfg.seed,
            "resolution": graph_cfg.louvain_resolution,
            "shared_token_max_holders": graph_cfg.cohold_max_holders,
        }
        return cls(**{**base, **overrides})


@dataclass
class ClusterIndex:
    """Clustered wallets as integer nodes: `nodes` sorted, so a smaller index is a smaller address."""

    nodes: np.ndarray  # address per node (object array of str)
    cluster: np.ndarray  # cluster code per node
    cluster_ids: np.ndarray  # cluster id per code, sorted, so code order is id order

    @property
    def n(self) -> int:
        return len(self.nodes)

    def locate(self, addresses: np.ndarray) -> np.ndarray:
        """Node index of each address, -1 when the wallet is not clustered (or the address is null)."""
        return pd.Index(self.nodes).get_indexer(np.asarray(addresses, dtype=object))


def cluster_index(clusters: pd.DataFrame) -> ClusterIndex:
    """Index the clustered wallets (one row per address of `clusters`)."""
    c = clusters[["address", "cluster_id"]].dropna().drop_duplicates("address").sort_values("address")
    codes, ids = pd.factorize(c["cluster_id"], sort=True)
    return ClusterIndex(
        nodes=c["address"].to_numpy(dtype=object),
        cluster=np.asarray(codes, dtype=np.int64),
        cluster_ids=np.asarray(ids, dtype=object),
    )


@dataclass
class EdgeNodes:
    """Edges whose two (distinct) ends are clustered wallets, as arrays.

    `pos`: row positions in the edge table; `i`, `j`: node indexes of src and dst; `w`: weights.
    """

    pos: np.ndarray
    i: np.ndarray
    j: np.ndarray
    w: np.ndarray

    def take(self, mask: np.ndarray) -> EdgeNodes:
        return EdgeNodes(self.pos[mask], self.i[mask], self.j[mask], self.w[mask])


def edge_nodes(edges: pd.DataFrame | None, idx: ClusterIndex) -> EdgeNodes:
    """Locate both ends of every edge once (a single hash lookup over src and dst)."""
    if edges is None or len(edges) == 0 or idx.n == 0:
        z = np.zeros(0, dtype=np.int64)
        return EdgeNodes(z, z, z, np.zeros(0))
    k = len(edges)
    both = idx.locate(
        np.concatenate([edges["src"].to_numpy(dtype=object), edges["dst"].to_numpy(dtype=object)])
    )
    i, j = both[:k], both[k:]
    pos = np.flatnonzero((i >= 0) & (j >= 0) & (i != j))
    return EdgeNodes(pos, i[pos], j[pos], edges["weight"].to_numpy(dtype=float)[pos])


def strong_pairs(en: EdgeNodes, idx: ClusterIndex, min_weight: float) -> pd.DataFrame:
    """In-cluster pairs of clustering strength: columns a < b (node indexes), w (summed weight).

    Parallel edges of a pair (several rules, both directions) add up first, as in `cluster_edges`;
    pairs whose total is below `min_weight` are dropped, as are pairs across clusters.
    """
    same = idx.cluster[en.i] == idx.cluster[en.j]
    a, b = np.minimum(en.i[same], en.j[same]), np.maximum(en.i[same], en.j[same])
    key, inv = np.unique(a * np.int64(idx.n) + b, return_inverse=True)  # sorted by (a, b)
    w = np.bincount(inv.ravel(), weights=en.w[same], minlength=len(key))
    keep = w >= min_weight
    n = np.int64(max(idx.n, 1))
    return pd.DataFrame({"a": key[keep] // n, "b": key[keep] % n, "w": w[keep]})


# Reads the evidence lists of some edge rows (a frame of the edge table's rows) when the edge table
# was read without its evidence column: see `edge_evidence`.
EvidenceReader = Callable[[pd.DataFrame], np.ndarray]


def edge_evidence(rows: pd.DataFrame, read: EvidenceReader | None = None) -> np.ndarray:
    """The evidence lists of `rows` (some rows of an edge table), one per row, in their order.

    From the rows' own `evidence` column, or from `read` for an edge table read without it: a list
    column becomes one Python object per list and per hash, about 0.6 GB for the 690,000 edges of
    200,000 wallets, while only the edges of hops and cross-cluster links need their hashes.
    """
    if read is None:
        return rows["evidence"].to_numpy()
    return read(rows)


def group_lists(groups: np.ndarray, values: np.ndarray, n_groups: int) -> list[list]:
    """The values of each group 0..n_groups-1 as Python lists, in their given order within a group."""
    order = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[order], np.arange(n_groups + 1))
    vals = np.asarray(values, dtype=object)[order]
    return [vals[bounds[g] : bounds[g + 1]].tolist() for g in range(n_groups)]


def capped_evidence(
    groups: np.ndarray, times: np.ndarray, evidence: np.ndarray, n_groups: int, cap: int
) -> list[list]:
    """Per group: distinct hashes of the rows' evidence lists, earliest rows first, at most `cap`."""
    lengths = np.fromiter((len(v) if isinstance(v, list | np.ndarray) else 0 for v in evidence), np.int64)
    flat = pd.DataFrame(
        {
            "g": np.repeat(groups, lengths),
            "t": np.repeat(times, lengths),
            "h": np.fromiter(
                itertools.chain.from_iterable(v for v in evidence if v is not None), object, lengths.sum()
            ),
        }
    )
    flat = flat.sort_values(["g", "t", "h"], kind="stable").drop_duplicates(["g", "h"])
    flat = flat[flat.groupby("g", sort=False).cumcount().to_numpy() < cap]
    return group_lists(flat["g"].to_numpy(), flat["h"].to_numpy(), n_groups)


def joined_types(groups: np.ndarray, types: np.ndarray, n_groups: int) -> list[str]:
    """Per group: its distinct edge types, sorted and comma separated."""
    t = pd.DataFrame({"g": groups, "t": types}).drop_duplicates().sort_values(["g", "t"])
    return [",".join(v) for v in group_lists(t["g"].to_numpy(), t["t"].to_numpy(), n_groups)]


def _louvain_labels(members: np.ndarray, pairs: pd.DataFrame, cfg: StructureConfig) -> np.ndarray:
    """Louvain community of each member as its smallest member's node index (members sorted)."""
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(members.tolist())  # sorted insertion order: the seed then gives one result
    g.add_weighted_edges_from(zip(pairs["a"].tolist(), pairs["b"].tolist(), pairs["w"].tolist(), strict=True))
    labels = members.copy()
    for comm in nx.community.louvain_communities(
        g, weight="weight", resolution=cfg.resolution, seed=cfg.seed
    ):
        part = np.fromiter(comm, dtype=np.int64)
        labels[np.searchsorted(members, part)] = part.min()
    return labels


def sub_clusters(
    edges: pd.DataFrame, clusters: pd.DataFrame, cfg: StructureConfig | None = None
) -> pd.DataFrame:
    """Sub-clusters (Louvain communities) inside the clusters of at least `sub_cluster_min_size` wallets.

    Louvain runs on the in-cluster pairs of clustering strength (the edges that formed the cluster),
    weighted by their summed weight, with `cfg.seed` and `cfg.resolution`.

    Returns:
        One row per clustered wallet: address, cluster_id, sub_cluster_id. `sub_cluster_id` is
        `"s_" + smallest member address`; NULL when the cluster is smaller than
        `sub_cluster_min_size` (it is its own only sub-cluster) or larger than `sub_cluster_max_size`.
    """
    cfg = cfg or StructureConfig()
    idx = cluster_index(clusters)
    sub = np.full(idx.n, -1, dtype=np.int64)
    sizes = np.bincount(idx.cluster, minlength=len(idx.cluster_ids))
    big = (sizes >= cfg.sub_cluster_min_size) & (sizes <= cfg.sub_cluster_max_size)
    if big.any():
        pairs = strong_pairs(edge_nodes(edges, idx), idx, cfg.min_cluster_weight)
        k = idx.cluster[pairs["a"].to_numpy()]
        pairs = pairs.assign(k=k)[big[k]].sort_values(["k", "a", "b"], kind="stable")
        pstart = np.searchsorted(pairs["k"].to_numpy(), np.arange(len(sizes) + 1))
        order = np.argsort(idx.cluster, kind="stable")  # node indexes grouped by cluster, sorted within
        starts = np.searchsorted(idx.cluster[order], np.arange(len(sizes) + 1))
        for k in np.flatnonzero(big):
            members = order[starts[k] : starts[k + 1]]
            sub[members] = _louvain_labels(members, pairs.iloc[pstart[k] : pstart[k + 1]], cfg)
    sub_id = np.where(sub >= 0, "s_" + idx.nodes[np.maximum(sub, 0)].astype(str), None)
    return pd.DataFrame(
        {"address": idx.nodes, "cluster_id": idx.cluster_ids[idx.cluster], "sub_cluster_id": sub_id},
        columns=SUB_CLUSTER_COLUMNS,
    )


def _articulation_nodes(pairs: pd.DataFrame, idx: ClusterIndex) -> np.ndarray:
    """Articulation points (node indexes, sorted) of the graph of in-cluster pairs.

    One NetworkX call on the union of all in-cluster graphs: they share no node, so its articulation
    points are exactly those of each cluster.
    """
    import networkx as nx

    a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    # A wallet of degree one is never an articulation point, and a pair whose both ends have degree
    # one is a whole component (a two-wallet cluster): dropping those pairs only saves Python work.
    deg = np.bincount(np.concatenate([a, b]).astype(np.int64), minlength=idx.n)
    keep = (deg[a] > 1) | (deg[b] > 1)
    g = nx.Graph()
    g.add_edges_from(zip(a[keep].tolist(), b[keep].tolist(), strict=True))
    return np.array(sorted(nx.articulation_points(g)), dtype=np.int64)


def articulation_points(
    edges: pd.DataFrame, clusters: pd.DataFrame, cfg: StructureConfig | None = None
) -> np.ndarray:
    """Addresses whose removal disconnects their cluster's graph of clustering-strength pairs."""
    cfg = cfg or StructureConfig()
    idx = cluster_index(clusters)
    pairs = strong_pairs(edge_nodes(edges, idx), idx, cfg.min_cluster_weight)
    return idx.nodes[_articulation_nodes(pairs, idx)]


def _cross(en: EdgeNodes, idx: ClusterIndex, min_weight: float) -> EdgeNodes:
    """The edges between wallets of two different clusters, at least `min_weight` heavy."""
    return en.take((idx.cluster[en.i] != idx.cluster[en.j]) & (en.w >= min_weight))


def bridge_wallets(
    edges: pd.DataFrame, clusters: pd.DataFrame, cfg: StructureConfig | None = None
) -> pd.DataFrame:
    """Bridge wallets: articulation points of their cluster, or linked to wallets of other clusters.

    Cross-cluster links are edges of any rule at least `bridge_min_weight` heavy (0: any) between a
    clustered wallet and a wallet of another cluster. Hub edges are already gone from `edges`.

    Returns:
        Bridge rows only: address, cluster_id, is_articulation, linked_clusters (sorted list of the
        other cluster ids, at most `max_linked_clusters`; empty for an articulation point with no
        outside link), bridge_reason ("articulation", "cross_cluster" or both, comma separated).
    """
    cfg = cfg or StructureConfig()
    idx = cluster_index(clusters)
    if idx.n == 0:
        return _empty_bridges()
    en = edge_nodes(edges, idx)
    x = _cross(en, idx, cfg.bridge_min_weight)
    ends = pd.DataFrame(
        {"node": np.concatenate([x.i, x.j]), "other": idx.cluster[np.concatenate([x.j, x.i])]}
    ).drop_duplicates()
    ends = ends.sort_values(["node", "other"])
    ends = ends[ends.groupby("node", sort=False).cumcount().to_numpy() < cfg.max_linked_clusters]
    linked_nodes = np.unique(ends["node"].to_numpy())
    art = _articulation_nodes(strong_pairs(en, idx, cfg.min_cluster_weight), idx)
    nodes = np.union1d(linked_nodes, art).astype(np.int64)
    if len(nodes) == 0:
        return _empty_bridges()
    is_art = np.isin(nodes, art)
    has_link = np.isin(nodes, linked_nodes)
    reason = np.where(
        is_art & has_link, "articulation,cross_cluster", np.where(is_art, "articulation", "cross_cluster")
    )
    row_of = np.searchsorted(nodes, ends["node"].to_numpy())
    others = idx.cluster_ids[ends["other"].to_numpy()]
    return pd.DataFrame(
        {
            "address": idx.nodes[nodes],
            "cluster_id": idx.cluster_ids[idx.cluster[nodes]],
            "is_articulation": is_art,
            "linked_clusters": group_lists(row_of, others, len(nodes)),
            "bridge_reason": reason,
        },
        columns=BRIDGE_COLUMNS,
    )


def _empty_bridges() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "address": pd.Series(dtype=object),
            "cluster_id": pd.Series(dtype=object),
            "is_articulation": pd.Series(dtype=bool),
            "linked_clusters": pd.Series(dtype=object),
            "bridge_reason": pd.Series(dtype=object),
        }
    )


def _empty_links() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cluster_a": pd.Series(dtype=object),
            "cluster_b": pd.Series(dtype=object),
            "link_type": pd.Series(dtype=object),
            "n": pd.Series(dtype="int64"),
            "weight": pd.Series(dtype=float),
            "first_time": pd.Series(dtype="datetime64[us]"),
            "last_time": pd.Series(dtype="datetime64[us]"),
            "evidence": pd.Series(dtype=object),
            "edge_types": pd.Series(dtype=object),
        }
    )


def transfer_links(
    edges: pd.DataFrame,
    clusters: pd.DataFrame,
    cfg: StructureConfig | None = None,
    read_evidence: EvidenceReader | None = None,
) -> pd.DataFrame:
    """Links of type "transfer": the edges of any rule between wallets of two clusters, summed per pair.

    `n` sums the edges' event counts, `weight` their weights; `evidence` holds transaction hashes
    (earliest edges first, at most `evidence_cap`); `edge_types` the rules seen, comma separated.
    `read_evidence`: see `edge_evidence` (None: `edges` has its evidence column).
    """
    cfg = cfg or StructureConfig()
    idx = cluster_index(clusters)
    x = _cross(edge_nodes(edges, idx), idx, cfg.bridge_min_weight)
    if len(x.pos) == 0:
        return _empty_links()
    ci, cj = idx.cluster[x.i], idx.cluster[x.j]
    k = np.int64(len(idx.cluster_ids))
    key, g = np.unique(np.minimum(ci, cj) * k + np.maximum(ci, cj), return_inverse=True)
    g = g.ravel()
    rows = edges.iloc[x.pos]
    first = rows["first_time"].to_numpy()
    n_links = len(key)
    out = pd.DataFrame(
        {
            "cluster_a": idx.cluster_ids[key // k],
            "cluster_b": idx.cluster_ids[key % k],
            "link_type": "transfer",
            "n": np.bincount(g, weights=rows["n"].to_numpy(dtype=float), minlength=n_links).astype("int64"),
            "weight": np.bincount(g, weights=x.w, minlength=n_links),
            "first_time": pd.Series(first).groupby(g).min().to_numpy(),
            "last_time": pd.Series(rows["last_time"].to_numpy()).groupby(g).max().to_numpy(),
            "evidence": capped_evidence(
                g, first, edge_evidence(rows, read_evidence), n_links, cfg.evidence_cap
            ),
            "edge_types": joined_types(g, rows["edge_type"].to_numpy(dtype=object), n_links),
        }
    )
    return out[LINK_COLUMNS]


def shared_token_links(
    con: duckdb.DuckDBPyConnection,
    clusters: pd.DataFrame,
    cfg: StructureConfig | None = None,
    schema: str = "raw",
) -> pd.DataFrame:
    """Links of type "shared_token": rare tokens received by wallets of two clusters.

    A token is rare when at most `shared_token_max_holders` distinct wallets (clustered or not,
    contracts included) ever received a non-zero amount of it; USDC links nobody. Per cluster pair:
    `n` shared tokens, `weight` = sum of 1 / ln(1 + holders) (as `token_cohold`), `first_time` /
    `last_time` the earliest / latest time a token became held by both clusters, `evidence` the token
    addresses, rarest first.
    """
    cfg = cfg or StructureConfig()
    if len(clusters) == 0 or not {"token_address", "to_address"} <= table_columns(
        con, schema, "token_transfers"
    ):
        return _empty_links()
    have = table_columns(con, schema, "token_transfers")
    t = "block_timestamp" if "block_timestamp" in have else "null::timestamp"
    nonzero = "ltrim(coalesce(value, '1'), '0') <> ''" if "value" in have else "true"
    burn = ", ".join(f"'{a}'" for a in BURN_ADDRESSES)
    members = clusters[["address", "cluster_id"]].drop_duplicates("address")  # noqa: F841
    view = "_struct_clusters"
    con.register(view, members)
    try:
        out = con.execute(
            f"""
            with recv as (
                select lower(token_address) as token, lower(to_address) as address, min({t}) as t
                from {schema}.token_transfers
                where to_address is not null and lower(to_address) not in ({burn}) and {nonzero}
                group by all
            ),
            rare as (
                select token, count(*) as holders from recv group by token
                having count(*) between 2 and ?
            ),
            held as (
                select r.token, c.cluster_id, min(r.t) as t, any_value(h.holders) as holders
                from recv r join rare h using (token) join {view} c using (address)
                group by all
            ),
            pairs as (
                select a.cluster_id as cluster_a, b.cluster_id as cluster_b, a.token, a.holders,
                       greatest(a.t, b.t) as t
                from held a join held b on a.token = b.token and a.cluster_id < b.cluster_id
            )
            select cluster_a, cluster_b, 'shared_token' as link_type, count(*)::bigint as n,
                   sum(1 / ln(1 + holders)) as weight, min(t) as first_time, max(t) as last_time,
                   list(token order by holders, token)[1:?] as evidence, null::varchar as edge_types
            from pairs group by all order by cluster_a, cluster_b
            """,
            [cfg.shared_token_max_holders, cfg.evidence_cap],
        ).df()
    finally:
        con.unregister(view)
    return out[LINK_COLUMNS]


def cluster_links(
    con: duckdb.DuckDBPyConnection,
    edges: pd.DataFrame,
    clusters: pd.DataFrame,
    cfg: StructureConfig | None = None,
    schema: str = "raw",
    read_evidence: EvidenceReader | None = None,
) -> pd.DataFrame:
    """Cross-cluster links: "transfer" (edges between the clusters) and "shared_token" (rare tokens).

    Returns:
        One row per (cluster_a, cluster_b, link_type) with cluster_a < cluster_b: n, weight,
        first_time, last_time, evidence (transaction hashes for transfer, token addresses for
        shared_token), edge_types (the rules of a transfer link, comma separated; NULL for shared_token).
    """
    cfg = cfg or StructureConfig()
    parts = [
        transfer_links(edges, clusters, cfg, read_evidence),
        shared_token_links(con, clusters, cfg, schema),
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty_links()
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["cluster_a", "cluster_b", "link_type"], ignore_index=True)[LINK_COLUMNS]
