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


@dg.asset(key=SNAPSHOT, deps=[*SERVING, *ALSO_PUBLISHED], group_name=GROUP, kinds={"duckdb"})
def published_snapshot(context: dg.AssetExecutionContext, duckdb: DuckDBFile) -> dg.MaterializeResult:
    """The marts, personas, graph and entities schemas copied to a new read-only file readers switch to."""
    from wallet_pipeline.logic.publish.snapshot import publish_snapshot

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
