{#- One row per DEX swap read from token transfers: in a transaction, a contract (the pool)
    receives one fungible token and sends another. The taker is the transaction's sender, whatever
    routers or pools the tokens went through (a router that unwraps WETH for ETH still leaves the
    pool receiving one token and sending WETH). The sender and the called contract (router,
    aggregator, bot contract) are never the pool: they pass tokens on rather than trade; a pool the
    transaction called directly counts when it emitted its own Swap event (raw.logs).

    One self-join of the transfers on (transaction, receiver = sender) finds every address that
    received one token and sent another in the same transaction; it costs two reads of the
    transfers and no grouping of all of them (grouping every transfer by transaction and address
    cost three times as much at 1M transactions: docs/decoded_activity.md). Joins and groupings on
    transactions use the 64-bit tx_key, the hash comes back with the transaction at the end. -#}
with

fungible as (

    -- Keys and amounts only: the addresses of the few rows that are swaps are joined back at the
    -- end, rather than carried through the join for every transfer.
    select tx_key, log_index, token_key, from_key, to_key, to_address, value_raw
    from {{ ref('stg_ethereum__token_transfers') }}
    semi join (
        select token_key from {{ ref('int_tokens_classified') }} where token_standard = 'erc20'
    ) as erc20 using (token_key)
    -- Transactions the source's own trade table holds are taken from it (decoded.dex_trades):
    -- decoding them again would be thrown away.
    anti join (select tx_key from {{ ref('stg_ethereum__dex_trades') }}) as provided using (tx_key)
    where from_address <> {{ zero_address() }} and to_address <> {{ zero_address() }}

),

pairs as (

    select
        into_pool.tx_key,
        into_pool.to_key as pool_key,
        into_pool.to_address as pool,
        into_pool.token_key as sold_key,
        out_of_pool.token_key as bought_key,
        into_pool.value_raw as sold_raw,
        out_of_pool.value_raw as bought_raw,
        least(into_pool.log_index, out_of_pool.log_index) as evt_index,
    from fungible as into_pool
    inner join fungible as out_of_pool
        on out_of_pool.tx_key = into_pool.tx_key
        and out_of_pool.from_key = into_pool.to_key
        and out_of_pool.token_key <> into_pool.token_key

),

per_pool as (

    -- A pool that took one transfer in and sent one out; more legs (a pool used twice in one
    -- transaction, or one that moves three tokens) are not read as a swap.
    select
        tx_key,
        pool_key,
        any_value(pool) as pool,
        any_value(sold_key) as sold_key,
        any_value(bought_key) as bought_key,
        any_value(sold_raw) as sold_raw,
        any_value(bought_raw) as bought_raw,
        min(evt_index) as evt_index,
    from pairs
    group by tx_key, pool_key
    having count(*) = 1

),

swap_events as (

    -- A pool's own Swap event, when the source has logs: Uniswap V2
    -- Swap(address,uint256,uint256,uint256,uint256,address) and V3
    -- Swap(address,address,int256,int256,uint160,uint128,int24), keccak-256 of the signatures
    -- (computed, see docs/decoded_activity.md).
    select distinct {{ tx_key('transaction_hash') }} as tx_key, {{ address_key('address') }} as pool_key
    from {{ source('ethereum', 'logs') }}
    where {{ event_in([
        '0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822',
        '0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67',
    ]) }}

),

final as (

    select
        transactions.tx_hash,
        per_pool.evt_index,
        transactions.block_number,
        transactions.block_time,
        transactions.block_date,
        transactions.from_address as taker,
        transactions.from_key as taker_key,
        bought.token_address as token_bought_address,
        sold.token_address as token_sold_address,
        per_pool.bought_raw as token_bought_amount_raw,
        per_pool.sold_raw as token_sold_amount_raw,
        transactions.from_address as tx_from,
        transactions.to_address as tx_to,
        per_pool.pool as project_contract_address,
        swap_events.pool_key is not null as has_swap_event,
    from per_pool
    inner join {{ ref('stg_ethereum__transactions') }} as transactions using (tx_key)
    inner join {{ ref('int_tokens_classified') }} as sold on sold.token_key = per_pool.sold_key
    inner join {{ ref('int_tokens_classified') }} as bought on bought.token_key = per_pool.bought_key
    left join swap_events using (tx_key, pool_key)
    where per_pool.pool_key <> transactions.from_key
        and (per_pool.pool_key is distinct from transactions.to_key or swap_events.pool_key is not null)

)

select * from final
