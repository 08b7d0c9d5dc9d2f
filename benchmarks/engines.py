"""The dbt feature build on DuckDB and on Spark (`local[2]`), on the same simulated raw tables.

Fills a DuckDB file with the simulator until it holds about N transactions, then builds the
models twice from it: with dbt-duckdb in the file itself, and with dbt-spark's `session` method
after the raw tables landed as Parquet (wallet_pipeline/logic/spark/landing.py). Per engine:
wall seconds, CPU seconds and peak resident memory of dbt and everything it starts (the JVM on
Spark), sampled from /proc every 0.2 s; Spark's landing is timed apart. Then every column of the
mart and the decoded tables is compared (`compare_engines`): exit code 1 on any difference.

    .venv/bin/python benchmarks/engines.py --transactions 1000000
    .venv/bin/python benchmarks/engines.py --transactions 1000000 10000000 --keep /tmp/engines
    .venv/bin/python benchmarks/engines.py --edges 1000000

`--edges N` clusters a planted graph of N edges as each engine's entity step does
(`cluster_edges`; `spark_clusterer` with the driver's propagation), each in a process measured
the same way, and compares the clusters wallet by wallet (exit 1 when they differ).

The test wallet_pipeline_tests/spark/test_engines_agree.py runs the same build and comparison on
a small world.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.feature_build import COMPARED_TABLES, _fill, compare_outputs  # noqa: E402
from wallet_pipeline import settings  # noqa: E402
from wallet_pipeline.logic.graph.clustering import cluster_edges  # noqa: E402
from wallet_pipeline.logic.graph.config import GraphConfig  # noqa: E402
from wallet_pipeline.logic.spark.clustering import spark_clusterer  # noqa: E402
from wallet_pipeline.logic.spark.landing import land_raw, read_back  # noqa: E402
from wallet_pipeline.logic.spark.session import local_session, stop_session  # noqa: E402

RAW_ROWS = ("transactions", "token_transfers")
# Keys are 64-bit hashes of addresses and hashes: DuckDB's hash() and Spark's xxhash64 give the
# same rows different keys (dbt_project/macros/dialect/types_and_functions.sql), so they are left
# out of the comparison; the rows they join are compared.
KEY_SUFFIX = "_key"
# liquidity_events names its two tokens a and b in the order of their keys: the same pair, but
# which is a may differ between engines. Compared as the pair ordered by address.
PAIRED_COLUMNS = {
    "decoded.liquidity_events": (
        ("token_a_address", "token_a_amount_raw"),
        ("token_b_address", "token_b_amount_raw"),
    )
}


@dataclass(frozen=True)
class Build:
    """What one dbt build cost: wall and CPU seconds, peak RSS of dbt and its children (GB)."""

    wall: float
    cpu: float
    peak_gb: float


def run_measured(args: list[str], env: dict[str, str]) -> Build:
    """Run `args`; wall s, CPU s and peak summed RSS of the process and all its descendants.

    ru_maxrss would give one process's peak, and the JVM pyspark starts is not reaped by dbt, so
    its CPU would be missed; the tree is sampled from /proc instead.

    Raises:
        subprocess.CalledProcessError: the command failed (its output went to stderr).
    """
    started = time.monotonic()
    process = subprocess.Popen(args, env=env, stdout=sys.stderr, stderr=sys.stderr)
    cpu: dict[int, float] = {}
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss = 0
            for pid, (ticks, pages) in _tree(process.pid).items():
                cpu[pid] = ticks / os.sysconf("SC_CLK_TCK")
                rss += pages * os.sysconf("SC_PAGE_SIZE")
            peak[0] = max(peak[0], rss)
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = process.wait()
    done.set()
    sampler.join()
    if code:
        raise subprocess.CalledProcessError(code, args)
    return Build(time.monotonic() - started, sum(cpu.values()), peak[0] / 1024**3)


def _tree(root: int) -> dict[int, tuple[int, int]]:
    """Per pid: (utime + stime in clock ticks, resident pages) for `root` and its descendants."""
    parents, stats = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            pages = int((entry / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while being read
        parents[int(entry.name)] = int(fields[1])
        stats[int(entry.name)] = (int(fields[11]) + int(fields[12]), pages)
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return {pid: stats[pid] for pid in tree if pid in stats}


def dbt_build_args(target: str, work: Path, select: str | None = None) -> list[str]:
    """`dbt run` of the project on `target`, its artefacts in `work` (tests are not the build)."""
    project = settings.DBT_PROJECT_DIR
    args = [settings.dbt_executable(), "run", "--project-dir", str(project), "--profiles-dir", str(project)]
    args += ["--target", target, "--target-path", str(work / f"target_{target}"), "--quiet"]
    return [*args, "--select", select] if select else args


def build_duckdb(db: Path, work: Path) -> Build:
    """Build the models in the DuckDB file `db` (its raw schema loaded)."""
    env = {**os.environ, "WALLET_DUCKDB_PATH": str(db), "WALLET_DUCKDB_TEMP_DIR": str(work / "spill")}
    return run_measured(dbt_build_args("local", work), env)


def spark_env(work: Path) -> dict[str, str]:
    """The variables the Spark profile reads, for a warehouse and metastore under `work/spark`."""
    return {
        **os.environ,
        "WALLET_SPARK_DIR": str(work / "spark"),
        "WALLET_SPARK_RAW_DIR": str(work / "spark" / "raw_parquet"),
    }


def build_spark(db: Path, work: Path, spark_file: Path) -> tuple[float, Build]:
    """Land the raw tables of `db`, build the models on Spark, read the compared tables into `spark_file`.

    Returns the landing's wall seconds and the Spark build's cost.
    """
    started = time.monotonic()
    with duckdb.connect(str(db), read_only=True) as con:
        land_raw(con, work / "spark" / "raw_parquet")
    landing = time.monotonic() - started
    build = run_measured(dbt_build_args("local_spark", work), spark_env(work))
    with duckdb.connect(str(spark_file)) as con:
        read_back(con, work / "spark" / "warehouse", list(COMPARED_TABLES))
    return landing, build


def compare_engines(duckdb_file: Path, spark_file: Path, work: Path) -> list[str]:
    """Differences between the compared tables of the two builds (empty: the same outputs).

    Both sides are copied without their key columns, the Spark side cast to the DuckDB build's
    column types (Spark has no unsigned or 128-bit integers; values must still be equal) and token
    pairs put in one order, then compared by `benchmarks.feature_build.compare_outputs`: every
    column exact but floats, which must agree within its FLOAT_TOLERANCE (relative).
    """
    reference, ours = work / "compare_duckdb.duckdb", work / "compare_spark.duckdb"
    for path in (reference, ours):
        path.unlink(missing_ok=True)
    with duckdb.connect(str(ours)) as con:
        con.execute(f"attach '{duckdb_file}' as built_duckdb (read_only)")
        con.execute(f"attach '{spark_file}' as built_spark (read_only)")
        con.execute(f"attach '{reference}' as reference")
        current = con.execute("select current_database()").fetchone()[0]
        problems = []
        for table in COMPARED_TABLES:
            schema, name = table.split(".")
            columns = con.execute(
                "select column_name, data_type from duckdb_columns() where database_name = 'built_duckdb' "
                "and schema_name = ? and table_name = ? order by column_index",
                [schema, name],
            ).fetchall()
            kept = [(c, t) for c, t in columns if not c.endswith(KEY_SUFFIX)]
            spark_columns = {
                row[0]
                for row in con.execute(
                    "select column_name from duckdb_columns() where database_name = 'built_spark' "
                    "and schema_name = ? and table_name = ?",
                    [schema, name],
                ).fetchall()
            }
            missing = [c for c, _ in kept if c not in spark_columns]
            if missing:
                problems.append(f"{table}: the Spark build lacks columns {missing}")
                continue
            for database, side in (("reference", "built_duckdb"), (current, "built_spark")):
                select = _comparable(kept, PAIRED_COLUMNS.get(table, ()))
                con.execute(f"create schema if not exists {database}.{schema}")
                con.execute(f"create table {database}.{table} as select {select} from {side}.{table}")
        con.execute("detach reference")
        con.execute("detach built_duckdb")
        con.execute("detach built_spark")
        return problems + compare_outputs(con, reference, COMPARED_TABLES)


def _comparable(columns: list[tuple[str, str]], pairs: tuple[tuple[str, ...], ...]) -> str:
    """Select list: each column cast to its DuckDB type; each token pair ordered by address."""
    typed = {c: f'cast("{c}" as {t})' for c, t in columns}
    if pairs:
        (a_addr, a_amount), (b_addr, b_amount) = pairs
        a_first = f'("{a_addr}" is null or "{a_addr}" <= "{b_addr}")'
        typed[a_addr], typed[b_addr] = (
            f"case when {a_first} then {typed[a_addr]} else {typed[b_addr]} end",
            f"case when {a_first} then {typed[b_addr]} else {typed[a_addr]} end",
        )
        typed[a_amount], typed[b_amount] = (
            f"case when {a_first} then {typed[a_amount]} else {typed[b_amount]} end",
            f"case when {a_first} then {typed[b_amount]} else {typed[a_amount]} end",
        )
    return ", ".join(f'{expr} as "{c}"' for c, expr in typed.items())


def planted_edges(n_edges: int) -> pd.DataFrame:
    """An edge table (src, dst, weight) of `n_edges` pairs among planted communities of 20 wallets.

    The graph of benchmarks/graph_clustering.py's whole clustering (30% of the in-community pairs
    strong, the rest weak, random pairs across), its nodes written as addresses, which both
    engines cluster as the entity step hands them over.
    """
    from benchmarks.graph_clustering import _strong_graph

    _, a, b, w = _strong_graph(n_edges)
    address = "0x{:040x}".format
    return pd.DataFrame({"src": pd.Series(a).map(address), "dst": pd.Series(b).map(address), "weight": w})


def cluster_one(engine: str, graph: Path, out: Path) -> None:
    """Cluster the edge table in `graph` (Parquet) as `engine`'s entity step does; clusters to `out`.

    duckdb: `cluster_edges` (the compiled kernel); spark: `spark_clusterer` in a local[2] session
    with the driver's propagation, Spark's scratch beside `out`.
    """
    edges = pd.read_parquet(graph)
    if engine == "duckdb":
        result = cluster_edges(edges, GraphConfig())
    else:
        spark = local_session(out.parent, folder=out.parent / f"spark_{out.stem}")
        result = spark_clusterer(spark)(edges, GraphConfig())
        stop_session(spark)
    result.clusters.to_parquet(out)
    print(
        f"  {engine}: {result.clusters['cluster_id'].nunique():,} clusters, {len(result.clusters):,} wallets"
    )


def compare_clusters(duckdb_clusters: Path, spark_clusters: Path) -> int:
    """Wallets whose cluster id or size differs between the two results (0: the same clusters)."""
    a, b = pd.read_parquet(duckdb_clusters), pd.read_parquet(spark_clusters)
    both = a.merge(b, on="address", how="outer", suffixes=("_duckdb", "_spark"), indicator=True)
    same = (both["_merge"] == "both") & (both["cluster_id_duckdb"] == both["cluster_id_spark"])
    return int((~(same & (both["cluster_size_duckdb"] == both["cluster_size_spark"]))).sum())


def benchmark_clustering(n_edges: int, root: Path) -> bool:
    """Cluster a planted graph on both engines, each in a measured process; True when they agree."""
    work = root / f"edges_{n_edges}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    graph = work / "edges.parquet"
    planted_edges(n_edges).to_parquet(graph)
    print(f"{n_edges:,} edges: clustering (entity step) on both engines")
    outs = {}
    for engine in ("duckdb", "spark"):
        outs[engine] = work / f"clusters_{engine}.parquet"
        args = [sys.executable, __file__, "--cluster-one", engine, str(graph), str(outs[engine])]
        build = run_measured(args, dict(os.environ))
        print(
            f"  {engine:15s} {build.wall:7.1f} s wall {build.cpu:7.1f} CPU s {build.peak_gb:5.2f} GB peak RSS"
        )
    differ = compare_clusters(outs["duckdb"], outs["spark"])
    print("  same clusters" if not differ else f"  DIFFERENT clusters for {differ:,} wallets")
    return differ == 0


def main() -> None:
    """Build, time and compare at each size; exit 1 when the engines' outputs differ."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transactions", type=int, nargs="*", help="default: 1000000, none with --edges")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", type=Path, help="folder for the files (default: a temporary one, removed)")
    parser.add_argument(
        "--world", type=Path, help="a DuckDB file with raw tables, built instead of a simulated one"
    )
    parser.add_argument(
        "--edges",
        type=int,
        nargs="*",
        default=[],
        help="then cluster a planted graph of N edges on both engines",
    )
    parser.add_argument("--cluster-one", nargs=3, metavar=("ENGINE", "GRAPH", "OUT"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.cluster_one:
        engine, graph, out = options.cluster_one
        cluster_one(engine, Path(graph), Path(out))
        return
    root = options.keep or Path(tempfile.mkdtemp(prefix="engines-"))
    failed = False
    try:
        for n_edges in options.edges:
            failed |= not benchmark_clustering(n_edges, root)
        sizes = (
            options.transactions if options.transactions is not None else [] if options.edges else [1_000_000]
        )
        for transactions in sizes:
            work = root / f"tx_{transactions}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            db = work / "duckdb_build.duckdb"
            if options.world:
                shutil.copy(options.world, db)
                with duckdb.connect(str(db), read_only=True) as con:
                    counts = {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in RAW_ROWS}
            else:
                counts = _fill(db, transactions, options.seed)
            raw_rows = counts["transactions"] + counts["token_transfers"]
            print(
                f"{counts['transactions']:,} transactions, {raw_rows:,} raw rows (transactions + transfers)"
            )
            raw_copy = work / "raw_tables.duckdb"
            shutil.copy(db, raw_copy)
            duck = build_duckdb(db, work)
            landing, spark = build_spark(raw_copy, work, work / "spark_build.duckdb")
            for name, build in (("duckdb", duck), ("spark local[2]", spark)):
                print(
                    f"  {name:15s} {build.wall:7.1f} s wall {build.cpu:7.1f} CPU s "
                    f"{build.peak_gb:5.2f} GB peak RSS  {raw_rows / build.wall:9,.0f} raw rows/s"
                )
            print(f"  spark landing (DuckDB to Parquet) {landing:.1f} s wall")
            problems = compare_engines(db, work / "spark_build.duckdb", work)
            print("  same outputs" if not problems else "  DIFFERENT:\n    " + "\n    ".join(problems))
            failed |= bool(problems)
    finally:
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
