with

source as (

    select * from {{ source('ethereum', 'nft_trades') }}

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
        nft_contract_address as nft_contract_address,
        token_id,
        token_standard,
        buyer as buyer,
        seller as seller,
        {{ address_key('buyer') }} as buyer_key,
        {{ address_key('seller') }} as seller_key,
        currency_symbol,
        -- Prices in ETH are exact only when paid in ETH or WETH (18 decimals).
        case when upper(currency_symbol) in ('ETH', 'WETH') then {{ wei_to_eth('amount_raw') }} end as amount_eth,
        amount_usd,
        tx_from as tx_from,
        tx_to as tx_to,
    from source

)

select * from final
