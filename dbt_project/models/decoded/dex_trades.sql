{#- One row per DEX swap, in the shape of spellbook's `dex.trades`: the source's own trades plus
    those decoded from transfers (int_dex_swaps_combined), priced in USD. A source's own USD
    amount is kept; otherwise a stablecoin side is worth $1 a unit, else a WETH side is priced
    at the day's ETH price from int_eth_usd_daily; a swap with neither is unpriced (NULL). -#}
with

trades as (select * from {{ ref('int_dex_swaps_combined') }}),

tokens as (select * from {{ ref('int_canonical_tokens') }}),

prices as (select * from {{ ref('int_eth_usd_daily') }}),

final as (

    select
        trades.tx_hash,
        trades.evt_index,
        trades.block_number,
        trades.block_time,
        trades.block_date,
        trades.project,
        trades.taker,
        trades.taker_key,
        trades.token_bought_address,
        trades.token_sold_address,
        trades.token_bought_amount_raw,
        trades.token_sold_amount_raw,
        coalesce(
            trades.provided_amount_usd,
            case when sold.is_usd_stablecoin then try_cast(trades.token_sold_amount_raw as double) / pow(10, sold.decimals) end,
            case when bought.is_usd_stablecoin then try_cast(trades.token_bought_amount_raw as double) / pow(10, bought.decimals) end,
            case when sold.symbol = 'WETH' then try_cast(trades.token_sold_amount_raw as double) / 1e18 * prices.eth_usd end,
            case when bought.symbol = 'WETH' then try_cast(trades.token_bought_amount_raw as double) / 1e18 * prices.eth_usd end
        ) as amount_usd,
        trades.tx_from,
        trades.tx_to,
        trades.project_contract_address,
        trades.origin,
    from trades
    left join tokens as sold on sold.token_address = trades.token_sold_address
    left join tokens as bought on bought.token_address = trades.token_bought_address
    left join prices on prices.block_date = trades.block_date

)

select * from final
