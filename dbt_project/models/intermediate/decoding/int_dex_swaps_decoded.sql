{#- One row per DEX swap read from token transfers: in a transaction, a contract (the pool)
    receives one token and sends another. The taker is the transaction's sender, whatever routers
    or pools the tokens went through (a router that unwraps WETH for ETH still leaves the pool
    receiving one token and sending WETH). The sender and the called contract (router,
    aggregator, bot contract) are never the pool: they pass tokens on rather than trade. -#}
with

flows as (select * from {{ ref('int_token_flows_by_transaction') }}),

swap_events as (

    -- A pool's own Swap event, when the source has logs: Uniswap V2
    -- Swap(address,uint256,uint256,uint256,uint256,address) and V3
    -- Swap(address,address,int256,int256,uint160,uint128,int24), keccak-256 of the signatures
    -- (computed, see docs/decoded_activity.md). It lets a pool the transaction called directly
    -- (bots call pools, not routers) count as one.
    select distinct transaction_hash as tx_hash, {{ address_key('address') }} as address_key
    from {{ source('ethereum', 'logs') }}
    where split_part(topics, ',', 1) in (
        '0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822',
        '0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67'
    )

),

final as (

    select
        tx_hash,
        first_log_index as evt_index,
        block_number,
        block_time,
        cast(block_time as date) as block_date,
        tx_from as taker,
        tx_from_key as taker_key,
        out_token_address as token_bought_address,
        in_token_address as token_sold_address,
        out_amount_raw as token_bought_amount_raw,
        in_amount_raw as token_sold_amount_raw,
        tx_from,
        tx_to,
        address as project_contract_address,
        swap_events.address_key is not null as has_swap_event,
    from flows
    left join swap_events using (tx_hash, address_key)
    where tokens_in = 1
        and tokens_out = 1
        and in_token_key <> out_token_key
        and tx_from is not null
        and address_key <> tx_from_key
        and (address_key is distinct from tx_to_key or swap_events.address_key is not null)

)

select * from final
