"""Raw extracts: one multi-asset per source, all producing the same `raw/*` keys.

`WALLET_SOURCE` picks the source; the rest of the graph never knows which one ran.
"""

from collections.abc import Iterator

import dagster as dg
import duckdb
from pydantic import Field

from wallet_pipeline import settings
from wallet_pipeline.defs.ingestion.specs import raw_asset_specs
from wallet_pipeline.lib.duckdb_resource import DuckDBFile
from wallet_pipeline.logic.ingestion.etl_files import EtlFilesError, load_etl_files
from wallet_pipeline.logic.ingestion.raw_manifest import read_manifest, rejects_by_reason, source_files
from wallet_pipeline.logic.ingestion.raw_schema import (
    GROUND_TRUTH_SCHEMA,
    MANIFEST_TABLE,
    RAW_SCHEMA,
    REJECTS_TABLE,
)
from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, load_simulation
from wallet_pipeline.logic.ingestion.simulator.truth import TRUTH_SCHEMAS

GROUND_TRUTH_TABLES = tuple(TRUTH_SCHEMAS)


def _load_results(con: duckdb.DuckDBPyConnection) -> Iterator[dg.MaterializeResult]:
    """One result per raw asset, with what the load stored and rejected."""
    manifest = read_manifest(con)
    load_id = next(iter(manifest.values())).load_id if manifest else ""
    for name, entry in manifest.items():
        yield dg.MaterializeResult(
            asset_key=[RAW_SCHEMA, name],
            metadata={
                "dagster/row_count": entry.row_count,
                "rejected_rows": entry.rejected_count,
                "provided_by_source": entry.provided,
                "source": entry.source,
                "load_id": entry.load_id,
                "notes": entry.notes or "none",
            },
        )
    reasons = rejects_by_reason(con, load_id)
    yield dg.MaterializeResult(
        asset_key=[RAW_SCHEMA, REJECTS_TABLE],
        metadata={
            "rejected_rows_this_load": sum(r[3] for r in reasons),
            "reasons": dg.MetadataValue.md(_reasons_table(reasons)),
            "load_id": load_id,
        },
    )
    ignored = [(path, note) for path, _, status, _, note in source_files(con) if status == "ignored"]
    yield dg.MaterializeResult(
        asset_key=[RAW_SCHEMA, MANIFEST_TABLE],
        metadata={
            "tables_provided": sum(e.provided for e in manifest.values()),
            "load_id": load_id,
            # Files the source skipped (raw.source_files): a misspelt table must not go unseen.
            "ignored_files": dg.MetadataValue.md(
                "\n".join(f"- {path}: {note}" for path, note in ignored) or "none"
            ),
        },
    )


def _reasons_table(reasons: list[tuple[str, str, str, int]]) -> str:
    if not reasons:
        return "No rows rejected."
    lines = ["| table | column | reason | rows |", "| --- | --- | --- | --- |"]
    lines += [f"| {t} | {c} | {r} | {n:,} |" for t, c, r, n in reasons]
    return "\n".join(lines)


class SimulationConfig(dg.Config):
    """Size and seed of the simulated chain; the same seed gives the same chain."""

    n_wallets: int | None = Field(
        default=None,
        description="Ordinary wallets to simulate (entities and contracts come on top); "
        "default WALLET_SIM_WALLETS or 20,000.",
    )
    seed: int | None = Field(default=None, description="Random seed; default WALLET_SIM_SEED or 42.")
    days: int = Field(default=120, description="Days of history, from 2024-07-01.")


@dg.multi_asset(
    specs=[
        *raw_asset_specs("python"),
        *[
            dg.AssetSpec(
                key=[GROUND_TRUTH_SCHEMA, name],
                description=f"Simulator truth ({name}); read by evaluation only, never by the pipeline.",
                group_name=settings.GROUND_TRUTH,
                kinds={"python", "duckdb"},
            )
            for name in GROUND_TRUTH_TABLES
        ],
    ],
    name="simulated_chain",
    can_subset=False,
)
def simulated_chain(
    context: dg.AssetExecutionContext, config: SimulationConfig, duckdb: DuckDBFile
) -> Iterator[dg.MaterializeResult]:
    """A seeded simulation of Ethereum activity with planted entities, written to `raw` and `ground_truth`."""
    sim_config = SimulatorConfig(
        seed=settings.simulator_seed() if config.seed is None else config.seed,
        n_wallets=config.n_wallets or settings.simulator_wallets(),
        days=config.days,
    )
    with duckdb.get_connection() as con:
        load_simulation(con, sim_config)
        yield from _load_results(con)
        for name in GROUND_TRUTH_TABLES:
            n = con.execute(f"select count(*) from {GROUND_TRUTH_SCHEMA}.{name}").fetchone()
            yield dg.MaterializeResult(
                asset_key=[GROUND_TRUTH_SCHEMA, name],
                metadata={"dagster/row_count": int(n[0]) if n else 0, "seed": sim_config.seed},
            )
    context.log.info("Simulated %s wallets with seed %s", sim_config.n_wallets, sim_config.seed)


class FilesSourceConfig(dg.Config):
    """Where the ethereum-etl export folder is."""

    folder: str | None = Field(
        default=None,
        description="Folder of ethereum-etl exports (CSV, CSV.gz or Parquet); default WALLET_FILES_DIR.",
    )


@dg.multi_asset(specs=raw_asset_specs("csv"), name="etl_files", can_subset=False)
def etl_files(
    context: dg.AssetExecutionContext, config: FilesSourceConfig, duckdb: DuckDBFile
) -> Iterator[dg.MaterializeResult]:
    """Raw tables read from an ethereum-etl / BigQuery crypto_ethereum export folder."""
    folder = config.folder or settings.files_dir()
    if not folder:
        raise dg.Failure(description="No export folder: set WALLET_FILES_DIR or the asset config `folder`.")
    with duckdb.get_connection() as con:
        try:
            report = load_etl_files(con, folder)
        except EtlFilesError as exc:
            # The message names the file, column and what was expected: that is what the user
            # needs, not a stack trace. The previous raw tables are untouched.
            raise dg.Failure(description=str(exc)) from None
        yield from _load_results(con)
    for warning in report.warnings:
        context.log.warning(warning)
    context.log.info("Loaded %s from %s", ", ".join(sorted(report.tables)), folder)


def raw_assets_for(source: str) -> list[dg.AssetsDefinition]:
    """The ingestion assets of the configured source."""
    if source == "simulator":
        return [simulated_chain]
    if source == "files":
        return [etl_files]
    from wallet_pipeline.defs.ingestion.dune_assets import dune_assets

    return dune_assets
