{#- One row per address: how many distinct addresses it exchanged ETH or tokens with (internal ETH
    transfers count, with their payer: int_internal_eth_transfers). -#}
with

transfers as (

    select from_key, to_key from {{ ref('stg_ethereum__transactions') }}
    where to_key is not null
    union all
    select from_key, to_key from {{ ref('stg_ethereum__token_transfers') }}
    where from_address <> {{ zero_address() }} and to_address <> {{ zero_address() }}
    union all
    select from_key, to_key from {{ ref('int_internal_eth_transfers') }}

),

pairs as (

    -- A counterparty is one whichever way value went, so unordered pairs are deduplicated once
    -- (half the rows of deduplicating both directions) and then credited to both ends. A case
    -- rather than least() / greatest(), which DuckDB evaluates about 4x slower on two keys
    -- (docs/decoded_activity.md); no key is NULL here, the filter dropped those rows.
    select distinct
        case when from_key < to_key then from_key else to_key end as low_key,
        case when from_key < to_key then to_key else from_key end as high_key,
    from transfers
    where from_key <> to_key

),

ends as (

    -- Both ends of each pair through a join with two rows: the pairs stream into the count
    -- below, where a union of two reads made the database keep a copy of every pair.
    select case when sides.is_low then low_key else high_key end as wallet_key
    from pairs
    cross join (select true as is_low union all select false) as sides

),

final as (

    select wallet_key, count(*) as unique_counterparties
    from ends
    group by wallet_key

)

select * from final
