"""Edge rules of the wallet graph, one plain function per rule, each a DuckDB SQL query.

Every rule returns a relation with the columns of `EDGE_COLUMNS`:
`src, dst, edge_type, directed, weight, first_time, last_time, n, evidence` where `evidence` is a
list of transaction hashes (at most `GraphConfig.evidence_cap`) and `n` counts the supporting events.

`prepare` must run first: it cleans the raw transfers into temp tables (`g_eth`, `g_tok`, `g_xfer`)
and counts the bad input it drops. `build_edges` runs prepare, the hub detection and every rule, and
applies the hub guard; it leaves `g_edges` and `g_hubs` and drops its other work tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from wallet_pipeline.logic.graph.config import BURN_ADDRESSES, GraphConfig, first_hashes_sql
from wallet_pipeline.logic.graph.group_rules import (
    chain_deposit_edges,
    collector_edges,
    detach_chain_entries,
    funding_tree_edges,
    peel_chain_edges,
    wash_cycle_edges,
)
from wallet_pipeline.logic.graph.hubs import (
    CONTRACT_REASONS_SQL,
    TRADE_TABLES,
    detect_hubs,
    table_columns,
    trade_schema,
)
from wallet_pipeline.logic.graph.internal import internal_eth_sql

EDGE_COLUMNS = ["src", "dst", "edge_type", "directed", "weight", "first_time", "last_time", "n", "evidence"]
_BURN = ", ".join(f"'{a}'" for a in BURN_ADDRESSES)
# Edge types that join a service's own addresses to its EOA hub (never a customer to a hub): the hub
# guard lets them through. Contracts stay excluded.
SERVICE_EDGE_TYPES = ("service_deposit", "hot_wallet_topup")


@dataclass
class EdgeResult:
    """Edges after the hub guard, the hubs, and a report of what was dropped or skipped."""

    # None when `build_edges` was asked not to fetch them (`with_edges=False`).
    edges: pd.DataFrame | None
    hubs: pd.DataFrame
    bad_input: dict[str, int] = field(default_factory=dict)
    skipped_rules: dict[str, str] = field(default_factory=dict)
    counts_before_guard: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    dropped_by_hub_guard: int = 0
    # Internal ETH transfers read from traces (internal.py), before the cleaning that g_eth applies.
    internal_transfers: int = 0


def _col(have: set[str], name: str, default: str = "null") -> str:
    return name if name in have else default


def _repeats(con: duckdb.DuckDBPyConnection, table: str, keys: str) -> bool:
    """Whether two rows of `table` share their `keys` (comma-separated columns)."""
    return bool(
        con.execute(
            f"select count(*) from (select 1 from {table} group by {keys} having count(*) > 1)"
        ).fetchone()[0]
    )


def prepare(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> dict[str, int]:
    """Create the cleaned transfer tables and return counts of the bad input they drop.

    - `g_eth(hash, src, dst, eth, t)`: successful ETH transfers with a value above zero, from
      transactions and from internal calls in `traces` (`internal.internal_eth_sql`).
    - `g_tok(hash, token, src, dst, amount, is_zero, t, tx_from)`: token transfers; `amount` is in
      whole tokens when the decimals are known; `tx_from` is the transaction's signer (NULL unknown).
    - `g_xfer(hash, asset, src, dst, amount, t)`: transfers that can link two wallets: initiated by
      the sender (the signer is the sender, or unknown), not zero, not dust, not to self, not burnt.
    - `g_pairs`: `g_xfer` per (src, dst) with counts, times and evidence (`_pairs_sql`).
    """
    s = cfg.schema
    tx = table_columns(con, s, "transactions")
    tt = table_columns(con, s, "token_transfers")
    tk = table_columns(con, s, "tokens")
    bad: dict[str, int] = {}
    # Whether two transactions share a hash (NULL hashes count as shared): without repeats no row of
    # the transactions can repeat, so neither `g_eth_all` nor `g_tok`'s join deduplicates. At
    # 1,000,000 simulated wallets the check costs about 4 CPU s, deduplicating 11M rows more.
    tx_repeats = "hash" not in tx or _repeats(con, f"{s}.transactions", "hash")
    if {"from_address", "to_address"} <= tx:
        status = "receipt_status is distinct from 0" if "receipt_status" in tx else "true"
        value = "value::double / 1e18" if "value" in tx else "null::double"
        con.execute(
            f"""
            create or replace temp table g_eth_all as
            select {"distinct" if tx_repeats else ""} {_col(tx, "hash")} hash,
                   lower(from_address) src, lower(to_address) dst,
                   {value} eth, {_col(tx, "block_timestamp")}::timestamp t, {status} ok
            from {s}.transactions where to_address is not null
            """
        )
        bad["transactions_duplicate_rows"] = (
            con.execute(f"select count(*) from {s}.transactions where to_address is not null").fetchone()[0]
            - con.execute("select count(*) from g_eth_all").fetchone()[0]
        )
        row = con.execute(
            f"""
            select count(*) filter (not ok),
                   count(*) filter (ok and src = dst),
                   count(*) filter (ok and eth = 0),
                   count(*) filter (ok and dst in ({_BURN})),
                   count(*) filter (ok and eth > 0 and eth < {cfg.dust_eth})
            from g_eth_all
            """
        ).fetchone()
        bad.update(
            eth_failed=row[0],
            eth_self_transfers=row[1],
            eth_zero_value=row[2],
            eth_to_burn=row[3],
            eth_dust=row[4],
        )
        internal = internal_eth_sql(con, s)
        con.execute(
            "create or replace temp table g_eth_internal as "
            + (internal or "select * from g_eth_all where false")
        )
        con.execute("insert into g_eth_all select * from g_eth_internal")
        con.execute(
            f"""
            create or replace temp table g_eth as
            select hash, src, dst, eth, t from g_eth_all
            where ok and src <> dst and dst not in ({_BURN}) and src not in ({_BURN})
              and (eth is null or eth > 0)
            """
        )
        # Every transaction with its failed ones: the largest work table, read by nothing after g_eth.
        con.execute("drop table g_eth_all")
    else:
        con.execute(
            "create or replace temp table g_eth "
            "(hash varchar, src varchar, dst varchar, eth double, t timestamp)"
        )
        con.execute("create or replace temp table g_eth_internal as select * from g_eth where false")
    if {"from_address", "to_address", "token_address"} <= tt:
        dec = (
            f"left join (select address, any_value(decimals) decimals from {s}.tokens group by 1) k "
            "on k.address = tr.token_address"
            if {"address", "decimals"} <= tk
            else "left join (select null::varchar address, null::bigint decimals) k on false"
        )
        # Deduplicating needs a hash table of every row (or of every transaction by hash) held at
        # once: at 1,000,000 simulated wallets (10M token transfers, 11M transactions) the query
        # with both ran out of DuckDB's 4 GB (benchmarks/scale.py). Each is done only when the
        # input has repeats; checking costs about 4 CPU s per table there, the plain join 18.
        if not ({"hash", "from_address"} <= tx and "transaction_hash" in tt):
            join_tx = (
                "left join (select null::varchar hash, null::varchar from_address, "
                "null::varchar to_address) x on false"
            )
        elif tx_repeats:
            join_tx = (
                f"left join (select hash, any_value(from_address) from_address, "
                f"any_value(to_address) to_address from {s}.transactions group by 1) x "
                "on x.hash = tr.transaction_hash"
            )
        else:
            join_tx = f"left join {s}.transactions x on x.hash = tr.transaction_hash"
        value = "try_cast(tr.value as double)" if "value" in tt else "null::double"
        distinct = "distinct"
        if {"transaction_hash", "log_index"} <= tt:
            repeated = _repeats(con, f"{s}.token_transfers", "transaction_hash, log_index")
            distinct = "distinct on (tr.transaction_hash, tr.log_index)" if repeated else ""
        con.execute(
            f"""
            create or replace temp table g_tok as
            select {distinct}
                   {"tr.transaction_hash" if "transaction_hash" in tt else "null"} hash,
                   lower(tr.token_address) token, lower(tr.from_address) src, lower(tr.to_address) dst,
                   {value} / pow(10, k.decimals) amount, {value} = 0 is_zero,
                   {("tr.block_timestamp" if "block_timestamp" in tt else "null")}::timestamp t,
                   lower(x.from_address) tx_from, lower(x.to_address) tx_to
            from {s}.token_transfers tr {dec} {join_tx}
            """
        )
        bad["token_duplicate_rows"] = (
            con.execute(f"select count(*) from {s}.token_transfers").fetchone()[0]
            - con.execute("select count(*) from g_tok").fetchone()[0]
        )
        row = con.execute(
            f"""
            select count(*) filter (src = dst), count(*) filter (is_zero),
                   count(*) filter (dst in ({_BURN}) or src in ({_BURN})),
                   count(*) filter (not is_zero and amount < {cfg.dust_token_units}),
                   count(*) filter (tx_from is not null and tx_from <> src)
            from g_tok
            """
        ).fetchone()
        bad.update(
            token_self_transfers=row[0],
            token_zero_value=row[1],
            token_mint_or_burn=row[2],
            token_dust=row[3],
            token_not_initiated_by_sender=row[4],
        )
    else:
        con.execute(
            "create or replace temp table g_tok (hash varchar, token varchar, src varchar, dst varchar, "
            "amount double, is_zero boolean, t timestamp, tx_from varchar, tx_to varchar)"
        )
    con.execute(
        f"""
        create or replace temp table g_xfer as
        select hash, 'ETH' asset, src, dst, eth amount, t from g_eth
        where eth is null or eth >= {cfg.dust_eth}
        union all
        select hash, token asset, src, dst, amount, t from g_tok
        where (tx_from is null or tx_from = src) and is_zero is not true
          and (amount is null or amount >= {cfg.dust_token_units})
          and src <> dst and dst not in ({_BURN}) and src not in ({_BURN})
        """
    )
    con.execute(f"create or replace temp table g_pairs as {_pairs_sql(cfg)}")
    return bad


def _pairs_sql(cfg: GraphConfig) -> str:
    """SQL of `g_pairs(src, dst, n, first_time, last_time, evidence)`: the transfers of `g_xfer` per pair.

    The evidence (the `evidence_cap` earliest hashes, ties by hash, as `first_hashes_sql`) comes
    from numbering each pair's transfers and keeping the first few, not from a list aggregate,
    whose states DuckDB does not spill: at 1,000,000 simulated wallets `direct_transfer`'s
    grouping ran out of the pipeline's 4 GB. On the 1.8M transfers of 200,000 wallets the list
    aggregate (`min_by(hash, (t, hash), 5)`) ran out of a 1 GB limit, the same grouping without
    evidence passed at 0.7 GB, and this passes at 0.7 GB with the same 1.2M lists (3.1-3.5 CPU s
    against 2.6). `direct_transfer` and `sweep` both read it.
    """
    cap = int(cfg.evidence_cap)
    picks = ", ".join(f"max(hash) filter (k = {i})" for i in range(1, cap + 1))
    return f"""
        select src, dst, count(*) n, min(t) first_time, max(t) last_time,
               list_filter([{picks}], h -> h is not null) evidence
        from (select src, dst, t, hash, row_number() over (partition by src, dst order by t, hash) k
              from g_xfer)
        group by src, dst
    """


def _ev(cfg: GraphConfig, table: str = "") -> str:
    """The evidence of a group of transfers: its `evidence_cap` earliest hashes (of `table.`)."""
    return first_hashes_sql(cfg.evidence_cap, f"{table}t", f"{table}hash")


def direct_transfer_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> duckdb.DuckDBPyRelation:
    """ETH and token transfers the sender initiated; strong when repeated or reciprocal.

    Dust, zero-value and unsolicited transfers (signed by someone other than the sender, as in
    address poisoning) are not in `g_xfer`, so they add no link.
    """
    return con.sql(
        f"""
        with eoa_hubs as (select address from g_hubs where reason not in ({CONTRACT_REASONS_SQL})),
        d as (select * from g_pairs)
        select d.src, d.dst, 'direct_transfer' edge_type, true directed,
               case when d.src in (select address from eoa_hubs) and d.dst in (select address from eoa_hubs)
                    then {cfg.direct_hub_weight}
                    when r.src is not null then {cfg.direct_reciprocal_weight}
                    when d.n >= {cfg.direct_repeat_min} then {cfg.direct_repeat_weight}
                    else {cfg.direct_single_weight} end weight,
               d.first_time, d.last_time, d.n, d.evidence
        from d left join d r on r.src = d.dst and r.dst = d.src
        """
    )


def common_funder_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> duckdb.DuckDBPyRelation:
    """Funder -> fresh wallet, when one source first-funds several fresh wallets with similar amounts.

    A wallet is fresh when its first inbound ETH transfer comes before anything it signs. The
    fundings of one source are split into bursts (gap under `funder_window_hours`); in a burst the
    wallets whose amount is within `funder_amount_tolerance` of the burst median are linked, if there
    are at least `funder_min_members`. Hubs are not funders (exchange withdrawals link nobody).
    """
    s = cfg.schema
    gap = f"interval {int(cfg.funder_window_hours * 3600)} second"
    return con.sql(
        f"""
        with first_in as (
            select dst w, arg_min(src, t) src, arg_min(eth, t) eth, min(t) t, arg_min(hash, t) hash
            from g_eth where eth > 0 group by dst
        ),
        first_out as (select lower(from_address) w, min(block_timestamp) t from {s}.transactions group by 1),
        fresh as (
            select f.* from first_in f left join first_out o using (w)
            where (o.t is null or f.t <= o.t) and f.src not in (select address from g_hubs)
        ),
        burst as (
            select *, sum(case when prev is null or t - prev > {gap} then 1 else 0 end)
                      over (partition by src order by t, w) b
            from (select *, lag(t) over (partition by src order by t, w) prev from fresh)
        ),
        med as (select src, b, median(eth) m from burst group by src, b),
        members as (
            select burst.* from burst join med using (src, b)
            where abs(eth - m) <= {cfg.funder_amount_tolerance} * m
        ),
        ok as (select src, b from members group by src, b having count(*) >= {cfg.funder_min_members})
        select m.src, m.w dst, 'common_funder' edge_type, true directed, 1.0 weight,
               m.t first_time, m.t last_time, 1 n, [m.hash] evidence
        from members m join ok using (src, b)
        """
    )


def sweep_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> duckdb.DuckDBPyRelation:
    """Wallet -> collector, when many wallets send (almost) only to one collector in one burst."""
    gap = f"interval {int(cfg.sweep_window_hours * 3600)} second"
    return con.sql(
        f"""
        with pair as (select * from g_pairs where dst not in (select address from g_hubs)),
        tot as (select src, sum(n) n_all from pair group by src),
        cand as (
            select p.* from pair p join tot using (src)
            where p.n >= {cfg.sweep_min_share} * tot.n_all
              and p.src not in (select address from g_hubs)
        ),
        burst as (
            select *, sum(case when prev is null or first_time - prev > {gap} then 1 else 0 end)
                      over (partition by dst order by first_time, src) b
            from (select *, lag(first_time) over (partition by dst order by first_time, src) prev from cand)
        ),
        ok as (select dst, b from burst group by dst, b having count(*) >= {cfg.sweep_min_senders})
        select src, dst, 'sweep' edge_type, true directed, 1.0 weight, first_time, last_time, n, evidence
        from burst join ok using (dst, b)
        """
    )


def deposit_address_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> duckdb.DuckDBPyRelation:
    """Wallet -> its exchange deposit address, and a shared deposit address -> its exchange.

    A deposit address forwards (by count, `deposit_forward_share`) to EOA hubs (exchange hot wallets:
    a wallet that only swaps on DEX routers forwards to contracts and is no deposit address), sends
    out at least `deposit_min_value_ratio` of the ETH it got, and has few senders. The sender edge
    weighs `deposit_weights[senders - 1]` (the last entry for more): a deposit address used by
    several wallets is as often shared by unrelated customers as used by one customer's wallets.
    A deposit address with at least `deposit_shared_min_senders` senders is the exchange's own
    address: a `service_deposit` edge joins it to the hot wallet it forwards to most (the hub
    guard lets this edge through), so two users of one exchange are never linked through the hub.
    """
    w = list(cfg.deposit_weights)
    case = " ".join(f"when {i + 1} then {x}" for i, x in enumerate(w[:-1]))
    con.execute(
        f"""
        create or replace temp table g_deposits as
        with eoa_hubs as (select address from g_hubs where reason not in ({CONTRACT_REASONS_SQL})),
        outs as (
            select src d, count(*) n_out,
                   count(*) filter (dst in (select address from eoa_hubs)) n_hub,
                   sum(amount) filter (asset = 'ETH') eth_out
            from g_xfer group by src
        ),
        ins as (
            select dst d, count(*) filter (src not in (select address from g_hubs)) senders
            from g_pairs group by dst
        ),
        eth_ins as (select dst d, sum(amount) filter (asset = 'ETH') eth_in from g_xfer group by dst)
        select d, senders from outs join ins using (d) join eth_ins using (d)
        where n_hub >= {cfg.deposit_forward_share} * n_out
          and senders between 1 and {cfg.deposit_max_senders}
          and d not in (select address from g_hubs)
          and (eth_in is null or eth_in = 0
               or coalesce(eth_out, 0) between {cfg.deposit_min_value_ratio} * eth_in and 1.0001 * eth_in)
        """
    )
    return con.sql(
        f"""
        select x.src, x.dst, 'deposit_address' edge_type, true directed,
               case any_value(p.senders) {case} else {w[-1]} end weight,
               min(x.t) first_time, max(x.t) last_time, count(*) n, {_ev(cfg, "x.")} evidence
        from g_xfer x join g_deposits p on p.d = x.dst
        where x.src not in (select address from g_hubs)
        group by x.src, x.dst
        union all
        -- The hot wallet it forwards to most; on a tie the smallest address, so that runs agree.
        select src, arg_min(dst, (-n, dst)) dst, 'service_deposit' edge_type, true directed,
               {cfg.service_deposit_weight} weight,
               min(first_time) first_time, max(last_time) last_time, sum(n) n,
               arg_min(evidence, (-n, dst)) evidence
        from (
            select x.src, x.dst, count(*) n, min(x.t) first_time, max(x.t) last_time,
                   {_ev(cfg, "x.")} evidence
            from g_xfer x join g_deposits p on p.d = x.src
            where p.senders >= {int(cfg.deposit_shared_min_senders)}
              and x.dst in (select address from g_hubs where reason not in ({CONTRACT_REASONS_SQL}))
            group by x.src, x.dst
        )
        group by src
        """
    )


def hot_wallet_topup_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> duckdb.DuckDBPyRelation:
    """Exchange hot wallet -> another hot wallet of the same exchange that it refills.

    An exchange keeps several hot wallets and moves funds between them: the main one refills a
    withdrawal wallet again and again (`topup_min_transfers`), and the refilled wallet pays out to
    many (`topup_min_payees` distinct receivers) and almost never a contract, and gets most of its
    transfers (`topup_min_inflow_share`) from that hub, as only a service's wallet does. A customer
    withdrawing several times trades on DEX pools and is paid by others too. The refilled wallet may
    not be a hub itself (too few counterparties), so the hub guard lets this edge through.
    """
    return con.sql(
        f"""
        with eoa_hubs as (select address from g_hubs where reason not in ({CONTRACT_REASONS_SQL})),
        contracts as (select address from g_hubs where reason in ({CONTRACT_REASONS_SQL})),
        payees as (
            select src w, count(*) filter (dst not in (select address from g_hubs)) k,
                   coalesce(sum(n) filter (dst in (select address from contracts)), 0) n_contract,
                   sum(n) n_out
            from g_pairs group by src
        ),
        inflow as (select dst w, sum(n) n_in from g_pairs group by dst),
        fills as (
            select src, dst, n, first_time, last_time, evidence
            from g_pairs where src in (select address from eoa_hubs) and n >= {int(cfg.topup_min_transfers)}
        )
        select f.src, f.dst, 'hot_wallet_topup' edge_type, true directed, {cfg.topup_weight} weight,
               f.first_time, f.last_time, f.n, f.evidence
        from fills f join payees p on p.w = f.dst join inflow i on i.w = f.dst
        where p.k >= {int(cfg.topup_min_payees)}
          and p.n_contract <= {cfg.topup_max_contract_share} * p.n_out
          and f.n >= {cfg.topup_min_inflow_share} * i.n_in
          and f.dst not in (select address from contracts)
        """
    )


def peel_forward_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> duckdb.DuckDBPyRelation:
    """Hop -> next hop, when a wallet forwards most of an ETH amount it just received (peel chains)."""
    win = f"interval {int(cfg.peel_window_hours * 3600)} second"
    return con.sql(
        f"""
        with i as (select * from g_eth where eth > 0 and dst not in (select address from g_hubs)),
        o as (select * from g_eth where eth > 0 and dst not in (select address from g_hubs))
        select o.src, o.dst, 'peel_forward' edge_type, true directed, {cfg.peel_weight} weight,
               min(o.t) first_time, max(o.t) last_time, count(distinct o.hash) n,
               list_sort(list(distinct o.hash))[1:{int(cfg.evidence_cap)}] evidence
        from i join o on o.src = i.dst and o.t > i.t and o.t <= i.t + {win} and o.dst <> i.src
        where o.eth between {cfg.peel_min_ratio} * i.eth and i.eth
        group by o.src, o.dst
        """
    )


def nft_repeat_trade_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> duckdb.DuckDBPyRelation:
    """Buyer -- seller, when the same two wallets trade NFTs with each other again and again."""
    nft = trade_schema(con, cfg.schema, "nft_trades")
    return con.sql(
        f"""
        select least(buyer, seller) src, greatest(buyer, seller) dst, 'nft_repeat_trade' edge_type,
               false directed, {cfg.nft_repeat_weight} weight,
               min(block_time) first_time, max(block_time) last_time,
               count(*) n, {first_hashes_sql(cfg.evidence_cap, "block_time", "tx_hash")} evidence
        from (select lower(buyer) buyer, lower(seller) seller, block_time, tx_hash from {nft}.nft_trades)
        where buyer <> seller
        group by 1, 2 having count(*) >= {cfg.nft_repeat_min}
        """
    )


def token_cohold_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> duckdb.DuckDBPyRelation:
    """Wallet -- wallet sharing rare tokens; weight sum(1 / ln(1 + holders)), capped.

    Only tokens with at most `cohold_max_holders` holders count (a token thousands hold links
    nobody), a pair needs `cohold_min_shared` of them, and the cap keeps this rule below the
    clustering threshold on its own: it only supports other evidence.
    """
    return con.sql(
        f"""
        with h as (
            select distinct asset token, dst w from g_xfer
            where asset <> 'ETH' and dst not in (select address from g_hubs)
        ),
        pop as (select token, count(*) holders from h group by token),
        rare as (select h.* , holders from h join pop using (token) where holders <= {cfg.cohold_max_holders})
        select a.w src, b.w dst, 'token_cohold' edge_type, false directed,
               least({cfg.cohold_weight_cap}, sum(1 / ln(1 + a.holders))) weight,
               null::timestamp first_time, null::timestamp last_time, count(*) n,
               list_sort(list(a.token))[1:{int(cfg.evidence_cap)}] evidence
        from rare a join rare b on a.token = b.token and a.w < b.w
        group by 1, 2 having count(*) >= {cfg.cohold_min_shared}
        """
    )


def co_creation_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> duckdb.DuckDBPyRelation:
    """Deployer -- wallets that move its token out of addresses they do not own.

    The signer must call the token contract itself (a marketplace sale or a router swap moves
    tokens of others through another contract and links nobody). Only the controller of a token
    contract (or someone the holder approved) makes a token leave an
    address the signer is not; for a token created by the deployer, that ties the signer to it.
    Pools and other hubs as the source are excluded (router swaps). Zero-value and dust transfers
    are excluded too: any ERC-20 lets anyone `transferFrom` zero tokens out of any address, which is
    how address poisoners fake a victim's history, so such a move proves no control.
    """
    s = cfg.schema
    return con.sql(
        f"""
        select lower(c.creator_address) src, g.tx_from dst, 'co_creation' edge_type, true directed,
               {cfg.co_creation_weight} weight, min(g.t) first_time, max(g.t) last_time, count(*) n,
               {_ev(cfg, "g.")} evidence
        from {s}.contract_creations c join g_tok g on g.token = lower(c.address)
        where g.tx_from is not null and g.tx_from <> g.src and g.tx_to = g.token
          and g.is_zero is not true and (g.amount is null or g.amount >= {cfg.dust_token_units})
          and g.src not in (select address from g_hubs) and g.src not in ({_BURN})
          and g.tx_from not in (select address from g_hubs)
          and g.tx_from <> lower(c.creator_address)
        group by 1, 2
        """
    )


def deployer_funding_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> duckdb.DuckDBPyRelation:
    """Funder -> contract deployer, when the deployer's first ETH came from it and went back to it.

    A launch operator funds a fresh wallet to pay for a deployment and later sweeps what the
    contract earned back: the deployer's first ETH payer is the funder, and the deployer's ETH
    paid back to it adds up to at least `deployer_return_ratio` times what it received from it.
    People paying each other back show the round trip too (reciprocal transfers are right for 1%
    of pairs), but rarely a deployment in between: the deployment is what makes the link.
    """
    s = cfg.schema
    return con.sql(
        f"""
        with deployers as (select distinct lower(creator_address) b from {s}.contract_creations),
        first_in as (
            select dst b, arg_min(src, (t, hash)) a from g_eth
            where dst in (select b from deployers) and eth > 0 group by dst
        ),
        fwd as (
            select f.a, f.b, sum(x.eth) eth, min(x.t) t from first_in f
            join g_eth x on x.src = f.a and x.dst = f.b group by f.a, f.b
        ),
        back as (
            select f.a, f.b, sum(x.eth) eth from fwd f
            join g_eth x on x.src = f.b and x.dst = f.a and x.t > f.t group by f.a, f.b
        ),
        pairs as (
            select fwd.a, fwd.b from fwd join back using (a, b)
            where back.eth >= {cfg.deployer_return_ratio} * fwd.eth
              and fwd.a not in (select address from g_hubs) and fwd.b not in (select address from g_hubs)
        )
        select p.a src, p.b dst, 'deployer_funding' edge_type, true directed,
               {cfg.deployer_funding_weight} weight,
               min(x.t) first_time, max(x.t) last_time, count(*) n, {_ev(cfg, "x.")} evidence
        from pairs p join g_eth x on (x.src = p.a and x.dst = p.b) or (x.src = p.b and x.dst = p.a)
        group by p.a, p.b
        """
    )


# Pair rows (two callers of one method in one window) the fingerprint self join makes in one pass;
# past this the wallets are split into buckets joined one after another (see `fingerprint_edges`).
FINGERPRINT_PAIRS_PER_BUCKET = 4_000_000


def fingerprint_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> duckdb.DuckDBPyRelation:
    """Wallet -- wallet calling the same contract and method in the same short windows, repeatedly.

    Windows with more than `fingerprint_max_group` callers (a popular method) link nobody; a wallet
    calling one method more than `fingerprint_max_calls` times (a bot) is left out. A pair needs
    `fingerprint_min_cooccur` shared windows, and on the methods they share, the Jaccard index of
    their windows (shared / either) must reach `fingerprint_min_share`: scripted wallets move
    together nearly every time, while two users of one busy marketplace meet by chance now and then.

    The pairs of a window grow with the square of its callers, so the self join is the costly part
    at scale: it runs over integer keys, one bucket of first wallets (`wid % buckets`) at a time,
    each bucket holding about `FINGERPRINT_PAIRS_PER_BUCKET` pair rows. A pair's every meeting has
    its first wallet in one bucket, so each bucket's pairs are final and only those that pass are kept.
    """
    s = cfg.schema
    w = int(cfg.fingerprint_window_minutes) * 60
    con.execute(
        f"""
        create or replace temp table g_fp_calls as
        with c as (
            select lower(from_address) w, lower(to_address) c, left(input, 10) m,
                   floor(epoch(block_timestamp) / {w})::bigint b, block_timestamp t, hash
            from {s}.transactions
            where to_address is not null and length(input) >= 10
        ),
        busy as (select w, c, m from c group by all having count(*) > {cfg.fingerprint_max_calls})
        select * from c anti join busy using (w, c, m)
        """
    )
    con.execute(
        "create or replace temp table g_fp_wallets as "
        "select w, row_number() over (order by w) wid from (select distinct w from g_fp_calls)"
    )
    con.execute(
        """
        create or replace temp table g_fp_k as
        with methods as (
            select c, m, row_number() over (order by c, m) mid from (select distinct c, m from g_fp_calls)
        )
        select g_fp_wallets.wid, methods.mid, g_fp_calls.b, g_fp_calls.t, g_fp_calls.hash
        from g_fp_calls join g_fp_wallets using (w) join methods using (c, m)
        """
    )
    con.execute("drop table g_fp_calls")
    con.execute(
        "create or replace temp table g_fp_windows as "
        "select wid, mid, count(distinct b) nb from g_fp_k group by all"
    )
    con.execute(
        f"""
        create or replace temp table g_fp_x as
        with g as (
            select mid, b from g_fp_k group by all
            having count(distinct wid) between 2 and {cfg.fingerprint_max_group}
        )
        select distinct wid, mid, b from g_fp_k semi join g using (mid, b)
        """
    )
    pair_rows = con.execute(
        "select coalesce(sum(k * (k - 1) // 2), 0) from (select count(*) k from g_fp_x group by mid, b)"
    ).fetchone()[0]
    buckets = max(1, -(-int(pair_rows) // FINGERPRINT_PAIRS_PER_BUCKET))
    con.execute("create or replace temp table g_fp_alike (src bigint, dst bigint, co bigint, either hugeint)")
    for bucket in range(buckets):
        con.execute(
            f"""
            insert into g_fp_alike
            -- A pair meets in at most as many windows as it has shared (method, window) rows: pairs
            -- with fewer than `fingerprint_min_cooccur` are dropped by a plain count first, and only
            -- the rest get the lists below. Most pairs of a window meet there once (at 200,000
            -- simulated wallets the list aggregates were the step's costliest statement).
            with cand as (
                select a.wid src, b.wid dst
                from g_fp_x a join g_fp_x b on a.mid = b.mid and a.b = b.b and a.wid < b.wid
                where a.wid % {buckets} = {bucket}
                group by all having count(*) >= {int(cfg.fingerprint_min_cooccur)}
            ),
            per_method as (
                select c.src, c.dst, a.mid, count(*) co, list(a.b) bs
                from cand c join g_fp_x a on a.wid = c.src
                join g_fp_x b on b.wid = c.dst and b.mid = a.mid and b.b = a.b
                group by all
            )
            -- Meetings are counted once per window, whatever the number of methods called in it: an
            -- approve and a swap sent together are one moment, and two people who each approve and
            -- swap in the same half hour once would otherwise count as meeting twice.
            select p.src, p.dst, len(list_distinct(flatten(list(p.bs)))) co, sum(wa.nb + wb.nb - p.co) either
            -- Left joins (each finds its one row) pin the join order: with inner joins DuckDB
            -- joined the two window tables on the method first, every pair of a method's callers,
            -- and spilled 40 GB at 200,000 wallets.
            from per_method p
            left join g_fp_windows wa on wa.wid = p.src and wa.mid = p.mid
            left join g_fp_windows wb on wb.wid = p.dst and wb.mid = p.mid
            group by all
            having len(list_distinct(flatten(list(p.bs)))) >= {cfg.fingerprint_min_cooccur}
               and sum(p.co) >= {cfg.fingerprint_min_share} * sum(wa.nb + wb.nb - p.co)
            """
        )
    return con.sql(
        f"""
        with shared as (
            select l.src, l.dst, l.co, a.t ta, b.t tb, a.hash
            from g_fp_alike l
            left join g_fp_k a on a.wid = l.src
            join g_fp_k b on b.wid = l.dst and b.mid = a.mid and b.b = a.b
        )
        select ws.w src, wd.w dst, 'fingerprint' edge_type, false directed, {cfg.fingerprint_weight} weight,
               min(least(ta, tb)) first_time, max(greatest(ta, tb)) last_time, any_value(co) n,
               list_sort(list(distinct hash))[1:{int(cfg.evidence_cap)}] evidence
        from shared join g_fp_wallets ws on ws.wid = shared.src join g_fp_wallets wd on wd.wid = shared.dst
        group by ws.w, wd.w
        """
    )


def poisoning_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> duckdb.DuckDBPyRelation:
    """Signer -- look-alike address it moves tokens for (address poisoning operators).

    A token transfer signed by a third party whose one side looks like (same first 5 and last 4 hex
    characters) a real counterparty of the other side is poisoning; the look-alike belongs to the
    signer. The victim gets no link.
    """
    return con.sql(
        f"""
        with cand as (
            select hash, t, tx_from, src look, dst victim from g_tok
            where tx_from is not null and tx_from <> src and tx_from <> dst and src not in ({_BURN})
            union all
            select hash, t, tx_from, dst look, src victim from g_tok
            where tx_from is not null and tx_from <> src and tx_from <> dst and dst not in ({_BURN})
        ),
        victims as (select distinct victim a from cand),
        -- The counterparties of victims only, not of every address; a pair both ways is there twice,
        -- which `hit`'s distinct absorbs.
        cp as (
            select a, b, left(b, 7) || right(b, 4) k from (
                select src a, dst b from g_pairs semi join victims v on v.a = g_pairs.src
                union all
                select dst a, src b from g_pairs semi join victims v on v.a = g_pairs.dst
            )
        ),
        hit as (
            select distinct cand.* from cand join cp
              on cp.a = cand.victim and cp.k = left(cand.look, 7) || right(cand.look, 4) and cp.b <> cand.look
        )
        select tx_from src, look dst, 'poisoning' edge_type, true directed, 1.0 weight,
               min(t) first_time, max(t) last_time, count(*) n, {_ev(cfg)} evidence
        from hit where look not in (select address from g_hubs)
        group by 1, 2
        """
    )


def scam_label_edges(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> duckdb.DuckDBPyRelation:
    """Transfers a wallet made with an address labelled `scam` or `phishing` (initiated, not dust)."""
    s = cfg.schema
    return con.sql(
        f"""
        with sc as (
            select distinct lower(address) a from {s}.address_labels where label_type in ('scam', 'phishing')
        )
        select src, dst, 'scam_label' edge_type, true directed, {cfg.scam_weight} weight,
               first_time, last_time, n, evidence
        from g_pairs where src in (select a from sc) or dst in (select a from sc)
        """
    )


# rule name -> (function, {table: required columns})
# A rule returns a relation (SQL rules) or a DataFrame (group rules, found in Python).
RULES: dict[
    str,
    tuple[Callable[[duckdb.DuckDBPyConnection, GraphConfig], duckdb.DuckDBPyRelation | pd.DataFrame], dict],
] = {
    "direct_transfer": (direct_transfer_edges, {}),
    "common_funder": (
        common_funder_edges,
        {"transactions": {"from_address", "to_address", "value", "block_timestamp", "hash"}},
    ),
    "sweep": (sweep_edges, {"transactions": {"block_timestamp"}}),
    "deposit_address": (deposit_address_edges, {"transactions": {"value"}}),
    "hot_wallet_topup": (hot_wallet_topup_edges, {}),
    "funding_tree": (funding_tree_edges, {}),
    "collector": (collector_edges, {}),
    "peel_forward": (
        peel_forward_edges,
        {"transactions": {"from_address", "to_address", "value", "block_timestamp", "hash"}},
    ),
    "peel_chain": (
        peel_chain_edges,
        {"transactions": {"from_address", "to_address", "value", "block_timestamp", "hash"}},
    ),
    "chain_deposit": (
        chain_deposit_edges,
        {"transactions": {"from_address", "to_address", "value", "block_timestamp", "hash"}},
    ),
    "wash_cycle": (
        wash_cycle_edges,
        {
            "token_transfers": {
                "token_address",
                "from_address",
                "to_address",
                "value",
                "transaction_hash",
                "block_timestamp",
            }
        },
    ),
    "nft_repeat_trade": (
        nft_repeat_trade_edges,
        {"nft_trades": {"buyer", "seller", "block_time", "tx_hash"}},
    ),
    "token_cohold": (token_cohold_edges, {"token_transfers": {"token_address"}}),
    "co_creation": (
        co_creation_edges,
        {
            "contract_creations": {"address", "creator_address"},
            "token_transfers": {"transaction_hash", "token_address"},
            "transactions": {"hash", "from_address"},
        },
    ),
    "deployer_funding": (
        deployer_funding_edges,
        {
            "contract_creations": {"creator_address"},
            "transactions": {"from_address", "to_address", "value", "block_timestamp", "hash"},
        },
    ),
    "fingerprint": (
        fingerprint_edges,
        {"transactions": {"from_address", "to_address", "input", "block_timestamp", "hash"}},
    ),
    "poisoning": (
        poisoning_edges,
        {"token_transfers": {"transaction_hash", "token_address"}, "transactions": {"hash", "from_address"}},
    ),
    "scam_label": (scam_label_edges, {"address_labels": {"address", "label_type"}}),
}


def _missing(con: duckdb.DuckDBPyConnection, cfg: GraphConfig, needs: dict) -> str | None:
    for table, cols in needs.items():
        schema = trade_schema(con, cfg.schema, table) if table in TRADE_TABLES else cfg.schema
        have = table_columns(con, schema, table)
        if not have:
            return f"no table {schema}.{table}"
        lacking = sorted(set(cols) - have)
        if lacking:
            return f"{schema}.{table} lacks {', '.join(lacking)}"
    return None


def _unseen_labels(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> dict[str, int]:
    """Labels of addresses that appear in no transfer: kept (they cost nothing), but counted."""
    if "address" not in table_columns(con, cfg.schema, "address_labels"):
        return {}
    n = con.execute(
        f"""
        select count(*) from {cfg.schema}.address_labels l
        where lower(l.address) not in (select src from g_eth union select dst from g_eth
                                       union select src from g_tok union select dst from g_tok)
        """
    ).fetchone()[0]
    return {"labels_for_unseen_addresses": int(n)}


def _drop_work_tables(con: duckdb.DuckDBPyConnection, keep: set[str]) -> None:
    """Drop the `g_*` temp tables of `prepare` and the rules, except `keep`.

    They live until the connection closes, and in DuckDB's memory up to its limit: at 200,000
    wallets `prepare` alone left 2.05 GB, room the later rules' joins then lacked (docs/graph.md).
    """
    names = con.execute(
        "select table_name from duckdb_tables() where temporary and starts_with(table_name, 'g_')"
    ).fetchall()
    for (name,) in names:
        if name not in keep:
            con.execute(f"drop table {name}")


def build_edges(
    con: duckdb.DuckDBPyConnection, cfg: GraphConfig | None = None, *, with_edges: bool = True
) -> EdgeResult:
    """Run every rule, apply the hub guard, and return the edge table with its report.

    The hub guard drops every edge that touches a contract, and every edge between a hub and a
    non-hub. Hub-hub edges between EOAs (hot wallets of one exchange rebalancing) are kept, so
    hubs may form clusters of their own but never glue other wallets.

    The edges and hubs stay in the temp tables `g_edges` and `g_hubs`; every other work table is
    dropped. With `with_edges=False` the result's `edges` is None: a caller that writes `g_edges`
    with SQL (the asset) does not hold the edges and their evidence in pandas as well (0.84 GB at
    200,000 wallets).
    """
    cfg = cfg or GraphConfig()
    bad = prepare(con, cfg)
    internal = int(con.execute("select count(*) from g_eth_internal").fetchone()[0])
    con.execute("drop table g_eth_internal")
    bad.update(_unseen_labels(con, cfg))
    hubs = detect_hubs(con, cfg)
    # Built by the first structural rule that needs it, over this build's hubs (`_ensure_services`).
    con.execute("drop table if exists g_services")
    skipped: dict[str, str] = {}
    rels: list[str] = []
    for name, (fn, needs) in RULES.items():
        if cfg.rules is not None and name not in cfg.rules:
            continue
        why = _missing(con, cfg, needs)
        if why is not None:
            skipped[name] = why
            continue
        found = fn(con, cfg)
        if isinstance(found, pd.DataFrame):
            con.register("g_rule_frame", found)
            con.execute(
                f"create or replace temp table g_rule_{name} as select src, dst, edge_type, directed, "
                "weight, first_time::timestamp first_time, last_time::timestamp last_time, n::bigint n, "
                "evidence::varchar[] evidence from g_rule_frame"
            )
            con.unregister("g_rule_frame")
        else:
            con.execute(f"create or replace temp table g_rule_{name} as select * from ({found.sql_query()})")
        rels.append(f"select {', '.join(EDGE_COLUMNS)} from g_rule_{name}")
    detach_chain_entries(con, cfg)
    if rels:
        con.execute("create or replace temp table g_edges_raw as " + " union all ".join(rels))
    else:
        con.execute(
            "create or replace temp table g_edges_raw (src varchar, dst varchar, edge_type varchar, "
            "directed boolean, weight double, first_time timestamp, last_time timestamp, n bigint, "
            "evidence varchar[])"
        )
    _drop_work_tables(con, keep={"g_edges_raw", "g_hubs"})
    before = dict(con.execute("select edge_type, count(*) from g_edges_raw group by 1").fetchall())
    con.execute(
        f"""
        create or replace temp table g_edges as
        select e.* from g_edges_raw e
        left join g_hubs a on a.address = e.src
        left join g_hubs b on b.address = e.dst
        where e.src <> e.dst and e.src not in ({_BURN}) and e.dst not in ({_BURN})
          and coalesce(a.reason, '') <> 'contract' and coalesce(b.reason, '') <> 'contract'
          and ((a.address is null and b.address is null)
               or (a.address is not null and b.address is not null
                   and e.edge_type in ('direct_transfer', 'hot_wallet_topup'))
               or e.edge_type in {SERVICE_EDGE_TYPES})
        """
    )
    con.execute("drop table g_edges_raw")
    counts = dict(con.execute("select edge_type, count(*) from g_edges group by 1").fetchall())
    edges = con.sql("select * from g_edges order by edge_type, src, dst").df() if with_edges else None
    return EdgeResult(
        edges=edges,
        hubs=hubs,
        bad_input=bad,
        skipped_rules=skipped,
        counts_before_guard={k: int(v) for k, v in before.items()},
        counts={k: int(v) for k, v in counts.items()},
        dropped_by_hub_guard=int(sum(before.values()) - sum(counts.values())),
        internal_transfers=internal,
    )
