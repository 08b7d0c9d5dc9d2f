"""What the API asks the snapshot: plain functions over a read-only DuckDB connection.

Every value a caller gives reaches DuckDB as a bound parameter; the only SQL text chosen from a
request is a sort column, picked from `SORTS` by key. Results are plain dicts and lists that
pydantic and JSON take as they are.

Addresses are checked here too (`parse_address`): 0x and 40 hex characters, and when the hex mixes
upper and lower case it must be the EIP-55 checksum, which is keccak-256 (the pre-standard padding,
not hashlib's `sha3_256`), from pycryptodome; it checks an address in about 9 microseconds.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import get_args

import duckdb
from Crypto.Hash import keccak

from wallet_pipeline.api.models import RiskLevel
from wallet_pipeline.logic.graph.export import cluster_bundle, cluster_graph, write_cluster
from wallet_pipeline.logic.graph.report import ADDRESS, normalise_address
from wallet_pipeline.logic.personas.model import persona_column
from wallet_pipeline.logic.personas.naming import MIXED, VOCABULARY
from wallet_pipeline.logic.personas.population import RULE_PERSONAS

E = "entities"
PERSONAS = "personas.wallet_personas"
ADDRESS_HELP = (
    "a valid address is 0x followed by 40 hexadecimal characters (0-9, a-f), e.g. "
    "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed; all lower case, all upper case, or mixed case "
    "that matches its EIP-55 checksum (0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed)"
)
SIZE_BANDS = {"2-5": (2, 5), "6-20": (6, 20), "21-50": (21, 50), "50+": (51, None)}
ACTIVE_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
RISK_LEVELS = get_args(RiskLevel)
# Every persona the model can name (`logic.personas`): rule personas, cluster names, then Mixed.
# The snapshot stores probabilities as p_<key> columns; the API names them with these spellings
# only, so "High-Frequency Bot" is never shown as "High frequency bot" next to it.
PERSONA_VOCABULARY = tuple(dict.fromkeys([*RULE_PERSONAS, *(name for name, _, _ in VOCABULARY), MIXED]))
OVERVIEW_TOP = 10  # riskiest clusters on the landing view: one screen, no scrolling
# Sort key -> SQL text; only these strings are ever put into a query.
SORTS = {
    "risk": "risk_score desc nulls last",
    "size": "size desc nulls last",
    "last_active": "last_active desc nulls last",
}


# ---------------------------------------------------------------- addresses (EIP-55, keccak-256)


def keccak256(data: bytes) -> bytes:
    """Keccak-256 of `data`: Ethereum's hash (the pre-standard padding, not hashlib's `sha3_256`)."""
    return keccak.new(digest_bits=256, data=data).digest()


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


def persona_names(names: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """{persona key: name} for the vocabulary and `names` (e.g. the personas a snapshot holds).

    The key is the p_<key> column's suffix (`logic.personas.model.persona_column`).
    """
    return {persona_column(n)[2:]: n for n in (*PERSONA_VOCABULARY, *names) if n}


def persona_name(key: str, names: dict[str, str]) -> str:
    """The persona a probability key stands for; the key itself for a name outside the vocabulary."""
    return names.get(key.removeprefix("p_"), key)


# ---------------------------------------------------------------- what one snapshot holds


@dataclass
class SnapshotMeta:
    """Facts about one snapshot file read once when it is opened (it never changes after)."""

    name: str
    tables: frozenset[str]
    persona_columns: tuple[str, ...] = ()
    persona_names: dict[str, str] = field(default_factory=dict)
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
        held = [n for (n,) in con.execute(f"select distinct persona from {PERSONAS} order by 1").fetchall()]
        meta.persona_names = persona_names(held)
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
    return dicts(con.execute(sql, params)) if meta.has(table) else []


def dicts(cur: duckdb.DuckDBPyConnection) -> list[dict]:
    """The rows of an executed query as dicts, NaN read as None (JSON has no NaN)."""
    names = [d[0] for d in cur.description]
    return [clean_row(dict(zip(names, row, strict=True))) for row in cur.fetchall()]


def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return clean_row(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def clean_row(row: dict) -> dict:
    """`row` with NaN replaced by None, inside structs and lists too."""
    return {k: _clean(v) for k, v in row.items()}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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


WALLET_TABLES = (f"{E}.wallet_risk", f"{E}.wallet_clusters", PERSONAS)

# JSON is rendered by DuckDB, once for both paths: the slow path parses it and FastAPI checks it
# against the response models; the index (`api.index`) stores it as it is. These helpers give
# what pydantic would: no NaN, ISO times, a breakdown that is always an object.


def _num(col: str) -> str:
    return f"case when isnan({col}::double) then null else {col}::double end"


def _iso(col: str) -> str:
    """A UTC time as pydantic writes it (`models.Utc`): ISO, microseconds only when there are some, Z."""
    us = f"((epoch_us({col}::timestamp) % 1000000) + 1000000) % 1000000"
    return (
        f"strftime({col}::timestamp, '%Y-%m-%dT%H:%M:%S') "
        f"|| case when {us} = 0 then '' else '.' || lpad(cast({us} as varchar), 6, '0') end || 'Z'"
    )


def _object(col: str) -> str:
    """JSON text that parses to an object, else `{}` (a breakdown is always an object)."""
    return (
        f"coalesce(case when json_type(try_cast({col} as json)) = 'OBJECT' then try_cast({col} as json) end, "
        "'{}'::json)"
    )


def cluster_item_sql(meta: SnapshotMeta) -> str:
    """The `ClusterSummary` JSON of a row of `entities.clusters`."""
    ints = ("size", "known_scammers", "tokens_created", "scam_tokens", "sub_clusters", "bridge_wallets")
    fields = [
        "cluster_id := cluster_id",
        *(f"{c} := {c}::bigint" for c in ints),
        *(f"{c} := {_num(c)}" for c in ("risk_score", "scam_rate", "reputation")),
        "risk_level := risk_level",
        f"first_seen := {_iso('first_seen')}",
        f"last_active := {_iso('last_active')}",
        f"dominant_personas := {meta.dominant_personas_sql}",
    ]
    return f"to_json(struct_pack({', '.join(fields)}))"


def cluster_brief_sql(meta: SnapshotMeta) -> str:
    """The `ClusterBrief` JSON of a row of `entities.clusters`."""
    return (
        "to_json(struct_pack(cluster_id := cluster_id, size := size::bigint, "
        f"risk_score := {_num('risk_score')}, "
        f"risk_level := risk_level, risk_breakdown := {_object('risk_breakdown')}, "
        f"dominant_personas := {meta.dominant_personas_sql}))"
    )


def wallet_rows_sql(meta: SnapshotMeta, where: str = "") -> str:
    """Per address the snapshot knows, in address order: `address`, `cluster_id` and `body`.

    `body` is the `AnalysisBody` JSON: the wallet's persona, membership, risk and evidence chain;
    `Analysis` adds the checksum and the cluster's brief. `where` (e.g. "address = $address")
    filters every table read, so DuckDB prunes by address before it joins.
    """
    where = f" where {where}" if where else ""
    present = [t for t in WALLET_TABLES if meta.has(t)]
    if not present:
        return "select null::varchar as address, null::varchar as cluster_id, null::json as body where false"
    keys = " union ".join(f"select address from {t}{where}" for t in present)
    risk = membership = persona = "null"
    evidence = "'[]'::json"
    joins = []
    if meta.has(f"{E}.wallet_risk"):
        risk = (
            f"case when r.address is null then null else struct_pack(risk_score := {_num('r.risk_score')}, "
            f"risk_level := r.risk_level, reputation := {_num('r.reputation')}, patterns := r.patterns, "
            f"breakdown := {_object('r.risk_breakdown')}) end"
        )
        joins.append(f"left join (select * from {E}.wallet_risk{where}) r on r.address = k.address")
    cluster_id = "null::varchar"
    if meta.has(f"{E}.wallet_clusters"):
        membership = (
            "case when c.address is null then null else struct_pack(cluster_id := c.cluster_id, "
            "sub_cluster_id := c.sub_cluster_id, is_bridge := c.is_bridge, bridge_reason := c.bridge_reason, "
            "cluster_size := c.cluster_size::bigint) end"
        )
        cluster_id = "c.cluster_id"
        joins.append(f"left join (select * from {E}.wallet_clusters{where}) c on c.address = k.address")
        if meta.has(f"{E}.cluster_evidence"):
            evidence = "case when c.address is null then '[]'::json else coalesce(e.chain, '[]'::json) end"
            hop = (
                f"hop := hop::bigint, anchor := anchor, src := src, dst := dst, edge_type := edge_type, "
                f"weight := {_num('weight')}, first_time := {_iso('first_time')}, "
                f"last_time := {_iso('last_time')}, evidence := evidence"
            )
            joins.append(
                f"left join (select address, to_json(list(struct_pack({hop}) order by hop)) as chain "
                f"from {E}.cluster_evidence{where} group by address) e on e.address = k.address"
            )
    if meta.has(PERSONAS):
        probabilities = (
            "struct_pack("
            + ", ".join(
                f"{_ident(persona_name(c, meta.persona_names))} := {_num('p.' + _ident(c))}"
                for c in meta.persona_columns
            )
            + ")"
            if meta.persona_columns
            else "'{}'::json"
        )
        persona = (
            f"case when p.address is null then null else struct_pack(persona := p.persona, "
            f"confidence := {_num('p.confidence')}, model_version := p.model_version::varchar, "
            f"probabilities := {probabilities}) end"
        )
        joins.append(f"left join (select * from {PERSONAS}{where}) p on p.address = k.address")
    body = (
        f"to_json(struct_pack(address := k.address, source := 'snapshot', persona := {persona}, "
        f"membership := {membership}, wallet_risk := {risk}, evidence_chain := {evidence}, "
        "features := null, computed_at := null, persona_reason := null, inexact_features := null))"
    )
    return (
        f"select k.address, {cluster_id} as cluster_id, {body} as body "
        f"from ({keys}) k {' '.join(joins)} order by k.address"
    )


def analyze_wallet(con: duckdb.DuckDBPyConnection, meta: SnapshotMeta, address: str) -> dict | None:
    """Persona with probabilities, cluster and sub-cluster, wallet and cluster risk, evidence chain.

    The slow path, straight from the snapshot's tables; `index.SnapshotIndex` answers the same
    from rendered rows.

    Returns:
        None when the address is neither scored nor clustered nor given a persona in the snapshot.
    """
    row = con.execute(wallet_rows_sql(meta, "address = $address"), {"address": address}).fetchone()
    if row is None:
        return None
    body = json.loads(row[2])
    cluster = None
    if body["membership"] is not None:
        found = con.execute(
            f"select {cluster_brief_sql(meta)} from {E}.clusters where cluster_id = ?", [row[1]]
        ).fetchone()
        cluster = None if found is None else json.loads(found[0])
    return {**body, "checksum_address": checksum_address(address), "cluster": cluster}


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
        f"select {cluster_item_sql(meta)} as item, count(*) over () as total from {E}.clusters "
        f"where {' and '.join(where)} order by {SORTS[sort]}, cluster_id limit ? offset ?"
    )
    found = con.execute(sql, [*params, page_size, (page - 1) * page_size]).fetchall()
    rows = [json.loads(item) for item, _ in found]
    if found:
        total = found[0][1]
    elif page > 1:
        total = con.execute(
            f"select count(*) from {E}.clusters where {' and '.join(where)}", params
        ).fetchone()[0]
    else:
        total = 0
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
    rows = dicts(
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
    members = dicts(
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
    subs = dicts(
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
    nodes = dicts(
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
    edges = dicts(
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
        rows = dicts(con.execute(f"select * from {E}.graph_stats limit 1"))
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


# ---------------------------------------------------------------- /overview


def overview(con: duckdb.DuckDBPyConnection, meta: SnapshotMeta, top: int = OVERVIEW_TOP) -> dict:
    """What the investigator page opens on: totals, the riskiest clusters and wallets to start from.

    A snapshot never changes, so the answer is worked out once per snapshot and kept in
    `meta.extra`: the first call scans the wallet tables a few times (3-4 s at 1.5 million wallets
    on this project's 2-core machine while others ran; the distinct count over the three wallet
    tables is 2 s of it), so `SnapshotPool` works it out in the background when it opens a
    snapshot; later calls are a dictionary look-up.
    """
    cached = meta.extra.get(("overview", top))
    if cached is not None:
        return cached
    present = [t for t in WALLET_TABLES if meta.has(t)]
    counts = {
        t: con.execute(f"select count(*) from {t}").fetchone()[0] if t in present else 0
        for t in WALLET_TABLES
    }
    wallets = 0
    if present:
        keys = " union ".join(f"select address from {t}" for t in present)
        wallets = con.execute(f"select count(*) from ({keys})").fetchone()[0]

    def by_level(table: str) -> dict[str, int]:
        levels = dict.fromkeys(RISK_LEVELS, 0)
        if meta.has(table):
            for level, n in con.execute(
                f"select risk_level, count(*) from {table} where risk_level is not null group by 1"
            ).fetchall():
                levels[level] = levels.get(level, 0) + int(n)
        return levels

    riskiest: list[dict] = []
    if meta.has(f"{E}.clusters"):
        riskiest = [
            json.loads(item)
            for (item,) in con.execute(
                f"select {cluster_item_sql(meta)} from {E}.clusters "
                f"order by {SORTS['risk']}, size desc, cluster_id limit ?",
                [top],
            ).fetchall()
        ]
    picks: list[tuple[str, str]] = []  # (address, why), in the order shown
    if meta.has(f"{E}.wallet_clusters") and riskiest:
        # The riskiest wallet of each of the five riskiest clusters: where a case starts.
        ids = [c["cluster_id"] for c in riskiest[:5]]
        risk = f"left join {E}.wallet_risk r using (address)" if meta.has(f"{E}.wallet_risk") else ""
        score = "r.risk_score" if risk else "null::double"
        rows = con.execute(
            f"""
            select distinct on (c.cluster_id) c.cluster_id, c.address
            from (select address, cluster_id from {E}.wallet_clusters
                  where cluster_id in (select unnest(?::varchar[]))) c {risk}
            order by c.cluster_id, {score} desc nulls last, c.address
            """,
            [ids],
        ).fetchall()
        top_of = dict(rows)
        picks += [(top_of[i], f"riskiest wallet of cluster {i}") for i in ids if i in top_of]
    by_persona: list[dict] = []
    if meta.has(PERSONAS):
        by_persona = [
            {"persona": name, "wallets": int(n)}
            for name, n in con.execute(
                f"select persona, count(*) from {PERSONAS} where persona is not null "
                "group by 1 order by 2 desc, 1"
            ).fetchall()
        ]
        # The surest wallet of each persona (lowest address among the surest): what the name means.
        for persona, address, confidence in con.execute(
            f"""
            select p.persona, min(p.address), any_value(m.surest)
            from {PERSONAS} p join (select persona, max(confidence) as surest from {PERSONAS}
                                    where persona is not null group by 1) m
              on m.persona = p.persona and p.confidence = m.surest
            group by 1 order by 1
            """
        ).fetchall():
            if address not in {a for a, _ in picks}:
                picks.append((address, f"most confident {persona} ({round(100 * confidence, 1)}%)"))
    examples = _example_rows(con, meta, picks)
    result = {
        "snapshot": meta.name,
        "published_at": meta.published_at,
        "newest_activity": meta.newest_activity,
        "wallets": int(wallets),
        "wallets_scored": int(counts[f"{E}.wallet_risk"]),
        "wallets_clustered": int(counts[f"{E}.wallet_clusters"]),
        "wallets_with_persona": int(counts[PERSONAS]),
        "clusters": int(con.execute(f"select count(*) from {E}.clusters").fetchone()[0])
        if meta.has(f"{E}.clusters")
        else 0,
        "clusters_by_risk_level": by_level(f"{E}.clusters"),
        "wallets_by_risk_level": by_level(f"{E}.wallet_risk"),
        "wallets_by_persona": by_persona,
        "riskiest_clusters": riskiest,
        "example_wallets": examples,
        "personas": list(dict.fromkeys([*PERSONA_VOCABULARY, *(p["persona"] for p in by_persona)])),
    }
    meta.extra[("overview", top)] = result
    return result


def _example_rows(
    con: duckdb.DuckDBPyConnection, meta: SnapshotMeta, picks: list[tuple[str, str]]
) -> list[dict]:
    """Persona, risk and cluster of the picked wallets, in the order picked, with why each was."""
    if not picks:
        return []
    found = {
        a: {"persona": None, "risk_score": None, "risk_level": None, "cluster_id": None} for a, _ in picks
    }
    addresses = list(found)
    reads = [
        (PERSONAS, "persona"),
        (f"{E}.wallet_risk", f"{_num('risk_score')} as risk_score, risk_level"),
        (f"{E}.wallet_clusters", "cluster_id"),
    ]
    for table, cols in reads:
        if meta.has(table):
            for row in dicts(
                con.execute(
                    f"select address, {cols} from {table} where address in (select unnest(?::varchar[]))",
                    [addresses],
                )
            ):
                found[row.pop("address")].update(row)
    return [{"address": a, **found[a], "why": why} for a, why in picks]
