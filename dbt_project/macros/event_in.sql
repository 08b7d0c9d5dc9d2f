{#- True for an ethereum-etl `logs` row whose event (topic0, the first of the comma-separated
    `topics`) is one of `events`: the keccak-256 hashes of the event signatures, listed with
    their signatures in docs/decoded_activity.md. -#}
{% macro event_in(events) -%}
    split_part(topics, ',', 1) in ('{{ events | join("', '") }}')
{%- endmacro %}
