"""One day from Dune end to end: execute, poll, page, convert and store, against the local emulator.

The emulator (tests' `dune_emulator`) serves a simulated chain over real HTTP on 127.0.0.1; the
real dune-client fetches every daily query for one day and the day is written to DuckDB exactly
as the `dune_daily` asset does. Prints rows, seconds and this process's peak memory (the
emulator, which stands in for Dune's servers, runs in its own process and is not counted).

    .venv/bin/python benchmarks/dune_day.py --wallets 20000 --days 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wallet_pipeline.lib.dune import DuneFetcher, DuneRun  # noqa: E402
from wallet_pipeline.logic.ingestion.dune_queries import DAILY_QUERIES  # noqa: E402
from wallet_pipeline.logic.ingestion.dune_source import load_day  # noqa: E402
from wallet_pipeline_tests.dune_emulator.fixture import start_emulator  # noqa: E402


def main() -> None:
    """Fetch the busiest day of the emulated chain and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wallets", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--page-size", type=int, default=50_000)
    args = parser.parse_args()
    start = dt.date(2024, 7, 1)
    with start_emulator(seed=1, wallets=args.wallets, days=args.days, api_key="bench-key") as emulator:
        day = max(
            (start + dt.timedelta(days=i) for i in range(args.days)),
            key=lambda d: sum(emulator.rows(q.name, d) for q in DAILY_QUERIES),
        )
        expected = {q.name: emulator.rows(q.name, day) for q in DAILY_QUERIES}
        fetcher = DuneFetcher(
            api_key="bench-key", base_url=emulator.base_url, page_size=args.page_size, poll_seconds=0.1
        )
        runs = {q.name: DuneRun(query=q.name, day=day) for q in DAILY_QUERIES}
        with tempfile.TemporaryDirectory(prefix="wp_dune_") as tmp:
            con = duckdb.connect(str(Path(tmp) / "bench.duckdb"))
            started = time.monotonic()
            load_day(con, fetcher, day, runs)
            seconds = time.monotonic() - started
            stored = {
                q.name: con.execute(
                    f"select count(*) from raw.{q.raw_table} where block_date = ?", [day]
                ).fetchone()[0]
                for q in DAILY_QUERIES
            }
            con.close()
    rows = sum(stored.values())
    assert stored == expected, f"stored {stored} but Dune had {expected}"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"day {day}: {rows:,} rows (" + ", ".join(f"{k} {v:,}" for k, v in stored.items()) + ")")
    pages = sum(r.pages for r in runs.values())
    print(f"end to end {seconds:.1f} s ({rows / seconds:,.0f} rows/s), {pages} pages")
    print(f"peak RSS of the loading process {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
