"""Raw-to-features throughput: rows/s and peak memory of the dbt feature build.

Fills a DuckDB file with the simulator until it holds about N transactions, then times
`dbt run` (staging, intermediate, marts; tests excluded, they are not part of the build) in a
child process and reports its peak resident memory.

    .venv/bin/python benchmarks/feature_build.py --transactions 1000000 10000000
    .venv/bin/python benchmarks/feature_build.py --transactions 1000000 --without-trade-tables

Targets (issue 2): at least 1M raw rows/s on 2 cores, peak memory under 8 GB at 10M transactions.
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


DECODING_MODELS = (".decoded.", ".decoding.")


def _dbt_run(
    db: Path, work: Path, project_dir: Path = settings.DBT_PROJECT_DIR
) -> tuple[float, float, float, float, float]:
    """Wall seconds, model seconds, decoding models' seconds, peak RSS (GB) and CPU seconds of `dbt run`.

    CPU seconds (user + system of the dbt process) move far less than wall seconds when others
    load the machine: compare before/after on them when it is shared.
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
    started = time.monotonic()
    subprocess.run(args, env=env, check=True, stdout=sys.stderr)
    elapsed = time.monotonic() - started
    # ru_maxrss of children is in KiB on Linux: the largest child that ended, i.e. dbt.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_gb = usage.ru_maxrss / 1024**2
    cpu_seconds = usage.ru_utime + usage.ru_stime
    results = json.loads((work / "target" / "run_results.json").read_text())
    model_seconds = sum(r["execution_time"] for r in results["results"])
    manifest = json.loads((work / "target" / "manifest.json").read_text())["nodes"]
    decoding_seconds = sum(
        r["execution_time"]
        for r in results["results"]
        if any(part in ".".join(manifest[r["unique_id"]]["fqn"]) + "." for part in DECODING_MODELS)
    )
    return elapsed, model_seconds, decoding_seconds, peak_gb, cpu_seconds


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
    args = parser.parse_args()
    print(
        f"DuckDB memory_limit={settings.duckdb_memory_limit()} threads={settings.duckdb_threads()} "
        f"cores={os.cpu_count()}"
    )
    for target in args.transactions:
        with tempfile.TemporaryDirectory(prefix="wp_bench_") as tmp:
            work = Path(tmp)
            db = work / "bench.duckdb"
            print(f"\n~{target:,} transactions:", flush=True)
            if args.db and args.db.exists():
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
            seconds, model_seconds, decoding_seconds, peak_gb, cpu_seconds = (
                float(x) for x in out.stdout.split()[-5:]
            )
            wallets = (
                duckdb.connect(str(db), read_only=True)
                .execute("select count(*) from marts.wallet_features")
                .fetchone()[0]
            )
            detail = ", ".join(f"{t} {n:,}" for t, n in counts.items())
            print(f"  raw rows {raw_rows:,} ({detail})")
            print(
                f"  feature build {seconds:.1f} s wall (dbt process, start-up included) -> "
                f"{raw_rows / seconds / 1e6:.2f}M raw rows/s; models alone {model_seconds:.1f} s -> "
                f"{raw_rows / model_seconds / 1e6:.2f}M raw rows/s"
            )
            print(f"  of which decoding models (decoded.*, intermediate decoding) {decoding_seconds:.1f} s")
            print(f"  dbt CPU {cpu_seconds:.1f} s (user + system; load average {os.getloadavg()[0]:.2f})")
            print(f"  peak RSS {peak_gb:.2f} GB; {wallets:,} wallets in marts.wallet_features")
            print(f"  slowest {args.top} models:")
            print("\n".join(_top_models(work, args.top)), flush=True)


if __name__ == "__main__":
    main()
