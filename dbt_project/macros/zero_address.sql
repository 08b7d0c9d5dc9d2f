{#- Mints come from and burns go to the zero address; it is nobody's wallet. -#}
{% macro zero_address() -%}
    '0x0000000000000000000000000000000000000000'
{%- endmacro %}
