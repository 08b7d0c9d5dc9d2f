"""The ground truth the simulator knows and a real source never has: who is who.

Tables land in the `ground_truth` schema and exist only for evaluation: personas for the persona
model, entities for the graph clustering, scam flags for the risk scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from wallet_pipeline.logic.ingestion.simulator.encoding import address_array

TRUTH_SCHEMAS: dict[str, pa.Schema] = {
    "wallets": pa.schema(
        [
            ("address", pa.string()),
            ("persona", pa.string()),
            ("entity_id", pa.string()),
            ("entity_type", pa.string()),
            ("role", pa.string()),
            ("is_malicious", pa.bool_()),
            ("is_contract", pa.bool_()),
        ]
    ),
    "entities": pa.schema(
        [
            ("entity_id", pa.string()),
            ("entity_type", pa.string()),
            ("is_malicious", pa.bool_()),
            ("n_wallets", pa.int64()),
            ("description", pa.string()),
        ]
    ),
    "tokens": pa.schema(
        [
            ("address", pa.string()),
            ("symbol", pa.string()),
            ("is_scam", pa.bool_()),
            ("is_popular", pa.bool_()),
            ("creator_address", pa.string()),
            ("entity_id", pa.string()),
        ]
    ),
}

_DUCKDB_TYPES = {pa.string(): "varchar", pa.bool_(): "boolean", pa.int64(): "bigint"}


def create_sql(name: str, schema: str, table: str) -> str:
    """CREATE TABLE statement of a ground-truth table."""
    cols = ", ".join(f"{f.name} {_DUCKDB_TYPES[f.type]}" for f in TRUTH_SCHEMAS[name])
    return f"create table {schema}.{table} ({cols})"


def _column(values: object, n: int, type_: pa.DataType) -> pa.Array:
    if isinstance(values, pa.Array):
        return values
    if values is None or isinstance(values, (str, bool)):
        return pa.array([values] * n, type=type_)
    return pa.array(list(values) if not isinstance(values, np.ndarray) else values, type=type_)  # type: ignore[call-overload]


def wallets_table(
    seed: int,
    ids: np.ndarray,
    persona: Sequence[str] | np.ndarray | str,
    entity_id: Sequence[str | None] | np.ndarray | str | None = None,
    entity_type: Sequence[str | None] | np.ndarray | str | None = None,
    role: Sequence[str | None] | np.ndarray | str | None = None,
    is_malicious: Sequence[bool] | np.ndarray | bool = False,
    is_contract: Sequence[bool] | np.ndarray | bool = False,
) -> pa.Table:
    """Rows of ground_truth.wallets for address ids (scalars broadcast)."""
    n = len(ids)
    schema = TRUTH_SCHEMAS["wallets"]
    return pa.table(
        [
            address_array(seed, ids),
            _column(persona, n, pa.string()),
            _column(entity_id, n, pa.string()),
            _column(entity_type, n, pa.string()),
            _column(role, n, pa.string()),
            _column(is_malicious, n, pa.bool_()),
            _column(is_contract, n, pa.bool_()),
        ],
        schema=schema,
    )


def entities_table(
    entity_id: Sequence[str],
    entity_type: Sequence[str] | str,
    is_malicious: Sequence[bool] | bool,
    n_wallets: Sequence[int] | np.ndarray,
    description: Sequence[str] | str,
) -> pa.Table:
    """Rows of ground_truth.entities."""
    n = len(entity_id)
    return pa.table(
        [
            pa.array(entity_id, type=pa.string()),
            _column(entity_type, n, pa.string()),
            _column(is_malicious, n, pa.bool_()),
            pa.array(np.asarray(n_wallets, dtype=np.int64)),
            _column(description, n, pa.string()),
        ],
        schema=TRUTH_SCHEMAS["entities"],
    )
