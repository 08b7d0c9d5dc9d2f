{#- One row per internal ETH transfer (a value-carrying call inside a transaction, from traces),
    with the address that paid it. The calling contract pays, except in a pure ETH split: the
    transaction's callee passes on exactly the ETH the signer sent, to two or more recipients,
    and no token moves (a Disperse-style batch payment); the signer pays then. An NFT sale splits
    the buyer's ETH too, but the NFT moves, so the marketplace pays the seller. The wallet graph
    reads the same rule from the raw tables (wallet_pipeline/logic/graph/internal.py); a test
    holds the two equal. -#}
with

calls as (

    select tx_hash, trace_address, block_number, block_time, from_address, from_key, to_address, to_key,
        value_wei, value_eth
    from {{ ref('stg_ethereum__traces') }}
    -- The top-level call is the transaction itself; delegate and static calls move no ETH.
    where trace_address is not null
        and trace_type = 'call'
        and coalesce(call_type, 'call') = 'call'
        and not coalesce(is_failed, false)
        and value_wei > 0
        and from_address is not null
        and to_address is not null
        and tx_hash is not null

),

transactions as (

    select tx_hash, from_address as signer, from_key as signer_key, to_address as callee, value_wei,
        transaction_index, block_time
    from {{ ref('stg_ethereum__transactions') }}
    where tx_hash in (select tx_hash from calls)

),

moved_tokens as (

    -- Only transactions with internal calls: every transfer's hash made this model cost 0.5 CPU s
    -- at 1.14M transactions with no traces at all (benchmarks/feature_build.py).
    select distinct tx_hash from {{ ref('stg_ethereum__token_transfers') }}
    where tx_hash in (select tx_hash from calls)

),

splits as (

    select calls.tx_hash
    from calls
    inner join transactions
        on transactions.tx_hash = calls.tx_hash and transactions.callee = calls.from_address
    where calls.tx_hash not in (select tx_hash from moved_tokens)
    group by calls.tx_hash
    having sum(calls.value_wei) = any_value(transactions.value_wei) and count(distinct calls.to_address) >= 2

),

marked as (

    select
        calls.*,
        transactions.signer,
        transactions.signer_key,
        transactions.transaction_index,
        coalesce(calls.block_time, transactions.block_time) as paid_at,
        splits.tx_hash is not null and calls.from_address = transactions.callee as is_split,
    from calls
    left join transactions on transactions.tx_hash = calls.tx_hash
    left join splits on splits.tx_hash = calls.tx_hash

),

final as (

    select
        tx_hash,
        trace_address,
        block_number,
        transaction_index,
        paid_at as block_time,
        is_split,
        case when is_split then signer else from_address end as from_address,
        case when is_split then signer_key else from_key end as from_key,
        to_address,
        to_key,
        value_eth,
    from marked

)

select * from final
