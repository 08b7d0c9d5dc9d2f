"""The graph and entity steps end to end on simulated chains of growing size: time and peak memory.

For each size, a child process simulates the chain into its own DuckDB file (not timed), then
times what the Dagster steps run: `build_edges` (every rule and the hub guard), `build_entities`
(clustering, stable ids, sub-clusters, bridges, links, evidence chains), `score_entities`
(reputation, cluster and wallet risk) and the evaluation against the planted entities. The
features table is not built (it is optional for these steps), so contract flags come from the raw
tables only.

    .venv/bin/python benchmarks/entity_pipeline.py --wallets 20000 200000

With `--profile <duckdb file>` (a data folder's `wallet_pipeline.duckdb` after a whole run, e.g.
one that `benchmarks/scale.py --work-dir` kept), it runs the two entity steps instead on a copy of
that file, as the assets run them, and prints for each of their pieces its wall and CPU seconds,
the RSS before and after it and its own peak RSS (Linux VmHWM, reset at the piece's start), and
the peak between pieces (the tables read in the step's own body), and what DuckDB's buffer
manager holds after each piece (`duckdb_memory()`: RSS that is DuckDB's, not Python's). That
shows which piece sets the step's peak, with the real features, personas and edges of the run.

    .venv/bin/python benchmarks/entity_pipeline.py --profile /tmp/scale/run200k/w200000/wallet_pipeline.duckdb

`--step graph` profiles the wallet_graph step instead: each edge rule, the hub detection and the
write of the graph tables (the file's own graph tables are replaced on the copy).

`--dominators 100000 400000` times the funding groups' dominator search (`group_rules`) alone
on random payments of that many wallets, each size in its own process.

`--outputs DIR` also saves the entity tables it wrote as Parquet, to compare two versions of the
code on one input: extract the older one with `git archive <rev> wallet_pipeline benchmarks | tar -x
-C <dir>` and run `<dir>/benchmarks/entity_pipeline.py` (it imports the package beside it).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def one_size(wallets: int, memory_limit: str) -> dict:
    """Simulate `wallets` wallets, then time every graph and entity step on them."""
    import duckdb

    from wallet_pipeline.logic.graph import GraphConfig, build_edges
    from wallet_pipeline.logic.graph.entities import (
        build_entities,
        evaluate_entities,
        score_entities,
        write_entities,
    )
    from wallet_pipeline.logic.graph.store import GRAPH_SCHEMA, replace_tables
    from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, load_simulation

    out: dict = {"wallets": wallets}
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "bench.duckdb"), config={"memory_limit": memory_limit})
        t = time.perf_counter()
        load_simulation(con, SimulatorConfig(n_wallets=wallets, seed=42))
        out["simulate_s"] = round(time.perf_counter() - t, 1)
        out["raw_rows"] = int(
            con.sql(
                "select (select count(*) from raw.transactions) + (select count(*) from raw.token_transfers)"
            ).fetchone()[0]
        )
        t = time.perf_counter()
        res = build_edges(con, GraphConfig(features_table=None))
        replace_tables(
            con, GRAPH_SCHEMA, {"wallet_edges": "select * from g_edges", "hubs": "select * from g_hubs"}
        )
        out["build_edges_s"] = round(time.perf_counter() - t, 1)
        out["edges"] = int(len(res.edges))
        t = time.perf_counter()
        built = build_entities(con, run_id="bench", as_of=datetime(2025, 1, 1))
        write_entities(con, built)
        out["build_entities_s"] = round(time.perf_counter() - t, 1)
        out["clusters"] = built.metadata["clusters"]
        out["clustered_wallets"] = built.metadata["clustered_wallets"]
        t = time.perf_counter()
        scored = score_entities(con, run_id="bench")
        replace_tables(con, "entities", scored.tables)
        out["score_entities_s"] = round(time.perf_counter() - t, 1)
        out["wallets_scored"] = scored.stats["wallets_scored"]
        t = time.perf_counter()
        ev = evaluate_entities(con)
        out["evaluate_s"] = round(time.perf_counter() - t, 1)
        out["bcubed_f1"] = ev.metadata["bcubed_f1"]
        out["malicious_found"] = ev.metadata["malicious_entities_found"]
        out["benign_entities_high"] = ev.metadata["benign_entities_high_or_above"]
        con.close()
    out["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)
    return out


# The pieces of the two entity steps, by module: none calls another, so resetting the peak at each
# piece's start never hides a piece's peak from the one around it.
_PIECES = {
    "wallet_pipeline.logic.graph.entities": (
        "cluster_edges",
        "_previous",
        "wallet_activity",
        "assign_stable_ids",
        "sub_clusters",
        "bridge_wallets",
        "cluster_links",
        "evidence_chains",
        "service_roles",
        "_wallets_without_edges",
        "replace_tables",
        "dominant_personas",
    ),
    "wallet_pipeline.logic.graph.risk": (
        "rugged_tokens",
        "pattern_wallets",
        "evidence_for",
        "score_clusters",
        "score_wallets",
    ),
    "wallet_pipeline.logic.graph.reputation": ("wallet_reputation",),
}


ENTITY_TABLES = (
    "wallet_clusters",
    "cluster_edges",
    "cluster_evidence",
    "cluster_links",
    "bridge_wallets",
    "clusters",
    "wallet_risk",
    "wallet_reputation",
)


def _graph_step(con) -> None:  # noqa: ANN001
    """The wallet_graph asset's body: every rule and the hub guard, then the two graph tables."""
    from wallet_pipeline.defs.graph.assets import GraphBuildConfig, graph_config
    from wallet_pipeline.logic.graph import edges
    from wallet_pipeline.logic.graph.store import GRAPH_SCHEMA, replace_tables

    edges.build_edges(con, graph_config(GraphBuildConfig()), with_edges=False)
    tables = {
        "wallet_edges": "select * from g_edges order by edge_type, src, dst",
        "hubs": "select * from g_hubs",
    }
    replace_tables(con, GRAPH_SCHEMA, tables)


def _entity_steps(con) -> None:  # noqa: ANN001
    """The entity_clusters and entity_risk assets' bodies."""
    from wallet_pipeline.logic.graph import entities

    built = entities.build_entities(con, run_id="profile", as_of=datetime(2025, 1, 1))
    entities.write_entities(con, built)
    del built
    scored = entities.score_entities(con, run_id="profile")
    entities.replace_tables(con, "entities", scored.tables)


def _wrap_graph_rules(measured) -> None:  # noqa: ANN001
    """Measure every rule of `edges.RULES` and the hub guard's pieces.

    A SQL rule only builds its query inside its function; DuckDB runs it in the gap after it.
    """
    from wallet_pipeline.logic.graph import edges

    for name, (fn, needs) in list(edges.RULES.items()):
        edges.RULES[name] = (measured(name, fn), needs)
    for name in ("prepare", "detect_hubs", "detach_chain_entries"):
        setattr(edges, name, measured(name, getattr(edges, name)))


def profile(db: Path, memory_limit: str, outputs: Path | None = None, step: str = "entities") -> list[dict]:
    """Time and peak RSS of every piece of the entity steps (or of the graph step, `step="graph"`).

    With `outputs`, the entity tables written are also saved there as Parquet files, so that two
    versions of the code can be compared on the same input (see `main`'s --outputs).
    """
    import importlib

    import duckdb

    from benchmarks.scale import own_memory
    from wallet_pipeline.settings import duckdb_settings

    class _Printed(list):
        """Each row is printed as it comes: a run that fails midway still shows its pieces."""

        def append(self, row: dict) -> None:
            super().append(row)
            print(json.dumps(row), flush=True)

    log: list[dict] = _Printed()
    held: list[duckdb.DuckDBPyConnection] = []
    last = ["start"]

    def duckdb_gb() -> float | None:
        """What DuckDB's buffer manager holds (data, hash tables, sorts), apart from Python's objects."""
        if not held:
            return None
        used = held[0].execute("select sum(memory_usage_bytes) from duckdb_memory()").fetchone()[0]
        return round(int(used or 0) / 1e9, 2)

    def measured(name: str, fn):  # noqa: ANN001, ANN202
        def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            rss, gap_peak = own_memory(reset=True)
            log.append({"piece": f"(after {last[0]}, before {name})", "peak_gb": round(gap_peak / 1e9, 2)})
            cpu, wall = time.process_time(), time.perf_counter()
            out = fn(*args, **kwargs)
            after, peak = own_memory(reset=True)
            last[0] = name
            log.append(
                {
                    "piece": name,
                    "wall_s": round(time.perf_counter() - wall, 1),
                    "cpu_s": round(time.process_time() - cpu, 1),
                    "rss_before_gb": round(rss / 1e9, 2),
                    "rss_after_gb": round(after / 1e9, 2),
                    "peak_gb": round(peak / 1e9, 2),
                    "duckdb_after_gb": duckdb_gb(),
                }
            )
            return out

        return run

    if step == "graph":
        _wrap_graph_rules(measured)
        from wallet_pipeline.logic.graph import store

        store.replace_tables = measured("replace_tables", store.replace_tables)
    else:
        for module_name, names in _PIECES.items():
            module = importlib.import_module(module_name)
            for name in names:
                setattr(module, name, measured(name, getattr(module, name)))
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "profile.duckdb"
        shutil.copyfile(db, copy)
        # The pipeline's own connection settings (insertion order off, a spill folder), so the
        # pieces run as they do in the assets.
        config = {
            **duckdb_settings(),
            "memory_limit": memory_limit,
            "temp_directory": str(Path(tmp) / "spill"),
        }
        con = duckdb.connect(str(copy), config=config)
        held.append(con)
        own_memory(reset=True)
        (_graph_step if step == "graph" else _entity_steps)(con)
        log.append({"piece": f"(after {last[0]}, end)", "peak_gb": round(own_memory()[1] / 1e9, 2)})
        if outputs is not None:
            outputs.mkdir(parents=True, exist_ok=True)
            for table in ENTITY_TABLES if step != "graph" else ("wallet_edges", "hubs"):
                schema = "graph" if step == "graph" else "entities"
                con.execute(f"copy {schema}.{table} to '{outputs / table}.parquet' (format parquet)")
        con.close()
    return log


def dominator_timing(nodes: int, seed: int = 0) -> dict:
    """CPU seconds and peak RSS of the funding groups' dominator search on random payments.

    `nodes` wallets and 2 x `nodes` distinct payments drawn uniformly (a giant cycle of people
    paying people, split into single wallets, with small groups around it), as the rule gets them:
    payee counts, and the links to people for closure.
    """
    import numpy as np

    from benchmarks.scale import own_memory
    from wallet_pipeline.logic.graph.config import GraphConfig
    from wallet_pipeline.logic.graph.group_rules import _csr, _dominator_groups, _dominator_kernels

    _dominator_kernels()  # compiled (or loaded from numba's cache) outside the figures
    rng = np.random.default_rng(seed)
    pairs = np.unique(rng.integers(0, nodes, size=(2 * nodes, 2)), axis=0)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    src, dst = pairs[:, 0], pairs[:, 1]
    payees = np.bincount(src, minlength=nodes)
    links = np.unique(np.concatenate([pairs, pairs[:, ::-1]]), axis=0)
    nbrs = _csr(nodes, links[:, 0], links[:, 1])
    rss, _ = own_memory(reset=True)
    cpu = time.process_time()
    groups = _dominator_groups(nodes, src, dst, payees, nbrs, GraphConfig())
    return {
        "nodes": nodes,
        "pairs": int(len(src)),
        "groups": len(groups),
        "cpu_s": round(time.process_time() - cpu, 1),
        "rss_before_gb": round(rss / 1e9, 2),
        "peak_gb": round(own_memory()[1] / 1e9, 2),
    }


def main() -> None:
    """Run each size in its own process, so that its peak memory is its own."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wallets", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB memory_limit")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile", type=Path, help="profile the entity steps on a copy of this DuckDB file")
    parser.add_argument("--outputs", type=Path, help="with --profile: save the entity tables here as Parquet")
    parser.add_argument(
        "--step", choices=("entities", "graph"), default="entities", help="with --profile: which step"
    )
    parser.add_argument(
        "--dominators",
        type=int,
        nargs="+",
        help="time the funding groups' dominator search alone on this many random wallets",
    )
    parser.add_argument("--dominators-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dominators_child:
        print(json.dumps(dominator_timing(args.dominators_child)))
        return
    if args.dominators:
        for nodes in args.dominators:
            cmd = [sys.executable, __file__, "--dominators-child", str(nodes)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            print(done.stdout.strip().splitlines()[-1])
        return
    if args.profile:
        profile(args.profile, args.memory_limit, args.outputs, args.step)  # prints each piece
        return
    if args.child:
        print(json.dumps(one_size(args.child, args.memory_limit)))
        return
    for wallets in args.wallets:
        cmd = [sys.executable, __file__, "--child", str(wallets), "--memory-limit", args.memory_limit]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{wallets} wallets failed:\n{done.stderr[-3000:]}")
            continue
        print(json.loads(done.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
