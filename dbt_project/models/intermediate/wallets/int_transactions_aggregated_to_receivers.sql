{#- One row per receiving address: the transactions others sent to it, and the ETH that reached it
    inside contract calls (int_internal_eth_transfers: in eth_received and the receiving times, not in
    the transaction counts). Its payer already counted that ETH as sent in its own transaction. -#}
with

transactions as (

    select * from {{ ref('stg_ethereum__transactions') }}
    where to_key is not null

),

internal as (

    select
        to_key as wallet_key,
        sum(value_eth) as eth_received_internal,
        min(block_time) as first_received_internal,
        max(block_time) as last_received_internal,
    from {{ ref('int_internal_eth_transfers') }}
    group by to_key

),

by_transactions as (

    select
        to_key as wallet_key,
        count(*) as received_tx_count,
        -- Summed in wei, to ETH once per wallet (as the sender model does).
        {{ wei_to_eth('coalesce(sum(value_wei) filter (where not coalesce(is_failed, false)), 0)') }} as eth_received,
        -- Calls with data are how contracts are used; an address that only ever gets them and
        -- never sends is a contract even when its creation is not in the data.
        count(*) filter (where method_id is not null) as calls_received,
        min(block_time) as first_received,
        max(block_time) as last_received,
    from transactions
    group by to_key

),

final as (

    select
        coalesce(by_transactions.wallet_key, internal.wallet_key) as wallet_key,
        coalesce(by_transactions.received_tx_count, 0) as received_tx_count,
        coalesce(by_transactions.eth_received, 0) + coalesce(internal.eth_received_internal, 0) as eth_received,
        coalesce(by_transactions.calls_received, 0) as calls_received,
        least(by_transactions.first_received, internal.first_received_internal) as first_received,
        greatest(by_transactions.last_received, internal.last_received_internal) as last_received,
    from by_transactions
    full outer join internal on internal.wallet_key = by_transactions.wallet_key

)

select * from final
