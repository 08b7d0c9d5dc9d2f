with

source as (

    select * from {{ source('ethereum', 'dex_trades') }}

),

deduplicated as (

    select * from source
    qualify row_number() over (partition by lower(tx_hash), evt_index order by block_number) = 1

),

final as (

    select
        lower(tx_hash) as tx_hash,
        evt_index,
        block_number,
        cast(block_time as timestamp) as block_time,
        cast(block_time as date) as block_date,
        project,
        lower(taker) as taker,
        {{ address_key('lower(taker)') }} as taker_key,
        lower(token_bought_address) as token_bought_address,
        lower(token_sold_address) as token_sold_address,
        token_bought_amount_raw,
        token_sold_amount_raw,
        amount_usd,
        lower(tx_from) as tx_from,
        lower(tx_to) as tx_to,
        lower(project_contract_address) as project_contract_address,
    from deduplicated

)

select * from final
