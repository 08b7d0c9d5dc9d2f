"""The published snapshot: what readers query while the next run writes.

marts/wallet_features, personas/wallet_personas, entities/clusters, entities/wallet_risk
-> publish/snapshot (a new read-only DuckDB file under `<data>/snapshots`, switched to atomically).
A blocking check failing upstream skips this asset, so readers keep the last good snapshot.
"""

from pathlib import Path

import dagster as dg

from wallet_pipeline import settings
from wallet_pipeline.lib.duckdb_resource import DuckDBFile

GROUP = "publish"
SNAPSHOT = dg.AssetKey(["publish", "snapshot"])
SERVING = [
    dg.AssetKey(["marts", "wallet_features"]),
    dg.AssetKey(["personas", "wallet_personas"]),
    dg.AssetKey(["entities", "clusters"]),
    dg.AssetKey(["entities", "wallet_risk"]),
]
# Also read by investigators; listed so that the snapshot is taken after they are written.
ALSO_PUBLISHED = [
    dg.AssetKey(["entities", name])
    for name in ("wallet_clusters", "cluster_evidence", "cluster_links", "cluster_history", "alerts")
]


def snapshot_dir() -> Path:
    """Where snapshots and the `CURRENT` pointer live (`settings.snapshot_dir`)."""
    return settings.snapshot_dir()


def run_builds(instance: dg.DagsterInstance, run_id: str) -> tuple[dict, dict]:
    """The tables `run_id` materialized (its last build of each) and each one's last build by any run.

    Dagster's event log is the record every writer of the folder shares (the CLI and the daemon use
    one instance), so it says whether another run rebuilt a table after this one.
    """
    from wallet_pipeline.logic.publish.snapshot import Build

    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    built = {
        r.event_log_entry.dagster_event.asset_key.to_user_string(): Build(run_id, r.event_log_entry.timestamp)
        for r in records
    }
    keys = [dg.AssetKey.from_user_string(k) for k in built]
    latest = {
        key.to_user_string(): None if entry is None else Build(entry.run_id, entry.timestamp)
        for key, entry in instance.get_latest_materialization_events(keys).items()
    }
    return built, latest


@dg.asset(key=SNAPSHOT, deps=[*SERVING, *ALSO_PUBLISHED], group_name=GROUP, kinds={"duckdb"})
def published_snapshot(context: dg.AssetExecutionContext, duckdb: DuckDBFile) -> dg.MaterializeResult:
    """The marts, personas, graph and entities schemas copied to a new read-only file readers switch to."""
    from wallet_pipeline.logic.publish.snapshot import (
        current_snapshot,
        publish_snapshot,
        refuse_foreign_builds,
    )

    built, latest = run_builds(context.instance, context.run_id)
    refuse_foreign_builds(context.run_id, built, latest, current_snapshot(snapshot_dir()))
    with duckdb.get_connection() as con:
        info = publish_snapshot(con, snapshot_dir(), run_id=context.run_id)
    context.log.info(
        f"published {len(info.tables)} tables, {info.rows:,} rows in {info.seconds:.2f} s to "
        f"{info.path.name} (raw data fingerprint {info.raw_fingerprint or 'none: no raw schema'})"
    )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(info.path)),
            "tables": dg.MetadataValue.json(info.tables),
            "rows": info.rows,
            "seconds": round(info.seconds, 3),
            "bytes": info.bytes,
            "previous": dg.MetadataValue.path(str(info.previous)) if info.previous else "none",
            "pruned": len(info.pruned),
            # Which run built it from which raw rows: the same two values are in the file's manifest.
            "run_id": info.run_id,
            "raw_fingerprint": info.raw_fingerprint,
        }
    )


publish_assets = [published_snapshot]
