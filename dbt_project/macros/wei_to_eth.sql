{#- Exact: multiplying a DECIMAL(38,0) by a DECIMAL(18,18) stays decimal, while dividing by 1e18
    goes through DOUBLE and loses digits beyond the 16th. -#}
{% macro wei_to_eth(wei) -%}
    (cast({{ wei }} as decimal(38, 0)) * cast(0.000000000000000001 as decimal(18, 18)))
{%- endmacro %}
