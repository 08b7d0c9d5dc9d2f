"""From the stored wallet graph to the entity tables: the steps the entity assets run, without Dagster.

`build_entities` clusters `graph.wallet_edges`, keeps the previous run's cluster ids, and builds
sub-clusters, bridge wallets, cluster links and the evidence chains. `score_entities` scores
clusters and wallets. `evaluate_entities` scores both against the simulator's truth. Each returns
the tables to write; the caller writes them in one transaction (`store.replace_tables`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from wallet_pipeline.logic.graph.clustering import ClusterResult, cluster_edges
from wallet_pipeline.logic.graph.config import GraphConfig
from wallet_pipeline.logic.graph.evidence import evidence_chains
from wallet_pipeline.logic.graph.history import assign_stable_ids, history_table_sql, issued_ids
from wallet_pipeline.logic.graph.services import (
    ServiceConfig,
    Services,
    find_services,
    without_double_deposits,
)
from wallet_pipeline.logic.graph.store import (
    ENTITIES_SCHEMA,
    GRAPH_SCHEMA,
    read_table,
    replace_tables,
    table_exists,
)
from wallet_pipeline.logic.graph.structure import (
    EvidenceReader,
    StructureConfig,
    bridge_wallets,
    cluster_links,
    sub_clusters,
)

EDGES_TABLE = f"{GRAPH_SCHEMA}.wallet_edges"
HUBS_TABLE = f"{GRAPH_SCHEMA}.hubs"
WALLET_CLUSTERS_TABLE = f"{ENTITIES_SCHEMA}.wallet_clusters"
HISTORY_TABLE = f"{ENTITIES_SCHEMA}.cluster_history"
FEATURES_TABLE = "marts.wallet_features"

# Edges inside one cluster, for SQL and exports; read inside the write transaction, so it sees the
# wallet_clusters written just before it. The dst side is a semi join, not a second inner join: the
# table written in the same transaction has no statistics yet (DuckDB estimates ~0 rows), and with
# two inner joins the optimizer paired wallet_clusters with itself on cluster_id first, every
# cluster's size squared rows (20,000 wallets: 3.5 s and +0.64 GB instead of 0.4 s and +0.02 GB,
# `benchmarks/entity_pipeline.py --profile`).
CLUSTER_EDGES_SQL = f"""
    select a.cluster_id, e.*
    from {EDGES_TABLE} e
    join {WALLET_CLUSTERS_TABLE} a on a.address = e.src
    where exists (
        select 1 from {WALLET_CLUSTERS_TABLE} b where b.address = e.dst and b.cluster_id = a.cluster_id
    )
    order by a.cluster_id, e.src, e.dst, e.edge_type
"""


@dataclass
class BuiltEntities:
    """The entity tables of one run, the history rows to append, and what to report."""

    tables: dict[str, pd.DataFrame | str]
    history: pd.DataFrame
    metadata: dict = field(default_factory=dict)
    super_clusters: list[dict] = field(default_factory=list)

    def report_lines(self) -> list[str]:
        """Lines for the run's log: what a user should know about this clustering."""
        meta = self.metadata
        lines = [
            f"{meta.get('clusters', 0):,} clusters hold {meta.get('clustered_wallets', 0):,} "
            f"wallets; the largest has {self.metadata.get('largest_cluster', 0):,}."
        ]
        svc = meta.get("services") or {}
        if svc.get("services"):
            lines.append(
                f"{svc['services']} exchanges form service clusters: {svc['hot_wallets']} hot wallets, "
                f"{svc['secondary_hot_wallets']} second-tier hot wallets, {svc['shared_deposit_addresses']} "
                f"shared deposit addresses; {svc['attributed_deposit_addresses']} deposit addresses "
                "attributed to their exchange."
            )
        for s in self.super_clusters:
            if s["split_into"]:
                lines.append(
                    f"Super-cluster of {s['size']:,} wallets split into {s['split_into']} clusters after "
                    f"removing its {len(s['hubs'])} most connected wallets "
                    f"(first: {', '.join(s['hubs'][:3])})."
                )
            else:
                lines.append(
                    f"Super-cluster of {s['size']:,} wallets kept whole: it is a star around "
                    f"{', '.join(s['hubs'][:3])}, which removing its hubs would not split."
                )
        return lines


# The edge table without its evidence lists, with each row's DuckDB rowid to read them back for the
# few rows that need them (`structure.edge_evidence`): 0.25 GB of RSS instead of 0.84 GB for the
# 686,610 edges of 200,000 simulated wallets.
EDGES_WITHOUT_EVIDENCE_SQL = f"select rowid as edge_row, * exclude (evidence) from {EDGES_TABLE}"


def evidence_reader(con: duckdb.DuckDBPyConnection) -> EvidenceReader:
    """Reads the evidence lists of rows of `EDGES_WITHOUT_EVIDENCE_SQL` from the stored edge table."""

    def read(rows: pd.DataFrame) -> np.ndarray:
        wanted = pd.DataFrame({"edge_row": rows["edge_row"].to_numpy(), "i": np.arange(len(rows))})
        con.register("_evidence_rows", wanted)
        try:
            got = con.sql(
                f"select w.i, e.evidence from _evidence_rows w join {EDGES_TABLE} e on e.rowid = w.edge_row "
                "order by w.i"
            ).df()
        finally:
            con.unregister("_evidence_rows")
        if len(got) != len(rows):
            raise ValueError(f"{EDGES_TABLE} changed while the entities were built: edge rows are gone")
        return got["evidence"].to_numpy()

    return read


def wallet_activity(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """address, first_time, last_time: from the features table when there is one, else the edges."""
    if table_exists(con, FEATURES_TABLE):
        return con.sql(
            f"select address, first_seen first_time, last_active last_time from {FEATURES_TABLE}"
        ).df()
    return con.sql(
        f"""
        select address, min(first_time) first_time, max(last_time) last_time from (
            select src address, first_time, last_time from {EDGES_TABLE}
            union all select dst, first_time, last_time from {EDGES_TABLE}
        ) group by address
        """
    ).df()


def _wallets_without_edges(con: duckdb.DuckDBPyConnection, in_graph) -> int | str:  # noqa: ANN001
    """Wallets (non-contracts of the features table) that no edge touches: they stand alone."""
    if not table_exists(con, FEATURES_TABLE):
        return "unknown: no features table"
    linked = pd.DataFrame({"address": pd.Series(list(in_graph), dtype=object)})  # noqa: F841 - read by DuckDB
    return int(
        con.sql(
            f"select count(*) from {FEATURES_TABLE} where not is_contract "
            "and address not in (select address from linked)"
        ).fetchone()[0]
    )


def _previous(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame | None, set[str]]:
    previous = read_table(con, WALLET_CLUSTERS_TABLE, "address, cluster_id")
    return previous, issued_ids(read_table(con, HISTORY_TABLE, "distinct cluster_id"))


def write_entities(con: duckdb.DuckDBPyConnection, built: BuiltEntities) -> dict[str, int]:
    """Replace the entity tables and append the history rows, in one transaction."""
    con.execute(f"create schema if not exists {ENTITIES_SCHEMA}")
    # Typed up front: a first run's empty list columns would otherwise be created as INTEGER[].
    con.execute(history_table_sql(HISTORY_TABLE))
    return replace_tables(con, ENTITIES_SCHEMA, built.tables, append={"cluster_history": built.history})


def service_roles(con: duckdb.DuckDBPyConnection, services: Services, clusters: pd.DataFrame) -> pd.DataFrame:
    """address, service_role, service_cluster_id, service_name of every service address clustered.

    `hot_wallet`, `secondary_hot_wallet`, `deposit_address`: an exchange's own addresses (its
    service cluster) and the deposit addresses left with their customer, attributed to the cluster
    of the exchange they sweep to (industry attribution gives a deposit address to the exchange
    holding its keys; it stays with its customer as the evidence that the wallets paying it are one
    customer's). `hub`: any other EOA hub.
    """
    stored = table_exists(con, HUBS_TABLE)
    hubs = (
        con.sql(f"select address from {HUBS_TABLE} where reason <> 'contract'").df()["address"]
        if stored
        else pd.Series(dtype=object)
    )
    members = services.members
    svc_cluster = (
        members[["address", "service_id"]]
        .merge(clusters[["address", "cluster_id"]], on="address")
        .drop_duplicates("service_id")
        .set_index("service_id")["cluster_id"]
    )
    names = members.drop_duplicates("service_id").set_index("service_id")["service_name"]
    attributed = services.deposits[~services.deposits["address"].isin(members["address"])]
    out = pd.concat(
        [
            members[["address", "service_role", "service_id"]],
            attributed.assign(service_role="deposit_address"),
            pd.DataFrame({"address": pd.unique(hubs), "service_role": "hub", "service_id": None}),
        ],
        ignore_index=True,
    ).drop_duplicates("address")
    out["service_cluster_id"] = out["service_id"].map(svc_cluster)
    out["service_name"] = out["service_id"].map(names)
    return out.drop(columns="service_id")


def _with_services(
    edges: pd.DataFrame, services: Services, read: EvidenceReader, cfg: ServiceConfig
) -> tuple[pd.DataFrame, pd.DataFrame, EvidenceReader]:
    """(edges to cluster customers on, every edge with the services' own, their evidence reader).

    Customers are clustered without the service members' edges, so no exchange address joins a
    customer's cluster and a shared deposit address no longer links its customers as a node: its
    `shared_deposit` pairs do. The services' edges get negative `edge_row`s; their evidence is
    kept in memory.
    """
    extra = services.edges.reset_index(drop=True)
    extra.insert(0, "edge_row", -1 - np.arange(len(extra), dtype=np.int64))
    members = services.members["address"]
    customers = edges[~edges["src"].isin(members) & ~edges["dst"].isin(members)]
    if cfg.deposit_transfers_once:
        customers = without_double_deposits(customers)
    pairs = extra[extra["edge_type"] == "shared_deposit"].drop(columns="evidence")
    cluster_input = pd.concat([customers, pairs], ignore_index=True) if len(pairs) else customers
    everything = pd.concat([edges, extra.drop(columns="evidence")], ignore_index=True)
    own = extra.set_index("edge_row")["evidence"]

    def read_all(rows: pd.DataFrame) -> np.ndarray:
        row = rows["edge_row"].to_numpy()
        out = np.empty(len(rows), dtype=object)
        mine = row < 0
        for i in np.flatnonzero(mine):  # one by one: equal-length lists would make a 2-d array
            out[i] = own[row[i]]
        if (~mine).any():
            theirs = read(rows[~mine])
            for k, i in enumerate(np.flatnonzero(~mine)):
                out[i] = theirs[k]
        return out

    return cluster_input, everything, read_all


def _service_clusters(services: Services) -> pd.DataFrame:
    """One cluster per service: address, cluster_id (`c_` + smallest member), cluster_size."""
    m = services.members
    out = pd.DataFrame(
        {
            "address": m["address"],
            "cluster_id": "c_" + m.groupby("service_id")["address"].transform("min"),
            "cluster_size": m.groupby("service_id")["address"].transform("size").astype("int64"),
        }
    )
    return out[out["cluster_size"] >= 2]


def build_entities(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    as_of: datetime,
    method: str = "lpa",
    seed: int = 0,
    min_cluster_weight: float = 0.5,
    max_cluster_size: int = 5_000,
    max_cluster_share: float = 0.2,
    sub_cluster_min_size: int = 30,
    min_overlap: float = 0.5,
    schema: str = "raw",
    service_config: ServiceConfig | None = None,
    cluster: Callable[[pd.DataFrame, GraphConfig], ClusterResult] = cluster_edges,
) -> BuiltEntities:
    """Cluster `graph.wallet_edges` and build every entity table except the risk scores.

    `cluster` clusters the customer edges: `cluster_edges` here, or an engine's function of the
    same arguments and result (`logic.spark.clustering.spark_clusterer` on WALLET_ENGINE=spark).
    """
    cfg = GraphConfig(
        schema=schema,
        method=method,
        seed=seed,
        min_cluster_weight=min_cluster_weight,
        max_cluster_size=max_cluster_size,
        max_cluster_share=max_cluster_share,
    )
    edges = con.sql(EDGES_WITHOUT_EVIDENCE_SQL).df()
    svc_cfg = service_config or ServiceConfig()
    services = find_services(con, edges, svc_cfg, schema=schema)
    customer_edges, edges, read = _with_services(edges, services, evidence_reader(con), svc_cfg)
    result = cluster(customer_edges, cfg)
    service_clusters = _service_clusters(services)
    found = result.clusters[~result.clusters["address"].isin(service_clusters["address"])]
    found = pd.concat([found, service_clusters], ignore_index=True)
    previous, used_ids = _previous(con)
    activity = wallet_activity(con)
    stable = assign_stable_ids(
        found[["address", "cluster_id"]],
        previous,
        run_id=run_id,
        as_of=as_of,
        used_ids=used_ids,
        activity=activity,
        min_overlap=min_overlap,
    )
    clusters = stable.clusters[["address", "cluster_id"]]
    # A bridge needs a link strong enough to cluster on; any transfer between clusters is a link.
    scfg = StructureConfig.from_graph(
        cfg, sub_cluster_min_size=sub_cluster_min_size, bridge_min_weight=min_cluster_weight
    )
    subs = sub_clusters(edges, clusters, scfg)
    bridges = bridge_wallets(edges, clusters, scfg)
    links = cluster_links(
        con, edges, clusters, replace(scfg, bridge_min_weight=0.0), schema=schema, read_evidence=read
    )
    chains = evidence_chains(edges, clusters, scfg, read_evidence=read)
    wallet_clusters = clusters.merge(subs[["address", "sub_cluster_id"]], on="address", how="left")
    wallet_clusters = wallet_clusters.merge(
        bridges[["address", "bridge_reason"]].drop_duplicates("address"), on="address", how="left"
    )
    wallet_clusters.insert(3, "is_bridge", wallet_clusters["bridge_reason"].notna())
    wallet_clusters["cluster_size"] = wallet_clusters.groupby("cluster_id")["address"].transform("size")
    roles = service_roles(con, services, clusters)
    wallet_clusters = wallet_clusters.merge(roles, on="address", how="left")
    wallet_clusters["is_service"] = wallet_clusters["service_role"].notna()
    wallet_clusters = wallet_clusters.sort_values(["cluster_id", "address"]).reset_index(drop=True)
    sizes = wallet_clusters.groupby("cluster_id").size()
    addresses_in_graph = pd.unique(pd.concat([edges["src"], edges["dst"]])) if len(edges) else []
    metadata = {
        "method": method,
        "seed": seed,
        "iterations": int(result.iterations),
        "clusters": int(len(sizes)),
        "clustered_wallets": int(sizes.sum()) if len(sizes) else 0,
        "largest_cluster": int(sizes.max()) if len(sizes) else 0,
        "wallets_in_graph_not_clustered": int(len(addresses_in_graph) - (sizes.sum() if len(sizes) else 0)),
        "wallets_without_edges": _wallets_without_edges(con, addresses_in_graph),
        "sub_clusters": int(wallet_clusters["sub_cluster_id"].nunique()),
        "bridge_wallets": int(wallet_clusters["is_bridge"].sum()),
        "super_clusters": [
            {"size": s["size"], "split_into": s["split_into"], "hubs": s["hubs"][:5]}
            for s in result.super_clusters
        ],
        "cluster_links": int(len(links)),
        "services": services.stats,
        "history_events": stable.history["event"].value_counts().to_dict() if len(stable.history) else {},
    }
    return BuiltEntities(
        tables={
            "wallet_clusters": wallet_clusters,
            "cluster_edges": CLUSTER_EDGES_SQL,
            "cluster_evidence": chains,
            "cluster_links": links,
            "bridge_wallets": bridges,
        },
        history=stable.history,
        metadata=metadata,
        super_clusters=result.super_clusters,
    )


PERSONAS_TABLE = "personas.wallet_personas"


@dataclass
class ScoredEntities:
    """The risk tables of one run and what to show about them."""

    tables: dict[str, pd.DataFrame]
    cluster_levels: dict[str, int]
    wallet_levels: dict[str, int]
    riskiest_markdown: str
    stats: dict
    reputation_metadata: dict


def dominant_personas(
    con: duckdb.DuckDBPyConnection, wallet_clusters: pd.DataFrame, top: int = 3
) -> pd.Series:
    """Per cluster id, its most common personas as text ("Whale 3, NFT Trader 1"); empty without personas.

    Personas come from `personas.wallet_personas` as it stands when the risk step runs (the
    champion model's scoring); the entity steps do not wait for a persona run.
    """
    if not table_exists(con, PERSONAS_TABLE) or not len(wallet_clusters):
        return pd.Series(dtype=object)
    con.register("_wc", wallet_clusters[["address", "cluster_id"]])
    try:
        mix = con.sql(
            f"""
            select cluster_id, string_agg(persona || ' ' || n, ', ' order by n desc, persona) personas
            from (
                select cluster_id, persona, n,
                       row_number() over (partition by cluster_id order by n desc, persona) r
                from (select c.cluster_id, p.persona, count(*) n from _wc c
                      join {PERSONAS_TABLE} p using (address) group by all)
            ) where r <= {int(top)} group by cluster_id
            """
        ).df()
    finally:
        con.unregister("_wc")
    return mix.set_index("cluster_id")["personas"]


def _cluster_activity(wallet_clusters: pd.DataFrame, activity: pd.DataFrame) -> pd.DataFrame:
    a = wallet_clusters[["address", "cluster_id"]].merge(activity, on="address", how="left")
    return a.groupby("cluster_id").agg(first_seen=("first_time", "min"), last_active=("last_time", "max"))


def _levels(frame: pd.DataFrame) -> dict[str, int]:
    from wallet_pipeline.logic.graph.risk_evaluation import LEVELS

    counts = frame["risk_level"].value_counts()
    return {level: int(counts.get(level, 0)) for level in LEVELS}


def score_entities(con: duckdb.DuckDBPyConnection, *, run_id: str, schema: str = "raw") -> ScoredEntities:
    """Reputation, cluster risk and wallet risk over the stored graph and clusters."""
    from wallet_pipeline.logic.graph.reputation import wallet_reputation
    from wallet_pipeline.logic.graph.risk import (
        evidence_for,
        pattern_wallets,
        phishing_rows,
        rugged_tokens,
        score_clusters,
        score_wallets,
    )

    # Risk reads the rules, weights, directions and counts of the edges, never their hashes.
    edges = con.sql(f"select * exclude (evidence) from {EDGES_TABLE}").df()
    wallet_clusters = con.sql(f"select * from {WALLET_CLUSTERS_TABLE}").df()
    features = FEATURES_TABLE if table_exists(con, FEATURES_TABLE) else None
    rugs = rugged_tokens(con, schema=schema)
    # One phishing query for the pattern and the spread's collectors.
    phishing = phishing_rows(con, schema=schema)
    patterns = pattern_wallets(con, edges, schema=schema, rugs=rugs, phishing=phishing)
    reputation = wallet_reputation(
        con, schema=schema, features_table=features, bad_addresses=patterns["address"]
    )
    missing_factors = dict(reputation.attrs.get("missing_factors", {}))
    members = wallet_clusters[["address", "cluster_id"]]
    # The perpetrator spread walks the graph: computed once, for clusters and wallets alike.
    evidence = evidence_for(con, edges, schema=schema, patterns=patterns, rugs=rugs, phishing=phishing)
    given = {"schema": schema, "patterns": patterns, "rugs": rugs, "evidence": evidence}
    clusters = score_clusters(con, edges, members, reputation, **given)
    wallets = score_wallets(con, edges, members, reputation, clusters, **given)
    activity = wallet_activity(con)
    clusters = clusters.join(_cluster_activity(wallet_clusters, activity), on="cluster_id")
    clusters["dominant_personas"] = clusters["cluster_id"].map(dominant_personas(con, wallet_clusters))
    sub = wallet_clusters.groupby("cluster_id").agg(
        sub_clusters=("sub_cluster_id", "nunique"), bridge_wallets=("is_bridge", "sum")
    )
    clusters = clusters.join(sub, on="cluster_id").sort_values(["risk_score", "size"], ascending=False)
    clusters = clusters.reset_index(drop=True)
    high = clusters["risk_level"].isin(["High", "Critical"])
    stats = {
        "run_id": run_id,
        "total_clusters": int(len(clusters)),
        "high_risk_clusters": int(high.sum()),
        "critical_clusters": int((clusters["risk_level"] == "Critical").sum()),
        "wallets_clustered": int(clusters["size"].sum()),
        "wallets_scored": int(len(wallets)),
        "high_risk_wallets": int(wallets["risk_level"].isin(["High", "Critical"]).sum()),
        "average_cluster_size": round(float(clusters["size"].mean()), 2) if len(clusters) else 0.0,
        "largest_cluster_size": int(clusters["size"].max()) if len(clusters) else 0,
        "bridge_wallets": int(wallet_clusters["is_bridge"].sum()),
        "edges": int(len(edges)),
    }
    top = clusters.head(10)[["cluster_id", "size", "risk_score", "risk_level", "scam_rate", "known_scammers"]]
    return ScoredEntities(
        tables={
            "wallet_reputation": reputation,
            "clusters": clusters,
            "wallet_risk": wallets,
            "graph_stats": pd.DataFrame([stats]),
        },
        cluster_levels=_levels(clusters),
        wallet_levels=_levels(wallets),
        riskiest_markdown=top.to_markdown(index=False) if len(top) else "no clusters",
        stats=stats,
        reputation_metadata={"factors_not_computed": missing_factors or {"none": "every factor computed"}},
    )


# The score is the sum of the factors' points (each rounded to 0.01) rounded to 0.1, so the two
# differ by at most 0.05; the rest only absorbs float error in adding the points up.
BREAKDOWN_TOLERANCE = 0.05 + 1e-6


def breakdown_mismatches(con: duckdb.DuckDBPyConnection, tolerance: float = BREAKDOWN_TOLERANCE) -> list[str]:
    """Cluster ids whose breakdown points do not add up to the score, or whose score is out of 0-100.

    A breakdown that is not an object of factors each with numeric `points` is a mismatch too.
    """
    import json

    rows = con.execute(
        f"select cluster_id, risk_score, risk_breakdown from {ENTITIES_SCHEMA}.clusters"
    ).fetchall()
    bad = []
    for cluster_id, score, breakdown in rows:
        try:
            factors = json.loads(breakdown)
            points = sum(float(factor["points"]) for factor in factors.values())
        except (AttributeError, KeyError, TypeError, ValueError):
            bad.append(cluster_id)
            continue
        if score is None or not 0 <= score <= 100 or abs(points - score) > tolerance:
            bad.append(cluster_id)
    return bad


@dataclass
class EntityEvaluation:
    """The evaluation table and the figures for the asset's metadata."""

    table: pd.DataFrame
    metadata: dict


def evaluate_entities(con: duckdb.DuckDBPyConnection, truth_schema: str = "ground_truth") -> EntityEvaluation:
    """B-cubed of the clusters and the risk levels against the simulator's planted entities."""
    from wallet_pipeline.logic.graph.evaluation import evaluate_clusters
    from wallet_pipeline.logic.graph.risk_evaluation import evaluate_risk

    wallet_clusters = con.sql(f"select * from {WALLET_CLUSTERS_TABLE}").df()
    clusters = con.sql(f"select * from {ENTITIES_SCHEMA}.clusters").df()
    wallets = con.sql(f"select * from {ENTITIES_SCHEMA}.wallet_risk").df()
    bc = evaluate_clusters(con, wallet_clusters, schema=truth_schema)
    risk = evaluate_risk(con, wallet_clusters, clusters, wallets, schema=truth_schema)
    rows = [
        {"section": "bcubed", "name": scope, **{k: bc[scope][k] for k in ("n", "precision", "recall", "f1")}}
        for scope in ("overall", "entity_members")
    ]
    rows += [
        {
            "section": "bcubed_by_entity_type",
            "name": kind,
            **{k: v[k] for k in ("n", "precision", "recall", "f1")},
        }
        for kind, v in bc["per_entity_type"].items()
    ]
    rows += [
        {
            "section": "malicious_entity",
            "name": entity,
            "n": v["wallets"],
            "precision": None,
            "recall": v["share_high_or_above"],
            "f1": None,
            "detail": f"{v['entity_type']}: main cluster {v['main_cluster']} ({v['main_cluster_wallets']} "
            f"wallets) {v['main_cluster_level']} {v['main_cluster_score']}",
        }
        for entity, v in risk["per_entity"].items()
    ]
    table = pd.DataFrame(rows)
    metadata = {
        "bcubed_f1": round(bc["overall"]["f1"], 4),
        "bcubed_precision": round(bc["overall"]["precision"], 4),
        "bcubed_recall": round(bc["overall"]["recall"], 4),
        "bcubed_f1_entity_members": round(bc["entity_members"]["f1"], 4),
        "malicious_entities_found": f"{risk['found']} of {risk['malicious_entities']}",
        "malicious_recall_high_or_above": round(risk["recall"], 4),
        "benign_entities_high_or_above": risk["benign_entities_high"]["total"],
        "benign_entity_wallets_high_or_above": risk["benign_entity_wallets_high"],
        "benign_wallets_high_or_above_by_kind": risk["benign_wallets_high_by_kind"],
        "benign_wallets_glued": bc["benign_glued"],
    }
    return EntityEvaluation(table=table, metadata=metadata)
