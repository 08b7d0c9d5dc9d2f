{#- Sum of a DOUBLE that does not depend on the order rows are added in.
    Parallel float sums differ in the last bits from run to run, so the same data would give
    different features. Integer addition is associative: each value is rounded to `scale`
    decimals, summed exactly as HUGEINT (DECIMAL(38, 0) on Spark: wide_int), and converted back
    once. Values of 1e20 or more (no real token amount or USD figure) are summed as plain doubles
    rather than overflow HUGEINT. -#}
{% macro fixed_point_sum(expr, scale=9, filter=none) -%}
    {%- set where = ' and (' ~ filter ~ ')' if filter else '' -%}
    (
        cast(sum(cast(round({{ expr }} * 1e{{ scale }}) as {{ wide_int() }}))
            filter (where abs({{ expr }}) < 1e20{{ where }}) as double) / 1e{{ scale }}
        + coalesce(sum({{ expr }}) filter (where abs({{ expr }}) >= 1e20{{ where }}), 0)
    )
{%- endmacro %}
