{#- ETH's USD price per UTC day, implied by the data's own swaps between WETH and a USD stablecoin
    (int_canonical_tokens): the median over the day's swaps of stablecoin units per WETH, so one
    odd trade (a tiny swap, a manipulated pool) does not move it. Days without such a swap take
    the last earlier day's price, or before the first, the first later day's. A dataset with no
    WETH-stablecoin swap has no rows: nothing is priced in ETH then, rather than guessed. -#}
with

stables as (select * from {{ ref('int_canonical_tokens') }}),

priced_pairs as (

    -- Only swaps between WETH and a stablecoin matter here: they are picked out of the source's own
    -- trades and the decoded ones before anything else is done with them.
    select block_date, token_sold_address, token_bought_address, token_sold_amount_raw, token_bought_amount_raw,
    from {{ ref('stg_ethereum__dex_trades') }}
    where token_sold_address in (select token_address from stables)
        and token_bought_address in (select token_address from stables)
    union all
    select block_date, token_sold_address, token_bought_address, token_sold_amount_raw, token_bought_amount_raw,
    from {{ ref('int_dex_swaps_decoded') }}
    where token_sold_address in (select token_address from stables)
        and token_bought_address in (select token_address from stables)

),

swaps as (

    select
        block_date,
        case when sold.symbol = 'WETH' then try_cast(token_sold_amount_raw as double) / 1e18
            else try_cast(token_bought_amount_raw as double) / 1e18 end as weth,
        case when sold.symbol = 'WETH' then try_cast(token_bought_amount_raw as double) / pow(10, bought.decimals)
            else try_cast(token_sold_amount_raw as double) / pow(10, sold.decimals) end as usd,
    from priced_pairs as trades
    inner join stables as sold on sold.token_address = trades.token_sold_address
    inner join stables as bought on bought.token_address = trades.token_bought_address
    where (sold.symbol = 'WETH' and bought.is_usd_stablecoin)
        or (bought.symbol = 'WETH' and sold.is_usd_stablecoin)

),

observed as (

    select block_date, median(usd / weth) as eth_usd, count(*) as swaps
    from swaps
    where weth > 0 and usd > 0 and block_date is not null
    group by block_date

),

days as (

    -- Every day of the data, trades from a source's own table included.
    {%- set day_bounds %}
        select min(block_date) as first_day, max(block_date) as last_day
        from {{ ref('stg_ethereum__transactions') }}
        union all
        select min(block_date), max(block_date) from {{ ref('stg_ethereum__dex_trades') }}
        union all
        select min(block_date), max(block_date) from {{ ref('stg_ethereum__nft_trades') }}
    {%- endset %}
    {{ date_spine(day_bounds) }}

),

carried as (

    select
        days.block_date,
        before.block_date as before_date,
        before.eth_usd as before_usd,
        before.swaps as before_swaps,
    from days
    {{ asof_left_join() }} observed as before on before.block_date <= days.block_date
    {{ asof_nearest('days.block_date', 'before.block_date desc') }}

),

final as (

    select
        carried.block_date,
        coalesce(carried.before_usd, after.eth_usd) as eth_usd,
        coalesce(carried.before_date, after.block_date) as priced_on,
        coalesce(carried.before_swaps, after.swaps) as swaps_on_that_day,
    from carried
    {{ asof_left_join() }} observed as after on after.block_date >= carried.block_date
    where coalesce(carried.before_usd, after.eth_usd) is not null
    {{ asof_nearest('carried.block_date', 'after.block_date') }}

)

select * from final
