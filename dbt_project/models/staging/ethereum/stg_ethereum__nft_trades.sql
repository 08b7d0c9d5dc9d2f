with

source as (

    select * from {{ source('ethereum', 'nft_trades') }}

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
        lower(nft_contract_address) as nft_contract_address,
        token_id,
        token_standard,
        lower(buyer) as buyer,
        lower(seller) as seller,
        {{ address_key('lower(buyer)') }} as buyer_key,
        {{ address_key('lower(seller)') }} as seller_key,
        currency_symbol,
        -- Prices in ETH are exact only when paid in ETH or WETH (18 decimals).
        case when upper(currency_symbol) in ('ETH', 'WETH') then {{ wei_to_eth('amount_raw') }} end as amount_eth,
        amount_usd,
        lower(tx_from) as tx_from,
        lower(tx_to) as tx_to,
    from deduplicated

)

select * from final
