"""Row counts and column types of DuckDB tables and views, read after the writer that built them.

dbt builds the models in a process of its own that holds DuckDB's single write lock until it
exits; these facts are read afterwards, on a read-only connection, and attached to the assets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class TableFacts:
    """What the Dagster UI shows of one relation.

    Attributes:
        kind: "table" or "view".
        row_count: rows of a table; None for a view, whose count would run its whole query.
        columns: (name, DuckDB type) in table order.
    """

    kind: str
    row_count: int | None
    columns: tuple[tuple[str, str], ...]


def read_table_facts(
    con: duckdb.DuckDBPyConnection, relations: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], TableFacts]:
    """Facts of each (schema, name) that exists in the connection's database; others are left out."""
    wanted = sorted(set(relations))
    if not wanted:
        return {}
    kinds = dict(
        ((s, n), k)
        for s, n, k in con.execute(
            "select schema_name, table_name, 'table' from duckdb_tables() "
            "where database_name = current_database() union all "
            "select schema_name, view_name, 'view' from duckdb_views() "
            "where database_name = current_database() and not internal"
        ).fetchall()
    )
    columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, data_type in con.execute(
        "select schema_name, table_name, column_name, data_type from duckdb_columns() "
        "where database_name = current_database() order by schema_name, table_name, column_index"
    ).fetchall():
        columns.setdefault((schema, table), []).append((column, data_type))
    facts = {}
    for schema, name in wanted:
        kind = kinds.get((schema, name))
        if kind is None:
            continue
        rows = None
        if kind == "table":
            rows = int(con.execute(f"select count(*) from {_ident(schema)}.{_ident(name)}").fetchone()[0])
        facts[(schema, name)] = TableFacts(kind, rows, tuple(columns.get((schema, name), ())))
    return facts


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
