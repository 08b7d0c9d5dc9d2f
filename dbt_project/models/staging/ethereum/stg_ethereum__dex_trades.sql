with

source as (

    select * from {{ source('ethereum', 'dex_trades') }}

),

final as (

    select
        tx_hash as tx_hash,
        {{ tx_key('tx_hash') }} as tx_key,
        evt_index,
        block_number,
        cast(block_time as timestamp) as block_time,
        cast(block_time as date) as block_date,
        project,
        taker as taker,
        {{ address_key('taker') }} as taker_key,
        token_bought_address as token_bought_address,
        token_sold_address as token_sold_address,
        token_bought_amount_raw,
        token_sold_amount_raw,
        amount_usd,
        tx_from as tx_from,
        tx_to as tx_to,
        project_contract_address as project_contract_address,
    from source

)

select * from final
