"""Risk scores 0-100 for clusters and wallets, with a breakdown of every factor.

Weights (the Chain Sentinel design): 40% scam rate, 30% reputation (lower is riskier), 15% network
density, 15% presence of known scammers. `points = weight * 100 * value` per factor, and the score
is the sum of the points. Levels: Critical 90-100, High 75-89.9, Medium 60-74.9, Low 40-59.9,
Minimal 0-39.9. Ground truth is never read here.

Factors of a cluster (values in [0, 1]):

- **scam_rate** = max(token share, wallet share): the stronger of two lines of evidence.
  *Token share*: of the tokens the cluster's wallets created (`contract_creations`), the share that
  are labelled `scam` or show a rug pull (`rugged_tokens`). *Wallet share*: the share of members
  labelled scam / phishing / sanctioned or taking part in a malicious pattern (`pattern_wallets`).
- **reputation**: the median of the members' `wallet_reputation`; value = 1 - median / 100.
- **density**: cohesion, the share of the members' link weight (every edge type after the hub
  guard, summed per wallet pair) that stays inside the cluster. A closed group
  that only deals with itself scores 1. (Plain graph density, pairs / possible pairs, falls with
  size and is kept in the breakdown as evidence only.)
- **known_scammers**: `min(1, count / known_full)`, count = members labelled scam, phishing or
  sanctioned.

Rug pull (`rugged_tokens`): a token created in `contract_creations`, bought on a DEX by at least
`rug_min_buyers` distinct wallets other than its creator, then within `rug_window_days` of its
first trade either (a) *pull*: the creator removes liquidity holding the token (a `remove` row of
dbt's `decoded.liquidity_events` with the creator as provider; without that table, a transaction
the creator signs, not a DEX trade, in which the token leaves one of its pools for the creator),
after at least `rug_min_buyers` buyers; or (b) *dump*: the creator sells the token on a DEX for
at least `rug_dump_ratio` of the USD the other buyers paid before.

Malicious patterns (`pattern_wallets`), from the edge rules and raw data:
`poisoning` edge (both ends); `peel_chain` (a wallet both receiving and sending `peel_forward`
edges, linked by one to another such wallet: a chain of at least two hops); `sybil` (a wallet both
`common_funder` target and `sweep` source, and the funder and collector of at least
`sybil_min_members` of them); `nft_wash` (an `nft_repeat_trade` edge whose wallet sold the same NFT
at least twice); `token_ring` (a directed cycle of 3 to `ring_max_len` wallets passing one token,
each hop repeated `ring_min_repeats` times at amounts within `ring_amount_tol` of the cycle's
median); `scam_label` edge (both ends); `rug_creator` (created a rugged token) and `rug_co_creation`
(a `co_creation` edge with a rug creator); `label` (labelled scam, phishing or sanctioned).

Wallets (`score_wallets`): every address with a reputation. A wallet in a cluster takes the
cluster's scam rate (raised to 1 when the wallet itself shows a pattern), density and known
scammers, and its own reputation: a cluster is believed to be one actor. A singleton uses its own
factors: scam rate 1 when it shows a pattern or label (else its rugged-token share), density 0,
known scammers 1 when it is itself labelled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import networkx as nx
import numpy as np
import pandas as pd

from wallet_pipeline.logic.graph.hubs import table_columns, trade_schema
from wallet_pipeline.logic.graph.reputation import CRUSH_LABELS

FACTORS = ("scam_rate", "reputation", "density", "known_scammers")


@dataclass(frozen=True)
class RiskConfig:
    """Weights, level bounds and the thresholds of the pattern rules."""

    w_scam_rate: float = 0.40
    w_reputation: float = 0.30
    w_density: float = 0.15
    w_known_scammers: float = 0.15
    # Lower bounds of the levels (score >= bound).
    critical: float = 90.0
    high: float = 75.0
    medium: float = 60.0
    low: float = 40.0
    known_full: int = 1  # this many labelled scammers give the full 15 points
    # Rug pulls.
    rug_min_buyers: int = 10
    rug_window_days: float = 30.0
    rug_dump_ratio: float = 0.5
    # Sybil farms: funder / collector of at least this many funded-and-swept wallets.
    sybil_min_members: int = 3
    # Token rings.
    ring_min_repeats: int = 3
    ring_amount_tol: float = 0.02
    ring_max_len: int = 8

    def weights(self) -> dict[str, float]:
        return {
            "scam_rate": self.w_scam_rate,
            "reputation": self.w_reputation,
            "density": self.w_density,
            "known_scammers": self.w_known_scammers,
        }


def risk_level(score: float) -> str:
    """Critical >= 90, High >= 75, Medium >= 60, Low >= 40, else Minimal (default bounds)."""
    return _level(score, RiskConfig())


def _level(score: float, cfg: RiskConfig) -> str:
    if score >= cfg.critical:
        return "Critical"
    if score >= cfg.high:
        return "High"
    if score >= cfg.medium:
        return "Medium"
    if score >= cfg.low:
        return "Low"
    return "Minimal"


def _has(con: duckdb.DuckDBPyConnection, schema: str, table: str, cols: set[str]) -> bool:
    return cols <= table_columns(con, schema, table)


def rugged_tokens(
    con: duckdb.DuckDBPyConnection, cfg: RiskConfig | None = None, schema: str = "raw"
) -> pd.DataFrame:
    """Tokens whose creator pulled the liquidity or dumped on buyers; see the module docstring.

    Returns `token, creator, rug_kind ('pull' or 'dump'), buyers, rug_time`; empty when
    `contract_creations` or `dex_trades` is missing. Trades and liquidity events are dbt's
    `decoded` tables when they exist (see `hubs.trade_schema`).
    """
    cfg = cfg or RiskConfig()
    cols = ["token", "creator", "rug_kind", "buyers", "rug_time"]
    need_dx = {
        "token_bought_address",
        "token_sold_address",
        "block_time",
        "taker",
        "project_contract_address",
    }
    dxs = trade_schema(con, schema, "dex_trades")
    if not (
        _has(con, schema, "contract_creations", {"address", "creator_address"})
        and _has(con, dxs, "dex_trades", need_dx)
    ):
        return pd.DataFrame(columns=cols)
    dx = table_columns(con, dxs, "dex_trades")
    trader = "coalesce(lower(tx_from), lower(taker))" if "tx_from" in dx else "lower(taker)"
    usd = "coalesce(amount_usd, 0)" if "amount_usd" in dx else "0"
    pull_sql = "select null::varchar token, null::timestamp t where false"
    lq = trade_schema(con, schema, "liquidity_events")
    if _has(con, lq, "liquidity_events", {"event_type", "provider", "token_a_address", "token_b_address"}):
        pull_sql = f"""
            select c.token, l.block_time::timestamp t
            from c join {lq}.liquidity_events l
              on l.event_type = 'remove' and lower(l.provider) = c.creator
             and c.token in (lower(l.token_a_address), lower(l.token_b_address))
        """
    elif _has(
        con, schema, "token_transfers", {"token_address", "from_address", "to_address", "transaction_hash"}
    ) and _has(con, schema, "transactions", {"hash", "from_address"}):
        pull_sql = f"""
            select c.token, tr.block_timestamp::timestamp t
            from c join {schema}.token_transfers tr
              on lower(tr.token_address) = c.token and lower(tr.to_address) = c.creator
            join pools p on p.token = c.token and p.pool = lower(tr.from_address)
            join {schema}.transactions x on x.hash = tr.transaction_hash and lower(x.from_address) = c.creator
            where tr.transaction_hash not in
                  (select tx_hash from {dxs}.dex_trades where tx_hash is not null)
        """
    win = f"interval {int(cfg.rug_window_days * 86400)} second"
    return con.sql(
        f"""
        with c as (
            select lower(address) token, any_value(lower(creator_address)) creator
            from {schema}.contract_creations group by 1
        ),
        pools as (
            select distinct lower(token_bought_address) token, lower(project_contract_address) pool
            from {dxs}.dex_trades
            union
            select distinct lower(token_sold_address), lower(project_contract_address)
            from {dxs}.dex_trades
        ),
        trades as (
            select lower(token_bought_address) bought, lower(token_sold_address) sold, {trader} who,
                   block_time::timestamp t, {usd} usd
            from {dxs}.dex_trades
        ),
        first_trade as (
            select c.token, min(t) t0 from c join trades on trades.bought = c.token or trades.sold = c.token
            group by 1
        ),
        buys as (
            select c.token, trades.* from c join trades on trades.bought = c.token and trades.who <> c.creator
        ),
        pulls as ({pull_sql}),
        dumps as (select c.token, trades.t, trades.usd from c join trades on trades.sold = c.token
                  and trades.who = c.creator),
        events as (
            select token, 'pull' kind, t, null::double usd from pulls
            union all select token, 'dump' kind, t, usd from dumps
        ),
        scored as (
            select e.token, e.kind, e.t, e.usd,
                   (select count(distinct b.who) from buys b where b.token = e.token and b.t < e.t) buyers,
                   (select sum(b.usd) from buys b where b.token = e.token and b.t < e.t) paid
            from events e
        )
        select s.token, c.creator, arg_min(s.kind, s.t) rug_kind, max(s.buyers) buyers, min(s.t) rug_time
        from scored s join c using (token) join first_trade f using (token)
        where s.buyers >= {int(cfg.rug_min_buyers)} and s.t <= f.t0 + {win}
          and (s.kind = 'pull' or s.usd >= {cfg.rug_dump_ratio} * s.paid)
        group by 1, 2 order by 1
        """
    ).df()[cols]


def token_ring_wallets(
    con: duckdb.DuckDBPyConnection, cfg: RiskConfig | None = None, schema: str = "raw"
) -> pd.DataFrame:
    """Wallets on a directed cycle passing one token around at near-equal amounts (`address, token`)."""
    cfg = cfg or RiskConfig()
    if not _has(con, schema, "token_transfers", {"token_address", "from_address", "to_address", "value"}):
        return pd.DataFrame(columns=["address", "token"])
    hops = con.sql(
        f"""
        select lower(token_address) token, lower(from_address) src, lower(to_address) dst,
               count(*) n, median(try_cast(value as double)) amount,
               coalesce(stddev_samp(try_cast(value as double)), 0)
                   / nullif(avg(try_cast(value as double)), 0) cv
        from {schema}.token_transfers
        where from_address <> to_address and try_cast(value as double) > 0
        group by 1, 2, 3 having count(*) >= {int(cfg.ring_min_repeats)}
        """
    ).df()
    hops = hops[hops["cv"].fillna(1.0) <= cfg.ring_amount_tol]
    rows: list[tuple[str, str]] = []
    for token, g in hops.groupby("token"):
        graph = nx.DiGraph()
        for s, d, a in zip(g["src"], g["dst"], g["amount"], strict=True):
            graph.add_edge(s, d, amount=a)
        for cycle in nx.simple_cycles(graph, length_bound=cfg.ring_max_len):
            if len(cycle) < 3:
                continue
            amounts = [graph[cycle[i]][cycle[(i + 1) % len(cycle)]]["amount"] for i in range(len(cycle))]
            med = float(np.median(amounts))
            if med > 0 and all(abs(a - med) <= cfg.ring_amount_tol * med for a in amounts):
                rows += [(w, token) for w in cycle]
    return pd.DataFrame(rows, columns=["address", "token"]).drop_duplicates().reset_index(drop=True)


def _nft_round_trippers(con: duckdb.DuckDBPyConnection, schema: str) -> set[str]:
    """Wallets that sold the same NFT (collection, token id) at least twice."""
    nfs = trade_schema(con, schema, "nft_trades")
    if not _has(con, nfs, "nft_trades", {"seller", "nft_contract_address", "token_id"}):
        return set()
    rows = con.execute(
        f"select distinct lower(seller) from {nfs}.nft_trades "
        "group by lower(seller), nft_contract_address, token_id having count(*) >= 2"
    ).fetchall()
    return {r[0] for r in rows}


def crush_labelled(con: duckdb.DuckDBPyConnection, schema: str = "raw") -> set[str]:
    """Addresses labelled scam, phishing or sanctioned."""
    if not _has(con, schema, "address_labels", {"address", "label_type"}):
        return set()
    types = ", ".join(f"'{t}'" for t in CRUSH_LABELS)
    rows = con.execute(
        f"select distinct lower(address) from {schema}.address_labels where label_type in ({types})"
    ).fetchall()
    return {r[0] for r in rows}


def pattern_wallets(
    con: duckdb.DuckDBPyConnection,
    edges: pd.DataFrame,
    cfg: RiskConfig | None = None,
    schema: str = "raw",
    rugs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Wallets showing a malicious pattern or label: `address, patterns` (sorted, comma-separated)."""
    cfg = cfg or RiskConfig()
    rugs = rugged_tokens(con, cfg, schema) if rugs is None else rugs
    found: dict[str, set[str]] = {}

    def add(addresses, name: str) -> None:
        for a in addresses:
            found.setdefault(a, set()).add(name)

    def of(kind: str) -> pd.DataFrame:
        return edges[edges["edge_type"] == kind] if len(edges) else edges

    pois = of("poisoning")
    add(set(pois["src"]) | set(pois["dst"]), "poisoning")
    peel = of("peel_forward")
    hops = set(peel["src"]) & set(peel["dst"])
    linked = peel[peel["src"].isin(hops) & peel["dst"].isin(hops)]
    add(set(linked["src"]) | set(linked["dst"]), "peel_chain")
    fund, sweep = of("common_funder"), of("sweep")
    members = set(fund["dst"]) & set(sweep["src"])
    add(members, "sybil")
    funders = fund[fund["dst"].isin(members)].groupby("src").size()
    collectors = sweep[sweep["src"].isin(members)].groupby("dst").size()
    add(funders[funders >= cfg.sybil_min_members].index, "sybil")
    add(collectors[collectors >= cfg.sybil_min_members].index, "sybil")
    nft = of("nft_repeat_trade")
    trippers = _nft_round_trippers(con, schema)
    add((set(nft["src"]) | set(nft["dst"])) & trippers, "nft_wash")
    add(token_ring_wallets(con, cfg, schema)["address"], "token_ring")
    lab = of("scam_label")
    add(set(lab["src"]) | set(lab["dst"]), "scam_label")
    creators = set(rugs["creator"]) if len(rugs) else set()
    add(creators, "rug_creator")
    co = of("co_creation")
    co = co[co["src"].isin(creators) | co["dst"].isin(creators)]
    add(set(co["src"]) | set(co["dst"]), "rug_co_creation")
    add(crush_labelled(con, schema), "label")
    return pd.DataFrame(
        {"address": list(found), "patterns": [",".join(sorted(v)) for v in found.values()]},
        columns=["address", "patterns"],
    )


def _created_tokens(con: duckdb.DuckDBPyConnection, schema: str) -> pd.DataFrame:
    """`token, creator, scam_label` for every token contract created (listed in `tokens` when present)."""
    if not _has(con, schema, "contract_creations", {"address", "creator_address"}):
        return pd.DataFrame(columns=["token", "creator", "scam_label"])
    cc = table_columns(con, schema, "contract_creations")
    is_token = []
    if _has(con, schema, "tokens", {"address"}):
        is_token.append(f"lower(address) in (select lower(address) from {schema}.tokens)")
    if "is_erc20" in cc:
        is_token.append("coalesce(is_erc20, false)")
    where = " or ".join(is_token) if is_token else "true"
    scam = (
        f"lower(address) in (select lower(address) from {schema}.address_labels where label_type = 'scam')"
        if _has(con, schema, "address_labels", {"address", "label_type"})
        else "false"
    )
    return con.sql(
        f"select distinct lower(address) token, lower(creator_address) creator, {scam} scam_label "
        f"from {schema}.contract_creations where {where}"
    ).df()


def _cohesion(edges: pd.DataFrame, clusters: pd.DataFrame) -> pd.DataFrame:
    """Per cluster: link weight inside, link weight touching it, cohesion = inside / touching.

    Weights are summed over every edge of a wallet pair (all rules, both directions), so one weak
    single transfer to an outsider barely counts and a strong outside link counts fully.
    """
    cid = clusters.set_index("address")["cluster_id"]
    cols = ["cluster_id", "weight_inside", "weight_touching", "pairs_inside", "cohesion"]
    if not len(edges):
        return pd.DataFrame(columns=cols)
    a = np.minimum(edges["src"].to_numpy(dtype=object), edges["dst"].to_numpy(dtype=object))
    b = np.maximum(edges["src"].to_numpy(dtype=object), edges["dst"].to_numpy(dtype=object))
    p = pd.DataFrame({"a": a, "b": b, "w": edges["weight"].to_numpy(dtype=float)})
    p = p.groupby(["a", "b"], as_index=False)["w"].sum()
    p["ca"], p["cb"] = p["a"].map(cid), p["b"].map(cid)
    same = p["ca"].notna() & (p["ca"] == p["cb"])
    inside = p[same].groupby("ca")["w"].agg(["sum", "size"])
    touch = pd.concat(
        [p[["w", "ca"]].rename(columns={"ca": "c"}), p.loc[~same, ["w", "cb"]].rename(columns={"cb": "c"})]
    )
    touch = touch[touch["c"].notna()].groupby("c")["w"].sum()
    out = pd.DataFrame(
        {"weight_inside": inside["sum"], "pairs_inside": inside["size"], "weight_touching": touch}
    )
    out = out.fillna(0.0)
    out["cohesion"] = np.where(out["weight_touching"] > 0, out["weight_inside"] / out["weight_touching"], 0.0)
    return out.rename_axis("cluster_id").reset_index()[cols]


def _score_frame(values: pd.DataFrame, cfg: RiskConfig) -> pd.DataFrame:
    """Points per factor (rounded to 2 decimals), score (their sum, rounded to 1) and level, per row.

    `values` has one column per factor, each in [0, 1] (clipped here).
    """
    w = cfg.weights()
    out = pd.DataFrame(index=values.index)
    for f in FACTORS:
        out[f"points_{f}"] = (100 * w[f] * values[f].astype(float).clip(0, 1)).round(2)
    out["risk_score"] = out[[f"points_{f}" for f in FACTORS]].sum(axis=1).round(1)
    bounds = [cfg.critical, cfg.high, cfg.medium, cfg.low]
    names = ["Critical", "High", "Medium", "Low"]
    out["risk_level"] = np.select([out["risk_score"] >= b for b in bounds], names, default="Minimal")
    return out


def _plain(value):  # noqa: ANN001, ANN202 - numpy scalars to JSON-able Python values
    return value.item() if hasattr(value, "item") else value


def _breakdowns(
    values: pd.DataFrame, scored: pd.DataFrame, evidence: dict[str, list[dict]], cfg: RiskConfig
) -> list[str]:
    """One JSON breakdown per row: each factor's value, weight, points and the evidence behind it."""
    w = cfg.weights()
    cols = {f: (values[f].astype(float).round(4).tolist(), scored[f"points_{f}"].tolist()) for f in FACTORS}
    out = []
    for i in range(len(values)):
        out.append(
            json.dumps(
                {
                    f: {
                        "value": cols[f][0][i],
                        "weight": w[f],
                        "points": cols[f][1][i],
                        "evidence": {k: _plain(v) for k, v in evidence[f][i].items()},
                    }
                    for f in FACTORS
                }
            )
        )
    return out


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records") if len(frame.columns) else [{} for _ in range(len(frame))]


def score_clusters(
    con: duckdb.DuckDBPyConnection,
    edges: pd.DataFrame,
    clusters: pd.DataFrame,
    reputation: pd.DataFrame,
    cfg: RiskConfig | None = None,
    schema: str = "raw",
    patterns: pd.DataFrame | None = None,
    rugs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per cluster: size, risk_score, risk_level, the four factors, evidence and `risk_breakdown`.

    `patterns` and `rugs` (from `pattern_wallets`, `rugged_tokens`) are computed when not given.
    """
    cfg = cfg or RiskConfig()
    rugs = rugged_tokens(con, cfg, schema) if rugs is None else rugs
    patterns = pattern_wallets(con, edges, cfg, schema, rugs) if patterns is None else patterns
    cols = [
        "cluster_id", "size", "risk_score", "risk_level", "scam_rate", "reputation", "density",
        "known_scammers", "tokens_created", "scam_tokens", "flagged_wallets", "risk_breakdown",
    ]  # fmt: skip
    if clusters.empty:
        return pd.DataFrame(columns=cols)
    crushed = crush_labelled(con, schema)
    rugged = set(rugs["token"]) if len(rugs) else set()
    tokens = _created_tokens(con, schema)
    tokens["bad"] = tokens["scam_label"].astype(bool) | tokens["token"].isin(rugged)
    m = clusters[["address", "cluster_id"]].merge(
        reputation[["address", "reputation"]], on="address", how="left"
    )
    m["flagged"] = m["address"].isin(set(patterns["address"]))
    m["known"] = m["address"].isin(crushed)
    made = tokens.merge(m[["address", "cluster_id"]], left_on="creator", right_on="address")
    g = m.groupby("cluster_id", sort=True).agg(
        size=("address", "size"),
        flagged_wallets=("flagged", "sum"),
        known_scammers=("known", "sum"),
        median_reputation=("reputation", "median"),
        members_with_reputation=("reputation", "count"),
    )
    g = g.join(made.groupby("cluster_id").agg(tokens_created=("token", "size"), scam_tokens=("bad", "sum")))
    g[["tokens_created", "scam_tokens"]] = g[["tokens_created", "scam_tokens"]].fillna(0).astype(int)
    g["median_reputation"] = g["median_reputation"].fillna(50.0)
    g = g.join(_cohesion(edges, clusters).set_index("cluster_id"))
    g[["weight_inside", "weight_touching", "pairs_inside", "cohesion"]] = g[
        ["weight_inside", "weight_touching", "pairs_inside", "cohesion"]
    ].fillna(0.0)
    token_share = np.where(g["tokens_created"] > 0, g["scam_tokens"] / g["tokens_created"].clip(lower=1), 0.0)
    wallet_share = g["flagged_wallets"] / g["size"]
    values = pd.DataFrame(
        {
            "scam_rate": np.maximum(token_share, wallet_share),
            "reputation": 1 - g["median_reputation"] / 100,
            "density": g["cohesion"],
            "known_scammers": np.minimum(1.0, g["known_scammers"] / cfg.known_full),
        },
        index=g.index,
    )
    scored = _score_frame(values, cfg)
    n = g["size"].to_numpy()
    possible = n * (n - 1) / 2
    evidence = {
        "scam_rate": _records(
            pd.DataFrame(
                {
                    "tokens_created": g["tokens_created"], "scam_tokens": g["scam_tokens"],
                    "token_share": np.round(token_share, 4), "flagged_wallets": g["flagged_wallets"],
                    "members": g["size"], "wallet_share": wallet_share.round(4),
                }
            )
        ),
        "reputation": _records(g[["median_reputation", "members_with_reputation"]]),
        "density": _records(
            pd.DataFrame(
                {
                    "weight_inside": g["weight_inside"].round(3),
                    "weight_touching": g["weight_touching"].round(3),
                    "pairs_inside": g["pairs_inside"].astype(int),
                    "graph_density": np.round(g["pairs_inside"] / np.maximum(possible, 1), 4),
                }
            )
        ),
        "known_scammers": _records(pd.DataFrame({"count": g["known_scammers"]})),
    }  # fmt: skip
    out = pd.DataFrame(
        {
            "cluster_id": g.index,
            "size": g["size"].astype(int).to_numpy(),
            "risk_score": scored["risk_score"].to_numpy(),
            "risk_level": scored["risk_level"].to_numpy(),
            "scam_rate": values["scam_rate"].round(4).to_numpy(),
            "reputation": g["median_reputation"].to_numpy(),
            "density": values["density"].round(4).to_numpy(),
            "known_scammers": g["known_scammers"].astype(int).to_numpy(),
            "tokens_created": g["tokens_created"].to_numpy(),
            "scam_tokens": g["scam_tokens"].to_numpy(),
            "flagged_wallets": g["flagged_wallets"].astype(int).to_numpy(),
            "risk_breakdown": _breakdowns(values, scored, evidence, cfg),
        }
    )
    return out[cols]


def score_wallets(
    con: duckdb.DuckDBPyConnection,
    edges: pd.DataFrame,
    clusters: pd.DataFrame,
    reputation: pd.DataFrame,
    cluster_scores: pd.DataFrame,
    cfg: RiskConfig | None = None,
    schema: str = "raw",
    patterns: pd.DataFrame | None = None,
    rugs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per address of `reputation`, scored alone or with its cluster; see the module docstring.

    Columns: address, cluster_id (None for singletons), risk_score, risk_level, reputation,
    patterns, risk_breakdown.
    """
    cfg = cfg or RiskConfig()
    rugs = rugged_tokens(con, cfg, schema) if rugs is None else rugs
    patterns = pattern_wallets(con, edges, cfg, schema, rugs) if patterns is None else patterns
    crushed = crush_labelled(con, schema)
    tokens = _created_tokens(con, schema)
    rugged = set(rugs["token"]) if len(rugs) else set()
    tokens["bad"] = tokens["scam_label"].astype(bool) | tokens["token"].isin(rugged)
    tok = tokens.groupby("creator").agg(tokens_created=("token", "size"), scam_tokens=("bad", "sum"))
    w = reputation[["address", "reputation"]].copy()
    w["cluster_id"] = w["address"].map(clusters.set_index("address")["cluster_id"])
    w["patterns"] = w["address"].map(patterns.set_index("address")["patterns"])
    w = w.join(tok, on="address")
    w[["tokens_created", "scam_tokens"]] = w[["tokens_created", "scam_tokens"]].fillna(0).astype(int)
    cs = cluster_scores.set_index("cluster_id")[["scam_rate", "density", "known_scammers"]].astype(float)
    w = w.join(cs.add_prefix("cluster_"), on="cluster_id")
    in_cluster = w["cluster_scam_rate"].notna()
    own_flag = w["patterns"].notna()
    self_labelled = w["address"].isin(crushed)
    own_scam = np.where(
        own_flag,
        1.0,
        np.where(w["tokens_created"] > 0, w["scam_tokens"] / w["tokens_created"].clip(lower=1), 0.0),
    )
    values = pd.DataFrame(
        {
            "scam_rate": np.where(
                in_cluster, np.maximum(w["cluster_scam_rate"].fillna(0), own_scam), own_scam
            ),
            "reputation": 1 - w["reputation"].fillna(50.0) / 100,
            "density": np.where(in_cluster, w["cluster_density"].fillna(0), 0.0),
            "known_scammers": np.where(
                in_cluster,
                np.minimum(1.0, w["cluster_known_scammers"].fillna(0) / cfg.known_full),
                self_labelled.astype(float),
            ),
        },
        index=w.index,
    )
    scored = _score_frame(values, cfg)
    source = np.where(in_cluster, "cluster", "own")
    evidence = {
        "scam_rate": _records(
            pd.DataFrame(
                {
                    "source": source, "own_patterns": w["patterns"].fillna(""),
                    "tokens_created": w["tokens_created"], "scam_tokens": w["scam_tokens"],
                }
            )
        ),
        "reputation": [{"own_reputation": None if pd.isna(r) else float(r)} for r in w["reputation"]],
        "density": _records(pd.DataFrame({"source": source})),
        "known_scammers": _records(
            pd.DataFrame({"source": source, "self_labelled": self_labelled.to_numpy()})
        ),
    }  # fmt: skip
    w["risk_score"], w["risk_level"] = scored["risk_score"], scored["risk_level"]
    w["risk_breakdown"] = _breakdowns(values, scored, evidence, cfg)
    return w[
        ["address", "cluster_id", "risk_score", "risk_level", "reputation", "patterns", "risk_breakdown"]
    ]
