"""Suspicion spread from known perpetrators along the paths that connect perpetrators, never to victims.

Seeds are wallets already known bad: labelled scam / phishing / sanctioned, or convicted by a
behaviour pattern of their own (`risk.pattern_wallets`), each with a strength in [0, 1]. A wallet
near a seed is suspect only through a path in which it plays the perpetrator's side. Every path
names the side it incriminates:

- **proceeds** (incriminates the *receiver*): the wallet is fed by perpetrators. Value = the share
  of its inbound transfers (counted over `direct_transfer`, `sweep`, `deposit_address` and
  `peel_forward` edges, i.e. transfers the sender signed, dust and hubs already left out) that come
  from seeds, each weighted by the seed's strength. A collector of rug proceeds or of a farm's
  sweeps gets most of its inflow from seeds; an ordinary wallet paid once by a scammer among many
  other senders gets a small share.
- **funds** (incriminates the *funder*): the wallet gave a seed its first ETH (the seed's first
  inbound transfer, before the seed signed anything, from a non-hub) and either did so for at least
  `funds_min_seeds` seeds or also received from a seed it funded (the money came back). A victim
  pays an operating scammer and gets nothing back, so this path never reaches a victim; the capital
  behind a ring's deployers does.
- **feeds** (incriminates the *sender*): the wallet collects people's one-off payments (its
  payers mostly low-degree and paying once, none paid back, most of its inflow forwarded within
  a day: `risk.phishing_inflow`'s figures, whatever its number of payers) and sends seeds at least
  `victim_max_out_share` of its transfers. Value = that share, weighted by the seeds' strength.
  A phishing account too small to show the pattern itself, forwarding to its operator's
  consolidation wallet or to another phisher, is reached; a victim, who pays a scammer from its
  own funds once among its own transfers, is not.
- **shared_payers** (incriminates the *receiver*): the wallet and a seed are paid by the same
  low-degree wallets (victims who paid both). Each shared payer `c` adds `1 / (payees(c) - 1)`: a
  payer who paid only the two is as specific as a direct link, one who paid fifty wallets says
  little. Value = `(1 - exp(-sum)) * share`, where `share` is the part of the wallet's payers
  that paid the seed too. At least `shared_payers_min` (2) different shared payers are needed:
  a victim's friend, paid by that one victim, is not reached. Two exclusive shared payers give
  0.86 when they are all the wallet's payers; a popular wallet a few of them paid gets little.

Paying a seed incriminates nobody: the payer is a likely victim (`paid_perpetrators` counts it in
the breakdown as evidence, adding no points).

Values combine as a noisy-or over paths and seeds (`1 - prod(1 - strength * value)`). A seed
with weak evidence of its own (below `next_seed_min`) can still be reached by a stronger path. The
spread runs `hops` rounds: wallets reaching `next_seed_min` in one round seed the next with their value,
so a deposit address fed by a ring's collector is reached through the collector. Hubs and
services (wallets paying more than `service_min_payees` distinct wallets) are never reached and
never spread, even with a pattern of their own.
Ground truth is never read here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from wallet_pipeline.logic.graph.hubs import table_columns

FLOW_EDGES = ("direct_transfer", "sweep", "deposit_address", "peel_forward")
SPREAD_COLUMNS = ["address", "spread", "paths"]


@dataclass(frozen=True)
class SpreadConfig:
    """How far and how strongly suspicion spreads."""

    hops: int = 2
    # A wallet this suspect after one round seeds the next: the middle of [0, 1], so a wallet
    # whose inflow is mostly from perpetrators passes it on, one paid now and then does not.
    next_seed_min: float = 0.5
    funds_min_seeds: int = 2
    # Paths below this value are not kept (noise from one transfer among hundreds).
    min_value: float = 0.05
    # Payers of more wallets than this are services or airdrops, not victims of one actor.
    shared_payer_max_payees: int = 50
    # A wallet paying more distinct wallets than this is a service: never reached, never spreading.
    # The hub guard's 300 counterparties missed small exchanges' hot wallets: one paying 190
    # customers in kept world 1002, reached through launderers' deposits, passed the suspicion
    # to 67 of them; one in fresh world 2000 showing a peel chain itself passed it to 26. (A farm
    # funder paying its members is not needed: they show the farm's own patterns.)
    service_min_payees: int = 50
    # One payer paying two wallets is ordinary (a victim's friend); two different payers who each
    # paid both the seed and the wallet are a pattern.
    shared_payers_min: int = 2
    # How often each path reaches a perpetrator (its precision over the 10 phishing-network draws
    # of benchmarks/phishing_network.py and the 20 kept quality worlds, pooled; docs/risk.md):
    # path values are scaled by it. Wallets paid by the same victims are mostly the victims'
    # friends; collectors forwarding to perpetrators are phishers half the time.
    shared_payers_strength: float = 0.1
    feeds_strength: float = 0.44
    # Seeds at least this strong count as perpetrators a payer paid (the victim side).
    victim_of_min: float = 0.5
    # A victim sends perpetrators less than this share of its transfers (the middle of the scale:
    # a farm member or a mule sends them most of what it sends).
    victim_max_out_share: float = 0.5


def transfer_flows(edges: pd.DataFrame) -> pd.DataFrame:
    """src, dst, n: transfers the sender signed, one row per ordered pair (the largest count of its rules)."""
    if edges.empty:
        return pd.DataFrame(columns=["src", "dst", "n"])
    f = edges[edges["edge_type"].isin(FLOW_EDGES) & edges["directed"].astype(bool)]
    f = f.assign(n=f["n"].fillna(1).astype(float).clip(lower=1))
    f = f[f["src"] != f["dst"]]
    return f.groupby(["src", "dst"], as_index=False)["n"].max()


@dataclass(frozen=True)
class FlowStats:
    """The flows (`transfer_flows`) and their per-wallet sums, built once for every round and caller.

    At 1,000,000 wallets the flows are millions of rows keyed by 42-character addresses: each
    grouping hashes them all again, and the two spread rounds, the victim side and the paid
    perpetrators grouped them the same ways over and over.
    """

    flows: pd.DataFrame
    sent: pd.Series = field(repr=False)  # per sender, transfers over its flows
    inbound: pd.Series = field(repr=False)  # per receiver, transfers over its flows
    pair_n: pd.Series = field(repr=False)  # transfers per (src, dst)
    payees: pd.Series = field(repr=False)  # per sender, distinct receivers
    payers: pd.Series = field(repr=False)  # per receiver, distinct senders


def flow_stats(edges: pd.DataFrame) -> FlowStats:
    """The flows of `edges` (`transfer_flows`: one row per ordered pair) and what each round reads."""
    flows = transfer_flows(edges)
    if not len(flows):
        empty = pd.Series(dtype=float)
        return FlowStats(flows, empty, empty, flows.set_index(["src", "dst"])["n"], empty, empty)
    # One row per ordered pair: the distinct receivers of a sender are its rows.
    return FlowStats(
        flows=flows,
        sent=flows.groupby("src")["n"].sum(),
        inbound=flows.groupby("dst")["n"].sum(),
        pair_n=flows.set_index(["src", "dst"])["n"],
        payees=flows.groupby("src")["dst"].nunique(),
        payers=flows.groupby("dst")["src"].nunique(),
    )


def _first_funders(con: duckdb.DuckDBPyConnection, schema: str, seeds: list[str]) -> pd.DataFrame:
    """seed, funder: who sent a seed its first ETH, when that came before the seed signed anything."""
    tx = table_columns(con, schema, "transactions")
    if not seeds or not {"from_address", "to_address", "value", "block_timestamp"} <= tx:
        return pd.DataFrame(columns=["seed", "funder"])
    s = pd.DataFrame({"seed": seeds})  # noqa: F841
    status = "and receipt_status is distinct from 0" if "receipt_status" in tx else ""
    return con.sql(
        f"""
        with x as (
            select lower(from_address) a, lower(to_address) b, block_timestamp::timestamp t,
                   try_cast(value as double) v
            from {schema}.transactions where to_address is not null {status}
        ),
        first_in as (
            select b seed, arg_min(a, t) funder, min(t) t from x semi join s on s.seed = x.b
            where v > 0 group by b
        ),
        first_out as (select a seed, min(t) t from x semi join s on s.seed = x.a group by a)
        select f.seed, f.funder from first_in f left join first_out o using (seed)
        where (o.t is null or f.t <= o.t) and f.funder <> f.seed
        """
    ).df()


def _noisy_or(values: pd.Series) -> float:
    return float(1 - np.prod(1 - values.clip(0, 1).to_numpy()))


def _one_round(
    con: duckdb.DuckDBPyConnection,
    stats: FlowStats,
    seeds: pd.Series,
    hubs: set[str],
    cfg: SpreadConfig,
    schema: str,
    collectors: set[str] | None = None,
    victim_fed: set[str] | None = None,
) -> pd.DataFrame:
    """address, via, source, value: every path from a seed to a wallet in one round."""
    rows: list[pd.DataFrame] = []
    strength = seeds.to_dict()
    flows = stats.flows
    # feeds: a collector of people's one-off payments that passes most of what it sends to seeds.
    if collectors and len(flows):
        sent = stats.sent
        fed = flows[flows["src"].isin(collectors) & flows["dst"].isin(strength)]
        fed = fed.assign(value=fed["n"] * fed["dst"].map(strength) / fed["src"].map(sent))
        fed = fed.sort_values("value", ascending=False).groupby("src", as_index=False)
        fed = fed.agg(source=("dst", "first"), value=("value", "sum"))
        fed = fed[fed["value"] >= cfg.victim_max_out_share]
        rows.append(pd.DataFrame({"address": fed["src"], "via": "feeds", "source": fed["source"],
                                  "value": cfg.feeds_strength * fed["value"].clip(upper=1.0)}))  # fmt: skip
    # proceeds: share of the wallet's inbound transfers that come from seeds (strength-weighted).
    if len(flows):
        inbound = stats.inbound
        fed = flows[flows["src"].isin(strength)]
        # A wallet that paid the seed at least as often as the seed paid it is its victim: what
        # comes back is a refund or a giveaway scam's bait, not proceeds.
        paid_back = stats.pair_n
        back = pd.MultiIndex.from_arrays([fed["dst"], fed["src"]])
        fed = fed[paid_back.reindex(back).fillna(0).to_numpy() < fed["n"].to_numpy()]
        fed = fed.assign(value=fed["n"] * fed["src"].map(strength) / fed["dst"].map(inbound))
        # One share per receiver (summed over its perpetrator senders), named after the largest.
        fed = fed.sort_values("value", ascending=False).groupby("dst", as_index=False)
        fed = fed.agg(source=("src", "first"), value=("value", "sum"))
        rows.append(pd.DataFrame({"address": fed["dst"], "via": "proceeds", "source": fed["source"],
                                  "value": fed["value"].clip(upper=1.0)}))  # fmt: skip
    # funds: first funder of several seeds, or of one that paid it back.
    ff = _first_funders(con, schema, list(strength))
    ff = ff[~ff["funder"].isin(hubs)]
    if len(ff):
        n_funded = ff.groupby("funder")["seed"].transform("size")
        # The seed paid its funder back: (seed, funder) is a flow.
        returned = pd.MultiIndex.from_arrays([ff["seed"], ff["funder"]]).isin(stats.pair_n.index)
        ok = ff[(n_funded >= cfg.funds_min_seeds).to_numpy() | np.asarray(returned, dtype=bool)]
        rows.append(pd.DataFrame({"address": ok["funder"], "via": "funds", "source": ok["seed"],
                                  "value": ok["seed"].map(strength)}))  # fmt: skip
    # shared_payers: paid by the same low-degree payers as a seed.
    if len(flows):
        payees = stats.payees
        small = payees[(payees >= 2) & (payees <= cfg.shared_payer_max_payees)]
        pf = flows[flows["src"].isin(small.index) & ~flows["src"].isin(strength)]
        by_seed = pf[pf["dst"].isin(strength)][["src", "dst"]].rename(columns={"dst": "seed"})
        pairs = pf[["src", "dst"]].merge(by_seed, on="src")
        pairs = pairs[pairs["dst"] != pairs["seed"]]
        pairs = pairs.merge(
            pairs.groupby(["dst", "seed"])["src"].nunique().rename("n_shared").reset_index(),
            on=["dst", "seed"],
        )
        pairs = pairs[pairs["n_shared"] >= cfg.shared_payers_min]
        if victim_fed is not None:
            pairs = pairs[pairs["dst"].isin(victim_fed)]
        if len(pairs):
            pairs["w"] = pairs["seed"].map(strength) / (pairs["src"].map(small) - 1)
            agg = pairs.groupby(["dst", "seed"]).agg(w=("w", "sum"), shared=("src", "nunique")).reset_index()
            payers = stats.payers
            share = agg["shared"] / agg["dst"].map(payers)
            value = cfg.shared_payers_strength * (1 - np.exp(-agg["w"])) * share
            rows.append(pd.DataFrame({"address": agg["dst"], "via": "shared_payers", "source": agg["seed"],
                                      "value": value}))  # fmt: skip
    if not rows:
        return pd.DataFrame(columns=["address", "via", "source", "value"])
    out = pd.concat(rows, ignore_index=True)
    out = out[~out["address"].isin(hubs) & (out["value"] >= cfg.min_value)]
    # A seed is reached only by a path stronger than its own evidence (a weak pattern of its own
    # must not shield it from stronger evidence).
    return out[out["value"].to_numpy() > out["address"].map(strength).fillna(0.0).to_numpy()]


def perpetrator_spread(
    con: duckdb.DuckDBPyConnection,
    edges: pd.DataFrame,
    seeds: pd.Series,
    cfg: SpreadConfig | None = None,
    schema: str = "raw",
    hubs: set[str] | None = None,
    collectors: set[str] | None = None,
    victim_fed: set[str] | None = None,
    stats: FlowStats | None = None,
) -> pd.DataFrame:
    """One row per wallet reached: `address, spread` (0-1) and `paths` (list of dicts, strongest first).

    `seeds` maps address -> strength in [0, 1]. A seed is in the result only when a path stronger
    than its own strength reaches it (a weak pattern of its own does not shield it).
    `collectors` (wallets fed like a phishing account, whatever their number of payers:
    `risk.phishing_inflow` with no payer bound) can be reached by the `feeds` path; when
    `victim_fed` is given, only its wallets (payers mostly low-degree and paying once, none paid
    back) can be reached by `shared_payers`. `stats` (`flow_stats(edges)`) saves building them again.
    """
    cfg = cfg or SpreadConfig()
    stats = flow_stats(edges) if stats is None else stats
    payees = stats.payees if len(stats.flows) else pd.Series(dtype=int)
    # Services (hot wallets of small exchanges the hub guard missed) are never reached: their
    # inflow mixes everyone's deposits, and as seeds they would reach every customer they paid.
    services = set(payees[payees > cfg.service_min_payees].index)
    hubs = set(hubs or set()) | services
    current = seeds[(seeds > 0) & ~seeds.index.isin(services)].astype(float)
    known = set(current[current >= cfg.next_seed_min].index)
    found: list[pd.DataFrame] = []
    for _ in range(max(cfg.hops, 0)):
        if current.empty:
            break
        paths = _one_round(con, stats, current, hubs, cfg, schema, collectors, victim_fed)
        paths = paths[~paths["address"].isin(known)]
        if paths.empty:
            break
        found.append(paths)
        value = paths.groupby("address")["value"].agg(_noisy_or)
        current = value[value >= cfg.next_seed_min]
        known |= set(value.index)
    if not found:
        return pd.DataFrame(columns=SPREAD_COLUMNS)
    # Ties broken by the path itself: the three paths shown must not depend on the order rows arrived in
    # (a JSON export of the same world listed three tied paths in another order).
    allp = pd.concat(found, ignore_index=True).sort_values(
        ["value", "via", "source"], ascending=[False, True, True], kind="stable"
    )
    allp["value"] = allp["value"].round(4)
    spread = allp.groupby("address")["value"].agg(_noisy_or).round(4)
    paths = allp.groupby("address").apply(
        lambda g: g.head(3)[["via", "source", "value"]].to_dict("records"), include_groups=False
    )
    paths = paths.reindex(spread.index).to_numpy()
    return pd.DataFrame({"address": spread.index, "spread": spread.to_numpy(), "paths": paths})


def paid_perpetrators(
    edges: pd.DataFrame,
    seeds: pd.Series,
    cfg: SpreadConfig | None = None,
    flows: pd.DataFrame | None = None,
) -> pd.Series:
    """Per wallet, how many perpetrators (seeds at least `victim_of_min` strong) it paid: the victim side.

    Shown as evidence; it adds no risk. `victim_side` says which payers are victims. `flows`
    (`transfer_flows(edges)`) saves building them again.
    """
    cfg = cfg or SpreadConfig()
    flows = transfer_flows(edges) if flows is None else flows
    strong = set(seeds[seeds >= cfg.victim_of_min].index)
    if flows.empty or not strong:
        return pd.Series(dtype=int)
    paid = flows[flows["dst"].isin(strong) & ~flows["src"].isin(strong)]
    return paid.groupby("src")["dst"].nunique()


def victim_side(
    edges: pd.DataFrame,
    seeds: pd.Series,
    cfg: SpreadConfig | None = None,
    signed: pd.Series | None = None,
    flows: pd.DataFrame | None = None,
) -> set[str]:
    """Wallets on the victim side of perpetrators (seeds at least `victim_of_min` strong).

    A victim paid a perpetrator, was paid by perpetrators fewer times than it paid them (a
    giveaway scam's bait comes back once), is no seed itself, and sent perpetrators less
    than `victim_max_out_share` of its transfers: the scam was one episode in its own activity. A
    farm member sweeping everything to its collector, or a mule forwarding to the next hop, sends
    most of what it sends to perpetrators and is not a victim. Its transfers are counted over the
    graph's flow edges, or over `signed` (per wallet, the transactions carrying value that it
    signed) when that is larger: the edges leave out payments to exchanges and contracts. `flows`
    (`transfer_flows(edges)`) saves building them again.
    """
    cfg = cfg or SpreadConfig()
    flows = transfer_flows(edges) if flows is None else flows
    strong = set(seeds[seeds >= cfg.victim_of_min].index)
    if flows.empty or not strong:
        return set()
    weak = set(seeds[seeds > 0].index)
    to_bad = flows["dst"].isin(strong)
    out = flows.assign(bad=flows["n"].where(to_bad, 0.0)).groupby("src")[["n", "bad"]].sum()
    if signed is not None:
        # In a phishing-network draw a victim paying two phishers twice showed 4 of its 8 flow
        # edges' transfers to them, but 13 transactions of its own: it was clustered with them.
        out["n"] = np.maximum(out["n"], signed.reindex(out.index).fillna(0.0).to_numpy(dtype=float))
    share = out["bad"] / out["n"]
    paid = set(share[(out["bad"] > 0) & (share < cfg.victim_max_out_share)].index)
    # Paid back by perpetrators as often as it paid them: a mule or a partner, not a victim (a
    # giveaway scam's bait, one small transfer back for the victim's payments, is not).
    got = flows[flows["src"].isin(strong)].groupby("dst")["n"].sum()
    sent = out["bad"].reindex(got.index).fillna(0.0)
    return paid - set(got[got >= sent].index) - weak
