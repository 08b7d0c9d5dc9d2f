"""The whole Dagster pipeline on WALLET_ENGINE=duckdb and on WALLET_ENGINE=spark: the same answers.

One simulated world of 300 wallets goes through the full job twice, each engine in its own data
folder, MLflow registry and Dagster instance. On Spark the dbt models run on dbt-spark, every
wallet is scored with the champion on Spark (`mapInPandas`), and the steps that still run in
DuckDB (edge rules, entities, risk) read what Spark built (docs/spark.md). Compared: every
feature and decoded column (floats within FLOAT_TOLERANCE), the clusters as partitions of the
wallets (ids are names, not answers), every wallet's and cluster's risk level, and every
wallet's persona with its probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.engines import compare_engines
from benchmarks.feature_build import FLOAT_TOLERANCE
from wallet_pipeline.settings import ENGINES
from wallet_pipeline_tests.defs.runs import Run, execute, simulator_config

pytestmark = [pytest.mark.spark, pytest.mark.dbt]

WALLETS, SEED = 300, 7


@dataclass(frozen=True)
class EngineRuns:
    work: Path
    duckdb: Run
    spark: Run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> EngineRuns:
    work = tmp_path_factory.mktemp("pipeline_engines")
    done = {}
    for engine in ENGINES:
        folder = work / engine
        folder.mkdir()
        env = {"WALLET_ENGINE": engine, "WALLET_SPARK_DIR": str(folder / "spark")}
        if engine == "spark":
            # A few hundred rows a table: two partitions and two models at once keep the Spark
            # build to its fixed costs, as in test_engines_agree.
            env |= {"WALLET_SPARK_SHUFFLE_PARTITIONS": "2", "WALLET_SPARK_THREADS": "2"}
        done[engine] = Run(folder, execute(folder, simulator_config(WALLETS, SEED), env=env))
    return EngineRuns(work, done["duckdb"], done["spark"])


def _failed_checks(run: Run) -> list[str]:
    return [
        f"{e.asset_key.to_user_string()}:{e.check_name}"
        for e in run.result.get_asset_check_evaluations()
        if not e.passed
    ]


def test_both_engines_run_the_whole_job_with_every_check_passing(runs: EngineRuns) -> None:
    for run in (runs.duckdb, runs.spark):
        assert run.result.success
        assert _failed_checks(run) == []
    materialized = [
        {e.asset_key for e in run.result.get_asset_materialization_events()}
        for run in (runs.duckdb, runs.spark)
    ]
    assert materialized[0] == materialized[1]


def _clustered_on(run: Run) -> str:
    event = run.result.asset_materializations_for_node("entity_clusters")
    return next(m.metadata["clustered_on"].value for m in event if m.asset_key.path[-1] == "wallet_clusters")


def test_the_spark_run_built_the_features_scored_and_clustered_the_wallets_on_spark(runs: EngineRuns) -> None:
    spark_folder = runs.spark.folder / "spark"
    assert any((spark_folder / "warehouse" / "marts.db" / "wallet_features").glob("*.parquet"))
    assert any((spark_folder / "scored" / "wallet_personas").glob("*.parquet"))
    assert _clustered_on(runs.spark) == "spark"
    assert _clustered_on(runs.duckdb) == "duckdb"
    assert not (runs.duckdb.folder / "spark").exists()


def test_features_and_decoded_tables_are_the_same(runs: EngineRuns) -> None:
    assert compare_engines(runs.duckdb.db, runs.spark.db, runs.work) == []


def _partition(run: Run) -> set[frozenset[str]]:
    members = run.sql("select cluster_id, address from entities.wallet_clusters")
    return {frozenset(group) for _, group in members.groupby("cluster_id")["address"]}


def test_clusters_are_the_same_partition_of_the_wallets(runs: EngineRuns) -> None:
    duckdb_clusters = _partition(runs.duckdb)
    assert len(duckdb_clusters) > 10
    assert _partition(runs.spark) == duckdb_clusters


def _risk(run: Run) -> tuple[pd.DataFrame, dict[frozenset[str], str]]:
    wallets = run.sql("select address, risk_level, risk_score from entities.wallet_risk order by address")
    clusters = run.sql(
        "select list(w.address) members, any_value(c.risk_level) risk_level from entities.clusters c "
        "join entities.wallet_clusters w using (cluster_id) group by c.cluster_id"
    )
    levels = zip(clusters["members"], clusters["risk_level"], strict=True)
    return wallets, {frozenset(members): level for members, level in levels}


def test_every_wallet_and_cluster_has_the_same_risk_level(runs: EngineRuns) -> None:
    duckdb_wallets, duckdb_clusters = _risk(runs.duckdb)
    spark_wallets, spark_clusters = _risk(runs.spark)
    assert duckdb_wallets["risk_level"].nunique() > 1
    pd.testing.assert_frame_equal(
        spark_wallets, duckdb_wallets, check_exact=False, rtol=FLOAT_TOLERANCE, atol=0.0
    )
    assert spark_clusters == duckdb_clusters


def test_every_wallet_has_the_same_persona_and_probabilities(runs: EngineRuns) -> None:
    query = "select * exclude (model_version, scored_at) from personas.wallet_personas order by address"
    duckdb_personas, spark_personas = runs.duckdb.sql(query), runs.spark.sql(query)
    assert duckdb_personas["persona"].nunique() > 2
    assert len(duckdb_personas) > WALLETS
    pd.testing.assert_frame_equal(
        spark_personas, duckdb_personas, check_exact=False, rtol=FLOAT_TOLERANCE, atol=FLOAT_TOLERANCE
    )
