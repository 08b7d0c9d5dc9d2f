"""Clustering speed: our compiled label propagation vs NetworkX, on one random graph with planted communities.

    python benchmarks/graph_clustering.py                    # ours at 1M and 10M edges, NetworkX at 1M
    python benchmarks/graph_clustering.py --edges 1e6 --nx-edges 1e5
    python benchmarks/graph_clustering.py --engine spark --edges 1e6   # Spark local[2] only

`--engine spark` runs the Spark clustering (`logic/spark/clustering.py`, local[2]) on the same
graphs: its connected components alone (`spark_components`, all pairs) and the whole clustering
with Spark's propagation (`spark_strong_join_then_lpa`, the `ours_full` graph, `lpa_tol` 1e-3).
Spark's peak memory is the Python driver's plus the JVM's own peak (VmHWM, read before the
process ends); its CPU seconds are both processes' user + system time, since on a loaded machine
wall time says little. Every row also records the load average when it ended.

Every measurement runs in a fresh subprocess, so that its peak RSS (ru_maxrss, graph generation
included) belongs to that run alone. All implementations get the SAME simple weighted graph: pairs
are deduplicated before anything runs (a NetworkX `Graph` would otherwise keep one weight per pair
while our arrays add parallel edges up). Our time covers the whole `label_propagation` call (CSR
build and propagation); NetworkX's graph build is timed apart and left out of its clustering time,
which favours NetworkX. Numba's compile time is measured apart: `jit_cold_s` compiles into an empty
cache directory, `jit_warm_s` is the first call of a process that finds the cache.

NetworkX runs at `--nx-edges` (default 1M, measured directly); for our larger sizes its time is
extrapolated linearly in edges (its algorithms do O(edges) work per sweep), and the output says so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NX_IMPLS = ("nx_label_propagation_communities", "nx_asyn_lpa_communities")
SPARK_IMPLS = ("spark_components", "spark_strong_join_then_lpa")


def planted_graph(n_edges: int, community: int = 20, p_in: float = 0.9, seed: int = 0):
    """A simple undirected graph of `n_edges` edges (rows, cols, weights), communities of `community` nodes.

    `n_edges // 5` nodes (average degree 10); `p_in` of the drawn pairs inside a community (87% of
    the distinct ones), the rest between random nodes; weights uniform in [0.5, 1). Pairs are drawn in excess,
    self-loops and repeated pairs dropped, and the first `n_edges` distinct pairs kept (fewer only
    on tiny graphs). Returns (n, rows, cols, weights) with rows < cols.
    """
    rng = np.random.default_rng(seed)
    n = max(community * 2, n_edges // 5)
    draws = int(n_edges * 1.4)  # repeated intra-community pairs are common: draw more than needed
    n_in = int(draws * p_in)
    a = rng.integers(0, n, draws)
    base = (a[:n_in] // community) * community
    b_in = np.minimum(base + rng.integers(0, community, n_in), n - 1)
    b = np.concatenate([b_in, rng.integers(0, n, draws - n_in)])
    w = rng.uniform(0.5, 1.0, draws)
    mix = rng.permutation(draws)  # so that keeping the first pairs keeps the in/out mix
    lo, hi, w = np.minimum(a, b)[mix], np.maximum(a, b)[mix], w[mix]
    keep = lo != hi
    lo, hi, w = lo[keep], hi[keep], w[keep]
    _, first = np.unique(lo * n + hi, return_index=True)
    first = np.sort(first)[:n_edges]
    return n, lo[first], hi[first], w[first]


def bcubed_f1(labels: np.ndarray, community: int = 20) -> float:
    """B-cubed F1 of a labelling against the planted communities (node i is in i // community)."""
    import pandas as pd

    df = pd.DataFrame({"t": np.arange(len(labels)) // community, "p": labels})
    both = df.groupby(["t", "p"])["t"].transform("size")
    p = (both / df.groupby("p")["p"].transform("size")).mean()
    r = (both / df.groupby("t")["t"].transform("size")).mean()
    return float(2 * p * r / (p + r))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_jit() -> dict:
    """Time the first `label_propagation` call of a process on a 3-node graph (compile or cache load)."""
    t = time.perf_counter()
    from wallet_pipeline.logic.graph.clustering import label_propagation

    t_import = time.perf_counter() - t
    t = time.perf_counter()
    label_propagation(3, np.array([0, 1]), np.array([1, 2]), np.ones(2))
    return {"import_s": t_import, "first_call_s": time.perf_counter() - t}


def run_ours(n_edges: int, seed: int = 0) -> dict:
    """Time our label propagation on the planted graph of about `n_edges` edges (JIT warmed first)."""
    from wallet_pipeline.logic.graph.clustering import label_propagation

    label_propagation(3, np.array([0, 1]), np.array([1, 2]), np.ones(2))  # load the compiled kernel
    n, a, b, w = planted_graph(n_edges)
    t = time.perf_counter()
    labels, passes = label_propagation(n, a, b, w, seed=seed)
    return _ours("ours_numba_lpa", n, len(a), labels, passes, time.perf_counter() - t)


def _ours(impl: str, n: int, n_edges: int, labels: np.ndarray, passes: int, seconds: float) -> dict:
    return {
        "impl": impl,
        "edges": int(n_edges),
        "nodes": n,
        "build_s": None,
        "cluster_s": seconds,
        "iterations": passes,
        "bcubed_f1_vs_planted": bcubed_f1(labels),
        "peak_rss_mb": _peak_rss_mb(),
    }


def run_ours_full(n_edges: int, seed: int = 0) -> dict:
    """Time the whole clustering of `cluster_edges` on arrays: strong pairs joined, then label propagation.

    The same planted graph, with 30% of the in-community pairs made strong (weight 1.0, joined
    transitively) and every other pair weak (weight scaled into [0.4, 0.8)), as rules of both
    kinds give on chain data.
    """
    from wallet_pipeline.logic.graph.clustering import cluster_arrays, label_propagation
    from wallet_pipeline.logic.graph.config import GraphConfig

    label_propagation(3, np.array([0, 1]), np.array([1, 2]), np.ones(2))  # load the compiled kernel
    n, a, b, w = planted_graph(n_edges)
    rng = np.random.default_rng(seed + 1)
    strong = (a // 20 == b // 20) & (rng.random(len(a)) < 0.3)
    w = np.where(strong, 1.0, w * 0.8)
    t = time.perf_counter()
    labels, passes = cluster_arrays(n, a, b, w, GraphConfig(seed=seed))
    return _ours("ours_strong_join_then_lpa", n, len(a), labels, passes, time.perf_counter() - t)


def _strong_graph(n_edges: int, seed: int = 0):
    """The `ours_full` graph: 30% of the in-community pairs strong (1.0), the others scaled under 0.8."""
    n, a, b, w = planted_graph(n_edges)
    rng = np.random.default_rng(seed + 1)
    strong = (a // 20 == b // 20) & (rng.random(len(a)) < 0.3)
    return n, a, b, np.where(strong, 1.0, w * 0.8)


def _proc_stats(pid: int) -> tuple[float, float]:
    """(peak RSS MB, CPU s) of a live process, from /proc (Linux)."""
    status = open(f"/proc/{pid}/status").read()
    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return hwm / 1024, (int(fields[11]) + int(fields[12])) / ticks


def run_spark(n_edges: int, which: str, seed: int = 0) -> dict:
    """Time Spark's clustering (local[2]) on the planted graph: components alone, or the whole clustering."""
    with tempfile.TemporaryDirectory(prefix="spark_bench_") as root:
        return _run_spark(Path(root), n_edges, which, seed)


def _run_spark(root: Path, n_edges: int, which: str, seed: int) -> dict:
    import pandas as pd

    from wallet_pipeline.logic.graph.config import GraphConfig
    from wallet_pipeline.logic.spark.clustering import cluster_edges_spark, connected_components
    from wallet_pipeline.logic.spark.session import local_session, stop_session

    spark = local_session(root)
    jvm = spark.sparkContext._gateway.proc.pid
    n, a, b, w = (
        _strong_graph(n_edges, seed) if which == "spark_strong_join_then_lpa" else planted_graph(n_edges)
    )
    path = root / "edges.parquet"
    pd.DataFrame({"src": a, "dst": b, "weight": w}).to_parquet(path)
    edges = spark.read.parquet(str(path)).cache()
    edges.count()
    t = time.perf_counter()
    if which == "spark_components":
        comps = connected_components(edges.selectExpr("src a", "dst b"), seed=seed)
        got = comps.members.toPandas()
        iters, rounds = None, comps.rounds
        label_of = dict(zip(got["node"], got["root"], strict=True))
    else:
        cfg = GraphConfig(seed=seed, lpa_tol=1e-3)
        res = cluster_edges_spark(edges, cfg, propagation="spark")
        got = res.clusters.toPandas()
        iters, rounds = res.iterations, sum(res.cc_rounds.values())
        label_of = dict(zip(got["address"], got["cluster_id"], strict=True))
    dt = time.perf_counter() - t
    # A node in no cluster is a singleton: its own label.
    named = pd.Series(np.arange(n)).map(label_of)
    labels = pd.factorize(named.fillna(pd.Series(np.arange(n)).map("single_{}".format)))[0]
    jvm_rss, jvm_cpu = _proc_stats(jvm)
    me = resource.getrusage(resource.RUSAGE_SELF)
    stop_session(spark)
    return {
        "impl": which,
        "edges": int(len(a)),
        "nodes": n,
        "build_s": None,
        "cluster_s": dt,
        "iterations": iters,
        "cc_rounds": rounds,
        "bcubed_f1_vs_planted": bcubed_f1(labels),
        "peak_rss_mb": _peak_rss_mb() + jvm_rss,
        "jvm_peak_rss_mb": jvm_rss,
        "cpu_s": me.ru_utime + me.ru_stime + jvm_cpu,
        "load_1min": os.getloadavg()[0],
    }


def run_nx(n_edges: int, which: str, seed: int = 0) -> dict:
    """Time one NetworkX community algorithm on the same planted graph (graph build timed apart)."""
    import networkx as nx

    n, a, b, w = planted_graph(n_edges)
    t = time.perf_counter()
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from(zip(a.tolist(), b.tolist(), w.tolist(), strict=True))
    build = time.perf_counter() - t
    t = time.perf_counter()
    if which == "nx_label_propagation_communities":
        comms = list(nx.community.label_propagation_communities(g))
    else:
        comms = list(nx.community.asyn_lpa_communities(g, weight="weight", seed=seed))
    dt = time.perf_counter() - t
    labels = np.empty(n, dtype=np.int64)
    for i, c in enumerate(comms):
        labels[list(c)] = i
    return {
        "impl": which,
        "edges": int(len(a)),
        "nodes": n,
        "build_s": build,
        "cluster_s": dt,
        "iterations": None,
        "bcubed_f1_vs_planted": bcubed_f1(labels),
        "peak_rss_mb": _peak_rss_mb(),
    }


def _sub(args: list[str], env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env)
    if out.returncode:
        # The run's own traceback, not only its exit status: a 1M-edge Spark run failed after
        # about 21 minutes with nothing else to show for it.
        raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _jit_times() -> dict:
    """Cold compile (empty NUMBA_CACHE_DIR) and warm first call (same cache, new process)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        cold = _sub(["--one", "jit"], env)
        warm = _sub(["--one", "jit"], env)
    return {
        "jit_cold_s": cold["first_call_s"],
        "jit_warm_s": warm["first_call_s"],
        "import_s": warm["import_s"],
    }


def _fmt(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def main() -> None:
    """Run every measurement in its own subprocess; print JSON lines, a table and the speed-ups."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--edges", type=float, nargs="*", default=[1e6, 1e7])
    ap.add_argument("--nx-edges", type=float, default=1e6)
    ap.add_argument("--one", choices=["jit", "ours", "ours_full", *NX_IMPLS, *SPARK_IMPLS])
    ap.add_argument("--engine", choices=["numba", "spark"], default="numba")
    args = ap.parse_args()
    if args.one:
        n = int(args.edges[0])
        runs = {"jit": run_jit, "ours": lambda: run_ours(n), "ours_full": lambda: run_ours_full(n)}
        if args.one in runs:
            r = runs[args.one]()
        elif args.one in SPARK_IMPLS:
            r = run_spark(n, args.one)
        else:
            r = run_nx(n, args.one)
        print(json.dumps(r))
        return
    if args.engine == "spark":
        _spark_table(args.edges)
        return
    jit = _jit_times()
    print(json.dumps(jit))
    rows = [_sub(["--one", "ours", "--edges", str(int(e))]) for e in args.edges]
    full = [_sub(["--one", "ours_full", "--edges", str(int(e))]) for e in args.edges]
    rows += [_sub(["--one", which, "--edges", str(int(args.nx_edges))]) for which in NX_IMPLS]
    for r in rows + full:
        print(json.dumps(r))
    cold, warm = jit["jit_cold_s"], jit["jit_warm_s"]
    print(f"\nnumba JIT (not in the times below): cold compile {cold:.2f} s, cached load {warm:.2f} s")
    print(f"{'impl':36} {'edges':>11} {'build s':>8} {'cluster s':>9} {'iter':>4} {'RSS MB':>7} {'B3 F1':>6}")
    for r in rows + full:
        print(
            f"{r['impl']:36} {r['edges']:>11,} {_fmt(r['build_s'], '8.2f')} {r['cluster_s']:9.2f} "
            f"{_fmt(r['iterations'], '>4')} {r['peak_rss_mb']:7.0f} {r['bcubed_f1_vs_planted']:6.3f}"
        )
    print()
    for nxr in rows[len(args.edges) :]:
        for ours in rows[: len(args.edges)]:
            est = nxr["cluster_s"] * ours["edges"] / nxr["edges"]
            how = "measured" if nxr["edges"] == ours["edges"] else f"extrapolated from {nxr['edges']:,} edges"
            print(
                f"{nxr['impl']} at {ours['edges']:,} edges: {est:.1f} s ({how}); "
                f"ours {ours['cluster_s']:.2f} s -> {est / ours['cluster_s']:.0f}x faster"
            )


def _spark_table(sizes: list[float]) -> None:
    """Spark's rows, each in its own process, printed as JSON lines and a table."""
    rows = []
    for e in sizes:
        for which in SPARK_IMPLS:
            # Printed as each ends: a long run stopped later keeps the rows already measured.
            rows.append(_sub(["--one", which, "--edges", str(int(e))]))
            print(json.dumps(rows[-1]), flush=True)
    print(
        f"\n{'impl':28} {'edges':>11} {'cluster s':>9} {'CPU s':>7} {'iter':>4} {'rounds':>6} "
        f"{'RSS MB':>7} {'load':>5}"
    )
    for r in rows:
        print(
            f"{r['impl']:28} {r['edges']:>11,} {r['cluster_s']:9.1f} {r['cpu_s']:7.1f} "
            f"{_fmt(r['iterations'], '>4')} {r['cc_rounds']:>6} {r['peak_rss_mb']:7.0f} {r['load_1min']:5.1f}"
        )


if __name__ == "__main__":
    main()
