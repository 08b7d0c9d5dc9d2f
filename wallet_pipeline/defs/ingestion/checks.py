"""Blocking data-quality checks on every raw table, shown on the asset pages in the UI."""

from collections.abc import Iterator

import dagster as dg

from wallet_pipeline.lib.duckdb_resource import DuckDBFile
from wallet_pipeline.logic.ingestion.raw_checks import checks_for, column_type_mismatches, run_check
from wallet_pipeline.logic.ingestion.raw_schema import RAW_SCHEMA, RAW_TABLES, RawTable

COLUMN_TYPES = "column_types"


def _raw_table_checks(table: RawTable) -> dg.AssetChecksDefinition:
    key = dg.AssetKey([RAW_SCHEMA, table.name])
    sql_checks = checks_for(table)
    specs = [
        dg.AssetCheckSpec(name=c.name, asset=key, description=c.description, blocking=True)
        for c in sql_checks
    ]
    specs.append(
        dg.AssetCheckSpec(
            name=COLUMN_TYPES,
            asset=key,
            description="Every column of the contract exists with its DuckDB type.",
            blocking=True,
        )
    )

    @dg.multi_asset_check(specs=specs, name=f"{table.name}_quality", can_subset=False)
    def _checks(duckdb: DuckDBFile) -> Iterator[dg.AssetCheckResult]:
        with duckdb.get_connection() as con:
            mismatches = column_type_mismatches(con, table)
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name=COLUMN_TYPES,
                passed=not mismatches,
                metadata={"mismatches": "; ".join(mismatches) or "none"},
            )
            for check in sql_checks:
                failing = run_check(con, check) if not mismatches else -1
                yield dg.AssetCheckResult(
                    asset_key=key,
                    check_name=check.name,
                    passed=failing == 0,
                    metadata={"failing_rows": failing},
                )

    return _checks


raw_table_checks = [_raw_table_checks(table) for table in RAW_TABLES.values()]
