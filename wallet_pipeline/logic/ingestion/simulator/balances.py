"""End-of-window ETH balances for the simulated chain, derived from its own transactions.

A balance needs what a wallet held before the window, which no transaction shows. Each wallet is
given a pre-window holding: enough to never go below zero at any point of the window, plus a
seeded share (0-50%) of the ETH it moved in and out during the window, so wallets that move
much ETH also hold much. The end balance is that holding plus the window's net flow. Everything is exact
integer wei and depends only on the transactions and the seed, so a reader of the exported files
derives the same table.
"""

from __future__ import annotations


def balances_query(transactions: str, seed: int) -> str:
    """SQL giving (address, eth_balance, block_number) from a table or file scan of transactions.

    Args:
        transactions: a relation in the raw `transactions` layout (value, receipt_status,
            receipt_gas_used, receipt_effective_gas_price, block_number, transaction_index).
        seed: the simulator seed.
    """
    return f"""
with transactions as (

    select
        from_address,
        to_address,
        block_number,
        transaction_index,
        case when receipt_status = 1 then cast(value as hugeint) else 0 end as moved,
        cast(receipt_gas_used as hugeint) * cast(receipt_effective_gas_price as hugeint) as fee,
    from {transactions}

),

deltas as (

    -- The sender pays first (value and fee), then the receiver is credited: side orders them.
    select from_address as address, block_number, transaction_index, 0 as side, -(moved + fee) as delta
    from transactions
    union all
    select to_address, block_number, transaction_index, 1, moved
    from transactions
    where to_address is not null

),

running as (

    select
        address,
        delta,
        sum(delta) over (
            partition by address order by block_number, transaction_index, side
            rows between unbounded preceding and current row
        ) as balance_after,
    from deltas

),

per_wallet as (

    select
        address,
        sum(delta) as net_flow,
        least(min(balance_after), 0) as lowest,
        sum(abs(delta)) as turnover,
    from running
    group by address

)

select
    address,
    cast(
        -lowest
        + turnover * (hash(address || ':{int(seed)}') % 500000) // 1000000
        + net_flow
        as decimal(38, 0)
    ) as eth_balance,
    -- A scalar, not max() over (): a window without partitions runs on one thread.
    (select max(block_number) from transactions) as block_number,
from per_wallet
"""
