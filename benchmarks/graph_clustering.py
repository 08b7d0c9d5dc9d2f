"""Clustering speed: vectorized label propagation vs NetworkX, on random graphs with planted communities.

    python benchmarks/graph_clustering.py                 # 1M and 10M edges, NetworkX at 100k edges
    python benchmarks/graph_clustering.py --edges 1e6 --nx-edges 2e5

Each size runs in a fresh subprocess so that peak RSS (ru_maxrss) belongs to that run alone. NetworkX
(`label_propagation_communities`, `asyn_lpa_communities`) is too slow for 10M edges: it runs on a smaller
graph of the same shape and its time is extrapolated linearly in the number of edges (both algorithms
are O(edges) per sweep), which the output says.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def planted_graph(n_edges: int, community: int = 20, p_in: float = 0.9, seed: int = 0):
    """Undirected edges (rows, cols, weights): communities of `community` nodes, `p_in` of edges inside."""
    rng = np.random.default_rng(seed)
    n = max(community * 2, n_edges // 5)  # average degree 10
    n_in = int(n_edges * p_in)
    a = rng.integers(0, n, n_edges)
    base = (a[:n_in] // community) * community
    b_in = np.minimum(base + rng.integers(0, community, n_in), n - 1)
    b_out = rng.integers(0, n, n_edges - n_in)
    b = np.concatenate([b_in, b_out])
    keep = a != b
    return n, a[keep], b[keep], rng.uniform(0.5, 1.0, int(keep.sum())), n // community


def _purity(labels: np.ndarray, community: int) -> float:
    truth = np.arange(len(labels)) // community
    import pandas as pd

    df = pd.DataFrame({"t": truth, "p": labels})
    both = df.groupby(["t", "p"])["t"].transform("size")
    p = (both / df.groupby("p")["p"].transform("size")).mean()
    r = (both / df.groupby("t")["t"].transform("size")).mean()
    return float(2 * p * r / (p + r))


def run_ours(n_edges: int) -> dict:
    """Time our scipy label propagation on a planted graph of about `n_edges` edges."""
    from wallet_pipeline.logic.graph.clustering import label_propagation

    n, a, b, w, _ = planted_graph(n_edges)
    t = time.perf_counter()
    labels, iters = label_propagation(n, a, b, w, seed=0, max_iter=30, tol=1e-2)
    dt = time.perf_counter() - t
    return {
        "impl": "scipy_lpa",
        "edges": int(len(a)),
        "nodes": n,
        "seconds": dt,
        "iterations": iters,
        "bcubed_f1_vs_planted": _purity(labels, 20),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_nx(n_edges: int, which: str) -> dict:
    """Time one NetworkX community algorithm on the same kind of graph (graph build not timed)."""
    import networkx as nx

    n, a, b, w, _ = planted_graph(n_edges)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from(zip(a.tolist(), b.tolist(), w.tolist(), strict=True))
    t = time.perf_counter()
    if which == "nx_label_propagation_communities":
        comms = list(nx.community.label_propagation_communities(g))
    else:
        comms = list(nx.community.asyn_lpa_communities(g, weight="weight", seed=0))
    dt = time.perf_counter() - t
    labels = np.empty(n, dtype=np.int64)
    for i, c in enumerate(comms):
        labels[list(c)] = i
    return {
        "impl": which,
        "edges": int(len(a)),
        "nodes": n,
        "seconds": dt,
        "bcubed_f1_vs_planted": _purity(labels, 20),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _sub(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run every size in its own subprocess and print JSON lines plus the speed-ups."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--edges", type=float, nargs="*", default=[1e6, 1e7])
    ap.add_argument("--nx-edges", type=float, default=1e5)
    ap.add_argument("--one", choices=["ours", "nx_label_propagation_communities", "nx_asyn_lpa_communities"])
    args = ap.parse_args()
    if args.one:
        n = int(args.edges[0])
        print(json.dumps(run_ours(n) if args.one == "ours" else run_nx(n, args.one)))
        return
    results = []
    for e in args.edges:
        r = _sub(["--one", "ours", "--edges", str(int(e))])
        results.append(r)
        print(json.dumps(r))
    for which in ("nx_label_propagation_communities", "nx_asyn_lpa_communities"):
        r = _sub(["--one", which, "--edges", str(int(args.nx_edges))])
        print(json.dumps(r))
        for ours in results:
            est = r["seconds"] * ours["edges"] / r["edges"]
            print(
                f"{which}: measured {r['seconds']:.2f}s at {r['edges']:,} edges; extrapolated "
                f"{est:.0f}s at {ours['edges']:,} edges -> ours {ours['seconds']:.2f}s, "
                f"{est / ours['seconds']:.0f}x faster"
            )


if __name__ == "__main__":
    main()
