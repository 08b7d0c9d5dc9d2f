"""Internal ETH transfers from call traces, as the wallet graph reads them.

A contract that moves ETH inside a transaction (a Disperse-style batch payment, a multisig paying
out, a router returning ETH) leaves no transaction from the contract to the recipient: the transfer
exists only as an internal call in ethereum-etl `traces` (BigQuery `crypto_ethereum.traces`).
Without it, a farm funded by one Disperse call looks like fresh wallets that received ETH from
nowhere.

Who sent the ETH: the contract that made the call, except for a pure ETH splitter. When the
transaction's own callee passes on exactly the ETH the signer sent with it, to at least two
recipients, and no token moves in the transaction, the contract only routed the signer's money
(Disperse.app, multisend and payment-splitter calls), and the signer is the sender, as block
explorers summarise such a call and as sybil reports count it. An NFT sale also splits the buyer's
ETH between seller and fee recipient, but an NFT moves in it, so the marketplace stays the sender
and a buyer is never linked to a seller through it.
"""

from __future__ import annotations

import duckdb

from wallet_pipeline.logic.graph.hubs import table_columns

# Columns the rule needs; an export without them (or without traces) adds nothing.
TRACE_COLUMNS = frozenset(
    {"transaction_hash", "trace_address", "from_address", "to_address", "value", "trace_type", "status"}
)
# At least this many recipients make a call a split; one recipient is a plain forward.
MIN_SPLIT_RECIPIENTS = 2


def internal_eth_sql(con: duckdb.DuckDBPyConnection, schema: str) -> str | None:
    """A query of internal ETH transfers as `(hash, src, dst, eth, t, ok)`, or None without traces.

    Rows are the successful value-carrying `call` traces below the top level (a top-level call is
    the transaction itself, already read from `transactions`); `src` is the signer for a pure ETH
    split (module docstring), the calling contract otherwise.
    """
    tr = table_columns(con, schema, "traces")
    tx = table_columns(con, schema, "transactions")
    if not TRACE_COLUMNS <= tr or not {"hash", "from_address", "to_address", "value"} <= tx:
        return None
    tt = table_columns(con, schema, "token_transfers")
    call_type = "coalesce(call_type, 'call') = 'call'" if "call_type" in tr else "true"
    trace_t = "block_timestamp" if "block_timestamp" in tr else "null"
    tx_t = "block_timestamp" if "block_timestamp" in tx else "null"
    # Only transactions with internal calls: reading every transfer's hash cost the dbt twin of this
    # rule 0.5 CPU s at 1.14M transactions with no traces at all (benchmarks/feature_build.py).
    moved_tokens = (
        f"select distinct transaction_hash from {schema}.token_transfers "
        "where transaction_hash in (select hash from calls)"
        if "transaction_hash" in tt
        else "select null::varchar transaction_hash where false"
    )
    return f"""
        with calls as (
            select transaction_hash hash, lower(from_address) frm, lower(to_address) dst, value,
                   {trace_t}::timestamp t
            from {schema}.traces
            where trace_address is not null and trace_type = 'call' and {call_type}
              and status is distinct from 0 and value > 0
              and from_address is not null and to_address is not null and transaction_hash is not null
        ),
        txs as (
            select hash, any_value(lower(from_address)) signer, any_value(lower(to_address)) callee,
                   any_value(value) tx_value, any_value({tx_t})::timestamp t
            from {schema}.transactions
            where hash in (select hash from calls)
            group by hash
        ),
        splits as (
            select c.hash
            from calls c join txs x on x.hash = c.hash and x.callee = c.frm
            where c.hash not in ({moved_tokens})
            group by c.hash
            having sum(c.value) = any_value(x.tx_value) and count(distinct c.dst) >= {MIN_SPLIT_RECIPIENTS}
        )
        select c.hash, case when s.hash is not null and c.frm = x.callee then x.signer else c.frm end src,
               c.dst, c.value::double / 1e18 eth, coalesce(c.t, x.t) t, true ok
        from calls c
        left join txs x on x.hash = c.hash
        left join splits s on s.hash = c.hash
    """
