{#- A 64-bit key for a transaction hash, for the decoders' joins and groupings on transactions:
    on the 66-character text they cost more CPU than the rest of those queries (DuckDB profiles,
    docs/decoded_activity.md). Collisions are tested, not assumed away (tests/tx_keys_one_to_one.sql). -#}
{% macro tx_key(tx_hash) -%}
    {{ address_key(tx_hash) }}
{%- endmacro %}
