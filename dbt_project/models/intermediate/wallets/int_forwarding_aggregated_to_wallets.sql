{#- One row per address that received ETH or tokens: how many of those inflows it passed on, in
    the same asset, to an externally owned address within 6 hours (what deposit addresses do). -#}
with

transactions as (

    -- A reverted transaction moves no ETH. Nothing goes to or comes from the zero address as a
    -- wallet; filtering here keeps the address strings out of the materialized CTE (memory).
    select from_key, to_key, block_time
    from {{ ref('stg_ethereum__transactions') }}
    where value_wei > 0
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

outflow_buckets as (

    -- Forwarded within 6 hours: an outflow of the same asset at or after the inflow (>=: a
    -- forward in the same block counts) and less than 6 hours later. With time cut into 6-hour
    -- buckets such an outflow lies in the inflow's bucket or the next one: in its own bucket any
    -- outflow at or after the inflow is less than 6 hours later, in the next any is after it. So
    -- the latest and the earliest outflow per (wallet, asset, bucket) decide, through two hash
    -- joins and no sort (an ASOF join sorted both sides, and Spark has none). Block times are
    -- after 1970, where the integer division rounds down and every bucket is 6 hours wide.
    select
        wallet_key,
        is_eth,
        token_key,
        {{ int_div(epoch_seconds('block_time'), 21600) }} as bucket,
        max(block_time) as latest,
        min(block_time) as earliest,
    from outflows_to_eoas
    group by all

),

final as (

    -- Every inflow once, with its two candidate buckets: the count of all inflows and of the
    -- forwarded ones in one grouping, so the inflows are streamed rather than kept for a second
    -- reader. The buckets are unique per (wallet, asset, bucket): the left joins add no rows.
    select
        inflows.wallet_key,
        count(*) as inflow_count,
        count(*) filter (
            where own_bucket.latest >= inflows.block_time
                or next_bucket.earliest < inflows.block_time + interval 6 hour
        ) as forwarded_inflow_count_6h,
    from (
        select *, {{ int_div(epoch_seconds('block_time'), 21600) }} as bucket from inflows
    ) as inflows
    left join outflow_buckets as own_bucket
        on own_bucket.wallet_key = inflows.wallet_key
        and own_bucket.is_eth = inflows.is_eth
        and own_bucket.token_key = inflows.token_key
        and own_bucket.bucket = inflows.bucket
    left join outflow_buckets as next_bucket
        on next_bucket.wallet_key = inflows.wallet_key
        and next_bucket.is_eth = inflows.is_eth
        and next_bucket.token_key = inflows.token_key
        and next_bucket.bucket = inflows.bucket + 1
    group by inflows.wallet_key

)

select * from final
