{#- Every DEX swap, unpriced: the rows of the source's own trade table (simulator, Dune), plus the
    swaps decoded from transfers in transactions that table does not hold. A source without a trade
    table gets only decoded rows; one with a complete table gets none. -#}
with

provided as (

    select
        tx_hash, evt_index, block_number, block_time, block_date, project, taker, taker_key,
        token_bought_address, token_sold_address, token_bought_amount_raw, token_sold_amount_raw,
        amount_usd as provided_amount_usd, tx_from, tx_to, project_contract_address,
        'provided' as origin,
    from {{ ref('stg_ethereum__dex_trades') }}

),

decoded as (

    select
        decoded.tx_hash, decoded.evt_index, decoded.block_number, decoded.block_time, decoded.block_date,
        cast(null as varchar) as project, decoded.taker, decoded.taker_key,
        decoded.token_bought_address, decoded.token_sold_address, decoded.token_bought_amount_raw,
        decoded.token_sold_amount_raw, cast(null as double) as provided_amount_usd, decoded.tx_from,
        decoded.tx_to, decoded.project_contract_address,
        'decoded' as origin,
    from {{ ref('int_dex_swaps_decoded') }} as decoded
    anti join provided using (tx_hash)

),

final as (

    select * from provided
    union all
    select * from decoded

)

select * from final
