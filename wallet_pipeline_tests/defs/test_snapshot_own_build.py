"""A run publishes only the tables it built: another run rebuilding them in between stops the publish.

The folder lock keeps writers in other processes out, but it is re-entrant within a process, so
two runs of one process (or a writer the lock never saw) can still interleave. Here run A builds
`marts.wallet_features`, then, before A's publish step, run B rebuilds it in the same process
and on the same Dagster instance: A's publish must refuse, naming both runs, and leave readers
with what they had.
"""

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from wallet_pipeline.defs.publish.assets import published_snapshot, run_builds
from wallet_pipeline.lib.duckdb_resource import DuckDBFile
from wallet_pipeline.logic.publish.snapshot import (
    Build,
    ForeignBuildError,
    connect_snapshot,
    current_snapshot,
    list_snapshots,
    refuse_foreign_builds,
)

FEATURES = dg.AssetKey(["marts", "wallet_features"])


@dg.asset(key=FEATURES)
def features(context: dg.AssetExecutionContext, duckdb: DuckDBFile) -> None:
    """A stand-in for the marts: one row naming the run that wrote it."""
    with duckdb.get_connection() as con:
        con.execute("create schema if not exists marts")
        con.execute("create or replace table marts.wallet_features as select ? as built_by", [context.run_id])


def _resources(folder: Path) -> dict:
    return {"duckdb": DuckDBFile(database=str(folder / "wallet_pipeline.duckdb"))}


def _interloper(folder: Path, other_runs: list[str]) -> dg.AssetsDefinition:
    """Upstream of the publish step (it waits for `entities/alerts`): runs a second build meanwhile."""

    @dg.asset(key=dg.AssetKey(["entities", "alerts"]), deps=[FEATURES])
    def alerts(context: dg.AssetExecutionContext) -> None:
        other = dg.materialize([features], resources=_resources(folder), instance=context.instance)
        other_runs.append(other.run_id)

    return alerts


def _published_by(folder: Path) -> str:
    with connect_snapshot(folder / "snapshots") as con:
        return con.execute("select built_by from marts.wallet_features").fetchone()[0]


def test_a_run_publishes_what_it_built(data_dir: Path) -> None:
    result = dg.materialize(
        [features, published_snapshot],
        resources=_resources(data_dir),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    assert _published_by(data_dir) == result.run_id


def test_publishing_refuses_tables_another_run_rebuilt_after_this_run_built_them(data_dir: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    first = dg.materialize([features, published_snapshot], resources=_resources(data_dir), instance=instance)
    assert first.success
    before = current_snapshot(data_dir / "snapshots")

    other_runs: list[str] = []
    result = dg.materialize(
        [features, _interloper(data_dir, other_runs), published_snapshot],
        resources=_resources(data_dir),
        instance=instance,
        raise_on_error=False,
    )

    assert not result.success and len(other_runs) == 1
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "publish__snapshot"
    error = failure.step_failure_data.error.cause
    assert error.cls_name == "ForeignBuildError"
    message = error.message
    assert f"run {result.run_id} built" in message
    assert f"run {other_runs[0]} rebuilt 1 of them after it (marts/wallet_features" in message
    assert before is not None and before.name in message
    # Readers keep the first run's snapshot; the refused run left no file behind.
    assert current_snapshot(data_dir / "snapshots") == before
    assert list_snapshots(data_dir / "snapshots") == [before]
    assert _published_by(data_dir) == first.run_id
    # The pipeline file holds the other run's table, which is why nothing was published.
    with duckdb.connect(str(data_dir / "wallet_pipeline.duckdb"), read_only=True) as con:
        assert con.execute("select built_by from marts.wallet_features").fetchone()[0] == other_runs[0]

    # The records the refusal read, from the same instance: A's build, then B's after it.
    built, latest = run_builds(instance, result.run_id)
    assert latest["marts/wallet_features"].run_id == other_runs[0]
    assert latest["marts/wallet_features"].at >= built["marts/wallet_features"].at


def test_a_run_that_built_nothing_publishes_what_the_last_builds_left() -> None:
    # e.g. the publish step re-executed alone after it failed: the tables are another run's.
    refuse_foreign_builds("r2", built={}, latest={"marts/wallet_features": Build("r1", 10.0)})


def test_the_refusal_names_every_other_run_and_its_tables() -> None:
    built = {"raw/transactions": Build("a", 100.0), "entities/clusters": Build("a", 160.0)}
    latest = {"raw/transactions": Build("b", 130.0), "entities/clusters": Build("c", 170.0)}
    with pytest.raises(ForeignBuildError) as error:
        refuse_foreign_builds("a", built, latest)
    text = str(error.value)
    assert "run a built 2 tables (from 1970-01-01T00:01:40+00:00)" in text
    assert "run b rebuilt 1 of them after it (raw/transactions; last at 1970-01-01T00:02:10+00:00)" in text
    assert "run c rebuilt 1 of them after it (entities/clusters" in text
    assert "nothing published yet" in text
    # Its own builds, or tables no run recorded, are no reason to refuse.
    refuse_foreign_builds("a", built, {"raw/transactions": Build("a", 100.0), "entities/clusters": None})
