"""Risk scores 0-100 for clusters and wallets, with a breakdown of every factor.

Weights (the Chain Sentinel design): 40% scam rate, 30% reputation (lower is riskier), 15% network
density, 15% presence of known scammers. `points = weight * 100 * value` per factor, and the score
is the sum of the points. Levels: Critical 90-100, High 75-89.9, Medium 60-74.9, Low 40-59.9,
Minimal 0-39.9. Ground truth is never read here.

Factors of a cluster (values in [0, 1]):

- **scam_rate** = max(token share, wallet share): the stronger of two lines of evidence.
  *Token share*: of the tokens the cluster's wallets created (`contract_creations`), the share that
  are labelled `scam` or rugged (`rugged_tokens`: pulls, dumps, honeypots). *Wallet share*: the
  members' mean evidence strength (`wallet_evidence`: their own patterns, each of a strength in
  `RiskConfig.strengths`, or their spread from `risk_spread`).
- **reputation**: the median of the members' `wallet_reputation`, each lowered by its own evidence
  (`behaviour_reputation`); value = 1 - median / 100.
- **density**: cohesion, the share of the members' link weight (every edge type after the hub
  guard, summed per wallet pair) that stays inside the cluster. A closed group
  that only deals with itself scores 1. (Plain graph density, pairs / possible pairs, falls with
  size and is kept in the breakdown as evidence only.)
- **known_scammers**: the larger of `min(1, count / known_full)`, count = members labelled scam,
  phishing or sanctioned, and the strongest member evidence (a member convicted by its own
  behaviour is a known scammer too).

Rug pull (`rugged_tokens`): a token created in `contract_creations`, bought on a DEX by at least
`rug_min_buyers` distinct wallets other than its creator, then within `rug_window_days` of its
first trade either (a) *pull*: the creator removes liquidity holding the token (a `remove` row of
dbt's `decoded.liquidity_events` with the creator as provider; without that table, a transaction
the creator signs, not a DEX trade, in which the token leaves one of its pools for the creator),
after at least `rug_min_buyers` buyers; or (b) *dump*: the creator sells the token on a DEX for
at least `rug_dump_ratio` of the USD the other buyers paid before. Honeypot (`rug_kind`
'honeypot'): a token bought by at least `rug_min_buyers` wallets, none of whom (at most
`honeypot_max_seller_share` of them) ever sold it, while its creator sold it.

Malicious patterns (`pattern_wallets`), from the edge rules and raw data:
`poisoning` edge (both ends); `peel_chain` (a wallet both receiving and sending `peel_forward`
edges, linked by one to another such wallet: a chain of at least two hops); `sybil` (a wallet both
`common_funder` target and `sweep` source, and the funder and collector of at least
`sybil_min_members` of them); `farm_swept` and `farm_structure` (`farm_wallets`: the same farm
from sender/receiver pairs alone, through the structural `funding_tree` and `collector` links,
and every wallet of a strong funding tree or collector star); `nft_wash` (an `nft_repeat_trade`
edge whose wallet sold the same NFT at least twice); `token_ring` (a directed cycle of 3 to
`ring_max_len` wallets passing one token, each hop repeated `ring_min_repeats` times at amounts
within `ring_amount_tol` of the cycle's median); `rug_creator` / `honeypot_creator` (created a
rugged token / a honeypot) and `rug_co_creation` (a `co_creation` edge with a rug creator);
`phishing_inflow` (a receiver paid by
at least the 99th percentile of receivers' payer counts, its payers mostly low-degree and paying
once, none of them paid back, most of its inflow forwarded within a day to at most three
addresses, which also take most of the transactions it signs: `phishing_inflow`) and
`phishing_inflow_small` (the same shape with fewer payers);
`label` (labelled scam, phishing or sanctioned). `PATTERN_SIDE` says which side each
incriminates; what a pattern measured (the phishing figures, the rugged tokens) reaches the
wallet's breakdown as `pattern_figures`. A `scam_label` edge (a transfer with a labelled
address) is no pattern: paying a scammer makes a victim, not a suspect.

Wallets (`score_wallets`): every address with a reputation. A wallet in a cluster takes the
cluster's scam rate and known scammers (each raised to its own evidence strength), density, and
its own reputation: a cluster is believed to be one actor. A singleton uses its own factors: scam
rate and known scammers = its evidence strength (scam rate at least its rugged-token share; known
scammers 1 when labelled), density 0. A wallet on the victim side (it paid a perpetrator, was paid
back fewer times than it paid, shows no evidence of its own and sent perpetrators under half of
its transfers) keeps its own factors even inside a cluster.
docs/risk.md has the reasons and the calibration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import duckdb
import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from wallet_pipeline.logic.graph.hubs import table_columns, trade_schema
from wallet_pipeline.logic.graph.reputation import CRUSH_LABELS, GOOD_LABELS, RepConfig
from wallet_pipeline.logic.graph.risk_json import arrow_texts, breakdown_texts
from wallet_pipeline.logic.graph.risk_spread import (
    SpreadConfig,
    paid_perpetrators,
    perpetrator_spread,
    transfer_flows,
    victim_side,
)

FACTORS = ("scam_rate", "reputation", "density", "known_scammers")

# Which side of the behaviour each pattern incriminates, and how specific it is of a perpetrator.
# 1.0: the pattern needs the perpetrator's own signature (deploying and pulling a token, signing
# transfers out of look-alike addresses, funding and sweeping a farm, cycling one amount). Peel
# chains 0.8: an exchange user forwarding a withdrawal twice looks alike now and then (4 benign
# wallets against 528 launderers over the 20 kept worlds). NFT repeat trades 0.5: friends trading
# one NFT back and forth do it too (44 benign wallets against 86 wash traders there). The phishing
# shapes: their precision over the 10 phishing-network draws and the 20 kept worlds, pooled
# (174 of 179 and 177 of 195; docs/risk.md). The farms from pairs alone: the lower of their precision
# on the airdrop draws (sybils against real addresses, seeds 1-10) and in the 20 kept worlds
# (malicious against benign): `farm_swept` 864 of 1,063 and 609 of 609; `farm_structure` (when not
# also `farm_swept`) 5,676 of 11,714 and 647 of 744 (docs/risk.md, "Farms from pairs alone");
# `farm_small` 986 of 7,732 and 139 of 3,997, `services_only` 533 of 853 and 137 of 5,114 (the
# kept worlds' exchange users and people paying people look alike): low strengths, which still
# lift those wallets above the real addresses they tied with (docs/risk.md, "Small groups").
PATTERN_SIDE = {
    "label": "the labelled address itself",
    "rug_creator": "the creator who pulled liquidity or dumped on buyers",
    "honeypot_creator": "the creator who sold a token its buyers could not sell",
    "rug_co_creation": "a wallet moving the rugged token out of addresses it does not own",
    "token_ring": "each member of a cycle passing one amount round",
    "nft_wash": "both sides of repeat NFT trades, when the wallet sold the same NFT twice",
    "sybil": "funded-and-swept members, their funder and their collector",
    "peel_chain": "each hop forwarding what it just received",
    "poisoning": "the signer and the look-alike address it moves tokens for (never the victim)",
    "phishing_inflow": (
        "the receiver paid once by many people, paying none back and forwarding most of it fast to a few"
    ),
    "phishing_inflow_small": "the same receiver, with fewer payers than the fan-in bound",
    "farm_swept": "wallets both funded and sweeping to one collector, their funder and their collector",
    "farm_structure": "every wallet of a strong funding tree or collector star (a farm or a payout)",
    "farm_small": "every wallet of a funding tree or collector star too small to be strong",
    "services_only": "a wallet dealing with busy addresses only, paid by one and paying one",
}
PATTERN_STRENGTH = {
    "label": 1.0, "rug_creator": 1.0, "honeypot_creator": 1.0, "rug_co_creation": 1.0,
    "token_ring": 1.0, "sybil": 1.0, "poisoning": 1.0, "peel_chain": 0.8, "nft_wash": 0.5,
    "phishing_inflow": 0.97, "phishing_inflow_small": 0.91, "farm_swept": 0.81, "farm_structure": 0.48,
    "farm_small": 0.035, "services_only": 0.027,
}  # fmt: skip


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
    # Farms from pairs alone (`farm_wallets`): the weight the graph gives funding trees of >= 11
    # wallets and collector stars of >= 10 senders, its strong links (docs/graph.md).
    farm_strong_weight: float = 1.0
    # Services-only wallets (`services_only_wallets`). Busy: the bound `risk_spread` gives services
    # (50), not tuned: on the airdrop draws 20 or 30 flag as precisely, 100 misses most sybils
    # (docs/risk.md). Three counterparties: with two, 27,469 real addresses of the draws' pairs
    # against 1,246 sybils (a withdrawal and one deposit is every exchange user).
    busy_min_counterparties: int = 50
    services_only_min: int = 3
    # Token rings.
    # Twice, as the graph's wash_cycle: a short window cuts a ring's last round (fresh world 3205).
    # Over the 20 kept and 10 fresh worlds: 263 wallets flagged, all malicious (3: 257, all malicious).
    ring_min_repeats: int = 2
    ring_amount_tol: float = 0.02
    ring_max_len: int = 8
    # Honeypots: buyers that could not sell while the creator could.
    honeypot_max_seller_share: float = 0.0
    # Phishing-like inflow (`phishing_inflow`); docs/risk.md says where each bound came from.
    phish_min_payers: int = 5
    phish_payers_quantile: float = 0.99
    phish_min_share: float = 0.5
    phish_max_payback_share: float = 0.1
    phish_fast_hours: float = 24.0
    phish_top_destinations: int = 3
    phish_min_top_share: float = 0.8
    service_min_payees: int = 50
    # How specific each pattern is of a perpetrator (0-1); see PATTERN_SIDE for the side it names.
    strengths: dict[str, float] = field(default_factory=lambda: dict(PATTERN_STRENGTH))

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
        ),
        rugs as (
            select s.token, c.creator, arg_min(s.kind, s.t) rug_kind, max(s.buyers) buyers, min(s.t) rug_time
            from scored s join c using (token) join first_trade f using (token)
            where s.buyers >= {int(cfg.rug_min_buyers)} and s.t <= f.t0 + {win}
              and (s.kind = 'pull' or s.usd >= {cfg.rug_dump_ratio} * s.paid)
            group by 1, 2
        ),
        buyer_stats as (
            select b.token, count(distinct b.who) buyers,
                   count(distinct b.who) filter (where b.who in (
                       select trades.who from trades where trades.sold = b.token)) sellers
            from buys b group by 1
        ),
        honeypots as (
            select d.token, c.creator, 'honeypot' rug_kind, bs.buyers, min(d.t) rug_time
            from dumps d join c using (token) join buyer_stats bs using (token)
            where bs.buyers >= {int(cfg.rug_min_buyers)}
              and bs.sellers <= {cfg.honeypot_max_seller_share} * bs.buyers
              and d.token not in (select token from rugs)
            group by all
        )
        select * from rugs union all select * from honeypots order by 1
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


PHISHING_COLUMNS = [
    "address", "payers", "payers_bound", "low_degree_share", "once_share", "payback_share", "forward_share",
    "fast_share", "top_share", "top_tx_share", "phishing", "phishing_small",
]  # fmt: skip


def phishing_inflow(
    con: duckdb.DuckDBPyConnection,
    cfg: RiskConfig | None = None,
    schema: str = "raw",
    hubs: set[str] | None = None,
    candidates_from: int | None = None,
) -> pd.DataFrame:
    """Receivers fed the way a phishing account is fed, with the figures behind the call.

    One row per receiver of ETH from at least `phish_min_payers` distinct payers (and at least the
    `phish_payers_quantile` of all receivers' payer counts): `payers`; `low_degree_share`, the
    share of its payers that pay at most `service_min_payees` wallets (people, not services);
    `once_share`, the share that paid it once; `payback_share`, the share it ever sent anything
    to; `forward_share`, its outflow to non-services over its inflow; `fast_share`, the share of
    its inflow value followed by an outflow within `phish_fast_hours`; `top_share`, the share of
    the outflow that its `phish_top_destinations` largest destinations take; `top_tx_share`, the
    share of every transaction it signed (any value, any destination, but refunds to its payers)
    that went to those destinations. `phishing` is true when every figure passes its bound
    (`RiskConfig`); the pattern incriminates the receiver. `top_tx_share` tells a person paid by a
    few friends, who also pays, swaps and mints on their own, from an account that exists to
    collect and forward.
    Payments to hubs and services (exchange hot wallets: an exchange's own sweep) do not count
    as forwarding, and a hub or service (`hubs`, a wallet paying more than `service_min_payees`, or
    one labelled exchange, DEX, bridge, DeFi, NFT marketplace or airdrop) is never a candidate.
    Successful, non-zero transfers only (but for `top_tx_share`).
    `candidates_from` (when below `phish_min_payers`) gives receivers of that many payers their
    row too, with the same bound and flags: every figure is the receiver's own, so one query serves
    the pattern and `phishing_collectors` (`phishing_rows`).
    """
    cfg = cfg or RiskConfig()
    least = int(
        cfg.phish_min_payers if candidates_from is None else min(candidates_from, cfg.phish_min_payers)
    )
    if not _has(con, schema, "transactions", {"from_address", "to_address", "value", "block_timestamp"}):
        return pd.DataFrame(columns=PHISHING_COLUMNS)
    status = _succeeded(con, schema)
    services = set(hubs or set())
    if _has(con, schema, "address_labels", {"address", "label_type"}):
        # A labelled exchange, DEX or bridge is a service even when the export shows few of its payees.
        types = ", ".join(f"'{t}'" for t in GOOD_LABELS)
        services |= {
            r[0]
            for r in con.execute(
                f"select distinct lower(address) from {schema}.address_labels where label_type in ({types})"
            ).fetchall()
        }
    hub_list = pd.DataFrame({"address": sorted(services)}, dtype=object)  # noqa: F841
    out = con.sql(
        f"""
        with x as (
            select lower(from_address) a, lower(to_address) b, block_timestamp::timestamp t,
                   try_cast(value as double) v
            from {schema}.transactions
            where to_address is not null and lower(from_address) <> lower(to_address)
              and try_cast(value as double) > 0 and block_timestamp is not null {status}
        ),
        payees as (select a, count(distinct b) n from x group by a),
        services as (
            select a address from payees where n > {int(cfg.service_min_payees)}
            union select address from hub_list
        ),
        paid as (select b r, a payer, count(*) k from x group by 1, 2),
        counts as (select r, count(*) payers from paid group by 1),
        bound as (
            select greatest({int(cfg.phish_min_payers)},
                            quantile_cont(payers, {float(cfg.phish_payers_quantile)})) m
            from counts
        ),
        cand as (
            select r from counts
            where payers >= {least} and r not in (select address from services)
        ),
        sent as (
            select x.a r, x.b dst, sum(x.v) v from x semi join cand on cand.r = x.a
            where x.b not in (select address from services) group by 1, 2
        ),
        top_dests as (
            select r, dst from (
                select r, dst, row_number() over (partition by r order by v desc) i from sent
            ) where i <= {int(cfg.phish_top_destinations)}
        ),
        per_payer as (
            select p.r, p.payer, p.k,
                   coalesce(py.n, 0) <= {int(cfg.service_min_payees)}
                       and p.payer not in (select address from services) low,
                   exists (select 1 from x where x.a = p.r and x.b = p.payer)
                       and p.payer not in (select dst from top_dests t where t.r = p.r) back
            from paid p semi join cand using (r) left join payees py on py.a = p.payer
        ),
        figures as (
            select r, count(*) payers, avg(low::int) low_degree_share, avg((k = 1)::int) once_share,
                   avg(back::int) payback_share
            from per_payer group by 1
        ),
        inflow as (select x.b r, x.t, x.v from x semi join cand on cand.r = x.b),
        outflow as (
            select x.a r, x.b dst, x.t, x.v from x semi join cand on cand.r = x.a
            where x.b not in (select address from services)
        ),
        next_out as (
            select i.r, i.v, o.t - i.t delay
            from inflow i asof left join outflow o on o.r = i.r and o.t >= i.t
        ),
        fast as (
            select r, sum(v) filter (where delay <= interval {int(cfg.phish_fast_hours * 3600)} second)
                       / sum(v) fast_share, sum(v) in_value
            from next_out group by 1
        ),
        dests as (select r, dst, sum(v) v from outflow group by 1, 2),
        ranked as (select r, v, row_number() over (partition by r order by v desc) i from dests),
        tops as (
            select r, sum(v) out_value,
                   sum(v) filter (where i <= {int(cfg.phish_top_destinations)}) / sum(v) top_share
            from ranked group by 1
        ),
        signed as (
            select lower(s.from_address) r, lower(s.to_address) dst
            from {schema}.transactions s semi join cand on cand.r = lower(s.from_address)
            where s.to_address is not null and lower(s.from_address) <> lower(s.to_address) {status}
        ),
        own_txs as (
            select s.r, count(*) filter (where t.dst is not null)
                       / count(*) filter (where t.dst is not null or p.payer is null) top_tx_share
            from signed s
            left join top_dests t on t.r = s.r and t.dst = s.dst
            left join paid p on p.r = s.r and p.payer = s.dst
            group by 1
        )
        select f.r address, f.payers, (select m from bound) payers_bound,
               f.low_degree_share, f.once_share, f.payback_share,
               coalesce(t.out_value, 0) / fa.in_value forward_share,
               coalesce(fa.fast_share, 0) fast_share, coalesce(t.top_share, 0) top_share,
               coalesce(o.top_tx_share, 0) top_tx_share
        from figures f join fast fa using (r) left join tops t using (r) left join own_txs o using (r)
        order by 1
        """
    ).df()
    shaped = (
        (out["low_degree_share"] >= cfg.phish_min_share)
        & (out["once_share"] >= cfg.phish_min_share)
        & (out["payback_share"] <= cfg.phish_max_payback_share)
        & (out["forward_share"] >= cfg.phish_min_share)
        & (out["fast_share"] >= cfg.phish_min_share)
        & (out["top_share"] >= cfg.phish_min_top_share)
        & (out["top_tx_share"] >= cfg.phish_min_top_share)
    )
    out["phishing"] = shaped & (out["payers"] >= out["payers_bound"])
    out["phishing_small"] = shaped & (out["payers"] < out["payers_bound"])
    return out[PHISHING_COLUMNS]


# Receivers of this many payers can be collectors (`phishing_collectors`), whatever the pattern's bound.
COLLECTOR_MIN_PAYERS = 2


def phishing_rows(
    con: duckdb.DuckDBPyConnection, cfg: RiskConfig | None = None, schema: str = "raw"
) -> pd.DataFrame:
    """`phishing_inflow` once for both its readers: `pattern_wallets` and `phishing_collectors`.

    Rows for every receiver of at least `COLLECTOR_MIN_PAYERS` payers, hubs from `graph.hubs`;
    each reader keeps its own receivers. At 1,000,000 wallets the query groups every
    transaction several ways, and the two readers ran it twice.
    """
    return phishing_inflow(con, cfg, schema, hubs=_hubs(con), candidates_from=COLLECTOR_MIN_PAYERS)


def phishing_collectors(
    con: duckdb.DuckDBPyConnection,
    cfg: RiskConfig | None = None,
    schema: str = "raw",
    hubs: set[str] | None = None,
    rows: pd.DataFrame | None = None,
) -> tuple[set[str], set[str]]:
    """(collectors, victim-fed): receivers of at least 2 payers shaped like a phishing account.

    *Victim-fed*: the `phishing_inflow` figures of its payers pass (mostly low-degree, paying
    once, none paid back), whatever their number. *Collectors*: victim-fed, and most of the inflow
    moves on within `phish_fast_hours`; where it goes is `risk_spread`'s question (`feeds`).
    `rows` (`phishing_rows`) saves the query; `hubs` must then be the ones it used.
    """
    cfg = cfg or RiskConfig()
    if rows is None:
        broad = replace(cfg, phish_min_payers=COLLECTOR_MIN_PAYERS, phish_payers_quantile=0.0)
        f = phishing_inflow(con, broad, schema, hubs)
    else:
        f = rows[rows["payers"] >= COLLECTOR_MIN_PAYERS]
    fed = (
        (f["low_degree_share"] >= cfg.phish_min_share)
        & (f["once_share"] >= cfg.phish_min_share)
        & (f["payback_share"] <= cfg.phish_max_payback_share)
    )
    fast = fed & (f["fast_share"] >= cfg.phish_min_share)
    return set(f.loc[fast, "address"]), set(f.loc[fed, "address"])


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


FARM_FUNDING = ("common_funder", "funding_tree")
FARM_SWEEPS = ("sweep", "collector")
# The links the graph draws from the pairs' shape alone (no time, no value).
FARM_STRUCTURAL = ("funding_tree", "collector")
FARM_FIGURES = ["structure_wallets", "funded_by", "sweeps_to", "funder_members", "collector_members"]


def farm_wallets(edges: pd.DataFrame, cfg: RiskConfig | None = None) -> pd.DataFrame:
    """Farms seen from sender/receiver pairs alone (no time, no value), with the figures behind the call.

    *Funding* links are `funding_tree` (a payer and the wallets it is the only payer of) and the
    timed `common_funder`; *sweep* links are `collector` (wallets paying one person) and the timed
    `sweep`. Two patterns, each naming the wallets it incriminates:

    - `farm_swept`: a wallet both funded and sweeping (at any weight) whose funder or collector
      has at least `sybil_min_members` such wallets, and that funder or collector itself. A farm
      operator funds wallets and takes the proceeds back; a payout address pays people who keep
      what they got, and a collector of strangers funded none of them.
    - `farm_structure`: every wallet of a connected structure of strong (weight at least
      `farm_strong_weight`) funding and sweep links: the graph keeps such links for trees of at
      least 11 wallets and collector stars of at least 10 senders (docs/graph.md).
      `pattern_wallets` uses it only on transactions without timestamps.
    - `farm_small`: every other wallet of a `funding_tree` or `collector` link (trees and
      collector stars too small to be strong: a planted group of 3-10, or people paying people).
      `pattern_wallets` uses it only on transactions without timestamps.

    Returns one row per wallet with any of them: `address, farm_swept, farm_structure, farm_small`, the
    figures `structure_wallets` (wallets in its strong structure, 0 when in none), `funded_by` and
    `sweeps_to` (its funder and collector, or None), `funder_members` and `collector_members`
    (their funded-and-swept wallets). Hubs never get here: the graph's rules leave them out.
    """
    cfg = cfg or RiskConfig()
    cols = ["address", "farm_swept", "farm_structure", "farm_small", *FARM_FIGURES]
    if not len(edges):
        return pd.DataFrame(columns=cols)
    links = edges[edges["edge_type"].isin(FARM_FUNDING + FARM_SWEEPS)]
    fund = links[links["edge_type"].isin(FARM_FUNDING)]
    sweep = links[links["edge_type"].isin(FARM_SWEEPS)]
    both = set(fund["dst"]) & set(sweep["src"])
    fund_b = fund[fund["dst"].isin(both)].drop_duplicates(["src", "dst"])
    sweep_b = sweep[sweep["src"].isin(both)].drop_duplicates(["src", "dst"])
    per_funder = fund_b.groupby("src")["dst"].nunique()
    per_collector = sweep_b.groupby("dst")["src"].nunique()
    k = cfg.sybil_min_members
    fund_k = fund_b[fund_b["src"].map(per_funder) >= k]
    sweep_k = sweep_b[sweep_b["dst"].map(per_collector) >= k]
    swept = set(fund_k["src"]) | set(fund_k["dst"]) | set(sweep_k["src"]) | set(sweep_k["dst"])
    strong = links[links["weight"] >= cfg.farm_strong_weight]
    nodes, inv = np.unique(strong[["src", "dst"]].to_numpy(dtype=object).ravel(), return_inverse=True)
    n = len(nodes)
    graph = sp.coo_matrix((np.ones(len(strong)), (inv[0::2], inv[1::2])), shape=(n, n))
    labels = connected_components(graph, directed=False)[1] if n else np.array([], dtype=int)
    size = pd.Series(np.bincount(labels)[labels] if n else [], index=nodes, dtype=int)
    structural = links[links["edge_type"].isin(FARM_STRUCTURAL)]
    small = (set(structural["src"]) | set(structural["dst"])) - set(nodes)
    out = pd.DataFrame({"address": sorted(swept | set(nodes) | small)}, dtype=object)
    out["farm_swept"] = out["address"].isin(swept)
    out["farm_structure"] = out["address"].isin(set(nodes))
    out["farm_small"] = out["address"].isin(small)
    out["structure_wallets"] = out["address"].map(size).fillna(0).astype(int)
    out["funded_by"] = out["address"].map(_busiest(fund_b, "src", "dst", per_funder))
    out["sweeps_to"] = out["address"].map(_busiest(sweep_b, "dst", "src", per_collector))
    for role, per in (("funded_by", per_funder), ("sweeps_to", per_collector)):
        # A member counts its funder's (collector's) wallets; a funder (collector) its own.
        count = out[role].map(per).fillna(out["address"].map(per)).fillna(0).astype(int)
        out["funder_members" if role == "funded_by" else "collector_members"] = count
        out[role] = out[role].astype(object).where(out[role].notna(), None)
    return out[cols]


SERVICES_ONLY_FIGURES = ["counterparties", "busy_payers", "busy_payees"]


def services_only_wallets(
    con: duckdb.DuckDBPyConnection, cfg: RiskConfig | None = None, schema: str = "raw"
) -> pd.DataFrame:
    """Wallets that deal with busy addresses only, from sender/receiver pairs alone.

    A wallet with at least `services_only_min` distinct counterparties, every one of them *busy*
    (at least `busy_min_counterparties` distinct counterparties of its own: exchange hot wallets,
    popular contracts), paid by one of them and paying one of them, and not busy itself: the
    shape of a farm wallet funded by an exchange withdrawal that claims and sweeps back, which
    nothing else in the pairs ties to its farm. Returns `address` and the figures
    `counterparties`, `busy_payers`, `busy_payees`. `pattern_wallets` uses it only on
    transactions without timestamps.
    """
    cfg = cfg or RiskConfig()
    cols = ["address", *SERVICES_ONLY_FIGURES]
    if not _has(con, schema, "transactions", {"from_address", "to_address"}):
        return pd.DataFrame(columns=cols)
    busy, least = int(cfg.busy_min_counterparties), int(cfg.services_only_min)
    # Groupings of (address, counterparty) pairs, which spill, rather than count(distinct) per address.
    return con.sql(
        f"""
        with directed as (
            select lower(from_address) a, lower(to_address) b from {schema}.transactions
            where to_address is not null and lower(from_address) <> lower(to_address)
            group by 1, 2
        ),
        ends as (
            select a x, b y, true pays from directed union all select b, a, false from directed
        ),
        pairs as (select x, y, bool_or(pays) pays, bool_or(not pays) paid from ends group by 1, 2),
        degree as (select x, count(*) n from pairs group by 1)
        select p.x address, count(*) counterparties,
               count(*) filter (where p.paid) busy_payers, count(*) filter (where p.pays) busy_payees
        from pairs p join degree d on d.x = p.y join degree own on own.x = p.x
        where own.n >= {least} and own.n < {busy}
        group by 1
        having min(d.n) >= {busy} and count(*) filter (where p.paid) >= 1
           and count(*) filter (where p.pays) >= 1
        order by 1
        """
    ).df()[cols]


def _busiest(links: pd.DataFrame, hub: str, member: str, members: pd.Series) -> pd.Series:
    """Per `member` address, its `hub` (funder or collector) with the most members, ties by address."""
    ranked = links.assign(m=links[hub].map(members)).sort_values(["m", hub], ascending=[False, True])
    return ranked.drop_duplicates(member).set_index(member)[hub]


def pattern_wallets(
    con: duckdb.DuckDBPyConnection,
    edges: pd.DataFrame,
    cfg: RiskConfig | None = None,
    schema: str = "raw",
    rugs: pd.DataFrame | None = None,
    pairs_only: bool | None = None,
    phishing: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Wallets showing a malicious pattern or label: `address, patterns, figures`.

    `patterns` is sorted and comma-separated; `figures` maps a pattern to what it measured on the
    wallet (the `phishing_inflow` figures, the rugged token), so the breakdown can show why.
    `pairs_only` turns on the patterns read from the pairs' shape alone (`farm_structure`,
    `farm_small`, `services_only`); by default when no transaction has a timestamp. Forcing it
    on timed data measures their precision there (docs/risk.md), it never scores.
    `phishing` (`phishing_rows`, shared with `evidence_for`) saves the phishing query.
    """
    cfg = cfg or RiskConfig()
    rugs = rugged_tokens(con, cfg, schema) if rugs is None else rugs
    found: dict[str, set[str]] = {}
    measured: dict[str, dict[str, dict]] = {}

    def add(addresses, name: str) -> None:
        for a in addresses:
            found.setdefault(a, set()).add(name)

    def note(frame: pd.DataFrame, name: str, cols: list[str]) -> None:
        add(frame["address"], name)
        for a, rec in zip(frame["address"], frame[cols].to_dict("records"), strict=True):
            measured.setdefault(a, {}).setdefault(name, rec)

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
    farms = farm_wallets(edges, cfg)
    # A strong structure alone is evidence only where time is unknown: with timestamps the burst
    # rules see a farm itself (`sybil`), and on the phishing-network draws the structures were
    # users and their deposit addresses (910 flagged over draws 5000-5004, 1 a phisher). The same
    # holds for small structures and services-only wallets: exchange users do both all the time.
    pairs_only = not _timed(con, schema) if pairs_only is None else pairs_only
    note(farms[farms["farm_swept"].astype(bool)], "farm_swept", FARM_FIGURES)
    if pairs_only:
        note(farms[farms["farm_structure"].astype(bool)], "farm_structure", FARM_FIGURES)
        note(farms[farms["farm_small"].astype(bool)], "farm_small", FARM_FIGURES)
        note(services_only_wallets(con, cfg, schema), "services_only", SERVICES_ONLY_FIGURES)
    nft = of("nft_repeat_trade")
    trippers = _nft_round_trippers(con, schema)
    add((set(nft["src"]) | set(nft["dst"])) & trippers, "nft_wash")
    add(token_ring_wallets(con, cfg, schema)["address"], "token_ring")
    # A `scam_label` edge is not a pattern: paying a labelled scammer makes a victim. Labels reach
    # other wallets only through `risk_spread` (paths where the wallet is on the perpetrator's side).
    honey = rugs["rug_kind"] == "honeypot"
    for kinds, name in ((rugs[~honey], "rug_creator"), (rugs[honey], "honeypot_creator")):
        # One row per creator: a deployer who rugged several tokens lists them all.
        per = kinds.groupby("creator", as_index=False).agg(
            tokens=("token", list), rug_kinds=("rug_kind", lambda k: sorted(set(k))), buyers=("buyers", "max")
        )
        note(per.rename(columns={"creator": "address"}), name, ["tokens", "rug_kinds", "buyers"])
    creators = set(rugs["creator"]) if len(rugs) else set()
    co = of("co_creation")
    co = co[co["src"].isin(creators) | co["dst"].isin(creators)]
    add(set(co["src"]) | set(co["dst"]), "rug_co_creation")
    if phishing is None:
        phish = phishing_inflow(con, cfg, schema, hubs=_hubs(con))
    else:
        # The rows of receivers too few payers for the pattern are the collectors' only.
        phish = phishing[phishing["payers"] >= cfg.phish_min_payers].reset_index(drop=True)
    phish_cols = [c for c in PHISHING_COLUMNS if c not in ("address", "phishing", "phishing_small")]
    # As booleans: without the columns the shape needs, the frame is empty and of object type, and
    # indexing by an empty object column would select columns instead of rows.
    note(phish[phish["phishing"].astype(bool)], "phishing_inflow", phish_cols)
    note(phish[phish["phishing_small"].astype(bool)], "phishing_inflow_small", phish_cols)
    add(crush_labelled(con, schema), "label")
    return pd.DataFrame(
        {
            "address": list(found),
            "patterns": [",".join(sorted(v)) for v in found.values()],
            "figures": [measured.get(a, {}) for a in found],
        },
        columns=["address", "patterns", "figures"],
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


def _breakdowns(
    values: pd.DataFrame, scored: pd.DataFrame, evidence: dict[str, pd.DataFrame], cfg: RiskConfig
) -> pd.api.extensions.ExtensionArray:
    """One JSON breakdown per row: each factor's value, weight, points and the evidence behind it.

    Points are rounded to 0.01 (the score adds them up), values, weights and evidence to 4 places.
    `evidence[f]` has one column per evidence key of factor `f`, in the order shown. The texts
    are an Arrow string column (`risk_json.arrow_texts`).
    """
    texts = breakdown_texts(
        FACTORS,
        {f: values[f].astype(float).round(4) for f in FACTORS},
        cfg.weights(),
        {f: scored[f"points_{f}"] for f in FACTORS},
        {f: {c: evidence[f][c] for c in evidence[f].columns} for f in FACTORS},
        len(values),
    )
    return arrow_texts(texts)


def wallet_evidence(
    patterns: pd.DataFrame, spread: pd.DataFrame | None = None, cfg: RiskConfig | None = None
) -> pd.DataFrame:
    """Per wallet with any evidence: `address, patterns, figures, pattern_strength, spread, strength, paths`.

    `figures` is what its patterns measured (`pattern_wallets`; empty when `patterns` has none),
    `pattern_strength` the strongest of its own patterns (`RiskConfig.strengths`), `spread` its
    value from `risk_spread.perpetrator_spread`, `strength` the larger of the two.
    """
    cfg = cfg or RiskConfig()
    cols = ["address", "patterns", "figures", "pattern_strength", "spread", "strength", "paths"]
    p = patterns[["address", "patterns"]].copy()
    p["figures"] = patterns["figures"] if "figures" in patterns else [{} for _ in range(len(p))]
    p["pattern_strength"] = [
        max((cfg.strengths.get(x, 1.0) for x in str(v).split(",") if x), default=0.0) for v in p["patterns"]
    ]
    empty = pd.DataFrame(columns=["address", "spread", "paths"])
    sp = spread if spread is not None and len(spread) else empty
    sp = sp[["address", "spread", "paths"]].astype({"address": object})
    out = p.astype({"address": object}).merge(sp, on="address", how="outer")
    out["pattern_strength"] = pd.to_numeric(out["pattern_strength"]).fillna(0.0)
    out["spread"] = pd.to_numeric(out["spread"]).fillna(0.0)
    out["strength"] = np.maximum(out["pattern_strength"], out["spread"])
    out["paths"] = [v if isinstance(v, list) else [] for v in out["paths"]]
    out["figures"] = [v if isinstance(v, dict) else {} for v in out["figures"]]
    return out[cols]


def behaviour_reputation(
    reputation: pd.DataFrame, evidence: pd.DataFrame, rep_cfg: RepConfig | None = None
) -> pd.DataFrame:
    """`address, reputation, behaviour_points`: reputation lowered by the wallet's own evidence.

    A full conviction (an own pattern of strength 1, one that needs the perpetrator's signature;
    spread from others is second-hand and does not count) weighs like a scam label:
    `RepConfig.bad_label_points` and a cap at `bad_label_cap`. Weaker evidence (peel chains, NFT
    repeat trades) leaves the reputation alone: it already counts in scam rate and known
    scammers, and taking 40 points off two benign forwarders of a withdrawal put them at High in
    a kept world. A label is not counted twice.
    """
    rep_cfg = rep_cfg or RepConfig()
    out = reputation[["address", "reputation"]].copy()
    own = evidence.set_index("address")["pattern_strength"]
    st = np.where(out["address"].map(own).fillna(0.0).to_numpy(dtype=float) >= 1.0, 1.0, 0.0)
    labelled = reputation["label_points"].to_numpy(dtype=float) if "label_points" in reputation else 0.0
    extra = np.minimum(0.0, rep_cfg.bad_label_points * st - np.minimum(labelled, 0.0))
    rep = np.clip(out["reputation"].to_numpy(dtype=float) + extra, 0, 100)
    rep = np.where(st >= 1.0, np.minimum(rep, rep_cfg.bad_label_cap), rep)
    out["reputation"] = np.where(out["reputation"].isna(), np.nan, np.round(rep, 1))
    out["behaviour_points"] = np.round(extra, 1)
    return out


def _evidence_or_default(
    con: duckdb.DuckDBPyConnection,
    edges: pd.DataFrame,
    cfg: RiskConfig,
    schema: str,
    patterns: pd.DataFrame | None,
    rugs: pd.DataFrame | None,
    evidence: pd.DataFrame | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rugs, evidence): computed when not given (`evidence` by `evidence_for`)."""
    rugs = rugged_tokens(con, cfg, schema) if rugs is None else rugs
    if evidence is None:
        evidence = evidence_for(con, edges, cfg, schema, patterns, rugs)
    return rugs, evidence


def _succeeded(con: duckdb.DuckDBPyConnection, schema: str) -> str:
    """The `where` clause part keeping successful transactions (none when the export has no receipts)."""
    tx = table_columns(con, schema, "transactions")
    return "and receipt_status is distinct from 0" if "receipt_status" in tx else ""


def value_sent(con: duckdb.DuckDBPyConnection, schema: str) -> pd.Series:
    """Per wallet, the successful transactions carrying ETH that it signed (`victim_side`'s count).

    Zero-value calls are left out: a farm member's claims are no life of its own.
    """
    if not _has(con, schema, "transactions", {"from_address", "value"}):
        return pd.Series(dtype=float)
    status = _succeeded(con, schema)
    sent = con.sql(
        f"select lower(from_address) a, count(*)::double n from {schema}.transactions "
        f"where try_cast(value as double) > 0 {status} group by 1"
    ).df()
    return sent.set_index("a")["n"]


def _timed(con: duckdb.DuckDBPyConnection, schema: str) -> bool:
    """True when any transaction has a timestamp (a sender/receiver-only list has none)."""
    if not _has(con, schema, "transactions", {"block_timestamp"}):
        return False
    return con.execute(f"select count(block_timestamp) > 0 from {schema}.transactions").fetchone()[0]


def _hubs(con: duckdb.DuckDBPyConnection) -> set[str]:
    if not _has(con, "graph", "hubs", {"address"}):
        return set()
    return {r[0] for r in con.execute("select lower(address) from graph.hubs").fetchall()}


def evidence_for(
    con: duckdb.DuckDBPyConnection,
    edges: pd.DataFrame,
    cfg: RiskConfig | None = None,
    schema: str = "raw",
    patterns: pd.DataFrame | None = None,
    rugs: pd.DataFrame | None = None,
    spread_cfg: SpreadConfig | None = None,
    phishing: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every wallet's own patterns and its spread from them and the labels (`wallet_evidence`).

    Seeds of the spread: each wallet with a pattern, at the strength of its strongest pattern.
    Hubs (`graph.hubs`, when stored) are never reached. `phishing` (`phishing_rows`, shared with
    `pattern_wallets`) saves the phishing query.
    """
    cfg = cfg or RiskConfig()
    rugs = rugged_tokens(con, cfg, schema) if rugs is None else rugs
    if patterns is None:
        patterns = pattern_wallets(con, edges, cfg, schema, rugs, phishing=phishing)
    own = wallet_evidence(patterns, None, cfg)
    seeds = own.set_index("address")["pattern_strength"]
    hubs = _hubs(con)
    collectors, victim_fed = phishing_collectors(con, cfg, schema, hubs, rows=phishing)
    spread = perpetrator_spread(
        con, edges, seeds, spread_cfg, schema, hubs=hubs, collectors=collectors, victim_fed=victim_fed
    )
    return wallet_evidence(patterns, spread, cfg)


def score_clusters(
    con: duckdb.DuckDBPyConnection,
    edges: pd.DataFrame,
    clusters: pd.DataFrame,
    reputation: pd.DataFrame,
    cfg: RiskConfig | None = None,
    schema: str = "raw",
    patterns: pd.DataFrame | None = None,
    rugs: pd.DataFrame | None = None,
    evidence: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per cluster: size, risk_score, risk_level, the four factors, evidence and `risk_breakdown`.

    `evidence` (from `wallet_evidence`: own patterns and spread) is built from `patterns` alone when
    not given; `patterns` and `rugs` are computed when not given.
    """
    cfg = cfg or RiskConfig()
    rugs, evidence = _evidence_or_default(con, edges, cfg, schema, patterns, rugs, evidence)
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
        behaviour_reputation(reputation, evidence)[["address", "reputation"]], on="address", how="left"
    )
    ev = evidence.set_index("address")
    m["strength"] = m["address"].map(ev["strength"]).fillna(0.0)
    m["own"] = m["address"].map(ev["pattern_strength"]).fillna(0.0)
    m["flagged"] = m["strength"] >= 0.5
    m["known"] = m["address"].isin(crushed)
    # Summed per cluster as a column, not by a Python lambda per cluster (85,309 clusters at 1M).
    m["convicted"] = m["own"] > 0
    made = tokens.merge(m[["address", "cluster_id"]], left_on="creator", right_on="address")
    g = m.groupby("cluster_id", sort=True).agg(
        size=("address", "size"),
        flagged_wallets=("flagged", "sum"),
        strength_sum=("strength", "sum"),
        strongest=("strength", "max"),
        convicted=("convicted", "sum"),
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
    wallet_share = g["strength_sum"] / g["size"]
    labelled = np.minimum(1.0, g["known_scammers"] / cfg.known_full)
    values = pd.DataFrame(
        {
            "scam_rate": np.maximum(token_share, wallet_share),
            "reputation": 1 - g["median_reputation"] / 100,
            "density": g["cohesion"],
            # A member convicted by its own behaviour or reached from one is a known scammer as
            # much as a labelled one: labels are missing for most real rings.
            "known_scammers": np.maximum(labelled, g["strongest"]),
        },
        index=g.index,
    )
    scored = _score_frame(values, cfg)
    n = g["size"].to_numpy()
    possible = n * (n - 1) / 2
    evidence_cols = {
        "scam_rate": pd.DataFrame(
            {
                "tokens_created": g["tokens_created"], "scam_tokens": g["scam_tokens"],
                "token_share": np.round(token_share, 4), "flagged_wallets": g["flagged_wallets"],
                "members": g["size"], "wallet_share": wallet_share.round(4),
                "incriminates": "the cluster, one actor: its created tokens and its members' evidence",
            }
        ),
        "reputation": g[["median_reputation", "members_with_reputation"]],
        "density": pd.DataFrame(
            {
                "weight_inside": g["weight_inside"].round(3),
                "weight_touching": g["weight_touching"].round(3),
                "pairs_inside": g["pairs_inside"].astype(int),
                "graph_density": np.round(g["pairs_inside"] / np.maximum(possible, 1), 4),
            }
        ),
        "known_scammers": pd.DataFrame(
            {
                "count": g["known_scammers"], "convicted_by_behaviour": g["convicted"],
                "strongest_member_evidence": g["strongest"].round(4),
            }
        ),
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
            "risk_breakdown": _breakdowns(values, scored, evidence_cols, cfg),
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
    evidence: pd.DataFrame | None = None,
    paid: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per address of `reputation`, scored alone or with its cluster; see the module docstring.

    Columns: address, cluster_id (None for singletons), risk_score, risk_level, reputation,
    patterns, risk_breakdown. `paid` (from `risk_spread.paid_perpetrators`) only adds evidence.
    """
    cfg = cfg or RiskConfig()
    rugs, evidence = _evidence_or_default(con, edges, cfg, schema, patterns, rugs, evidence)
    crushed = crush_labelled(con, schema)
    tokens = _created_tokens(con, schema)
    rugged = set(rugs["token"]) if len(rugs) else set()
    tokens["bad"] = tokens["scam_label"].astype(bool) | tokens["token"].isin(rugged)
    tok = tokens.groupby("creator").agg(tokens_created=("token", "size"), scam_tokens=("bad", "sum"))
    w = reputation[["address", "reputation"]].copy()
    adjusted = behaviour_reputation(reputation, evidence)
    w["cluster_id"] = w["address"].map(clusters.set_index("address")["cluster_id"])
    ev = evidence.set_index("address")
    w["patterns"] = w["address"].map(ev["patterns"])
    strength = w["address"].map(ev["strength"]).fillna(0.0).to_numpy(dtype=float)
    spread = w["address"].map(ev["spread"]).fillna(0.0)
    paths = w["address"].map(ev["paths"])
    figures = w["address"].map(ev["figures"]) if "figures" in ev else pd.Series(index=w.index, dtype=object)
    w = w.join(tok, on="address")
    w[["tokens_created", "scam_tokens"]] = w[["tokens_created", "scam_tokens"]].fillna(0).astype(int)
    cs = cluster_scores.set_index("cluster_id")
    cb = cs["risk_breakdown"].map(lambda b: json.loads(b)["known_scammers"]["value"])
    w["cluster_scam_rate"] = w["cluster_id"].map(cs["scam_rate"].astype(float))
    w["cluster_density"] = w["cluster_id"].map(cs["density"].astype(float))
    w["cluster_known"] = w["cluster_id"].map(cb.astype(float))
    strong = evidence.set_index("address")["strength"]
    # Built once for the paid perpetrators and the victim side.
    flows = transfer_flows(edges)
    if paid is None:
        paid = paid_perpetrators(edges, strong, flows=flows)
    paid_n = w["address"].map(paid).fillna(0).astype(int)
    # The victim side (`risk_spread.victim_side`): grouped with the perpetrators (a clustering
    # mistake or a shared funding source), it keeps its own factors: a victim never inherits the
    # scammer's risk.
    victim = w["address"].isin(victim_side(edges, strong, signed=value_sent(con, schema), flows=flows))
    victim = victim.to_numpy()
    in_cluster = w["cluster_scam_rate"].notna() & ~victim
    self_labelled = w["address"].isin(crushed)
    own_tokens = np.where(w["tokens_created"] > 0, w["scam_tokens"] / w["tokens_created"].clip(lower=1), 0.0)
    own_scam = np.maximum(strength, own_tokens)
    own_known = np.maximum(self_labelled.astype(float), strength)
    values = pd.DataFrame(
        {
            "scam_rate": np.where(
                in_cluster, np.maximum(w["cluster_scam_rate"].fillna(0), own_scam), own_scam
            ),
            "reputation": 1 - adjusted["reputation"].fillna(50.0).to_numpy() / 100,
            "density": np.where(in_cluster, w["cluster_density"].fillna(0), 0.0),
            "known_scammers": np.where(
                in_cluster, np.maximum(w["cluster_known"].fillna(0), own_known), own_known
            ),
        },
        index=w.index,
    )
    scored = _score_frame(values, cfg)
    source = np.where(in_cluster, "cluster", np.where(victim, "own (victim side)", "own"))
    evidence_cols = {
        "scam_rate": pd.DataFrame(
            {
                "source": source, "own_patterns": w["patterns"].fillna("").to_numpy(),
                "own_evidence": np.round(strength, 4), "spread": spread.round(4).to_numpy(),
                "tokens_created": w["tokens_created"].to_numpy(), "scam_tokens": w["scam_tokens"].to_numpy(),
                # The victim side: paying a known perpetrator is shown and adds nothing.
                "paid_perpetrators": paid_n.to_numpy(),
                "spread_paths": [p if isinstance(p, list) else [] for p in paths],
                # What each own pattern measured (the phishing figures against their bounds, the
                # rugged tokens).
                "pattern_figures": [f if isinstance(f, dict) else {} for f in figures],
            }
        ),
        "reputation": pd.DataFrame(
            {
                "own_reputation": w["reputation"].to_numpy(dtype=float),
                "behaviour_points": adjusted["behaviour_points"].to_numpy(dtype=float),
            }
        ),
        "density": pd.DataFrame({"source": source}),
        "known_scammers": pd.DataFrame({"source": source, "self_labelled": self_labelled.to_numpy()}),
    }  # fmt: skip
    w["risk_score"], w["risk_level"] = scored["risk_score"], scored["risk_level"]
    w["risk_breakdown"] = _breakdowns(values, scored, evidence_cols, cfg)
    return w[
        ["address", "cluster_id", "risk_score", "risk_level", "reputation", "patterns", "risk_breakdown"]
    ]
