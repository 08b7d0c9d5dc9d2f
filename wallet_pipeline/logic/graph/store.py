"""Reading and writing the graph and entity tables in DuckDB.

Schema `graph` holds the evidence (`wallet_edges`, `hubs`); schema `entities` holds what is built
from it (clusters, risk, history). Every write replaces its tables in one transaction, so a reader
sees the old tables or the new ones, never a mix; the history table is the one that only grows.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pandas as pd

GRAPH_SCHEMA = "graph"
ENTITIES_SCHEMA = "entities"
# Columns built as JSON text are stored as DuckDB's JSON type, so SQL reads them with `->`/`->>`
# without a cast and a malformed document fails the write instead of reaching a reader. JSON, not a
# STRUCT: a wallet's evidence has keys a cluster's lacks (spread_paths, paid_perpetrators).
JSON_COLUMNS = frozenset({"risk_breakdown"})


def table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    """Whether `schema.table` exists as a table or a view."""
    schema, _, table = qualified.rpartition(".")
    return bool(
        con.execute(
            "select count(*) from (select schema_name, table_name from duckdb_tables() "
            "union all select schema_name, view_name from duckdb_views()) "
            "where schema_name = ? and table_name = ?",
            [schema or "main", table],
        ).fetchone()[0]
    )


def read_table(con: duckdb.DuckDBPyConnection, qualified: str, columns: str = "*") -> pd.DataFrame | None:
    """`schema.table` as a DataFrame, or None when it does not exist yet (a first run)."""
    if not table_exists(con, qualified):
        return None
    return con.sql(f"select {columns} from {qualified}").df()


def replace_tables(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    frames: Mapping[str, pd.DataFrame | str],
    append: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, int]:
    """Replace and append tables in one transaction; returns the row count of each table written.

    Every entry of `frames` replaces `schema.<name>`; every entry of `append` is added to it.
    A value of `frames` is a DataFrame or a SQL query over the connection (temp tables included),
    which keeps large tables such as the edges inside DuckDB. An appended table is created from its
    frame on first use.
    """
    con.execute(f"create schema if not exists {schema}")
    counts: dict[str, int] = {}
    registered: list[str] = []
    # DuckDB types a DataFrame's object column from its first 1,000 rows: a history whose first
    # rows all have empty `related_ids` typed them NULL[] and failed on the first real id (a third
    # run of phishing_network.py on draw 5000). Reading every row costs little against the write.
    rows = [len(f) for f in [*frames.values(), *(append or {}).values()] if isinstance(f, pd.DataFrame)]
    sample = con.execute("select current_setting('pandas_analyze_sample')").fetchone()[0]
    con.execute(f"set pandas_analyze_sample = {max([int(sample), *rows])}")

    def source_of(name: str, frame: pd.DataFrame | str) -> str:
        if isinstance(frame, str):
            source = f"({frame})"
        else:
            source = f"_frame_{name}"
            con.register(source, frame)
            registered.append(source)
        columns = [row[0] for row in con.execute(f"describe select * from {source}").fetchall()]
        typed = [f'"{c}"::json as "{c}"' for c in columns if c in JSON_COLUMNS]
        if not typed:
            return source
        return f"(select * replace ({', '.join(typed)}) from {source})"

    con.execute("begin transaction")
    try:
        for name, frame in frames.items():
            con.execute(f"create or replace table {schema}.{name} as select * from {source_of(name, frame)}")
            counts[name] = con.execute(f"select count(*) from {schema}.{name}").fetchone()[0]
        for name, frame in (append or {}).items():
            source = source_of(name, frame)
            if table_exists(con, f"{schema}.{name}"):
                con.execute(f"insert into {schema}.{name} by name select * from {source}")
            else:
                con.execute(f"create table {schema}.{name} as select * from {source}")
            counts[name] = len(frame)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        for view in registered:
            con.unregister(view)
        con.execute(f"set pandas_analyze_sample = {int(sample)}")
    return counts
