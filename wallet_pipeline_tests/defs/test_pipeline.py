"""The whole asset graph, run by Dagster with the real dbt and DuckDB, on small simulated chains."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, write_etl_files

pytestmark = [pytest.mark.dbt, pytest.mark.slow]

N_WALLETS = 1_500
SEED = 7


@dataclass
class PipelineRun:
    result: dg.ExecuteInProcessResult
    db_path: Path


def _run_pipeline(env: dict[str, str], run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    """Build the definitions under `env` and execute the full job, as `wallet-pipeline materialize` does."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        from wallet_pipeline.definitions import defs

        job = defs().resolve_job_def("full_pipeline_job")
        return job.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), run_config=run_config or {}, raise_on_error=False
        )


def _env(folder: Path, **extra: str) -> dict[str, str]:
    return {
        "WALLET_DATA_DIR": str(folder),
        "WALLET_DUCKDB_PATH": str(folder / "wallet_pipeline.duckdb"),
        "WALLET_DUCKDB_MEMORY_LIMIT": "2GB",
        **extra,
    }


def _features(db_path: Path) -> pd.DataFrame:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute("select * from marts.wallet_features order by address").df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def simulator_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineRun]:
    folder = tmp_path_factory.mktemp("simulator_run")
    config = {"ops": {"simulated_chain": {"config": {"n_wallets": N_WALLETS, "seed": SEED}}}}
    result = _run_pipeline(_env(folder, WALLET_SOURCE="simulator"), config)
    yield PipelineRun(result=result, db_path=folder / "wallet_pipeline.duckdb")


def test_the_full_job_succeeds_with_every_check_passing(simulator_run: PipelineRun) -> None:
    assert simulator_run.result.success
    evaluations = simulator_run.result.get_asset_check_evaluations()
    failed = [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations if not e.passed]
    # Raw checks (4 SQL + types per table) and every dbt test reported, none failing.
    assert len(evaluations) > 100
    assert failed == []


def test_wallet_features_has_one_row_per_simulated_address(simulator_run: PipelineRun) -> None:
    con = duckdb.connect(str(simulator_run.db_path), read_only=True)
    truth = set(con.execute("select address from ground_truth.wallets").fetchdf()["address"])
    con.close()
    features = _features(simulator_run.db_path)
    assert features["address"].is_unique
    assert set(features["address"]) == truth


def test_contracts_are_flagged_and_people_are_not(simulator_run: PipelineRun) -> None:
    con = duckdb.connect(str(simulator_run.db_path), read_only=True)
    joined = con.execute(
        """
        select truth.is_contract as truly_contract, features.is_contract as flagged, count(*) as n
        from marts.wallet_features as features
        join ground_truth.wallets as truth using (address)
        group by all
        """
    ).fetchdf()
    con.close()
    counts = {(r.truly_contract, r.flagged): r.n for r in joined.itertuples()}
    assert counts.get((True, True), 0) > 0
    assert counts.get((True, False), 0) == 0, "a contract was taken for a person"
    assert counts.get((False, True), 0) == 0, "a person was taken for a contract"


def test_the_files_source_gives_the_same_features_as_the_simulator(
    simulator_run: PipelineRun, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    write_etl_files(SimulatorConfig(seed=SEED, n_wallets=N_WALLETS), export, fmt="csv.gz")
    folder = tmp_path / "files_run"
    folder.mkdir()
    result = _run_pipeline(_env(folder, WALLET_SOURCE="files", WALLET_FILES_DIR=str(export)))
    assert result.success
    from_files = _features(folder / "wallet_pipeline.duckdb")
    from_simulator = _features(simulator_run.db_path)
    pd.testing.assert_frame_equal(from_files, from_simulator, check_exact=True)


def test_a_broken_export_fails_the_run_and_keeps_the_last_good_tables(
    simulator_run: PipelineRun, tmp_path: Path
) -> None:
    folder = tmp_path / "broken_run"
    folder.mkdir()
    export = tmp_path / "export"
    write_etl_files(SimulatorConfig(seed=SEED, n_wallets=300), export, fmt="csv")
    env = _env(folder, WALLET_SOURCE="files", WALLET_FILES_DIR=str(export))
    assert _run_pipeline(env).success
    before = _features(folder / "wallet_pipeline.duckdb")

    tx = pd.read_csv(export / "transactions.csv", dtype=str).drop(columns=["from_address"])
    tx.to_csv(export / "transactions.csv", index=False)
    result = _run_pipeline(env)

    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description
    assert "transactions" in message and "from_address" in message
    pd.testing.assert_frame_equal(_features(folder / "wallet_pipeline.duckdb"), before)
