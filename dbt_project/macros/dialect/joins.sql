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
