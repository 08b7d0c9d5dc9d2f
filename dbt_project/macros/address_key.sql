{#- A 64-bit key for an address. Grouping and counting distinct on it is about 3x faster than on
    the 42-character text (see benchmarks/). A collision is not assumed away: `int_wallet_keys`
    tests that keys and addresses are one to one. DuckDB hashes NULL to a constant (Spark's
    xxhash64 to its seed), hence the case. -#}
{% macro address_key(address) -%}
    case when {{ address }} is not null then {{ hash64(address) }} end
{%- endmacro %}
