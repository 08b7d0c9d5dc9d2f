{#- One row per DEX swap read from token transfers: in a transaction, a contract (the pool)
    receives one token and sends another. The taker is the transaction's sender, whatever routers
    or pools the tokens went through (a router that unwraps WETH for ETH still leaves the pool
    receiving one token and sending WETH). The sender and the called contract (router,
    aggregator, bot contract) are never the pool: they pass tokens on rather than trade. -#}
with

flows as (select * from {{ ref('int_token_flows_by_transaction') }}),

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
    from flows
    where tokens_in = 1
        and tokens_out = 1
        and in_token_key <> out_token_key
        and tx_from is not null
        and address_key <> tx_from_key
        and address_key is distinct from tx_to_key

)

select * from final
