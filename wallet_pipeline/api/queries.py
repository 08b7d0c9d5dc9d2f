"""What the API asks the snapshot: plain functions over a read-only DuckDB connection.

Every value a caller gives reaches DuckDB as a bound parameter; the only SQL text chosen from a
request is a sort column, picked from `SORTS` by key. Results are plain dicts and lists that
pydantic and JSON take as they are.

Addresses are checked here too (`parse_address`): 0x and 40 hex characters, and when the hex mixes
upper and lower case it must be the EIP-55 checksum, which is keccak-256 (the pre-standard padding,
not hashlib's `sha3_256`). No keccak package is installed, so `keccak256` is the 24-round
Keccak-f[1600] permutation in pure Python; it checks an address in about half a millisecond.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from wallet_pipeline.logic.graph.export import cluster_bundle, cluster_graph, write_cluster
from wallet_pipeline.logic.graph.report import ADDRESS, normalise_address

E = "entities"
PERSONAS = "personas.wallet_personas"
ADDRESS_HELP = (
    "a valid address is 0x followed by 40 hexadecimal characters (0-9, a-f), e.g. "
    "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed; all lower case, all upper case, or mixed case "
    "that matches its EIP-55 checksum (0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed)"
)
SIZE_BANDS = {"2-5": (2, 5), "6-20": (6, 20), "21-50": (21, 50), "50+": (51, None)}
ACTIVE_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
RISK_LEVELS = ("Critical", "High", "Medium", "Low", "Minimal")
# Sort key -> SQL text; only these strings are ever put into a query.
SORTS = {
    "risk": "risk_score desc nulls last",
    "size": "size desc nulls last",
    "last_active": "last_active desc nulls last",
}
CLUSTER_LIST_COLUMNS = (
    "cluster_id, size, risk_score, risk_level, scam_rate, reputation, known_scammers, "
    "tokens_created, scam_tokens, first_seen, last_active, sub_clusters, bridge_wallets"
)


# ---------------------------------------------------------------- addresses (EIP-55, keccak-256)

_MASK = (1 << 64) - 1


def _rol(value: int, shift: int) -> int:
    shift %= 64
    return ((value << shift) | (value >> (64 - shift))) & _MASK


def _keccak_f(lanes: list[list[int]]) -> None:
    """Keccak-f[1600] in place on lanes[x][y], as in the Keccak team's CompactFIPS202.py."""
    r = 1
    for _ in range(24):
        c = [lanes[x][0] ^ lanes[x][1] ^ lanes[x][2] ^ lanes[x][3] ^ lanes[x][4] for x in range(5)]
        d = [c[(x + 4) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
        for x in range(5):
            for y in range(5):
                lanes[x][y] ^= d[x]
        x, y = 1, 0
        current = lanes[x][y]
        for t in range(24):
            x, y = y, (2 * x + 3 * y) % 5
            current, lanes[x][y] = lanes[x][y], _rol(current, (t + 1) * (t + 2) // 2)
        for y in range(5):
            row = [lanes[x][y] for x in range(5)]
            for x in range(5):
                lanes[x][y] = row[x] ^ ((~row[(x + 1) % 5]) & row[(x + 2) % 5])
        for j in range(7):
            r = ((r << 1) ^ ((r >> 7) * 0x71)) % 256
            if r & 2:
                lanes[0][0] ^= 1 << ((1 << j) - 1)


def keccak256(data: bytes, suffix: int = 0x01) -> bytes:
    """Keccak-256 of `data` (Ethereum's hash); `suffix=0x06` gives FIPS-202 SHA3-256 instead."""
    rate = 136
    padded = bytearray(data) + bytes([suffix])
    padded += bytes(-len(padded) % rate)
    padded[-1] |= 0x80
    lanes = [[0] * 5 for _ in range(5)]
    for start in range(0, len(padded), rate):
        block = padded[start : start + rate]
        for i in range(rate // 8):
            x, y = i % 5, i // 5
            lanes[x][y] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        _keccak_f(lanes)
    out = b"".join(lanes[i % 5][i // 5].to_bytes(8, "little") for i in range(4))
    return out


def checksum_address(address: str) -> str:
    """The EIP-55 mixed-case form of a 0x address."""
    lower = normalise_address(address)[2:]
    digest = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(
        ch.upper() if int(h, 16) >= 8 else ch for ch, h in zip(lower, digest[:40], strict=True)
    )


def parse_address(text: str) -> str:
    """The lower-case address, or a ValueError that says what a valid address looks like."""
    candidate = text.strip()
    if not ADDRESS.match(candidate.lower()) or not candidate.startswith("0x"):
        raise ValueError(f"{text[:100]!r} is not an Ethereum address: {ADDRESS_HELP}")
    digits = candidate[2:]
    if digits != digits.lower() and digits != digits.upper():
        expected = checksum_address(candidate)
        if candidate != expected:
            raise ValueError(
                f"{candidate} mixes upper and lower case but fails its EIP-55 checksum (the checksummed "
                f"form of these hex digits is {expected}); check for a typo, or send it all lower case: "
                f"{ADDRESS_HELP}"
            )
    return candidate.lower()


# ---------------------------------------------------------------- what one snapshot holds


@dataclass
class SnapshotMeta:
    """Facts about one snapshot file read once when it is opened (it never changes after)."""

    name: str
    tables: frozenset[str]
    persona_columns: tuple[str, ...] = ()
    dominant_personas_sql: str = "null::varchar"
    newest_activity: datetime | None = None
    published_at: datetime | None = None
    run_id: str | None = None
    extra: dict = field(default_factory=dict)

    def has(self, table: str) -> bool:
        """Whether `schema.table` is in the snapshot."""
        return table in self.tables


def read_meta(con: duckdb.DuckDBPyConnection, name: str) -> SnapshotMeta:
    """Tables, persona probability columns, newest activity and publication of a snapshot."""
    tables = frozenset(
        f"{s}.{t}" for s, t in con.execute("select schema_name, table_name from duckdb_tables()").fetchall()
    )
    meta = SnapshotMeta(name=name, tables=tables)
    if PERSONAS in tables:
        cols = con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'personas' and table_name = 'wallet_personas' order by ordinal_position"
        ).fetchall()
        meta.persona_columns = tuple(c for (c,) in cols if c.startswith("p_"))
    if f"{E}.clusters" in tables:
        kind = con.execute(
            "select data_type from information_schema.columns where table_schema = ? "
            "and table_name = 'clusters' and column_name = 'dominant_personas'",
            [E],
        ).fetchone()
        # A run without personas writes the column as all-NULL DOUBLE; treat it as no text.
        if kind and kind[0] == "VARCHAR":
            meta.dominant_personas_sql = "dominant_personas"
        meta.newest_activity = con.execute(f"select max(last_active) from {E}.clusters").fetchone()[0]
    if "main.snapshot_manifest" in tables:
        row = con.execute("select max(published_at), max(run_id) from main.snapshot_manifest").fetchone()
        meta.published_at, meta.run_id = row
    return meta


def _rows_if(con: duckdb.DuckDBPyConnection, meta, table: str, sql: str, params: list) -> list[dict]:  # noqa: ANN001
    """The rows of `sql` as dicts, or none when the snapshot has no `table` (an older snapshot)."""
    return _dicts(con.execute(sql, params)) if meta.has(table) else []


def _dicts(cur: duckdb.DuckDBPyConnection) -> list[dict]:
    names = [d[0] for d in cur.description]
    return [_clean_row(dict(zip(names, row, strict=True))) for row in cur.fetchall()]


def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _clean_row(row: dict) -> dict:
    return {k: _clean(v) for k, v in row.items()}


def _breakdown(text) -> dict:
    if isinstance(text, dict):
        return text
    if isinstance(text, str) and text:
        try:
            value = json.loads(text)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return {}


# ---------------------------------------------------------------- /analyze


def analyze_wallet(con: duckdb.DuckDBPyConnection, meta: SnapshotMeta, address: str) -> dict | None:
    """Persona with probabilities, cluster and sub-cluster, wallet and cluster risk, evidence chain.

    Returns:
        None when the address is neither scored nor clustered nor given a persona in the snapshot.
    """
    risk = membership = persona = cluster = None
    if meta.has(f"{E}.wallet_risk"):
        rows = _dicts(
            con.execute(
                f"select cluster_id, risk_score, risk_level, reputation, patterns, risk_breakdown "
                f"from {E}.wallet_risk where address = ?",
                [address],
            )
        )
        risk = rows[0] if rows else None
    if meta.has(f"{E}.wallet_clusters"):
        rows = _dicts(
            con.execute(
                f"select cluster_id, sub_cluster_id, is_bridge, bridge_reason, cluster_size "
                f"from {E}.wallet_clusters where address = ?",
                [address],
            )
        )
        membership = rows[0] if rows else None
    if meta.has(PERSONAS):
        cols = ", ".join(["persona", "confidence", "model_version", *meta.persona_columns])
        rows = _dicts(con.execute(f"select {cols} from {PERSONAS} where address = ?", [address]))
        if rows:
            row = rows[0]
            persona = {
                "persona": row["persona"],
                "confidence": row["confidence"],
                "model_version": None if row["model_version"] is None else str(row["model_version"]),
                "probabilities": {c[2:]: row[c] for c in meta.persona_columns},
            }
    if risk is None and membership is None and persona is None:
        return None
    evidence: list[dict] = []
    if membership is not None:
        rows = _dicts(
            con.execute(
                f"select cluster_id, size, risk_score, risk_level, risk_breakdown, "
                f"{meta.dominant_personas_sql} as dominant_personas from {E}.clusters where cluster_id = ?",
                [membership["cluster_id"]],
            )
        )
        if rows:
            cluster = rows[0]
            cluster["risk_breakdown"] = _breakdown(cluster["risk_breakdown"])
        if meta.has(f"{E}.cluster_evidence"):
            evidence = _dicts(
                con.execute(
                    f"select hop, anchor, src, dst, edge_type, weight, first_time, last_time, evidence "
                    f"from {E}.cluster_evidence where address = ? order by hop",
                    [address],
                )
            )
    wallet_risk = None
    if risk is not None:
        wallet_risk = {
            "risk_score": risk["risk_score"],
            "risk_level": risk["risk_level"],
            "reputation": risk["reputation"],
            "patterns": risk["patterns"],
            "breakdown": _breakdown(risk["risk_breakdown"]),
        }
    return {
        "address": address,
        "checksum_address": checksum_address(address),
        "source": "snapshot",
        "persona": persona,
        "membership": membership,
        "wallet_risk": wallet_risk,
        "cluster": cluster,
        "evidence_chain": evidence,
    }


# ---------------------------------------------------------------- /clusters


def list_clusters(
    con: duckdb.DuckDBPyConnection,
    meta: SnapshotMeta,
    *,
    risk_min: float = 0.0,
    risk_level: str | None = None,
    size_band: str | None = None,
    active_within: str | None = None,
    persona: str | None = None,
    sort: str = "risk",
    page: int = 1,
    page_size: int = 50,
) -> dict:
    """One page of clusters matching the filters, and how many match in all.

    `active_within` counts back from the newest `last_active` in the snapshot, not from now: a
    snapshot of last month's data still answers "active in the last 7 days of it".
    """
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    low, high = SIZE_BANDS[size_band] if size_band else (None, None)
    since = None
    if active_within and meta.newest_activity is not None:
        since = meta.newest_activity - ACTIVE_WINDOWS[active_within]
    elif active_within:
        since = datetime.max  # no activity recorded: nothing is recent
    where = [
        "risk_score >= ?",
        "(?::varchar is null or risk_level = ?)",
        "(?::bigint is null or size >= ?)",
        "(?::bigint is null or size <= ?)",
        "(?::timestamp is null or last_active >= ?)",
        f"(?::varchar is null or contains(lower(coalesce({meta.dominant_personas_sql}, '')), lower(?)))",
    ]
    params = [risk_min, risk_level, risk_level, low, low, high, high, since, since, persona, persona]
    sql = (
        f"select {CLUSTER_LIST_COLUMNS}, {meta.dominant_personas_sql} as dominant_personas, "
        f"count(*) over () as total from {E}.clusters where {' and '.join(where)} "
        f"order by {SORTS[sort]}, cluster_id limit ? offset ?"
    )
    rows = _dicts(con.execute(sql, [*params, page_size, (page - 1) * page_size]))
    if rows:
        total = rows[0]["total"]
    elif page > 1:
        total = con.execute(
            f"select count(*) from {E}.clusters where {' and '.join(where)}", params
        ).fetchone()[0]
    else:
        total = 0
    for row in rows:
        row.pop("total")
    return {
        "total": int(total),
        "page": page,
        "page_size": page_size,
        "newest_activity": meta.newest_activity,
        "items": rows,
    }


def cluster_exists(con: duckdb.DuckDBPyConnection, cluster_id: str) -> bool:
    """Whether the snapshot has this cluster id."""
    return (
        con.execute(f"select count(*) from {E}.clusters where cluster_id = ?", [cluster_id]).fetchone()[0] > 0
    )


def cluster_detail(
    con: duckdb.DuckDBPyConnection, meta: SnapshotMeta, cluster_id: str, member_limit: int = 500
) -> dict | None:
    """Statistics, breakdown, timeline, members with risk and reputation, tokens, sub-clusters, bridges."""
    rows = _dicts(
        con.execute(
            f"select * exclude (dominant_personas), {meta.dominant_personas_sql} as dominant_personas "
            f"from {E}.clusters where cluster_id = ?",
            [cluster_id],
        )
    )
    if not rows:
        return None
    cluster = rows[0]
    cluster["risk_breakdown"] = _breakdown(cluster.get("risk_breakdown"))
    persona_join = persona_col = ""
    if meta.has(PERSONAS):
        persona_join = f"left join {PERSONAS} p using (address)"
        persona_col = ", p.persona"
    else:
        persona_col = ", null::varchar as persona"
    members = _dicts(
        con.execute(
            f"""
            select c.address, c.sub_cluster_id, c.is_bridge, c.bridge_reason, r.risk_score, r.risk_level,
                   r.reputation, r.patterns{persona_col}
            from {E}.wallet_clusters c left join {E}.wallet_risk r using (address) {persona_join}
            where c.cluster_id = ? order by r.risk_score desc nulls last, c.address limit ?
            """,
            [cluster_id, member_limit],
        )
    )
    subs = _dicts(
        con.execute(
            f"select sub_cluster_id, count(*) as size, count(*) filter (where is_bridge) as bridge_wallets "
            f"from {E}.wallet_clusters where cluster_id = ? and sub_cluster_id is not null "
            f"group by 1 order by 2 desc, 1",
            [cluster_id],
        )
    )
    bridges = _rows_if(
        con,
        meta,
        f"{E}.bridge_wallets",
        f"select address, is_articulation, linked_clusters, bridge_reason "
        f"from {E}.bridge_wallets where cluster_id = ? order by address",
        [cluster_id],
    )
    history = _rows_if(
        con,
        meta,
        f"{E}.cluster_history",
        f"select run_id, as_of, event, size, previous_size, wallets_added, wallets_departed, "
        f"related_ids, first_activity, last_activity from {E}.cluster_history "
        f"where cluster_id = ? order by as_of, run_id",
        [cluster_id],
    )
    # The snapshot keeps each created token with its creator (for alerts), but whether one token
    # was a scam is only stored as the cluster's count `scam_tokens`, so `is_scam` stays None.
    tokens = _rows_if(
        con,
        meta,
        f"{E}.alert_state_tokens",
        f"select t.token, t.creator, null::boolean as is_scam from {E}.alert_state_tokens t "
        f"where t.creator in (select address from {E}.wallet_clusters where cluster_id = ?) "
        f"order by t.creator, t.token",
        [cluster_id],
    )
    links = _rows_if(
        con,
        meta,
        f"{E}.cluster_links",
        f"select case when cluster_a = ? then cluster_b else cluster_a end as other_cluster_id, "
        f"link_type, n, weight from {E}.cluster_links where ? in (cluster_a, cluster_b) "
        f"order by n desc, other_cluster_id limit 20",
        [cluster_id, cluster_id],
    )
    return {
        "cluster": cluster,
        "members": members,
        "members_shown": len(members),
        "sub_clusters": subs,
        "bridges": bridges,
        "history": history,
        "tokens_created": tokens,
        "linked_clusters": links,
    }


def cluster_network(con: duckdb.DuckDBPyConnection, meta: SnapshotMeta, cluster_id: str) -> dict:
    """Nodes (members with persona, risk, bridge flag) and edges (type, weight) of one cluster."""
    persona_join = f"left join {PERSONAS} p using (address)" if meta.has(PERSONAS) else ""
    persona_col = "p.persona" if persona_join else "null::varchar"
    nodes = _dicts(
        con.execute(
            f"""
            select c.address as id, c.sub_cluster_id, c.is_bridge, r.risk_score, r.risk_level,
                   r.reputation, {persona_col} as persona
            from {E}.wallet_clusters c left join {E}.wallet_risk r using (address) {persona_join}
            where c.cluster_id = ? order by c.address
            """,
            [cluster_id],
        )
    )
    edges = _dicts(
        con.execute(
            f"select src as source, dst as target, edge_type, weight, directed, n "
            f"from {E}.cluster_edges where cluster_id = ? order by src, dst, edge_type",
            [cluster_id],
        )
    )
    return {"cluster_id": cluster_id, "nodes": nodes, "edges": edges}


def export_cluster_text(con: duckdb.DuckDBPyConnection, cluster_id: str, fmt: str) -> str:
    """One cluster as CSV (its members only), JSON (everything) or GraphML, as text."""
    bundle = cluster_bundle(con, cluster_id, schema=E)
    with tempfile.TemporaryDirectory(prefix="wallet_api_export_") as tmp:
        if fmt == "graphml":
            import networkx as nx

            path = Path(tmp) / "cluster.graphml"
            nx.write_graphml(cluster_graph(bundle), path)
        else:
            path = write_cluster(bundle, fmt, Path(tmp) / f"cluster.{fmt}")[0]
        return path.read_text(encoding="utf-8")


# ---------------------------------------------------------------- /stats


def stats(con: duckdb.DuckDBPyConnection, meta: SnapshotMeta) -> dict:
    """The run's graph statistics, clusters per risk level and the snapshot's identity."""
    graph = None
    if meta.has(f"{E}.graph_stats"):
        rows = _dicts(con.execute(f"select * from {E}.graph_stats limit 1"))
        graph = rows[0] if rows else None
    levels: dict[str, int] = {}
    clusters = wallets = 0
    if meta.has(f"{E}.clusters"):
        levels = dict(
            con.execute(f"select risk_level, count(*) from {E}.clusters group by 1 order by 1").fetchall()
        )
        clusters = sum(levels.values())
    if meta.has(f"{E}.wallet_risk"):
        wallets = con.execute(f"select count(*) from {E}.wallet_risk").fetchone()[0]
    personas: dict[str, int] = {}
    if meta.has(PERSONAS):
        personas = dict(
            con.execute(f"select persona, count(*) from {PERSONAS} group by 1 order by 2 desc").fetchall()
        )
    return {
        "snapshot": meta.name,
        "published_at": meta.published_at,
        "run_id": meta.run_id,
        "newest_activity": meta.newest_activity,
        "clusters": clusters,
        "clusters_by_risk_level": levels,
        "wallets_scored": wallets,
        "wallets_by_persona": personas,
        "graph_stats": graph,
    }
