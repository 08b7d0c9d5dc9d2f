{#- One row per address that received ETH or tokens: how many of those inflows it passed on, in
    the same asset, to an externally owned address within 6 hours (what deposit addresses do). -#}
with

transactions as (

    -- A reverted transaction moves no ETH. Nothing goes to or comes from the zero address as a
    -- wallet; filtering here keeps the address strings out of the materialized CTE (memory).
    select from_key, to_key, block_time
    from {{ ref('stg_ethereum__transactions') }}
    where value_eth > 0
        and to_key is not null
        and to_address <> {{ zero_address() }}
        and not coalesce(is_failed, false)

),

token_transfers as (

    select from_key, to_key, token_key, block_time, from_address = {{ zero_address() }} as is_mint
    from {{ ref('stg_ethereum__token_transfers') }}
    where to_address <> {{ zero_address() }}

),

contracts as (select wallet_key from {{ ref('int_contracts_identified') }}),

inflows as (

    -- An asset is (is_eth, token_key); ETH's token_key 0 is a placeholder the flag keeps apart
    -- from a token whose key is 0. Mints count: an airdrop or NFT mint is received like a transfer.
    select to_key as wallet_key, true as is_eth, cast(0 as {{ key_type() }}) as token_key, block_time
    from transactions
    union all
    select to_key, false, token_key, block_time
    from token_transfers

),

outflows_to_eoas as (

    -- Value sent to a contract is a swap, NFT buy, bridge or mixer deposit, not forwarding.
    select
        transactions.from_key as wallet_key,
        true as is_eth,
        cast(0 as {{ key_type() }}) as token_key,
        transactions.block_time,
    from transactions
    anti join contracts on contracts.wallet_key = transactions.to_key
    union all
    select token_transfers.from_key, false, token_transfers.token_key, token_transfers.block_time
    from token_transfers
    anti join contracts on contracts.wallet_key = token_transfers.to_key
    where not token_transfers.is_mint

),

forwarding_assets as (

    -- Only an inflow of an asset its wallet ever sends to an EOA can be forwarded: the ASOF join
    -- below sorts just those, the rest are only counted (16-24% less of this model's CPU at 1.1M
    -- transactions, benchmarks/feature_build.py).
    select distinct wallet_key, is_eth, token_key from outflows_to_eoas

),

forwarded as (

    {{ count_forwarded_inflows('inflows', 'outflows_to_eoas', 'forwarding_assets', hours=6) }}

),

received as (select wallet_key, count(*) as inflow_count from inflows group by wallet_key),

final as (

    select
        received.wallet_key,
        received.inflow_count,
        coalesce(forwarded.forwarded_inflow_count_6h, 0) as forwarded_inflow_count_6h,
    from received
    left join forwarded using (wallet_key)

)

select * from final
