"""Answers for an investigator: who is this wallet, who else is it, how risky is it, and why.

`wallet_report` and `cluster_report` read the entity tables (and personas when they exist) and
return plain dicts; `format_wallet_report` and `format_cluster_report` turn them into text for the
command line. The API reuses the dicts.
"""

from __future__ import annotations

import json
import re

import duckdb
import pandas as pd

from wallet_pipeline.logic.graph.store import ENTITIES_SCHEMA, table_exists

ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")
PERSONAS_TABLE = "personas.wallet_personas"


class NotFound(LookupError):
    """The wallet or cluster is not in the tables; the message says what to try."""


def normalise_address(text: str) -> str:
    """Lower-case 0x address; a ValueError names the text and the expected form."""
    address = text.strip().lower()
    if not ADDRESS.match(address):
        raise ValueError(f"{text!r} is not an address: expected 0x followed by 40 hex characters")
    return address


def _require(con: duckdb.DuckDBPyConnection, table: str) -> None:
    if not table_exists(con, table):
        raise NotFound(f"{table} does not exist yet: run the pipeline first (python3 dev.py pipeline)")


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> dict | None:
    frame = con.execute(sql, params).df()
    return None if frame.empty else frame.iloc[0].to_dict()


def _breakdown(text: str | None) -> dict:
    return json.loads(text) if isinstance(text, str) and text else {}


def wallet_report(con: duckdb.DuckDBPyConnection, address: str) -> dict:
    """Risk, cluster, persona and evidence chain of one address."""
    address = normalise_address(address)
    _require(con, f"{ENTITIES_SCHEMA}.wallet_risk")
    risk = _one(con, f"select * from {ENTITIES_SCHEMA}.wallet_risk where address = ?", [address])
    if risk is None:
        raise NotFound(f"{address} is not in {ENTITIES_SCHEMA}.wallet_risk: it appears in no raw table")
    membership = _one(con, f"select * from {ENTITIES_SCHEMA}.wallet_clusters where address = ?", [address])
    persona = None
    if table_exists(con, PERSONAS_TABLE):
        persona = _one(
            con,
            f"select persona, confidence, model_version from {PERSONAS_TABLE} where address = ?",
            [address],
        )
    chain = pd.DataFrame()
    cluster = None
    if membership is not None:
        chain = con.execute(
            f"select * from {ENTITIES_SCHEMA}.cluster_evidence where address = ? order by hop", [address]
        ).df()
        cluster = _one(
            con,
            "select cluster_id, size, risk_score, risk_level, dominant_personas "
            f"from {ENTITIES_SCHEMA}.clusters where cluster_id = ?",
            [membership["cluster_id"]],
        )
    return {
        "address": address,
        "risk_score": float(risk["risk_score"]),
        "risk_level": risk["risk_level"],
        "reputation": None if pd.isna(risk["reputation"]) else float(risk["reputation"]),
        "patterns": risk.get("patterns") if isinstance(risk.get("patterns"), str) else None,
        "breakdown": _breakdown(risk["risk_breakdown"]),
        "persona": persona,
        "membership": membership,
        "cluster": cluster,
        "evidence_chain": chain,
    }


def cluster_report(con: duckdb.DuckDBPyConnection, cluster_or_address: str, members: int = 10) -> dict:
    """One cluster's risk, breakdown, riskiest members, links and history; an address finds its cluster."""
    _require(con, f"{ENTITIES_SCHEMA}.clusters")
    key = cluster_or_address.strip()
    if not key.startswith("c_"):
        address = normalise_address(key)
        row = _one(
            con, f"select cluster_id from {ENTITIES_SCHEMA}.wallet_clusters where address = ?", [address]
        )
        if row is None:
            raise NotFound(f"{address} is in no cluster: no link strong enough joins it to another wallet")
        key = row["cluster_id"]
    cluster = _one(con, f"select * from {ENTITIES_SCHEMA}.clusters where cluster_id = ?", [key])
    if cluster is None:
        raise NotFound(
            f"no cluster {key!r}; list them with: select cluster_id, size, risk_level from "
            f"{ENTITIES_SCHEMA}.clusters order by risk_score desc"
        )
    top = con.execute(
        f"""
        select c.address, c.sub_cluster_id, c.is_bridge, r.risk_score, r.risk_level, r.patterns
        from {ENTITIES_SCHEMA}.wallet_clusters c
        left join {ENTITIES_SCHEMA}.wallet_risk r using (address)
        where c.cluster_id = ? order by r.risk_score desc nulls last, c.address limit ?
        """,
        [key, members],
    ).df()
    rules = con.execute(
        f"select edge_type, count(*) n from {ENTITIES_SCHEMA}.cluster_edges where cluster_id = ? "
        "group by 1 order by 2 desc, 1",
        [key],
    ).df()
    links = con.execute(
        f"""
        select case when cluster_a = ? then cluster_b else cluster_a end other, link_type, n
        from {ENTITIES_SCHEMA}.cluster_links where ? in (cluster_a, cluster_b)
        order by n desc, other limit 10
        """,
        [key, key],
    ).df()
    history = pd.DataFrame()
    if table_exists(con, f"{ENTITIES_SCHEMA}.cluster_history"):
        history = con.execute(
            "select as_of, event, size, wallets_added, wallets_departed "
            f"from {ENTITIES_SCHEMA}.cluster_history where cluster_id = ? order by as_of desc limit 5",
            [key],
        ).df()
    cluster["risk_breakdown"] = _breakdown(cluster.get("risk_breakdown"))
    return {"cluster": cluster, "members": top, "edge_rules": rules, "links": links, "history": history}


def _breakdown_lines(breakdown: dict) -> list[str]:
    lines = []
    for factor, part in breakdown.items():
        evidence = ", ".join(f"{k}={v}" for k, v in part.get("evidence", {}).items() if v not in ("", None))
        lines.append(
            f"  {factor:<15} value {part['value']:.2f} x weight {part['weight']:.2f} "
            f"-> {part['points']:5.1f} points" + (f"   ({evidence})" if evidence else "")
        )
    return lines


def format_wallet_report(report: dict) -> str:
    """Text for the command line."""
    lines = [f"Wallet {report['address']}", ""]
    lines.append(f"Risk: {report['risk_score']:.1f} / 100 ({report['risk_level']})")
    lines += _breakdown_lines(report["breakdown"])
    if report["patterns"]:
        lines.append(f"  malicious patterns seen: {report['patterns']}")
    if report["reputation"] is not None:
        lines.append(f"Reputation: {report['reputation']:.1f} / 100")
    if report["persona"]:
        p = report["persona"]
        lines.append(
            f"Persona: {p['persona']} (confidence {p['confidence']:.2f}, model version {p['model_version']})"
        )
    cluster = report["cluster"]
    if cluster is None:
        lines += ["", "Cluster: none (no link strong enough joins it to another wallet)"]
        return "\n".join(lines)
    lines += [
        "",
        f"Cluster {cluster['cluster_id']}: {cluster['size']} wallets, risk {cluster['risk_score']:.1f} "
        f"({cluster['risk_level']})"
        + (f", personas: {cluster['dominant_personas']}" if cluster.get("dominant_personas") else ""),
        f"More: wallet-pipeline cluster {cluster['cluster_id']}",
        "",
        "Why it is in the cluster (from the cluster's anchor wallet):",
    ]
    for row in report["evidence_chain"].itertuples():
        if row.hop == 0:
            lines.append("  it is the anchor of the cluster (the wallet with the strongest links)")
            continue
        hashes = " ".join(list(row.evidence)[:3])
        lines.append(
            f"  hop {row.hop}: {row.src} -> {row.dst} [{row.edge_type}] {row.first_time} tx {hashes}"
        )
    return "\n".join(lines)


def format_cluster_report(report: dict) -> str:
    """Text for the command line."""
    c = report["cluster"]
    lines = [
        f"Cluster {c['cluster_id']}: {c['size']} wallets, "
        f"risk {c['risk_score']:.1f} / 100 ({c['risk_level']})",
        f"Active {c.get('first_seen')} to {c.get('last_active')}; tokens created {c.get('tokens_created')}, "
        f"scam tokens {c.get('scam_tokens')}",
    ]
    if c.get("dominant_personas"):
        lines.append(f"Personas: {c['dominant_personas']}")
    lines += ["", "Risk breakdown:", *_breakdown_lines(c["risk_breakdown"]), "", "Links inside, by rule:"]
    lines += [f"  {r.edge_type:<20} {r.n:>6}" for r in report["edge_rules"].itertuples()]
    lines += ["", "Riskiest members:"]
    lines += [
        f"  {r.address} {r.risk_score:5.1f} {r.risk_level:<8}"
        + (" bridge" if r.is_bridge else "")
        + (f" {r.patterns}" if isinstance(r.patterns, str) else "")
        for r in report["members"].itertuples()
    ]
    if len(report["links"]):
        lines += ["", "Linked clusters:"]
        lines += [f"  {r.other} {r.link_type} x{r.n}" for r in report["links"].itertuples()]
    if len(report["history"]):
        lines += ["", "History (latest first):"]
        lines += [
            f"  {r.as_of} {r.event} size {r.size} (+{r.wallets_added} / -{r.wallets_departed})"
            for r in report["history"].itertuples()
        ]
    return "\n".join(lines)
