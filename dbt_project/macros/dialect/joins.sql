{#- Spark has no ASOF join. Where the matched side is small (a day's price against a few hundred
    days), a range join keeping the nearest match per left row does the same: `asof_left_join()`
    in place of `asof left join`, and `asof_nearest(...)` after the query's WHERE. -#}
{% macro asof_left_join() -%}
    {{ adapter.dispatch('asof_left_join', 'wallet_pipeline')() }}
{%- endmacro %}
{% macro default__asof_left_join() -%}
    asof left join
{%- endmacro %}
{% macro spark__asof_left_join() -%}
    left join
{%- endmacro %}

{#- The nearest match per left row: `left_key` identifies the row, `nearest_first` orders its
    matches nearest first. Nothing in DuckDB, where the ASOF join matched one row already. -#}
{% macro asof_nearest(left_key, nearest_first) -%}
    {{ adapter.dispatch('asof_nearest', 'wallet_pipeline')(left_key, nearest_first) }}
{%- endmacro %}
{% macro default__asof_nearest(left_key, nearest_first) -%}
{%- endmacro %}
{% macro spark__asof_nearest(left_key, nearest_first) -%}
    qualify row_number() over (partition by {{ left_key }} order by {{ nearest_first }}) = 1
{%- endmacro %}

{#- One row per day from the earliest `first_day` to the latest `last_day` of `bounds` (a query
    with those two columns); no rows when every bound is NULL. -#}
{% macro date_spine(bounds) -%}
    {{ adapter.dispatch('date_spine', 'wallet_pipeline')(bounds) }}
{%- endmacro %}
{% macro default__date_spine(bounds) -%}
    select cast(unnest(generate_series(min(first_day), max(last_day), interval 1 day)) as date) as block_date
    from (
        {{ bounds }}
    )
    having count(first_day) > 0
{%- endmacro %}
{% macro spark__date_spine(bounds) -%}
    select explode(sequence(first_day, last_day, interval 1 day)) as block_date
    from (
        select min(first_day) as first_day, max(last_day) as last_day
        from (
            {{ bounds }}
        )
        having count(first_day) > 0
    )
{%- endmacro %}

{#- Per wallet, how many of its `inflows` were followed within `hours` by an outflow of the same
    asset (wallet_key, is_eth, token_key) in `outflows`, at or after the inflow. Only inflows of
    an asset in `assets` (one its wallet ever sends) can be. -#}
{% macro count_forwarded_inflows(inflows, outflows, assets, hours) -%}
    {{ adapter.dispatch('count_forwarded_inflows', 'wallet_pipeline')(inflows, outflows, assets, hours) }}
{%- endmacro %}
{% macro default__count_forwarded_inflows(inflows, outflows, assets, hours) -%}
    -- The first outflow of the same asset at or after each inflow (>=: a forward in the same
    -- block counts). An ASOF join sorts each side once, where a range self-join grows with
    -- inflows x outflows per wallet. Windows over the union of both were worse at 11M
    -- transactions: min() over the following rows cost 23 CPU s against 16 (it pays per
    -- (wallet, asset)), and first_value ignore nulls grows with the square of a run of inflows
    -- without an outflow (6.5 s for one run of 800k).
    select inflows.wallet_key, count(*) as forwarded_inflow_count_6h,
    from {{ inflows }} as inflows
    semi join {{ assets }} using (wallet_key, is_eth, token_key)
    asof join {{ outflows }} as outflows
        on outflows.wallet_key = inflows.wallet_key
        and outflows.is_eth = inflows.is_eth
        and outflows.token_key = inflows.token_key
        and outflows.block_time >= inflows.block_time
    where outflows.block_time < inflows.block_time + interval {{ hours }} hour
    group by inflows.wallet_key
{%- endmacro %}
{% macro spark__count_forwarded_inflows(inflows, outflows, assets, hours) -%}
    -- No ASOF join: the next outflow after each inflow is the smallest outflow time over the
    -- rows at or after it within its (wallet, asset). Walked latest first, so the frame grows
    -- from the partition's start and is computed once: a frame ending at the partition's end
    -- Spark recomputes for every row (quadratic in a hub's rows; the 1M-transaction build sat in
    -- this step's models for over 15 minutes with it).
    -- An outflow at the inflow's time sorts before it, so it counts (>=), as in DuckDB.
    select wallet_key, count(*) as forwarded_inflow_count_6h
    from (
        select
            wallet_key,
            block_time,
            is_outflow,
            min(case when is_outflow then block_time end) over (
                partition by wallet_key, is_eth, token_key
                order by block_time desc, is_outflow desc
                rows between unbounded preceding and current row
            ) as next_outflow
        from (
            select wallet_key, is_eth, token_key, block_time, false as is_outflow
            from {{ inflows }}
            semi join {{ assets }} using (wallet_key, is_eth, token_key)
            union all
            select wallet_key, is_eth, token_key, block_time, true
            from {{ outflows }}
        )
    )
    where not is_outflow and next_outflow < block_time + interval {{ hours }} hour
    group by wallet_key
{%- endmacro %}
