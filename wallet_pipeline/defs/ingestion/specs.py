"""Asset specs of the raw schema, shared by every source so the keys never depend on the source."""

from __future__ import annotations

import dagster as dg

from wallet_pipeline.logic.ingestion.raw_schema import MANIFEST_TABLE, RAW_SCHEMA, RAW_TABLES, REJECTS_TABLE
from wallet_pipeline.settings import INGESTION


def _column_schema(table_name: str) -> dg.TableSchema:
    table = RAW_TABLES[table_name]
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=c.sql_type,
                description=c.description,
                constraints=dg.TableColumnConstraints(nullable=not c.required),
            )
            for c in table.columns
        ]
    )


def raw_asset_specs(source_kind: str) -> list[dg.AssetSpec]:
    """One spec per raw table, plus the rejects (quarantine) and manifest tables."""
    specs = [
        dg.AssetSpec(
            key=[RAW_SCHEMA, name],
            description=table.description,
            group_name=INGESTION,
            kinds={source_kind, "duckdb"},
            metadata={"dagster/column_schema": _column_schema(name), "primary_key": list(table.key)},
        )
        for name, table in RAW_TABLES.items()
    ]
    specs.append(
        dg.AssetSpec(
            key=[RAW_SCHEMA, REJECTS_TABLE],
            description="Quarantined input rows, one per rejected row, with the file, column and reason.",
            group_name=INGESTION,
            kinds={source_kind, "duckdb"},
        )
    )
    specs.append(
        dg.AssetSpec(
            key=[RAW_SCHEMA, MANIFEST_TABLE],
            description="Which raw tables the last load provided, with row and reject counts.",
            group_name=INGESTION,
            kinds={source_kind, "duckdb"},
        )
    )
    return specs
