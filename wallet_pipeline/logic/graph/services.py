"""Exchanges as service entities: hot wallets, second-tier hot wallets and shared deposit addresses.

Industry attribution (Etherscan, Arkham, Chainalysis) gives an exchange every address whose keys
it holds. The wallet graph keeps hubs out of clustering so that an exchange never glues its
customers; this module puts the exchange's own addresses back together as one cluster flagged as a
service, and never lets a customer into it:

- **Hot wallets**: EOA hubs (an `exchange` label or the hub degree) that receive the sweeps of at
  least `min_sweeping_deposits` deposit addresses. A label alone makes no hot wallet: public feeds
  put exchange names on customers too.
- **One exchange**: hot wallets swept into by one deposit address (a deposit address belongs to one
  exchange), linked by a hub-hub transfer or a top-up edge, or labelled with one exchange name
  ("Binance 14" and "Binance 7") are one service.
- **Second-tier hot wallets**: the receivers of a `hot_wallet_topup` edge from a hot wallet.
- **Shared deposit addresses**: deposit addresses with at least `shared_deposit_min_senders`
  senders that no strong link of their own joins (several customers of the exchange), given to the
  exchange they sweep to most. The customers stay apart from it; what the address says about them
  is kept as `shared_deposit` pairs between its senders, at the weight of their deposit edges.
- Every other deposit address stays with its customer (it is the evidence that the wallets paying
  it are one customer's) and is attributed to the exchange it sweeps to (`service_cluster_id`).

Thresholds and how often each rule is right on the kept random worlds: docs/services.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from wallet_pipeline.logic.graph.hubs import table_columns
from wallet_pipeline.logic.graph.store import GRAPH_SCHEMA, read_table

SERVICE_EDGE_TYPES = ("service_sweep", "service_link", "service_label", "service_refill")
HUBS_TABLE = f"{GRAPH_SCHEMA}.hubs"


@dataclass(frozen=True)
class ServiceConfig:
    """Rules that make an address an exchange's; see docs/services.md for where each came from."""

    # EOA hubs that may be hot wallets: labelled exchange or busy; other labels are other services.
    hot_wallet_reasons: tuple[str, ...] = ("label:exchange", "degree")
    # Sweeps from two deposit addresses: a customer withdrawing twice sweeps nothing in.
    min_sweeping_deposits: int = 2
    # Kept worlds: of the deposit addresses with 4 senders 15 of 27 were shared, 5 a laundering
    # chain's (its hops strongly joined) and none of the other 7 became a member; with 3 senders
    # 18 of 92 were shared (docs/services.md).
    shared_deposit_min_senders: int = 4
    # Hub-hub transfers and top-ups at this weight or more link two hot wallets.
    link_min_weight: float = 0.85
    # Second tier: as the graph's hot_wallet_topup rule, but counting every hot wallet of the
    # exchange together (a second-tier wallet is refilled by several).
    refill_min_transfers: int = 3
    refill_min_inflow_share: float = 0.8
    refill_min_payees: int = 20
    refill_max_contract_share: float = 0.05
    # A customer's repeated payments to a deposit address make a `deposit_address` edge and a
    # `direct_transfer` edge out of the same transfers; their weights add up when clustering (0.45
    # + 0.25 with two senders: a join). True drops the direct_transfer of such a pair. Measured on
    # the kept worlds (docs/services.md): fewer customers glued, lower exchange-user recall.
    deposit_transfers_once: bool = False
    # Senders joined this strongly are one actor's (GraphConfig.strong_weight).
    strong_weight: float = 0.85
    evidence_cap: int = 10


@dataclass
class Services:
    """The service addresses of one graph.

    `members`: address, service_id, service_role (`hot_wallet`, `secondary_hot_wallet`,
    `deposit_address`), service_kind, service_name: the addresses that form service clusters.
    `deposits`: address, service_id: every deposit address and the service it sweeps to most.
    `edges`: edge rows (the graph's columns and `evidence`) that join members of one service, and
    the `shared_deposit` pairs between the customers of a shared deposit address.
    """

    members: pd.DataFrame
    deposits: pd.DataFrame
    edges: pd.DataFrame
    stats: dict = field(default_factory=dict)


_NUMBERED = re.compile(r"^(.*?)[\s:#_-]*\d+\s*$")


def exchange_name(label: str) -> str:
    """The exchange a hot wallet label names: "Binance 14" -> "Binance", "Kraken: Hot Wallet" kept."""
    text = str(label).strip()
    m = _NUMBERED.match(text)
    return (m.group(1) if m and m.group(1) else text).strip()


def _exchange_labels(con: duckdb.DuckDBPyConnection, schema: str) -> pd.Series:
    """Address -> exchange name from `address_labels` (label_type `exchange`); empty without it."""
    if not {"address", "label_type", "name"} <= table_columns(con, schema, "address_labels"):
        return pd.Series(dtype=object)
    rows = con.sql(
        f"select address, min(name) as label_name from {schema}.address_labels "
        "where label_type = 'exchange' and name is not null group by address"
    ).df()
    return pd.Series(rows["label_name"].map(exchange_name).to_numpy(), index=rows["address"].to_numpy())


def _raw_transfers(con: duckdb.DuckDBPyConnection, schema: str) -> str | None:
    """SQL of every value transfer of the raw tables (s, d, hash, t), or None without them."""
    parts = []
    tx_cols = table_columns(con, schema, "transactions")
    if tx_cols:
        ok = "and coalesce(receipt_status, 1) = 1" if "receipt_status" in tx_cols else ""
        parts.append(
            f"select from_address s, to_address d, hash, block_timestamp t from {schema}.transactions "
            f"where value > 0 {ok}"
        )
    if table_columns(con, schema, "token_transfers"):
        parts.append(
            "select from_address, to_address, transaction_hash, block_timestamp "
            f"from {schema}.token_transfers"
        )
    return " union all ".join(parts) if parts else None


TRANSFER_COLUMNS = ["src", "dst", "n", "first_time", "last_time", "evidence"]


def transfers_from(
    con: duckdb.DuckDBPyConnection,
    senders: pd.Series,
    schema: str,
    cap: int,
    receivers: pd.Series | None = None,
) -> pd.DataFrame:
    """src, dst, n, first_time, last_time, evidence: raw transfers out of `senders` (to `receivers`).

    Read from the raw ETH transactions and token transfers: the graph drops hub edges (so that a
    hot wallet never links two customers), so only the raw tables still hold an exchange's sweeps
    and refills.
    """
    sql = _raw_transfers(con, schema)
    if sql is None or not len(senders) or (receivers is not None and not len(receivers)):
        return pd.DataFrame(columns=TRANSFER_COLUMNS)
    con.register("_svc_src", pd.DataFrame({"a": pd.unique(senders.to_numpy(dtype=object))}))
    con.register(
        "_svc_dst",
        pd.DataFrame(
            {"a": pd.unique((receivers if receivers is not None else senders[:0]).to_numpy(dtype=object))}
        ),
    )
    to = "and d in (select a from _svc_dst)" if receivers is not None else ""
    try:
        return con.sql(
            f"""
            select s src, d dst, count(*) n, min(t) first_time, max(t) last_time,
                   list(distinct hash order by hash)[1:{int(cap)}] evidence
            from ({sql})
            where s in (select a from _svc_src) {to} and d is not null and s <> d
            group by s, d order by s, d
            """
        ).df()
    finally:
        con.unregister("_svc_src")
        con.unregister("_svc_dst")


def _refilled(
    con: duckdb.DuckDBPyConnection, service_of: pd.Series, contracts: set, schema: str, cfg: ServiceConfig
) -> pd.DataFrame:
    """Second-tier hot wallets: src (a hot wallet), dst, n, ...: wallets one exchange keeps filling.

    A wallet gets at least `refill_min_transfers` transfers from one exchange's hot wallets, they
    are at least `refill_min_inflow_share` of what it receives, and it pays at least
    `refill_min_payees` addresses, almost never a contract (a customer withdrawing often trades on
    DEX pools and is paid by others too).
    """
    fills = transfers_from(con, pd.Series(service_of.index), schema, cfg.evidence_cap)
    fills = fills[~fills["dst"].isin(service_of.index) & ~fills["dst"].isin(contracts)]
    if not len(fills):
        return fills
    fills = fills.assign(service=service_of[fills["src"]].to_numpy())
    per = fills.groupby(["dst", "service"], as_index=False)["n"].sum()
    per = per[per["n"] >= cfg.refill_min_transfers]
    if not len(per):
        return fills.iloc[:0]
    sql = _raw_transfers(con, schema)
    con.register("_svc_w", pd.DataFrame({"a": pd.unique(per["dst"].to_numpy(dtype=object))}))
    con.register("_svc_c", pd.DataFrame({"a": pd.Series(sorted(contracts), dtype=object)}))
    try:
        flows = (
            con.sql(
                f"""
            with x as ({sql}),
            ins as (select d a, count(*) n_in from x where d in (select a from _svc_w) group by d),
            outs as (
                select s a, count(distinct d) payees, count(*) n_out,
                       count(*) filter (d in (select a from _svc_c)) n_contract
                from x where s in (select a from _svc_w) group by s
            )
            select w.a address, coalesce(n_in, 0) n_in, coalesce(payees, 0) payees,
                   coalesce(n_out, 0) n_out, coalesce(n_contract, 0) n_contract
            from _svc_w w left join ins using (a) left join outs using (a)
            """
            )
            .df()
            .set_index("address")
        )
    finally:
        con.unregister("_svc_w")
        con.unregister("_svc_c")
    f = flows.reindex(per["dst"].to_numpy())
    keep = (
        (per["n"].to_numpy() >= cfg.refill_min_inflow_share * f["n_in"].to_numpy())
        & (f["payees"].to_numpy() >= cfg.refill_min_payees)
        & (f["n_contract"].to_numpy() <= cfg.refill_max_contract_share * f["n_out"].to_numpy())
    )
    chosen = per[keep].sort_values(["dst", "n"], ascending=[True, False]).drop_duplicates("dst")
    out = fills.merge(chosen[["dst", "service"]], on=["dst", "service"])
    return out.drop(columns="service")


def _components(nodes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component label of each node of `nodes` given pairs (a, b) of node positions."""
    g = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(len(nodes), len(nodes)))
    return connected_components(g, directed=False)[1]


EDGE_FIELDS = ["src", "dst", "edge_type", "directed", "weight", "first_time", "last_time", "n", "evidence"]


def _edge_rows(frame: pd.DataFrame, edge_type: str, weight: float) -> pd.DataFrame:
    """`frame` (src, dst and what it has of the edge columns) as edge rows of `edge_type`.

    An empty `edge_type` keeps the frame's own; the graph's edges keep their weights too.
    """
    out = frame.reindex(columns=EDGE_FIELDS).copy()
    if edge_type:
        out["edge_type"] = edge_type
        out["weight"] = float(weight)
    else:
        out["weight"] = out["weight"].fillna(float(weight))
    out["directed"] = out["edge_type"].isin(("service_sweep", "service_refill"))
    out["n"] = out["n"].fillna(1).astype("int64")
    for col in ("first_time", "last_time"):
        out[col] = pd.to_datetime(out[col]).astype("datetime64[us]")
    out["evidence"] = [list(v) if isinstance(v, list | np.ndarray) else [] for v in out["evidence"]]
    return out.astype({"src": object, "dst": object, "edge_type": object, "weight": float})


def _empty_deposits() -> pd.DataFrame:
    return pd.DataFrame({"address": pd.Series(dtype=object), "service_id": pd.Series(dtype=object)})


def _empty_members() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(dtype=object)
            for c in ("address", "service_id", "service_role", "service_kind", "service_name")
        }
    )


def find_services(
    con: duckdb.DuckDBPyConnection,
    edges: pd.DataFrame,
    cfg: ServiceConfig | None = None,
    schema: str = "raw",
) -> Services:
    """The exchanges of a stored graph: see the module docstring.

    `edges`: the graph's edges (src, dst, edge_type, weight, first_time, last_time, n), as
    `graph.wallet_edges` holds them; `graph.hubs` and the raw tables of `schema` are read too.
    """
    cfg = cfg or ServiceConfig()
    dep_edges = edges[edges["edge_type"] == "deposit_address"] if len(edges) else edges
    senders = dep_edges.groupby("dst")["src"].nunique() if len(dep_edges) else pd.Series(dtype="int64")
    hubs = read_table(con, HUBS_TABLE, "address, reason")
    hubs = hubs if hubs is not None else pd.DataFrame({"address": [], "reason": []})
    candidates = pd.Series(pd.unique(hubs.loc[hubs["reason"].isin(cfg.hot_wallet_reasons), "address"]))
    sw = transfers_from(con, pd.Series(senders.index), schema, cfg.evidence_cap, receivers=candidates)
    n_deposits = sw.groupby("dst")["src"].nunique() if len(sw) else pd.Series(dtype="int64")
    hot = np.sort(n_deposits.index[n_deposits >= cfg.min_sweeping_deposits].to_numpy(dtype=object))
    stats = {"hot_wallet_candidates": int(len(candidates)), "deposit_addresses": int(len(senders))}
    if not len(hot):
        return Services(_empty_members(), _empty_deposits(), _edge_rows(pd.DataFrame(), "", 0.0), stats)
    sw = sw[sw["dst"].isin(hot)]
    labels = _exchange_labels(con, schema)
    links = _hot_wallet_links(sw, edges, labels.reindex(hot).dropna(), hot, cfg)
    pos = pd.Series(np.arange(len(hot)), index=hot)
    comp = _components(hot, pos[links["src"]].to_numpy(), pos[links["dst"]].to_numpy())
    service_of = pd.Series(comp, index=hot)
    contracts = set(hubs.loc[hubs["reason"] == "contract", "address"])
    refills = _refilled(con, service_of, contracts, schema, cfg)
    # Every deposit address goes to the exchange it sweeps to most (by transfers, then address).
    best = sw.sort_values(["src", "n", "dst"], ascending=[True, False, True]).drop_duplicates("src")
    dep_service = pd.Series(service_of[best["dst"]].to_numpy(), index=best["src"].to_numpy())
    shared = _shared_deposits(edges, senders.reindex(dep_service.index), cfg)
    second = refills.sort_values(["dst", "n"], ascending=[True, False]).drop_duplicates("dst")
    m = pd.concat(
        [
            pd.DataFrame({"address": hot, "service": comp, "service_role": "hot_wallet"}),
            pd.DataFrame(
                {
                    "address": second["dst"].to_numpy(dtype=object),
                    "service": service_of[second["src"]].to_numpy(),
                    "service_role": "secondary_hot_wallet",
                }
            ),
            pd.DataFrame(
                {
                    "address": shared,
                    "service": dep_service[shared].to_numpy(),
                    "service_role": "deposit_address",
                }
            ),
        ],
        ignore_index=True,
    ).drop_duplicates("address")
    # A service is named by the exchange name most of its labelled members carry.
    m["name"] = labels.reindex(m["address"]).to_numpy(dtype=object)
    top_name = m.dropna(subset=["name"]).groupby("service")["name"].agg(lambda v: v.value_counts().index[0])
    m["service_id"] = "svc_" + m.groupby("service")["address"].transform("min")
    m["service_kind"] = "exchange"
    m["service_name"] = m["service"].map(top_name)
    svc_id = m.drop_duplicates("service").set_index("service")["service_id"]
    deposits = pd.DataFrame(
        {"address": dep_service.index.to_numpy(dtype=object), "service_id": svc_id[dep_service].to_numpy()}
    )
    svc_edges = pd.concat(
        [
            # Hub-hub and top-up edges are the graph's already: only the services' own are added.
            _edge_rows(links[links["edge_type"].isin(SERVICE_EDGE_TYPES)], "", 1.0),
            _edge_rows(second, "service_refill", 1.0),
            _edge_rows(sw[sw["src"].isin(shared)], "service_sweep", 1.0),
            _shared_deposit_pairs(edges, shared),
        ],
        ignore_index=True,
    )
    stats.update(
        {
            "services": int(m["service_id"].nunique()),
            "hot_wallets": int(len(hot)),
            "secondary_hot_wallets": int((m["service_role"] == "secondary_hot_wallet").sum()),
            "shared_deposit_addresses": int(len(shared)),
            "attributed_deposit_addresses": int(len(deposits)),
        }
    )
    cols = ["address", "service_id", "service_role", "service_kind", "service_name"]
    return Services(m[cols].reset_index(drop=True), deposits, svc_edges, stats)


def _hot_wallet_links(
    sw: pd.DataFrame, edges: pd.DataFrame, names: pd.Series, hot: np.ndarray, cfg: ServiceConfig
) -> pd.DataFrame:
    """Pairs of hot wallets of one exchange, as edge rows with `edge_type` and `evidence`.

    `service_link`: one deposit address sweeps into both (its sweeps into the second are the
    evidence); a hub-hub transfer or top-up edge of the graph at `link_min_weight` or more (kept as
    they are); `service_label`: both labelled with one exchange name (no hashes: the label is the
    evidence).
    """
    first = sw.groupby("src")["dst"].transform("first")
    co = sw.assign(first=first)[first != sw["dst"]]
    co = co.sort_values(["first", "dst", "n"], ascending=[True, True, False]).drop_duplicates(
        ["first", "dst"]
    )
    co = co.assign(src=co["first"], edge_type="service_link").drop(columns="first")
    graph = edges[
        edges["src"].isin(hot)
        & edges["dst"].isin(hot)
        & edges["edge_type"].isin(("direct_transfer", "hot_wallet_topup"))
        & (edges["weight"] >= cfg.link_min_weight)
    ]
    anchor = names.groupby(names).transform(lambda v: v.index.min()) if len(names) else names
    label = pd.DataFrame({"src": anchor.to_numpy(dtype=object), "dst": anchor.index.to_numpy(dtype=object)})
    label = label[label["src"] != label["dst"]].assign(edge_type="service_label", n=1)
    return pd.concat([_edge_rows(f, "", 1.0) for f in (co, graph, label)], ignore_index=True)


def _shared_deposits(edges: pd.DataFrame, senders: pd.Series, cfg: ServiceConfig) -> np.ndarray:
    """Deposit addresses used by several customers: enough senders, and none joined to another.

    Senders that a strong link of their own already joins (a peel chain paying its operator's
    deposit address) are one actor's, and so is the address.
    """
    many = senders.index[senders >= cfg.shared_deposit_min_senders].to_numpy(dtype=object)
    if not len(many):
        return many
    dep = edges[(edges["edge_type"] == "deposit_address") & edges["dst"].isin(many)][["src", "dst"]]
    strong = edges[
        (edges["weight"] >= cfg.strong_weight) & edges["src"].isin(dep["src"]) & edges["dst"].isin(dep["src"])
    ]
    pair = dep.merge(dep, on="dst").merge(
        strong[["src", "dst"]], left_on=["src_x", "src_y"], right_on=["src", "dst"]
    )
    return np.array(sorted(set(many) - set(pair["dst_x"])), dtype=object)


def _shared_deposit_pairs(edges: pd.DataFrame, shared: np.ndarray) -> pd.DataFrame:
    """`shared_deposit` edges between every two customers of a shared deposit address.

    What the address says about its customers, now that it is no longer a node of theirs: the
    weight of their deposit edges (the smaller of the two), which the graph set from how often
    wallets paying one deposit address are one customer's. No hashes of their own: the deposit
    edges of each customer (`graph.wallet_edges`) hold them.
    """
    dep = edges[(edges["edge_type"] == "deposit_address") & edges["dst"].isin(shared)]
    pairs = dep.merge(dep, on="dst")
    pairs = pairs[pairs["src_x"] < pairs["src_y"]]
    rows = pd.DataFrame(
        {
            "src": pairs["src_x"].to_numpy(dtype=object),
            "dst": pairs["src_y"].to_numpy(dtype=object),
            "edge_type": "shared_deposit",
            "first_time": np.minimum(pairs["first_time_x"], pairs["first_time_y"]).to_numpy(),
            "last_time": np.maximum(pairs["last_time_x"], pairs["last_time_y"]).to_numpy(),
            "n": (pairs["n_x"] + pairs["n_y"]).to_numpy(),
            "evidence": [[] for _ in range(len(pairs))],
        }
    )
    out = _edge_rows(rows, "shared_deposit", 0.0)
    out["weight"] = np.minimum(pairs["weight_x"], pairs["weight_y"]).to_numpy(dtype=float)
    return out


def without_double_deposits(edges: pd.DataFrame) -> pd.DataFrame:
    """`edges` without the `direct_transfer` rows of pairs that also have a `deposit_address` row."""
    dep = edges.loc[edges["edge_type"] == "deposit_address", ["src", "dst"]].drop_duplicates()
    pair = edges[["src", "dst"]].merge(dep.assign(_dep=True), on=["src", "dst"], how="left")["_dep"]
    twice = pair.notna().to_numpy() & (edges["edge_type"] == "direct_transfer").to_numpy()
    return edges[~twice]
