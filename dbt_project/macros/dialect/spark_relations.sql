{#- The models keep DuckDB's trailing comma after a select list's last column (the project's
    style: adding a column touches one line). Spark's parser refuses it, so on Spark the comma
    directly before `from` (comments between them allowed) is dropped from the compiled SQL of
    every table and view, then dbt-spark's own macro creates it. -#}
{% macro without_trailing_commas(sql) -%}
    {{ return(modules.re.sub('(?i),(\\s*(?:--[^\\n]*\\n\\s*)*)(from\\b)', '\\1\\2', sql)) }}
{%- endmacro %}

{% macro spark__create_table_as(temporary, relation, compiled_code, language='sql') -%}
    {%- if language == 'sql' -%}
        {%- set compiled_code = without_trailing_commas(compiled_code) -%}
    {%- endif -%}
    {{ return(dbt.spark__create_table_as(temporary, relation, compiled_code, language)) }}
{%- endmacro %}

{% macro spark__create_view_as(relation, sql) -%}
    {{ return(dbt.spark__create_view_as(relation, without_trailing_commas(sql))) }}
{%- endmacro %}

{#- The raw tables, as wallet_pipeline/logic/spark/landing.py lands them (one Parquet folder per
    table under WALLET_SPARK_RAW_DIR), become the Spark tables the sources name, before any model
    runs. Dropping such a table leaves its files; creating it again re-reads their schema, so a
    new landing is always what the models see. Nothing to do on DuckDB, where the loaders write
    the raw schema itself. -#}
{% macro register_raw_sources() -%}
    {{ return(adapter.dispatch('register_raw_sources', 'wallet_pipeline')()) }}
{%- endmacro %}
{% macro default__register_raw_sources() -%}
{%- endmacro %}
{% macro spark__register_raw_sources() -%}
    {%- if execute -%}
        {%- set root = env_var('WALLET_SPARK_RAW_DIR', '../data/spark/raw_parquet') -%}
        {%- set schemas = [] -%}
        {%- for node in graph.sources.values() if node.schema not in schemas -%}
            {%- do schemas.append(node.schema) -%}
            {%- do run_query('create database if not exists ' ~ node.schema) -%}
        {%- endfor -%}
        {%- for node in graph.sources.values() -%}
            {%- set table = node.schema ~ '.' ~ node.identifier -%}
            {%- do run_query('drop table if exists ' ~ table) -%}
            {%- do run_query(
                "create table " ~ table ~ " using parquet location '" ~ root ~ "/" ~ node.identifier ~ "'"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- Unit tests and column lookups run a model's compiled SQL too, not through the two above. -#}
{% macro spark__get_empty_subquery_sql(select_sql, select_sql_header=none) -%}
    {{ return(dbt.default__get_empty_subquery_sql(without_trailing_commas(select_sql), select_sql_header)) }}
{%- endmacro %}

{% macro spark__get_unit_test_sql(main_sql, expected_fixture_sql, expected_column_names) -%}
    {{ return(dbt.default__get_unit_test_sql(without_trailing_commas(main_sql), expected_fixture_sql, expected_column_names)) }}
{%- endmacro %}
