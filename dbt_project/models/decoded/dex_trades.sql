{#- One row per DEX swap, in the shape of spellbook's `dex.trades`: the source's own trades plus
    those decoded from transfers (int_dex_swaps_decoded) in transactions the source's table does
    not hold, priced in USD. A source's own USD
    amount is kept; otherwise a stablecoin side is worth $1 a unit, else a WETH side is priced
    at the day's ETH price from int_eth_usd_daily; a swap with neither is unpriced (NULL). -#}
{#- DuckDB writes this table without FSST string compression: at 11.6M transactions FSST took
    2.3-3.1 of the write's CPU s (its hashes, addresses and raw amounts) and saved 234 MB of the
    file, 654 MB instead of 420 (docs/decoded_activity.md, Cost). The setting is global, hence the
    reset after the write. -#}
{{ config(
    pre_hook="set disabled_compression_methods = 'fsst'" if target.type == 'duckdb' else [],
    post_hook="set disabled_compression_methods = ''" if target.type == 'duckdb' else [],
) }}
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
        cast(null as {{ text_type() }}) as project, decoded.taker, decoded.taker_key,
        decoded.token_bought_address, decoded.token_sold_address, decoded.token_bought_amount_raw,
        decoded.token_sold_amount_raw, cast(null as double) as provided_amount_usd, decoded.tx_from,
        decoded.tx_to, decoded.project_contract_address,
        'decoded' as origin,
    from {{ ref('int_dex_swaps_decoded') }} as decoded
    -- On the staged 64-bit key rather than the provided CTE: read twice, the CTE would be kept
    -- with every column of every provided trade (docs/decoded_activity.md, Cost).
    anti join (select tx_key from {{ ref('stg_ethereum__dex_trades') }}) as provided_keys
        on provided_keys.tx_key = {{ tx_key('decoded.tx_hash') }}

),

trades as (

    -- The source's own trades, plus the decoded swaps of transactions its table does not hold.
    select * from provided
    union all
    select * from decoded

),

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
