"""The same small world built by dbt on DuckDB and on Spark gives the same features.

One simulated world of 300 wallets without the simulator's own trade tables, so every trade,
NFT sale and liquidity event is decoded from transfers, and the ETH price from the decoded
swaps: the decoding models run on real rows on both engines. The DuckDB build runs in the
world's file; for Spark the raw tables land as Parquet and dbt-spark runs in a local[2]
session. Every column of marts.wallet_features and of the decoded tables is compared: exact but
the floats (within benchmarks/feature_build.py's FLOAT_TOLERANCE, relative) and the 64-bit keys,
which each engine hashes its own way (docs/spark.md).
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from benchmarks.engines import build_duckdb, build_spark, compare_engines
from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, load_simulation

pytestmark = [pytest.mark.spark, pytest.mark.dbt]


@dataclass(frozen=True)
class Builds:
    work: Path
    duckdb_file: Path
    spark_file: Path


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    work = tmp_path_factory.mktemp("engines")
    world = work / "world.duckdb"
    with duckdb.connect(str(world)) as con:
        load_simulation(con, SimulatorConfig(seed=7, n_wallets=300))
        con.execute("delete from raw.dex_trades; delete from raw.nft_trades")
        con.execute(
            "update raw.source_manifest set provided = false, row_count = 0 "
            "where table_name in ('dex_trades', 'nft_trades')"
        )
    raw_only = work / "raw_tables.duckdb"
    shutil.copy(world, raw_only)
    # A few hundred rows a table: two shuffle partitions and two models at once keep the Spark
    # build's time to its fixed costs. The engines build side by side, in processes of their own.
    with pytest.MonkeyPatch.context() as env, ThreadPoolExecutor(2) as pool:
        env.setenv("WALLET_SPARK_SHUFFLE_PARTITIONS", "2")
        env.setenv("WALLET_SPARK_THREADS", "2")
        duckdb_build = pool.submit(build_duckdb, world, work)
        spark_build = pool.submit(build_spark, raw_only, work, work / "spark_build.duckdb")
        duckdb_build.result()
        spark_build.result()
    return Builds(work, world, work / "spark_build.duckdb")


def test_both_engines_build_the_same_features_and_decoded_tables(builds: Builds) -> None:
    assert compare_engines(builds.duckdb_file, builds.spark_file, builds.work) == []
    with duckdb.connect(str(builds.spark_file), read_only=True) as con:
        counts = {
            table: con.execute(f"select count(*) from {table}").fetchone()[0]
            for table in ("marts.wallet_features", "decoded.dex_trades", "decoded.nft_trades")
        }
    # The comparison means something only on rows: the world decodes trades and sales.
    assert counts["marts.wallet_features"] > 300
    assert counts["decoded.dex_trades"] > 0
    assert counts["decoded.nft_trades"] > 0


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            "update marts.wallet_features set tx_count = tx_count + 1 where address = (select min(address) "
            "from marts.wallet_features)",
            "marts.wallet_features: 1 rows only in the new build",
            id="a count",
        ),
        pytest.param(
            "update marts.wallet_features set eth_sent = eth_sent + 0.000000000000000001 "
            "where address = (select min(address) from marts.wallet_features where eth_sent > 0)",
            "marts.wallet_features: 1 rows only in the new build",
            id="one wei of money",
        ),
        pytest.param(
            "update marts.wallet_features set hour_of_day_entropy = hour_of_day_entropy * (1 + 1e-6) "
            "where hour_of_day_entropy > 0 and address = (select min(address) from marts.wallet_features "
            "where hour_of_day_entropy > 0)",
            "marts.wallet_features: 1 rows with a float off",
            id="a float beyond the tolerance",
        ),
        pytest.param(
            "update decoded.dex_trades set taker = '0x' || repeat('0', 40) where tx_hash = "
            "(select min(tx_hash) from decoded.dex_trades)",
            "decoded.dex_trades: 1 rows only in the new build",
            id="a decoded trade's taker",
        ),
    ],
)
def test_the_comparison_sees_a_changed_value_in_the_spark_build(
    builds: Builds, tmp_path: Path, change: str, expected: str
) -> None:
    changed = tmp_path / "changed.duckdb"
    shutil.copy(builds.spark_file, changed)
    with duckdb.connect(str(changed)) as con:
        assert con.execute(change).fetchone()[0] == 1
    problems = compare_engines(builds.duckdb_file, changed, tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith(expected)
