{#- One row per NFT sale, in the shape of spellbook's `nft.trades`: the source's own sales plus
    those decoded from transfers (int_nft_sales_decoded) in transactions the source's table does
    not hold. USD: the source's own amount, else the ETH price of the day (int_eth_usd_daily)
    for sales in ETH or WETH; NULL otherwise (a sale paid in another token keeps its currency,
    with no ETH amount). -#}
with

provided as (

    select
        tx_hash, evt_index, block_number, block_time, block_date, project, nft_contract_address, token_id,
        token_standard, buyer, seller, buyer_key, seller_key, currency_symbol, amount_eth, amount_usd, tx_from,
        tx_to, 'provided' as origin,
    from {{ ref('stg_ethereum__nft_trades') }}

),

decoded as (

    select
        decoded.tx_hash, decoded.evt_index, decoded.block_number, decoded.block_time, decoded.block_date,
        decoded.project, decoded.nft_contract_address, decoded.token_id, decoded.token_standard,
        decoded.buyer, decoded.seller, decoded.buyer_key, decoded.seller_key, decoded.currency_symbol,
        -- WETH is ETH one for one (18 decimals).
        case when decoded.currency_symbol in ('ETH', 'WETH') then {{ wei_to_eth('decoded.amount_raw') }} end
            as amount_eth,
        cast(null as double) as amount_usd,
        decoded.tx_from, decoded.tx_to, 'decoded' as origin,
    from {{ ref('int_nft_sales_decoded') }} as decoded
    -- On the staged 64-bit key rather than the provided CTE: read twice, the CTE would be kept
    -- with every column of every provided trade (docs/decoded_activity.md, Cost).
    anti join (select tx_key from {{ ref('stg_ethereum__nft_trades') }}) as provided_keys
        on provided_keys.tx_key = {{ tx_key('decoded.tx_hash') }}

),

combined as (

    select * from provided
    union all
    select * from decoded

),

final as (

    select
        {{ star_except('combined', ['amount_usd', 'origin']) }},
        coalesce(combined.amount_usd, cast(combined.amount_eth as double) * prices.eth_usd) as amount_usd,
        combined.origin,
    from combined
    left join {{ ref('int_eth_usd_daily') }} as prices using (block_date)

)

select * from final
