"""Raw-to-features throughput: rows/s and peak memory of the dbt feature build.

Fills a DuckDB file with the simulator until it holds about N transactions, then times
`dbt run` (staging, intermediate, marts; tests excluded, they are not part of the build) in a
child process and reports its peak resident memory. The per-row figure is the models' own
seconds (dbt's run_results.json); dbt's start-up (parsing, connecting) is printed apart. Beside
it, the anchor: 15 plain per-wallet aggregates over the same raw transactions and token
transfers in DuckDB SQL, timed on the same file in the same run with the same threads and memory
cap, so a loaded machine slows both alike.

    .venv/bin/python benchmarks/feature_build.py --transactions 1000000 10000000
    .venv/bin/python benchmarks/feature_build.py --transactions 1000000 --without-trade-tables

Where the models' CPU goes: `--model-cpu` runs each table model's compiled select again on the
built file, alone, and prints its CPU seconds into memory and into the file; what the full run's
CPU has beyond their sum is dbt's own work per model (rendering, metadata statements).

Same outputs after a change to the models: build once with the old project and keep the file
(`--keep old.duckdb --project-dir <copy of the old dbt_project>`), then build with the new one and
compare every column of the mart and the decoded tables (`--reference old.duckdb`); exit code 1
on any difference.

Targets (issues 2 and 22): at least 1M raw rows/s on 2 cores at 10M transactions, and at least the
anchor's rows/s; peak memory under 8 GB.
The build includes decoding trades from transfers (dbt_project/models/decoded, issue 14); with
`--without-trade-tables` the simulator's own trade tables are emptied first, as an ethereum-etl
export has none, so every trade is decoded. The decoding models' own seconds are printed apart.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wallet_pipeline import settings  # noqa: E402
from wallet_pipeline.logic.ingestion.raw_schema import RAW_TABLES  # noqa: E402
from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, load_simulation  # noqa: E402


def _fill(db: Path, transactions: int, seed: int, trade_tables: bool = True) -> dict[str, int]:
    """Simulate until about `transactions` transactions; returns raw row counts.

    Without `trade_tables` the simulator's dex_trades and nft_trades are emptied and marked not
    provided, as in an ethereum-etl export: the models decode every trade.
    """
    # Calibrated from a small run: the simulator's transactions per wallet is stable with size.
    probe = duckdb.connect()
    load_simulation(probe, SimulatorConfig(seed=seed, n_wallets=2_000))
    per_wallet = probe.execute("select count(*) from raw.transactions").fetchone()[0] / 2_000
    probe.close()
    n_wallets = max(500, int(transactions / per_wallet))
    con = duckdb.connect(str(db))
    con.execute(f"set memory_limit='{settings.duckdb_memory_limit()}'")
    started = time.monotonic()
    load_simulation(con, SimulatorConfig(seed=seed, n_wallets=n_wallets))
    print(f"  simulated {n_wallets:,} wallets in {time.monotonic() - started:.1f} s", flush=True)
    if not trade_tables:
        con.execute("delete from raw.dex_trades; delete from raw.nft_trades")
        con.execute(
            "update raw.source_manifest set provided = false, row_count = 0 "
            "where table_name in ('dex_trades', 'nft_trades')"
        )
    counts = {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in RAW_TABLES}
    con.close()
    return counts


# The anchor: plain per-wallet aggregates, one grouping per side of each raw table, joined into one
# row per address. What a hand-written feature query costs on these tables, against which the
# models' rows/s is judged (issue 22). Six of the sender's, three of the receiver's, three per side
# of the token transfers: 15.
ANCHOR_SQL = """
with
sent as (
    select from_address as address, count(*) as tx_sent, sum(cast(value as double)) as wei_sent,
        sum(cast(receipt_gas_used as double) * gas_price) as gas_wei, min(block_timestamp) as first_sent,
        max(block_timestamp) as last_sent, count(distinct to_address) as receivers
    from raw.transactions group by from_address
),
received as (
    select to_address as address, count(*) as tx_received, sum(cast(value as double)) as wei_received,
        max(block_timestamp) as last_received
    from raw.transactions where to_address is not null group by to_address
),
tokens_out as (
    select from_address as address, count(*) as transfers_out, count(distinct token_address) as tokens_sent,
        max(block_timestamp) as last_token_out
    from raw.token_transfers group by from_address
),
tokens_in as (
    select to_address as address, count(*) as transfers_in, sum(try_cast(value as double)) as amount_in,
        count(distinct from_address) as token_senders
    from raw.token_transfers group by to_address
)
select *
from sent
full join received using (address)
full join tokens_out using (address)
full join tokens_in using (address)
"""

# What must not change when the models are made faster: the mart and every decoded table.
COMPARED_TABLES = (
    "marts.wallet_features",
    "decoded.dex_trades",
    "decoded.nft_trades",
    "decoded.liquidity_events",
    "decoded.token_creations",
    "intermediate.int_dex_swaps_decoded",
    "intermediate.int_nft_sales_decoded",
    "intermediate.int_eth_usd_daily",
    "intermediate.int_canonical_tokens",
)
# Float sums in fixed point are exact; a few features divide or take logs, whose last bit may move
# with a different plan.
FLOAT_TOLERANCE = 1e-9


def _anchor(db: Path) -> tuple[float, float, int, int]:
    """Wall seconds, CPU seconds, input rows and output rows of ANCHOR_SQL on the raw tables of `db`."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute(f"set memory_limit='{settings.duckdb_memory_limit()}'")
        con.execute(f"set threads={settings.duckdb_threads()}")
        con.execute("set preserve_insertion_order=false")
        con.execute("set enable_progress_bar=false")
        rows = con.execute(
            "select (select count(*) from raw.transactions) + (select count(*) from raw.token_transfers)"
        ).fetchone()[0]
        started, cpu = time.monotonic(), time.process_time()
        # Materialized, as the models are: a count(*) over the query would let DuckDB skip the aggregates.
        con.execute(f"create temp table anchor as {ANCHOR_SQL}")
        seconds, cpu = time.monotonic() - started, time.process_time() - cpu
        wallets = con.execute("select count(*) from anchor").fetchone()[0]
    finally:
        con.close()
    return seconds, cpu, rows, wallets


def _columns(con: duckdb.DuckDBPyConnection, database: str, table: str) -> list[tuple[str, str]]:
    schema, name = table.split(".")
    return con.execute(
        "select column_name, data_type from duckdb_columns() "
        "where database_name = ? and schema_name = ? and table_name = ? order by column_index",
        [database, schema, name],
    ).fetchall()


def compare_outputs(
    con: duckdb.DuckDBPyConnection, reference: Path, tables: tuple[str, ...] = COMPARED_TABLES
) -> list[str]:
    """Differences between the tables of `con`'s database and the same tables in `reference`.

    Columns other than floats must be equal as multisets of rows (EXCEPT ALL both ways); float
    columns, on rows paired by the other columns, within FLOAT_TOLERANCE relative. Returns one line
    per table that differs (empty: same outputs).
    """
    con.execute("set enable_progress_bar=false")
    current = con.execute("select current_database()").fetchone()[0]
    con.execute(f"attach '{reference}' as reference (read_only)")
    problems = []
    try:
        for table in tables:
            ours, theirs = _columns(con, current, table), _columns(con, "reference", table)
            if not theirs:
                problems.append(f"{table}: not in the reference file {reference}")
                continue
            if ours != theirs:
                problems.append(f"{table}: columns differ: {ours} against the reference's {theirs}")
                continue
            floats = [f'"{c}"' for c, t in ours if t in ("DOUBLE", "FLOAT")]
            exact = [f'"{c}"' for c, t in ours if t not in ("DOUBLE", "FLOAT")]
            new, old = f'"{current}".{table}', f"reference.{table}"
            listed = ", ".join(exact)
            only = "select {listed} from {a} except all select {listed} from {b}"
            only_new, only_old = (
                con.execute(f"select count(*) from ({only.format(listed=listed, a=a, b=b)})").fetchone()[0]
                for a, b in ((new, old), (old, new))
            )
            if only_new or only_old:
                sample = con.execute(only.format(listed=listed, a=new, b=old) + " limit 1")
                problems.append(
                    f"{table}: {only_new} rows only in the new build, {only_old} only in the reference "
                    f"(floats left aside); e.g. {sample.fetchone()}"
                )
                continue
            if not floats:
                continue
            numbered = "select row_number() over (order by {order}) as n, {cols} from {t}".format(
                order=", ".join(exact + floats), cols=", ".join(floats), t="{t}"
            )
            # NULL on one side only is a difference, which abs() of it would hide.
            off = " or ".join(
                f"(a.{c} is distinct from b.{c} and coalesce("
                f"abs(a.{c} - b.{c}) > {FLOAT_TOLERANCE} * greatest(abs(a.{c}), abs(b.{c})), true))"
                for c in floats
            )
            differing = con.execute(
                f"select count(*) from ({numbered.format(t=new)}) as a "
                f"join ({numbered.format(t=old)}) as b using (n) where {off}"
            ).fetchone()[0]
            if differing:
                problems.append(f"{table}: {differing} rows with a float off by more than {FLOAT_TOLERANCE}")
    finally:
        con.execute("detach reference")
    return problems


DECODING_MODELS = (".decoded.", ".decoding.")


def _dbt_run(
    db: Path, work: Path, project_dir: Path = settings.DBT_PROJECT_DIR
) -> tuple[float, float, float, float, float, float, float]:
    """Wall s, models' s, decoding models' s, peak RSS (GB), CPU s and start-up wall and CPU s of dbt.

    CPU seconds (user + system of the dbt process) move far less than wall seconds when others
    load the machine: compare before/after on them when it is shared. The start-up is measured
    by a run of one trivial view (parsing, connecting, one statement), so the models' CPU is the
    full run's less that.
    """
    env = {
        **os.environ,
        "WALLET_DUCKDB_PATH": str(db),
        "WALLET_DUCKDB_TEMP_DIR": str(work / "spill"),
        "WALLET_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit(),
        "WALLET_DUCKDB_THREADS": str(settings.duckdb_threads()),
    }
    dbt = Path(sys.executable).with_name("dbt")
    args = [str(dbt), "run", "--project-dir", str(project_dir)]
    args += [
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(work / "target"),
        "--quiet",
    ]
    probe = [*args, "--select", "stg_ethereum__source_manifest"]
    # The first run parses the whole project; the next ones reuse its partial parse, so the
    # start-up is measured on the second, as the full run will start.
    subprocess.run(probe, env=env, check=True, stdout=sys.stderr)
    before = _children_cpu()
    started = time.monotonic()
    subprocess.run(probe, env=env, check=True, stdout=sys.stderr)
    startup_seconds = time.monotonic() - started
    startup_cpu = _children_cpu() - before
    before = _children_cpu()
    started = time.monotonic()
    subprocess.run(args, env=env, check=True, stdout=sys.stderr)
    elapsed = time.monotonic() - started
    # ru_maxrss of children is in KiB on Linux: the largest child that ended, i.e. dbt.
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    cpu_seconds = _children_cpu() - before
    results = json.loads((work / "target" / "run_results.json").read_text())
    model_seconds = sum(r["execution_time"] for r in results["results"])
    manifest = json.loads((work / "target" / "manifest.json").read_text())["nodes"]
    decoding_seconds = sum(
        r["execution_time"]
        for r in results["results"]
        if any(part in ".".join(manifest[r["unique_id"]]["fqn"]) + "." for part in DECODING_MODELS)
    )
    return elapsed, model_seconds, decoding_seconds, peak_gb, cpu_seconds, startup_seconds, startup_cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _top_models(work: Path, top: int) -> list[str]:
    """One line per model, slowest first: its seconds and share of all the models' seconds."""
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    total = sum(r["execution_time"] for r in results) or 1.0
    ranked = sorted(results, key=lambda r: r["execution_time"], reverse=True)[:top]
    return [
        f"    {r['execution_time']:6.2f} s {100 * r['execution_time'] / total:5.1f}%  "
        f"{r['unique_id'].split('.')[-1]}"
        for r in ranked
    ]


def _hooks(node: dict, key: str) -> list[str]:
    """The SQL of a model's pre- or post-hooks as the manifest holds it (rendered at parse time)."""
    hooks = [hook["sql"] for hook in node["config"].get(key, [])]
    for sql in hooks:
        if "{{" in sql or "{%" in sql:
            raise ValueError(f"model {node['name']}: its {key} {sql!r} needs dbt to render it")
    return hooks


def model_cpu(con: duckdb.DuckDBPyConnection, target: Path, tries: int = 2) -> list[tuple[str, float, float]]:
    """CPU seconds of each table model's compiled select on a built file, slowest first.

    Per model (name, into a temp table, into a table of the file), best of `tries`: the first is
    the query, the second adds what writing it to disk costs (compression), the part a dbt run
    pays per model beyond its query, with the model's pre- and post-hooks around the write as dbt
    runs them (decoded.dex_trades sets its compression there). `target` is dbt's target folder of
    the build (manifest.json and compiled/). The tables written go into a scratch schema that is
    dropped again.
    """
    manifest_path = target / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"no dbt manifest at {manifest_path}: run dbt with --target-path {target}")
    nodes = json.loads(manifest_path.read_text())["nodes"].values()
    con.execute("set enable_progress_bar=false")
    con.execute("create schema if not exists feature_build_scratch")
    timings = []
    try:
        for node in nodes:
            if node["resource_type"] != "model" or node["config"]["materialized"] == "view":
                continue
            compiled = target / "compiled" / node["package_name"] / node["original_file_path"]
            if not compiled.exists():
                raise FileNotFoundError(
                    f"model {node['name']}: no compiled SQL at {compiled} (was it part of the run?)"
                )
            sql = compiled.read_text()
            before, after = (_hooks(node, key) for key in ("pre-hook", "post-hook"))
            seconds = []
            for into, hooked in (
                ("temp table feature_build_model", False),
                ("table feature_build_scratch.model", True),
            ):
                best = float("inf")
                for _ in range(tries):
                    started = time.process_time()
                    for hook in before if hooked else ():
                        con.execute(hook)
                    con.execute(f"create or replace {into} as {sql}")
                    for hook in after if hooked else ():
                        con.execute(hook)
                    best = min(best, time.process_time() - started)
                seconds.append(best)
            con.execute("drop table feature_build_model; drop table feature_build_scratch.model")
            timings.append((node["name"], seconds[0], seconds[1]))
    finally:
        con.execute("drop schema feature_build_scratch cascade")
    return sorted(timings, key=lambda t: t[2], reverse=True)


def main() -> None:
    """Run the benchmark at each size and print one line of figures per size."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transactions", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--without-trade-tables",
        action="store_true",
        help="empty the simulator's dex_trades / nft_trades first, so every trade is decoded",
    )
    parser.add_argument("--top", type=int, default=12, help="print this many slowest models")
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=settings.DBT_PROJECT_DIR,
        help="dbt project to time (a copy of an older one, to compare before/after)",
    )
    parser.add_argument(
        "--db",
        type=Path,
        help="reuse this filled DuckDB file (copied, never written); filled and kept here if absent",
    )
    parser.add_argument(
        "--keep", type=Path, help="keep the built DuckDB file here (the reference of a later --reference)"
    )
    parser.add_argument(
        "--reference",
        type=Path,
        help="compare the mart and decoded tables with this built file; exit 1 if any differs",
    )
    parser.add_argument(
        "--model-cpu",
        action="store_true",
        help="after the build, time each table model's select alone (CPU s, into memory and into the file)",
    )
    args = parser.parse_args()
    differ = False
    print(
        f"DuckDB memory_limit={settings.duckdb_memory_limit()} threads={settings.duckdb_threads()} "
        f"cores={os.cpu_count()}"
    )
    for target in args.transactions:
        with tempfile.TemporaryDirectory(prefix="wp_bench_") as tmp:
            work = Path(tmp)
            db = work / "bench.duckdb"
            reused = args.db is not None and args.db.exists()
            where = f"the raw tables of {args.db}" if reused else f"~{target:,} transactions"
            print(f"\n{where}:", flush=True)
            if reused:
                # Same raw rows for every run compared: only the models differ.
                shutil.copyfile(args.db, db)
                con = duckdb.connect(str(db), read_only=True)
                counts = {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in RAW_TABLES}
                con.close()
            else:
                counts = _fill(db, target, args.seed, trade_tables=not args.without_trade_tables)
                if args.db:
                    shutil.copyfile(db, args.db)
            raw_rows = sum(counts.values())
            # Run in a fresh child per size so its peak memory is its own.
            code = (
                f"import sys; from pathlib import Path; sys.path.insert(0, {str(ROOT)!r}); "
                "from benchmarks.feature_build import _dbt_run; "
                f"r = _dbt_run(Path({str(db)!r}), Path({str(work)!r}), Path({str(args.project_dir)!r})); "
                "print(' '.join(map(str, r)))"
            )
            out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
            if out.returncode:
                sys.exit(f"dbt failed at ~{target:,} transactions (its output is above)")
            seconds, model_seconds, decoding_seconds, peak_gb, cpu_seconds, startup_seconds, startup_cpu = (
                float(x) for x in out.stdout.split()[-7:]
            )
            wallets = (
                duckdb.connect(str(db), read_only=True)
                .execute("select count(*) from marts.wallet_features")
                .fetchone()[0]
            )
            anchor_seconds, anchor_cpu, anchor_rows, anchor_wallets = _anchor(db)
            detail = ", ".join(f"{t} {n:,}" for t, n in counts.items())
            print(f"  raw rows {raw_rows:,} ({detail})")
            models_cpu = cpu_seconds - startup_cpu
            print(
                f"  models {model_seconds:.1f} s wall -> {raw_rows / model_seconds / 1e6:.2f}M raw rows/s; "
                f"{models_cpu:.1f} CPU s -> {raw_rows / models_cpu / 1e6:.2f}M raw rows per CPU s "
                f"(decoded.* and intermediate decoding: {decoding_seconds:.1f} s wall)"
            )
            print(
                f"  dbt start-up apart: {startup_seconds:.1f} s wall, {startup_cpu:.1f} CPU s "
                f"(a run of one view); the full run {seconds:.1f} s wall, {cpu_seconds:.1f} CPU s"
            )
            print(
                f"  anchor (15 plain per-wallet aggregates, DuckDB SQL) over {anchor_rows:,} transactions + "
                f"token transfers: {anchor_seconds:.1f} s wall -> "
                f"{anchor_rows / anchor_seconds / 1e6:.2f}M rows/s; "
                f"{anchor_cpu:.1f} CPU s -> {anchor_rows / anchor_cpu / 1e6:.2f}M rows per CPU s; "
                f"{anchor_wallets:,} wallets"
            )
            print(
                f"  models / anchor: {model_seconds / anchor_seconds:.1f}x the wall seconds, "
                f"{models_cpu / anchor_cpu:.1f}x the CPU seconds (load average {os.getloadavg()[0]:.2f})"
            )
            print(f"  peak RSS {peak_gb:.2f} GB; {wallets:,} wallets in marts.wallet_features")
            print(f"  slowest {args.top} models:")
            print("\n".join(_top_models(work, args.top)), flush=True)
            if args.model_cpu:
                with duckdb.connect(str(db)) as con:
                    con.execute(f"set memory_limit='{settings.duckdb_memory_limit()}'")
                    con.execute(f"set threads={settings.duckdb_threads()}")
                    con.execute("set preserve_insertion_order=false")
                    timings = model_cpu(con, work / "target")
                print("  each table model's select alone, CPU s, best of 2 (into memory / into the file):")
                for name, in_memory, in_file in timings:
                    print(f"    {in_memory:6.2f} / {in_file:6.2f}  {name}")
                in_memory, in_file = (sum(t[i] for t in timings) for i in (1, 2))
                print(f"    {in_memory:6.2f} / {in_file:6.2f}  all {len(timings)} table models", flush=True)
            if args.keep:
                shutil.copyfile(db, args.keep)
            if args.reference:
                with duckdb.connect(str(db), read_only=True) as con:
                    problems = compare_outputs(con, args.reference)
                print(f"  outputs against {args.reference}: " + ("; ".join(problems) or "identical"))
                differ = differ or bool(problems)
    if differ:
        sys.exit(1)


if __name__ == "__main__":
    main()
