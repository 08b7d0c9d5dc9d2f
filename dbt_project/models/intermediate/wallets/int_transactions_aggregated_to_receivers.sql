{#- One row per receiving address: the transactions others sent to it. -#}
with

transactions as (

    select * from {{ ref('stg_ethereum__transactions') }}
    where to_key is not null

),

final as (

    select
        to_key as wallet_key,
        count(*) as received_tx_count,
        coalesce(sum(value_eth) filter (where not coalesce(is_failed, false)), 0) as eth_received,
        -- Calls with data are how contracts are used; an address that only ever gets them and
        -- never sends is a contract even when its creation is not in the data.
        count(*) filter (where method_id is not null) as calls_received,
        min(block_time) as first_received,
        max(block_time) as last_received,
    from transactions
    group by to_key

)

select * from final
