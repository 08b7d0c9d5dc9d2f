{#- `+schema: marts` lands in `marts`, not `main_marts`, so an asset key [schema, name] is also
    the table's address in DuckDB. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
