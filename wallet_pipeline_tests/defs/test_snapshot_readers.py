"""Readers of the published snapshot while runs write, fail, and queue one at a time."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from wallet_pipeline.defs.ingestion.checks import raw_table_checks
from wallet_pipeline.defs.ingestion.specs import raw_asset_specs
from wallet_pipeline.defs.publish import RUN_QUEUE_YAML
from wallet_pipeline.defs.publish.assets import SNAPSHOT, publish_assets
from wallet_pipeline.lib.duckdb_resource import DuckDBFile
from wallet_pipeline.logic.ingestion.raw_store import raw_load
from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, load_simulation
from wallet_pipeline.logic.publish.snapshot import POINTER, connect_snapshot, current_snapshot, read_manifest
from wallet_pipeline_tests.defs.runs import Run

REPO = Path(__file__).resolve().parents[2]
SERVED = ("marts.wallet_features", "entities.clusters", "entities.wallet_risk")

# Another process, as the API or an analyst would be: DuckDB's file lock is per process, so a
# reader thread inside the run's process would not show what a real reader meets.
READER = r"""
import json, sys, time
from pathlib import Path
from wallet_pipeline.logic.publish.snapshot import connect_snapshot, read_manifest

folder, stop, out = map(Path, sys.argv[1:4])
served = sys.argv[4].split(",")
stats = {"times": [], "errors": [], "incomplete": [], "snapshots": []}
while not stop.exists():
    try:
        with connect_snapshot(folder) as con:
            path = con.execute(
                "select path from duckdb_databases() where database_name = current_database()"
            ).fetchone()[0]
            manifest = read_manifest(con)
            for table in served:
                rows = con.execute(f"select count(*) from {table}").fetchone()[0]
                if rows == 0 or rows != manifest.get(table):
                    stats["incomplete"].append([Path(path).name, table, rows, manifest.get(table)])
    except Exception as exc:
        stats["errors"].append(repr(exc)[:300])
        continue
    stats["times"].append(time.time())
    if not stats["snapshots"] or stats["snapshots"][-1] != Path(path).name:
        stats["snapshots"].append(Path(path).name)
    if len(stats["times"]) == 1:
        out.with_suffix(".ready").touch()
out.write_text(json.dumps(stats))
"""


def _env(mp: pytest.MonkeyPatch, folder: Path) -> None:
    mp.setenv("WALLET_DATA_DIR", str(folder))
    mp.setenv("WALLET_DUCKDB_PATH", str(folder / "wallet_pipeline.duckdb"))
    mp.setenv("WALLET_DUCKDB_MEMORY_LIMIT", "2GB")
    mp.setenv("WALLET_SOURCE", "simulator")


def _execute(
    folder: Path,
    run_config: dict,
    selection: dg.AssetSelection | None = None,
    source: dg.AssetsDefinition | None = None,
) -> dg.ExecuteInProcessResult:
    """The pipeline without personas, up to the snapshot, with `source` in place of the simulator."""
    with pytest.MonkeyPatch.context() as mp:
        _env(mp, folder)
        from wallet_pipeline.defs.entities.assets import entity_assets, entity_checks
        from wallet_pipeline.defs.graph.assets import graph_assets
        from wallet_pipeline.defs.ingestion.assets import simulated_chain
        from wallet_pipeline.defs.resources import build_resources
        from wallet_pipeline.defs.transform.assets import wallet_dbt_models

        # Assembled here rather than taken from definitions.py, so that these tests follow the
        # snapshot alone; personas are left out to save time (the snapshot publishes what exists).
        assets = [
            source or simulated_chain,
            *raw_table_checks,
            wallet_dbt_models,
            *graph_assets,
            *entity_assets("simulator" if source is None else "files"),
            *entity_checks,
            *publish_assets,
        ]
        return dg.materialize(
            assets,
            selection=selection,
            run_config=run_config,
            resources=build_resources(),
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("snapshot")
    config = {"ops": {"simulated_chain": {"config": {"n_wallets": 1_500, "seed": 7}}}}
    yield Run(folder, _execute(folder, config))


@pytest.mark.dbt
@pytest.mark.slow
def test_a_successful_run_ends_by_publishing_a_snapshot_with_its_manifest(run: Run) -> None:
    assert run.result.success
    [materialization] = run.result.asset_materializations_for_node("publish__snapshot")
    meta = materialization.metadata
    snapshots = run.folder / "snapshots"
    assert current_snapshot(snapshots) == Path(meta["path"].value)
    with connect_snapshot(snapshots) as con:
        manifest = read_manifest(con)
        assert con.execute("select distinct run_id from snapshot_manifest").fetchall() == [
            (run.result.run_id,)
        ]
    assert manifest == meta["tables"].value
    assert meta["rows"].value == sum(manifest.values())
    assert set(SERVED) <= set(manifest)
    assert manifest["marts.wallet_features"] == int(
        run.sql("select count(*) n from marts.wallet_features")["n"][0]
    )


@pytest.mark.dbt
@pytest.mark.slow
def test_a_reader_queries_throughout_a_materialization_without_an_error(run: Run, tmp_path: Path) -> None:
    snapshots = run.folder / "snapshots"
    before = current_snapshot(snapshots)
    stop, out = tmp_path / "stop", tmp_path / "reader.json"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(snapshots), str(stop), str(out), ",".join(SERVED)],
        cwd=REPO,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not out.with_suffix(".ready").exists():
            assert reader.poll() is None, "the reader exited before its first query"
            assert time.monotonic() < deadline, "the reader made no query in 60 s"
            time.sleep(0.05)
        started = time.time()
        again = _execute(run.folder, {}, dg.AssetSelection.groups("entities", "publish"))
        finished = time.time()
        time.sleep(0.5)
        stop.touch()
        reader.wait(timeout=30)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()

    assert again.success
    stats = json.loads(out.read_text())
    assert stats["errors"] == []
    assert stats["incomplete"] == []
    times = stats["times"]
    assert times[0] < started and times[-1] > finished
    # Throughout: no pause in the reader's queries while the run wrote.
    during = [t for t in times if started <= t <= finished]
    assert max(b - a for a, b in zip([started, *during], [*during, finished], strict=True)) < 5.0
    # It read the old snapshot during the run and the new one after the switch, nothing else.
    assert stats["snapshots"] == [before.name, current_snapshot(snapshots).name]
    assert before != current_snapshot(snapshots)


@dg.multi_asset(specs=raw_asset_specs("python"), name="raw_with_a_duplicate", can_subset=False)
def raw_with_a_duplicate(duckdb: DuckDBFile):  # noqa: ANN201 - test asset
    """A source that slips a duplicate transaction past the loaders' quarantine."""
    with duckdb.get_connection() as con:
        load_simulation(con, SimulatorConfig(n_wallets=300, seed=3))
        tables = con.execute("select * from raw.transactions").fetch_arrow_table()
        with raw_load(con, "test") as load:
            load.append("transactions", tables)
            load.append("transactions", tables.slice(0, 1))
    for spec in raw_asset_specs("python"):
        yield dg.MaterializeResult(asset_key=spec.key)


@pytest.mark.dbt
@pytest.mark.slow
def test_a_blocking_check_stops_a_bad_run_and_readers_keep_the_last_good_snapshot(
    run: Run, tmp_path: Path
) -> None:
    # A copy of the good run's folder, so this run's bad raw data touches no other test.
    folder = tmp_path / "data"
    shutil.copytree(run.folder, folder, symlinks=True)
    good = current_snapshot(folder / "snapshots")
    pointer = (folder / "snapshots" / POINTER).read_bytes()
    result = _execute(folder, {}, source=raw_with_a_duplicate)

    failed = {
        f"{e.asset_key.to_user_string()}:{e.check_name}"
        for e in result.get_asset_check_evaluations()
        if not e.passed
    }
    assert failed == {"raw/transactions:unique_key"}
    built = {e.asset_key for e in result.all_events if e.is_step_materialization}
    assert SNAPSHOT not in built
    assert (folder / "snapshots" / POINTER).read_bytes() == pointer
    with connect_snapshot(folder / "snapshots") as con:
        manifest = read_manifest(con)
        assert all(con.execute(f"select count(*) from {t}").fetchone()[0] == n for t, n in manifest.items())
    assert current_snapshot(folder / "snapshots") == good


def test_the_instance_yaml_queues_runs_one_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n" + RUN_QUEUE_YAML)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1


def test_the_command_line_writes_an_instance_that_runs_one_run_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wallet_pipeline import cli

    monkeypatch.setenv("WALLET_DATA_DIR", str(tmp_path))
    # Set here so that the variables the command line sets are undone after the test.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "WARNING")
    cli._apply_options(argparse.Namespace())
    with dg.DagsterInstance.get() as instance:
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
