"""The graph and entity steps end to end on simulated chains of growing size: time and peak memory.

For each size, a child process simulates the chain into its own DuckDB file (not timed), then
times what the Dagster steps run: `build_edges` (every rule and the hub guard), `build_entities`
(clustering, stable ids, sub-clusters, bridges, links, evidence chains), `score_entities`
(reputation, cluster and wallet risk) and the evaluation against the planted entities. The
features table is not built (it is optional for these steps), so contract flags come from the raw
tables only.

    .venv/bin/python benchmarks/entity_pipeline.py --wallets 20000 200000
"""

from __future__ import annotations

import argparse
import json
import resource
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


def main() -> None:
    """Run each size in its own process, so that its peak memory is its own."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wallets", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB memory_limit")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
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
