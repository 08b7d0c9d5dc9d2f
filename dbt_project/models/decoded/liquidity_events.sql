{#- One row per liquidity add or removal read from transfers. Add: a pool receives two tokens and
    sends none. Removal: a pool sends two tokens out and receives nothing but its own LP token.
    An address is a pool when its LP token is minted (add) or burnt (removal) in the same
    transaction, or when it is the pool of a swap anywhere in the data (dex_trades): pools
    without LP tokens (Uniswap V3, or a source that leaves the LP transfers out) are known by
    their swaps. The provider is the transaction's sender. -#}
with

flows as (select * from {{ ref('int_token_flows_by_transaction') }}),

pools as (

    select distinct {{ address_key('project_contract_address') }} as address_key
    from {{ ref('dex_trades') }}
    where project_contract_address is not null

),

events as (

    select
        flows.*,
        case
            when tokens_in = 2 and tokens_out = 0 then 'add'
            when tokens_out = 2 and (tokens_in = 0 or (tokens_in = 1 and in_token_key = address_key)) then 'remove'
        end as event_type,
        pools.address_key is not null as is_known_pool,
    from flows
    left join pools using (address_key)

),

final as (

    select
        tx_hash,
        first_log_index as evt_index,
        block_number,
        block_time,
        cast(block_time as date) as block_date,
        event_type,
        tx_from as provider,
        tx_from_key as provider_key,
        address as pool,
        case when event_type = 'add' then in_token_address else out_token_address end as token_a_address,
        case when event_type = 'add' then in2_token_address else out2_token_address end as token_b_address,
        case when event_type = 'add' then in_amount_raw else out_amount_raw end as token_a_amount_raw,
        case when event_type = 'add' then in2_amount_raw else out2_amount_raw end as token_b_amount_raw,
        case when event_type = 'add' then own_token_minted else own_token_burnt end as lp_token_moved,
        tx_to,
    from events
    where event_type is not null
        and tx_from is not null
        and address_key <> tx_from_key
        and address_key is distinct from tx_to_key
        and (is_known_pool or (event_type = 'add' and own_token_minted) or (event_type = 'remove' and own_token_burnt))

)

select * from final
