"""Export one cluster (its members, edges and evidence) as CSV, JSON or GraphML.

```python
bundle = cluster_bundle(con, "c_0xabc...")            # reads graph.clusters, wallet_clusters, ...
write_cluster(bundle, "json", "out/c_0xabc.json")     # -> [Path("out/c_0xabc.json")]
write_cluster(bundle, "csv", "out/c_0xabc.csv")       # members CSV + c_0xabc_edges.csv next to it
write_cluster(bundle, "graphml", "out/c_0xabc.graphml")
```

Tables read (in `schema`, "graph" by default): `clusters` (one row per cluster), `wallet_clusters`
(one row per member), `cluster_edges` (edges inside clusters, `evidence` a list of tx hashes);
optional: `cluster_evidence` (why each wallet is in its cluster), `wallet_risk` (per-wallet risk,
joined onto the members), `cluster_history` (rows of `history.assign_stable_ids`).
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from pathlib import Path

import duckdb
import networkx as nx
import numpy as np
import pandas as pd

FORMATS = ("csv", "json", "graphml")
REQUIRED_TABLES = ("clusters", "wallet_clusters", "cluster_edges")
OPTIONAL_TABLES = ("cluster_evidence", "wallet_risk", "cluster_history")
# Columns that hold JSON text in DuckDB; JSON exports nest them instead of quoting them.
JSON_TEXT_COLUMNS = ("risk_breakdown",)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _tables(con: duckdb.DuckDBPyConnection, schema: str) -> set[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ?", [schema]
    ).fetchall()
    return {r[0] for r in rows}


def cluster_bundle(con: duckdb.DuckDBPyConnection, cluster_id: str, schema: str = "graph") -> dict:
    """Everything stored about one cluster.

    Args:
        con: DuckDB connection holding the graph tables.
        cluster_id: stable cluster id, e.g. "c_0x...".
        schema: schema of the graph tables.

    Returns:
        dict with `cluster_id`, `cluster` (dict: the `clusters` row), `members` (DataFrame:
        `wallet_clusters` rows with the `wallet_risk` columns they lack, by address), `edges`,
        `evidence` and `history` (DataFrames; empty when the optional table is missing).

    Raises:
        ValueError: unknown cluster id, or a required table is missing.
    """
    if not _IDENT.match(schema):
        raise ValueError(f"schema must be a plain identifier, got {schema!r}")
    have = _tables(con, schema)
    missing = [t for t in REQUIRED_TABLES if t not in have]
    if missing:
        raise ValueError(f"missing tables {', '.join(f'{schema}.{t}' for t in missing)}")
    cluster = con.execute(f"select * from {schema}.clusters where cluster_id = ?", [cluster_id]).df()
    if cluster.empty:
        raise ValueError(
            f"unknown cluster id {cluster_id!r} in {schema}.clusters; list the ids with "
            f"`select cluster_id from {schema}.clusters order by cluster_id`"
        )
    members = con.execute(
        f"select * from {schema}.wallet_clusters where cluster_id = ? order by address", [cluster_id]
    ).df()
    if "wallet_risk" in have:
        risk = con.execute(
            f"select r.* from {schema}.wallet_risk r "
            f"where r.address in (select address from {schema}.wallet_clusters where cluster_id = ?)",
            [cluster_id],
        ).df()
        extra = ["address"] + [col for col in risk.columns if col not in members.columns]
        members = members.merge(risk[extra].drop_duplicates("address"), on="address", how="left")

    def optional(table: str, order: str) -> pd.DataFrame:
        if table not in have:
            return pd.DataFrame()
        return con.execute(
            f"select * from {schema}.{table} where cluster_id = ? order by {order}", [cluster_id]
        ).df()

    return {
        "cluster_id": cluster_id,
        "cluster": cluster.iloc[0].to_dict(),
        "members": members,
        "edges": optional("cluster_edges", "src, dst, edge_type"),
        "evidence": optional("cluster_evidence", "address, hop, src, dst"),
        "history": optional("cluster_history", "as_of, run_id"),
    }


def _is_missing(value) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _plain(value, column: str = ""):
    """A JSON-ready Python value: ISO 8601 times, lists kept, numpy scalars unwrapped, NaN -> None."""
    if isinstance(value, np.ndarray | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if _is_missing(value):
        return None
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if column in JSON_TEXT_COLUMNS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value  # not JSON after all: keep the text
    return value


def _records(df: pd.DataFrame) -> list[dict]:
    cols = list(df.columns)
    return [{c: _plain(v, c) for c, v in zip(cols, row, strict=True)} for row in df.itertuples(index=False)]


def _flat(value):
    """A scalar GraphML / CSV can hold: lists joined by spaces, dicts as JSON text, None kept."""
    value = _plain(value)
    if isinstance(value, list):
        return " ".join("" if v is None else str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def _flat_frame(df: pd.DataFrame) -> pd.DataFrame:
    return df.apply(lambda col: col.map(_flat)) if len(df) else df


def cluster_graph(bundle: dict) -> nx.MultiDiGraph:
    """The cluster as a NetworkX MultiDiGraph with GraphML-safe attributes.

    Nodes are the members (their columns as attributes, `in_cluster=True`); edge endpoints that are
    not members are added with `in_cluster=False`. One graph edge per `cluster_edges` row, keyed by
    row number, with `edge_type, directed, weight, first_time, last_time, n, evidence` (hashes
    joined by spaces). Undirected edges keep their src -> dst orientation and `directed=False`.
    None and NaN attributes are left out: GraphML has no null.
    """
    g = nx.MultiDiGraph()
    g.graph.update({k: v for k, v in ((k, _flat(v)) for k, v in bundle["cluster"].items()) if v is not None})
    members = bundle["members"]
    for row in _records(members):
        attrs = {k: _flat(v) for k, v in row.items() if k != "address"}
        g.add_node(row["address"], in_cluster=True, **{k: v for k, v in attrs.items() if v is not None})
    edges = bundle["edges"]
    for i, row in enumerate(_records(edges)):
        for end in (row["src"], row["dst"]):
            if end not in g:
                g.add_node(end, in_cluster=False)
        attrs = {k: _flat(v) for k, v in row.items() if k not in ("src", "dst", "cluster_id")}
        g.add_edge(row["src"], row["dst"], key=i, **{k: v for k, v in attrs.items() if v is not None})
    return g


def _csv_paths(out_path: Path) -> tuple[Path, Path, Path]:
    stem = out_path.stem
    return out_path, out_path.with_name(f"{stem}_edges.csv"), out_path.with_name(f"{stem}_evidence.csv")


def write_cluster(bundle: dict, fmt: str, out_path: str | Path) -> list[Path]:
    """Write one cluster's bundle (from `cluster_bundle`) to disk.

    Args:
        bundle: the dict returned by `cluster_bundle`.
        fmt: "csv": members with their columns at `out_path`, plus `<stem>_edges.csv` next to it
            and `<stem>_evidence.csv` when there is evidence (lists joined by spaces, times ISO
            8601); "json": one document with everything (times ISO 8601, lists kept, JSON text
            columns nested); "graphml": `cluster_graph(bundle)`.
        out_path: file to write; parent folders are created.

    Returns:
        The paths written.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        doc = {
            "cluster_id": bundle["cluster_id"],
            "cluster": {k: _plain(v, k) for k, v in bundle["cluster"].items()},
            **{part: _records(bundle[part]) for part in ("members", "edges", "evidence", "history")},
        }
        out_path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return [out_path]
    if fmt == "graphml":
        nx.write_graphml(cluster_graph(bundle), out_path)
        return [out_path]
    members_path, edges_path, evidence_path = _csv_paths(out_path)
    _flat_frame(bundle["members"]).to_csv(members_path, index=False)
    _flat_frame(bundle["edges"]).to_csv(edges_path, index=False)
    written = [members_path, edges_path]
    if len(bundle["evidence"]):
        _flat_frame(bundle["evidence"]).to_csv(evidence_path, index=False)
        written.append(evidence_path)
    return written


def export_cluster(
    con: duckdb.DuckDBPyConnection, cluster_id: str, fmt: str, out_path: str | Path, schema: str = "graph"
) -> list[Path]:
    """`write_cluster(cluster_bundle(con, cluster_id, schema), fmt, out_path)`."""
    return write_cluster(cluster_bundle(con, cluster_id, schema), fmt, out_path)
