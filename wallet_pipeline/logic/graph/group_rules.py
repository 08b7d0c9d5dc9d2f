"""Edge rules that join a whole group at once: peel chains and wash-trading cycles.

Label propagation keeps dense groups together but breaks paths and rings into pieces: a 14-hop
peel chain or a five-wallet trading ring has no wallet whose neighbours agree on a label. Both
patterns are transitive evidence of one actor (each hop hands on what it just received; each ring
member hands on the same amount to the next), so these rules find the whole chain or ring first
and join every member to its first wallet with one strong edge. Their evidence is the hashes of
the transfers that make the chain or ring.

Both return DataFrames with the columns of `edges.EDGE_COLUMNS`.
"""

from __future__ import annotations

from functools import cache

import duckdb
import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from wallet_pipeline.logic.graph.config import GraphConfig, first_hashes_sql
from wallet_pipeline.logic.graph.hubs import CONTRACT_REASONS_SQL

COLUMNS = ["src", "dst", "edge_type", "directed", "weight", "first_time", "last_time", "n", "evidence"]


def _star(groups: pd.DataFrame, edge_type: str, weight: float, cap: int) -> pd.DataFrame:
    """One edge from each group's first wallet to every other member.

    `groups` has one row per (group, member): group, address, first_time, last_time, hashes
    (list), order (position of the member in the group; the smallest is the root).
    """
    if groups.empty:
        return pd.DataFrame(columns=COLUMNS)
    groups = groups.sort_values(["group", "order", "address"])
    root = groups.groupby("group")["address"].transform("first")
    evidence = groups.groupby("group")["hashes"].agg(lambda h: sorted({x for lst in h for x in lst})[:cap])
    span = groups.groupby("group").agg(first_time=("first_time", "min"), last_time=("last_time", "max"))
    size = groups.groupby("group").size()
    out = groups.assign(root=root)
    out = out[out["address"] != out["root"]]
    return pd.DataFrame(
        {
            "src": out["root"].to_numpy(),
            "dst": out["address"].to_numpy(),
            "edge_type": edge_type,
            "directed": False,
            "weight": float(weight),
            "first_time": out["group"].map(span["first_time"]).to_numpy(),
            "last_time": out["group"].map(span["last_time"]).to_numpy(),
            "n": out["group"].map(size).astype("int64").to_numpy(),
            "evidence": out["group"].map(evidence).to_numpy(),
        },
        columns=COLUMNS,
    )


def peel_chain_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> pd.DataFrame:
    """Every hop of a peel chain -> the chain's first hop.

    Hops are the senders of `peel_forward` edges (they forwarded most of what they had just
    received). A chain is a connected set of hops, linked by peel_forward edges between hops, of
    at least `peel_chain_min_hops`. The wallet at the end of a chain receives but does not forward
    on, so it is not a hop: paying someone is not being them.
    """
    peel = con.sql("select src, dst, first_time, last_time, evidence from g_rule_peel_forward").df()
    if peel.empty:
        return pd.DataFrame(columns=COLUMNS)
    hops = np.unique(peel["src"].to_numpy(dtype=str))
    inner = peel[peel["dst"].isin(hops)]
    index = pd.Series(np.arange(len(hops)), index=hops)
    r, c = index[inner["src"]].to_numpy(), index[inner["dst"]].to_numpy()
    graph = sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(len(hops), len(hops)))
    _, comp = connected_components(graph, directed=False)
    sent = peel.groupby("src").agg(
        first_time=("first_time", "min"),
        last_time=("last_time", "max"),
        hashes=("evidence", lambda e: [h for x in e for h in x]),
    )
    groups = pd.DataFrame({"address": hops, "group": comp}).join(sent, on="address")
    sizes = groups.groupby("group")["address"].transform("size")
    groups = groups[sizes >= cfg.peel_chain_min_hops]
    # The chain's first hop is the one that forwarded first.
    groups = groups.assign(order=groups["first_time"].rank(method="first"))
    return _star(groups, "peel_chain", cfg.peel_chain_weight, cfg.evidence_cap)


def wash_cycle_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> pd.DataFrame:
    """Every member of a wash-trading cycle -> the cycle's first member.

    A hop is a pair (sender, receiver) that moved one token (or one NFT: same token id) at least
    `wash_min_repeats` times at amounts within `wash_amount_tolerance` of each other. A cycle is a
    directed cycle of `wash_min_len` to `wash_max_len` such hops on one token, with amounts within
    the tolerance of the cycle's median. Hubs never take part. Strongly connected components are
    searched first, and components over `wash_max_component` wallets are skipped (a popular token's
    traffic, not a ring).
    """
    s = cfg.schema
    hops = con.sql(
        f"""
        with t as (
            select lower(token_address) token, lower(from_address) src, lower(to_address) dst,
                   try_cast(value as double) amount, transaction_hash hash, block_timestamp::timestamp t
            from {s}.token_transfers
            where from_address <> to_address and try_cast(value as double) > 0
        )
        select token, src, dst, count(*) n, median(amount) amount,
               coalesce(stddev_samp(amount), 0) / nullif(avg(amount), 0) cv,
               min(t) first_time, max(t) last_time, {first_hashes_sql(cfg.evidence_cap)} hashes
        from t
        where src not in (select address from g_hubs) and dst not in (select address from g_hubs)
        group by 1, 2, 3 having count(*) >= {int(cfg.wash_min_repeats)}
        """
    ).df()
    hops = hops[hops["cv"].fillna(1.0) <= cfg.wash_amount_tolerance]
    rows = []
    group = 0
    for token, g in hops.groupby("token", sort=True):
        graph = nx.DiGraph()
        for h in g.itertuples():
            graph.add_edge(
                h.src, h.dst, amount=h.amount, first=h.first_time, last=h.last_time, hashes=list(h.hashes)
            )
        for comp in nx.strongly_connected_components(graph):
            if not cfg.wash_min_len <= len(comp) <= cfg.wash_max_component:
                continue
            members: set[str] = set()
            for cycle in nx.simple_cycles(graph.subgraph(comp), length_bound=cfg.wash_max_len):
                if len(cycle) < cfg.wash_min_len:
                    continue
                links = [graph[cycle[i]][cycle[(i + 1) % len(cycle)]] for i in range(len(cycle))]
                med = float(np.median([e["amount"] for e in links]))
                if med > 0 and all(abs(e["amount"] - med) <= cfg.wash_amount_tolerance * med for e in links):
                    members.update(cycle)
            if not members:
                continue
            for m in sorted(members):
                out = [graph[m][d] for d in graph.successors(m) if d in members]
                rows.append(
                    {
                        "group": f"{token}:{group}",
                        "address": m,
                        "first_time": min(e["first"] for e in out),
                        "last_time": max(e["last"] for e in out),
                        "hashes": [x for e in out for x in e["hashes"]],
                    }
                )
            group += 1
    groups = pd.DataFrame(rows, columns=["group", "address", "first_time", "last_time", "hashes"])
    groups = groups.assign(order=groups["address"])
    # A wallet in rings of several tokens keeps one edge per ring: the union of rings is one actor.
    return _star(groups, "wash_cycle", cfg.wash_weight, cfg.evidence_cap)


# Structural rules: they need only sender and receiver, so they work on a bare transfer list (no
# time, no value), where the burst and amount rules cannot run. A wallet's payers and payees are
# counted over people: contracts (DEX routers, airdrop distributors) and services are left out. A
# service is a hub, or an address that both pays and is paid by at least `service_min_counterparties`
# distinct non-contract addresses (an exchange hot wallet under the hub degree: its deposits and
# withdrawals). A sybil wallet that also withdraws from an exchange is still "only funded by" its
# operator, and an exchange is never anyone's funder or collector.


def _services_sql(cfg: GraphConfig) -> str:
    """SQL of `(address)`: hubs and two-sided services (see above)."""
    k = int(cfg.service_min_counterparties)
    # Distinct counterparties are rows of `g_pairs` (one per pair of `g_xfer`): a count, not a
    # `count(distinct)` over every transfer.
    return f"""
        select address from g_hubs
        union
        select a from (
            select src a, count(*) k from g_pairs
            where dst not in (select address from g_hubs where reason = 'contract') group by src
        ) o join (
            select dst a, count(*) k from g_pairs
            where src not in (select address from g_hubs where reason = 'contract') group by dst
        ) i using (a)
        where o.k >= {k} and i.k >= {k}
    """


def _ensure_services(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> None:
    """Create `g_services` unless it exists: three rules read it, and `build_edges` drops it first."""
    if "g_services" not in _temp_tables(con):
        con.execute(f"create temp table g_services as {_services_sql(cfg)}")


def _pair_evidence(con: duckdb.DuckDBPyConnection, pairs: pd.DataFrame, cfg: GraphConfig) -> pd.DataFrame:
    """Edge rows for (src, dst) pairs, with their transfers' times, count and hashes."""
    if pairs.empty:
        return pd.DataFrame(columns=COLUMNS)
    con.register("g_struct_pairs", pairs[["src", "dst", "edge_type", "weight"]])
    try:
        # `g_pairs` holds each pair's transfers already grouped, with the same evidence.
        return con.sql(
            """
            select p.src, p.dst, any_value(p.edge_type) edge_type, true directed, any_value(p.weight) weight,
                   any_value(x.first_time) first_time, any_value(x.last_time) last_time, any_value(x.n) n,
                   any_value(x.evidence) evidence
            from g_struct_pairs p join g_pairs x on x.src = p.src and x.dst = p.dst
            group by p.src, p.dst
            """
        ).df()[COLUMNS]
    finally:
        con.unregister("g_struct_pairs")


def _funding_pairs(
    con: duckdb.DuckDBPyConnection, cfg: GraphConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Who pays whom among people, for the funding groups; and each address's payer and payee counts.

    Pairs leave out services (and hubs, contracts among them) on either side, and an exchange's
    own payout wallet paying its customers: a wallet and its payer both paid by one service, when
    that payer gets money from services alone. A busy payer (paying `service_min_counterparties`
    or more people) is set aside for a wallet that also has a calm payer the busy one does not pay
    itself: a mining pool or a payout address under the service bounds paying a member of a farm
    is not who funded it, while the farm's own funder pays the members that pay each other.
    Payee counts leave out services and popular addresses (paid by `service_min_counterparties`
    or more): on a bare transfer list contracts are not known, and paying a token sale is not
    paying a person.

    Returns `(src, dst, payers, payees)`: the pairs as wallet ids, which the temp table
    `g_fund_ids(address, id)` names (ids 0..n-1, by address), and the counts per id. Ids come from
    DuckDB because pandas took most of the step's Python time on the address strings: at 200,000
    simulated wallets 14.5 s fetching them and 32 s building and matching pair indexes on them
    (cProfile, a loaded machine).
    """
    _ensure_services(con, cfg)
    k = int(cfg.service_min_counterparties)
    con.execute(
        """
        create or replace temp table g_fund_paid as
        with svc as (select address from g_services),
        -- Distinct pairs first: a service's raw transfers self-joined ran out of DuckDB's 4 GB at
        -- 200,000 wallets (benchmarks/entity_pipeline.py --profile --step graph).
        pairs as (select src, dst from g_pairs),
        paid as (
            select src, dst from pairs
            where src not in (select address from svc) and dst not in (select address from svc)
        ),
        fed_by_services as (
            select dst p from pairs group by dst
            having bool_and(src in (select address from svc))
        ),
        -- Only the pairs asked about: every pair of one service's payees was a billion rows at
        -- 200,000 wallets (DuckDB out of memory at 4 GB, benchmarks/scale.py).
        shared as (
            select distinct p.src, p.dst from paid p
            join pairs a on a.dst = p.dst join pairs b on b.src = a.src and b.dst = p.src
            where p.src in (select p from fed_by_services) and a.src in (select address from svc)
        )
        select p.src, p.dst from paid p anti join shared using (src, dst)
        """
    )
    # The busy payers set aside: (busy payer, wallet) when the wallet has a calm payer that the
    # busy one does not pay.
    con.execute(
        f"""
        create or replace temp table g_fund_aside as
        with busy as (select src from g_fund_paid group by src having count(*) >= {k}),
        calm as (select src calm, dst from g_fund_paid anti join busy using (src)),
        cand as (
            select p.src, p.dst, c.calm from g_fund_paid p semi join busy using (src)
            join calm c on c.dst = p.dst
        )
        select distinct src, dst from cand
        anti join g_fund_paid q on q.src = cand.src and q.dst = cand.calm
        """
    )
    con.execute(
        "create or replace temp table g_fund_kept as from g_fund_paid anti join g_fund_aside using (src, dst)"
    )
    con.execute("drop table g_fund_paid")
    con.execute("drop table g_fund_aside")
    con.execute(
        "create or replace temp table g_fund_ids as "
        "select address, row_number() over (order by address) - 1 id "
        "from (select src address from g_fund_kept union select dst from g_fund_kept)"
    )
    got = con.execute(
        """
        select i.id src, j.id dst from g_fund_kept p
        join g_fund_ids i on i.address = p.src join g_fund_ids j on j.address = p.dst
        """
    ).fetchnumpy()
    con.execute("drop table g_fund_kept")
    counts = con.execute(
        f"""
        with contracts as (select address from g_hubs where reason = 'contract'),
        popular as (select dst address from g_pairs group by dst having count(*) >= {k}),
        per_address as (
            select a address, max(payers) payers, max(payees) payees from (
                select dst a, count(*) payers, 0 payees from g_pairs
                where src not in (select address from contracts) group by dst
                union all
                select src, 0, count(*) filter (
                    where dst not in (select address from g_services)
                      and dst not in (select address from popular)
                ) from g_pairs group by src
            ) group by a
        )
        select i.id, coalesce(c.payers, 0) payers, coalesce(c.payees, 0) payees
        from g_fund_ids i left join per_address c using (address) order by i.id
        """
    ).fetchnumpy()
    src, dst = (np.asarray(got[c], dtype=np.int64) for c in ("src", "dst"))
    return (src, dst, *(np.asarray(counts[c], dtype=np.int64) for c in ("payers", "payees")))


@cache
def _dominator_kernels():
    """Compile (or load from numba's disk cache) `(immediate_dominators, preorder)`.

    numba is imported here, as in `lpa_kernel`, so importing this module stays cheap.
    """
    import numba

    jit = numba.njit(cache=True, nogil=True)

    @jit
    def immediate_dominators(indptr, succ, pindptr, pred, root):
        # Cooper, Harvey & Kennedy's iterative algorithm over a depth-first postorder. The search is
        # iterative: payment chains are deeper than Python's or numba's call stack.
        n = indptr.shape[0] - 1
        post = np.full(n, -1, np.int64)
        order = np.empty(n, np.int64)
        stack = np.empty(n, np.int64)
        at = np.empty(n, np.int64)
        seen = np.zeros(n, np.bool_)
        top, k = 0, 0
        stack[0], at[0], seen[root] = root, indptr[root], True
        while top >= 0:
            v = stack[top]
            if at[top] < indptr[v + 1]:
                w = succ[at[top]]
                at[top] += 1
                if not seen[w]:
                    seen[w] = True
                    top += 1
                    stack[top], at[top] = w, indptr[w]
            else:
                post[v], order[k] = k, v
                k += 1
                top -= 1
        idom = np.full(n, -1, np.int64)
        idom[root] = root
        changed = True
        while changed:
            changed = False
            for i in range(k - 2, -1, -1):  # reverse postorder; the root is last in postorder
                v = order[i]
                new = -1
                for j in range(pindptr[v], pindptr[v + 1]):
                    p = pred[j]
                    if idom[p] == -1:
                        continue
                    if new == -1:
                        new = p
                        continue
                    a, b = p, new
                    while a != b:
                        while post[a] < post[b]:
                            a = idom[a]
                        while post[b] < post[a]:
                            b = idom[b]
                    new = a
                if idom[v] != new:
                    idom[v] = new
                    changed = True
        return idom

    @jit
    def preorder(indptr, child, root):
        # Each node's position in a preorder of the tree and the size of its subtree, so that a
        # subtree is one slice of the nodes sorted by position.
        n = indptr.shape[0] - 1
        pos = np.full(n, -1, np.int64)
        order = np.empty(n, np.int64)
        stack = np.empty(n, np.int64)
        top, k = 0, 0
        stack[0] = root
        while top >= 0:
            v = stack[top]
            top -= 1
            pos[v], order[k] = k, v
            k += 1
            for j in range(indptr[v], indptr[v + 1]):
                top += 1
                stack[top] = child[j]
        size = np.ones(n, np.int64)
        for i in range(k - 1, 0, -1):
            v = order[i]
            for j in range(indptr[v], indptr[v + 1]):
                size[v] += size[child[j]]
        return pos, size

    return immediate_dominators, preorder


def _csr(n: int, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, cols sorted by row): the adjacency lists of n nodes."""
    order = np.argsort(rows, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr, np.ascontiguousarray(cols[order], dtype=np.int64)


def _gather(indptr: np.ndarray, cols: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """The adjacency lists of `nodes`, end to end."""
    starts, lens = indptr[nodes], indptr[nodes + 1] - indptr[nodes]
    if not lens.sum():
        return cols[:0]
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    return cols[offsets + np.arange(lens.sum())]


def _dominator_groups(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    payees: np.ndarray,
    nbrs: tuple[np.ndarray, np.ndarray],
    cfg: GraphConfig,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Groups of wallets reachable only through one source: (members, the source's wallets), as node ids.

    On the graph of who pays whom (`src[i]` pays `dst[i]`, nodes 0..n-1), a wallet is dominated by
    another when every path of payments from outside reaches it through that one: the members of a
    star, a relay tree, a chain, or a farm whose members also pay each other are all dominated by
    their funder. Wallets paying one another in a cycle (a funder paid back by its members) count
    as one source when the cycle has at most `tree_max_cycle_members` wallets; a larger cycle is the
    everyday economy of people paying people, and its wallets stand each on their own. A source is
    kept when at least `tree_min_share` of the people it pays (`payees`, per node) are in its group;
    otherwise its dominated sub-groups are examined in its place. So is a group of
    `structure_strong_min_size` wallets or more whose members deal mostly with people outside it
    (closure under `tree_strong_min_closure`, over the adjacency `nbrs` of links to people): an
    address paying the funders of several farms, or a payer of people, is not their source.

    Arrays and compiled loops, not NetworkX: a NetworkX graph of 400,000 wallets and 800,000
    payments took 33.9 CPU s and 1.45 GB (docs/graph.md). Dominators are unique, so the groups are
    the same.
    """
    immediate_dominators, preorder = _dominator_kernels()
    graph = sp.coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n)).tocsr()
    n_comp, comp = connected_components(graph, directed=True, connection="strong")
    del graph
    crossing = comp[src] != comp[dst]
    entered = np.zeros(n_comp, dtype=bool)
    entered[comp[dst[crossing]]] = True
    # A unit is a small cycle of payments taken whole, or one wallet of a large one.
    whole = np.bincount(comp, minlength=n_comp)[comp] <= cfg.tree_max_cycle_members
    _, unit = np.unique(np.where(whole, comp, n_comp + np.arange(n)), return_inverse=True)
    unit = unit.ravel()
    n_units = int(unit.max()) + 1
    a, b = unit[src], unit[dst]
    a, b = a[a != b], b[a != b]
    # Entries: the units of cycles nobody outside pays. (A unit nobody pays is one of them: a
    # large cycle's wallets are each paid inside it.)
    entry = np.zeros(n_units, dtype=bool)
    entry[unit[~entered[comp]]] = True
    # Node `n_units` is the start: it pays every entry, so what it dominates alone stands alone.
    start = n_units
    a = np.concatenate([a, np.full(int(entry.sum()), start)])
    b = np.concatenate([b, np.flatnonzero(entry)])
    out_ptr, out = _csr(n_units + 1, a, b)
    in_ptr, into = _csr(n_units + 1, b, a)
    del a, b
    idom = immediate_dominators(out_ptr, out, in_ptr, into, start)
    del out_ptr, out, in_ptr, into
    below = np.flatnonzero(np.arange(n_units + 1) != start)
    tree_ptr, kids = _csr(n_units + 1, idom[below], below)
    pos, size = preorder(tree_ptr, kids, start)
    # Wallets in the preorder of their unit: a unit's subtree holds the wallets of one slice.
    by_pos = np.argsort(pos[unit], kind="stable")
    first = np.searchsorted(pos[unit][by_pos], np.arange(n_units + 2))
    out_ptr, succ = _csr(n, src, dst)
    nb_ptr, nb = nbrs
    inside = np.zeros(n, dtype=bool)
    groups = []
    tops = kids[tree_ptr[start] : tree_ptr[start + 1]].tolist()
    while tops:
        top = tops.pop()
        lo, hi = first[pos[top]], first[pos[top] + size[top]]
        if hi - lo < 2:
            continue
        members, source = by_pos[lo:hi], by_pos[lo : first[pos[top] + 1]]
        inside[members] = True
        pays = int(payees[source].sum())
        hits = int(inside[_gather(out_ptr, succ, source)].sum())
        keep = hits >= cfg.tree_min_share * pays
        if keep and len(members) >= cfg.structure_strong_min_size:
            # Closure: the share of the members' links to people that stay among them.
            links = _gather(nb_ptr, nb, members)
            keep = inside[links].sum() / max(len(links), 1) >= cfg.tree_strong_min_closure
        inside[members] = False
        if keep:
            groups.append((members, source))
        else:
            tops.extend(kids[tree_ptr[top] : tree_ptr[top + 1]].tolist())
    return groups


def _sole_payer_pairs(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> pd.DataFrame:
    """Payer -> wallet, for wallets whose only payer (people only) it is, in trees of `tree_min_size` or more.

    "A is B's only payer" is a parent link; following them gives trees: a funder paying many fresh
    wallets (a star), a funder paying relays that each pay wallets (a relay tree), each wallet
    funding the next (a chain). One person paying a newcomer makes a tree of two; a tree of four or
    more wallets, each of which got money from nobody else, is one operator spreading funds. A
    parent's links count only when its only-funded children are at least `tree_min_share` of the
    people it pays (a funder pays its wallets and little else; a person who once paid three new
    wallets also pays many others). Payers and payees are counted without contracts and services
    (see above), which are never in a tree.

    Trees of fewer than `structure_strong_min_size` wallets weigh `tree_small_weight`: over the 20
    kept simulator worlds nearly every tree of four or five wallets was people paying people
    (docs/graph.md).
    """
    _ensure_services(con, cfg)
    ignore_services = (
        "left join g_services s on s.address = p.src where s.address is null"
        if cfg.tree_ignore_service_payers
        else ""
    )
    sole = con.sql(
        f"""
        with contracts as (select address from g_hubs where reason = 'contract'),
        paid as (select src, dst from g_pairs where src not in (select address from contracts)),
        payers as (
            select p.dst w, count(*) k, min(p.src) p
            from paid p {ignore_services} group by p.dst
        ),
        payees as (
            select src p, count(*) k from g_pairs
            where dst not in (select address from g_services) group by src
        ),
        -- A wallet and its funder both paid by one service, when the funder gets money from
        -- services alone: an exchange's own payout wallet paying its customers (or a customer
        -- passing on a withdrawal), not an operator funding its wallets.
        fed_by_services as (
            select dst p from paid group by dst
            having bool_and(src in (select address from g_services))
        ),
        shared as (
            select distinct y.w, y.p from payers y
            join paid a on a.dst = y.w join paid b on b.src = a.src and b.dst = y.p
            where y.k = 1 and a.src in (select address from g_services)
              and y.p in (select p from fed_by_services)
        ),
        links as (
            select y.p src, y.w dst from payers y anti join shared s on s.w = y.w and s.p = y.p
            where y.k = 1 and y.p not in (select address from g_services)
              and y.w not in (select address from g_services)
        ),
        parents as (
            select l.src, count(*) children, any_value(y.k) k from links l join payees y on y.p = l.src
            group by l.src
        ),
        own_payers as (select dst src, count(*) payers from paid group by dst)
        select l.*, coalesce(o.payers, 0) payers
        from links l join parents using (src) left join own_payers o using (src)
        where children >= {cfg.tree_min_share} * k
        """
    ).df()
    if sole.empty:
        return pd.DataFrame(columns=["src", "dst", "weight"])
    nodes, inv = np.unique(
        np.concatenate([sole["src"].to_numpy(), sole["dst"].to_numpy()]), return_inverse=True
    )
    r, c = inv[: len(sole)], inv[len(sole) :]
    g = sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(len(nodes), len(nodes)))
    _, comp = connected_components(g, directed=False)
    size = np.bincount(comp)
    tree_size = size[comp[r]]
    keep = tree_size >= int(cfg.tree_min_size)
    # A parent paid by many is an aggregation point (a scam's collector) handing funds on, not the
    # source that made the tree: its link is weak, so a tree hanging from it keeps apart from it.
    weight = np.where(
        sole["payers"].to_numpy() >= cfg.tree_handoff_min_payers, cfg.tree_handoff_weight, cfg.tree_weight
    )
    small = tree_size < cfg.structure_strong_min_size
    weight = np.where(small, np.minimum(weight, cfg.tree_small_weight), weight)
    return sole.assign(weight=weight)[keep][["src", "dst", "weight"]]


def _dominator_pairs(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> pd.DataFrame:
    """(src, dst, weight): payer -> wallet inside funding groups of `tree_min_size` wallets or more.

    A group is one operator spreading funds: a star, a relay tree, a chain, or a farm whose
    wallets also pay each other, each wallet paid by nobody outside the group. Every payment
    inside the group is a link. Payers and payees are counted without contracts and services
    (see above), which are never in a group.

    Weights: `tree_weight` for groups of at least `structure_strong_min_size` wallets whose
    members deal mostly with each other (closure: the share of the members' links to people
    that stay inside, at least `tree_strong_min_closure`); `tree_small_weight` for the rest:
    over the kept simulator worlds nearly every small group, and every large one open to many
    outside people, was people paying people (docs/graph.md). A link from a source with
    `tree_handoff_min_payers` payers or more is a hand-off (`tree_handoff_weight`): an
    aggregation point such as a scam's collector handing funds on.
    """
    src, dst, payers, payees = _funding_pairs(con, cfg)
    if not len(src):
        return pd.DataFrame(columns=["src", "dst", "weight"])
    n = len(payers)
    # Closure counts links to people: popular and busy addresses (paid by, or paying, at least
    # `service_min_counterparties`) are contracts and payout addresses on a bare transfer list.
    k = cfg.service_min_counterparties
    crowd = (payers >= k) | (np.bincount(src, minlength=n) >= k)
    u, v = np.concatenate([src, dst]), np.concatenate([dst, src])
    links = np.unique(np.stack([u[~crowd[v]], v[~crowd[v]]], axis=1), axis=0)
    nbrs = _csr(n, links[:, 0], links[:, 1])
    del u, v, links
    groups = _dominator_groups(n, src, dst, payees, nbrs, cfg)
    if not any(len(members) >= cfg.tree_min_size for members, _ in groups):
        return pd.DataFrame(columns=["src", "dst", "weight"])
    group = np.full(n, -1, dtype=np.int64)
    in_source = np.zeros(n, dtype=bool)
    strong = []
    for g, (members, source) in enumerate(groups):
        if len(members) >= cfg.tree_min_size:
            group[members] = g
            in_source[source] = True
        strong.append(len(members) >= cfg.structure_strong_min_size)
    # Every payment into a group member from inside its group; a member of the source (a cycle: a
    # funder paid back by its wallets) keeps only its inner links, and its payers from outside are
    # not counted against it as a hand-off.
    g = group[dst]
    same = (g >= 0) & (group[src] == g)
    from_source = same & in_source[src]
    keep = (g >= 0) & (~in_source[dst] | from_source)
    weight = np.where(
        np.asarray(strong, dtype=bool)[np.maximum(g, 0)], cfg.tree_weight, cfg.tree_small_weight
    )
    handoff = ~in_source[dst] & from_source & (payers[src] >= cfg.tree_handoff_min_payers)
    weight = np.where(handoff, np.minimum(weight, cfg.tree_handoff_weight), weight)
    found = pd.DataFrame({"src": src[keep], "dst": dst[keep], "weight": weight[keep].astype(float)})
    con.register("g_fund_found", found)
    try:
        return con.execute(
            """
            select i.address src, j.address dst, f.weight from g_fund_found f
            join g_fund_ids i on i.id = f.src join g_fund_ids j on j.id = f.dst
            """
        ).df()
    finally:
        con.unregister("g_fund_found")


def _weaken_payouts(pairs: pd.DataFrame, sole: pd.DataFrame, cfg: GraphConfig) -> pd.DataFrame:
    """Links from a payout star into the few of its wallets that fund their own, at `tree_small_weight`.

    A relay tree's source pays relays that pay on; a real payout address under the service bounds
    pays a hundred people who keep what they got, and now and then the funder of a farm. Joined at
    full weight, the farm and the payout's hundred payees make one cluster. A wallet funds its own
    when it is the only payer of two or more wallets; a payer is a payout star when at most
    `tree_payout_max_head_share` of its only-paid wallets do.
    """
    share = cfg.tree_payout_max_head_share
    if share is None or sole.empty or pairs.empty:
        return pairs
    kids = sole.groupby("src")["dst"].size()
    is_head = sole["dst"].isin(kids[kids >= 2].index)
    head_share = is_head.groupby(sole["src"]).mean()
    weak = sole[is_head & sole["src"].isin(head_share[head_share <= share].index)]
    if weak.empty:
        return pairs
    hit = pd.MultiIndex.from_frame(pairs[["src", "dst"]]).isin(pd.MultiIndex.from_frame(weak[["src", "dst"]]))
    return pairs.assign(
        weight=np.where(hit, np.minimum(pairs["weight"], cfg.tree_small_weight), pairs["weight"])
    )


def funding_tree_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> pd.DataFrame:
    """Payer -> wallet in funding trees (`_sole_payer_pairs`) and, with `tree_dominators`, funding groups.

    The groups (`_dominator_pairs`) add the links the only-payer rule cannot see: wallets paid by
    several members of one group (a farm whose wallets pay each other). The only-payer trees stay:
    a scam ring found only inside a larger cycle of payments has no group of its own.
    """
    sole = _sole_payer_pairs(con, cfg)
    group_only = pd.DataFrame(columns=["src", "dst", "weight"])
    if cfg.tree_dominators:
        dom = _dominator_pairs(con, cfg)
        both = sole.merge(dom, on=["src", "dst"], how="left", suffixes=("", "_group"))
        # A pair in a funding group takes the group's weight: a chain link from a wallet paid by
        # exchange withdrawals too is no hand-off when the group shows who funded the chain.
        sole = sole.assign(weight=both["weight_group"].fillna(both["weight"]).to_numpy())
        known = pd.MultiIndex.from_frame(sole[["src", "dst"]])
        group_only = dom[~pd.MultiIndex.from_frame(dom[["src", "dst"]]).isin(known)]
    # Kept for `detach_chain_entries`: a link the only-payer rule does not make joins a wallet
    # through several payers, and one of those payers reaching into a peel chain is a payment.
    con.execute("create or replace temp table g_tree_group_pairs (src varchar, dst varchar)")
    if len(group_only):
        con.register("g_tree_group_frame", group_only[["src", "dst"]])
        con.execute("insert into g_tree_group_pairs select src, dst from g_tree_group_frame")
        con.unregister("g_tree_group_frame")
    pairs = (
        pd.concat([x for x in (sole, group_only) if len(x)], ignore_index=True) if len(sole) else group_only
    )
    pairs = _weaken_payouts(pairs, sole, cfg)
    return _pair_evidence(con, pairs.assign(edge_type="funding_tree"), cfg)


def collector_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> pd.DataFrame:
    """Wallet -> collector, when at least `collector_min_senders` wallets pay only that collector.

    The mirror of a funding star: wallets whose every payment to a person goes to one wallet sweep
    to their operator (payments to contracts and services do not count, see above). Such only-paying
    wallets must be at least `collector_min_share` of the collector's payers: a sybil collector is
    paid by its wallets alone, a popular person by many who also pay others. The collector hands
    what it gathered on to a wallet (an exchange hot wallet or a person; at most
    `collector_max_payees` people): an address paid by many that never pays a wallet is, on a bare
    transfer list, most often a contract (a token sale), or someone who only trades on DEX routers,
    and one that pays many is a service (an exchange hot wallet paid by its deposit addresses).
    Collectors paid by fewer than `structure_strong_min_size` - 1 wallets weigh
    `collector_small_weight` (people, see `funding_tree_edges`).
    """
    _ensure_services(con, cfg)
    pairs = con.sql(
        f"""
        with payees as (
            select src w, count(*) k, min(dst) c
            from g_pairs where dst not in (select address from g_services) group by src
        ),
        sole as (
            select w src, c dst from payees
            where k = 1 and c not in (select address from g_services)
              and w not in (select address from g_services)
        ),
        payers as (
            select dst c, count(*) k from g_pairs
            where src not in (select address from g_services) group by dst
        ),
        onward as (
            select src c, count(*) filter (dst not in (select address from g_services)) k
            from g_pairs
            where dst not in (select address from g_hubs where reason in ({CONTRACT_REASONS_SQL}))
            group by src
        ),
        ok as (
            select s.dst from sole s join payers p on p.c = s.dst join onward o on o.c = s.dst
            where o.k <= {int(cfg.collector_max_payees)}
            group by s.dst
            having count(*) >= {int(cfg.collector_min_senders)}
               and count(*) >= {cfg.collector_min_share} * any_value(p.k)
        )
        select src, dst from sole where dst in (select dst from ok)
        """
    ).df()
    # A collector and its senders make a star of senders + 1 wallets; small ones are people.
    senders = pairs.groupby("dst")["src"].transform("size") if len(pairs) else pd.Series(dtype=int)
    weight = np.where(
        senders + 1 >= cfg.structure_strong_min_size, cfg.collector_weight, cfg.collector_small_weight
    )
    return _pair_evidence(con, pairs.assign(edge_type="collector", weight=weight.astype(float)), cfg)


def _temp_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("select table_name from duckdb_tables() where temporary").fetchall()}


def chain_deposit_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> pd.DataFrame:
    """Hop -> deposit address, when every sender of a deposit address is a hop of one peel chain.

    A deposit address shared by three or four wallets is as often two customers' as one's (sender
    edges weigh little), but when all its senders are hops of one chain, one operator peels into
    its own exchange account: the chain already ties the senders together, so the address is theirs.
    """
    if not {"g_rule_peel_chain", "g_rule_deposit_address"} <= _temp_tables(con):
        return pd.DataFrame(columns=COLUMNS)
    pairs = con.sql(
        """
        with hop as (
            select dst m, src root from g_rule_peel_chain union select src, src from g_rule_peel_chain
        ),
        dep as (select src, dst from g_rule_deposit_address where edge_type = 'deposit_address'),
        ok as (
            select d.dst from dep d left join hop h on h.m = d.src group by d.dst
            having count(*) >= 2 and count(h.root) = count(*) and count(distinct h.root) = 1
        )
        select src, dst from dep where dst in (select dst from ok)
        """
    ).df()
    return _pair_evidence(
        con, pairs.assign(edge_type="chain_deposit", weight=float(cfg.chain_deposit_weight)), cfg
    )


def detach_chain_entries(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> int:
    """Weaken weak funding and scam-label links from outside a peel chain into one of its hops.

    A peel chain hands on what it receives, so whoever pays into it is where the money came from,
    not the chain's operator (a scam's collector paying a laundering chain; a victim paying a
    drainer that peels). Two such weak links (a funding hand-off from an aggregation point and a
    transfer with a labelled scammer) add up to a join, so links under `strong_weight` into a chain
    are set to `chain_entry_weight`. A strong link stays: a sybil funder that is a member's only
    payer funds the farm even when that member relays most of it on. Returns how many were weakened.
    """
    tables = _temp_tables(con)
    if "g_rule_peel_chain" not in tables:
        return 0
    con.execute(
        """
        create or replace temp table g_chain_hops as
        select dst m, src root from g_rule_peel_chain union select src, src from g_rule_peel_chain
        """
    )
    changed = 0
    if {"g_rule_funding_tree", "g_services"} <= tables:
        # Money leaving a chain: a wallet a hop pays is its payee (a cash-out, a victim), and it is
        # "only funded" by the hop only because its service payers (an exchange withdrawal) were set
        # aside; a launderer's last hop paying a wash trader joined the two groups.
        changed += con.execute(
            f"""
            update g_rule_funding_tree r set weight = {cfg.chain_entry_weight}
            from (
                select distinct f.src, f.dst from g_rule_funding_tree f
                join g_chain_hops a on a.m = f.src::varchar
                left join g_chain_hops b on b.m = f.dst::varchar and b.root = a.root
                where b.m is null
                  and f.dst::varchar in (select x.dst from g_pairs x join g_services s on s.address = x.src)
            ) x
            where x.src = r.src and x.dst = r.dst and r.weight > {cfg.chain_entry_weight}
            """
        ).fetchone()[0]
    for name in ("funding_tree", "scam_label"):
        if f"g_rule_{name}" not in tables:
            continue
        con.execute(
            f"""
            create or replace temp table g_chain_entry as
            select distinct r.src, r.dst from g_rule_{name} r
            join g_chain_hops a on a.m = r.dst left join g_chain_hops b on b.m = r.src
            where b.root is null or b.root <> a.root
            """
        )
        group_pair = (
            "or exists (select 1 from g_tree_group_pairs t where t.src = r.src and t.dst = r.dst)"
            if name == "funding_tree" and "g_tree_group_pairs" in tables
            else ""
        )
        changed += con.execute(
            f"""
            update g_rule_{name} r set weight = {cfg.chain_entry_weight} from g_chain_entry x
            where x.src = r.src and x.dst = r.dst and r.weight > {cfg.chain_entry_weight}
              and (r.weight < {cfg.strong_weight} {group_pair})
            """
        ).fetchone()[0]
    return int(changed)
