{#- Where DuckDB's and Spark's SQL differ in a function's name or a type's, one macro per
    difference: the DuckDB text is the default (and what every DuckDB build compiles to), Spark's
    is spark__. docs/spark.md lists them and why each exists. -#}

{#- A 64-bit hash. DuckDB's hash() is 64-bit; Spark's hash() is 32-bit Murmur3, whose collisions
    on a few hundred thousand addresses int_wallet_keys' test would find, so Spark uses xxhash64.
    Keys are internal: the two engines give the same rows different keys, never different rows. -#}
{% macro hash64(expr) -%}
    {{ adapter.dispatch('hash64', 'wallet_pipeline')(expr) }}
{%- endmacro %}
{% macro default__hash64(expr) -%}
    hash({{ expr }})
{%- endmacro %}
{% macro spark__hash64(expr) -%}
    xxhash64({{ expr }})
{%- endmacro %}

{#- The type of a 64-bit key: DuckDB's hash() is unsigned, xxhash64 signed. -#}
{% macro key_type() -%}
    {{ adapter.dispatch('key_type', 'wallet_pipeline')() }}
{%- endmacro %}
{% macro default__key_type() -%}
    ubigint
{%- endmacro %}
{% macro spark__key_type() -%}
    bigint
{%- endmacro %}

{#- An integer wide enough for exact sums of 38-digit amounts: Spark has no 128-bit integer, and
    DECIMAL(38, 0) holds the same range but the 39th digit. -#}
{% macro wide_int() -%}
    {{ adapter.dispatch('wide_int', 'wallet_pipeline')() }}
{%- endmacro %}
{% macro default__wide_int() -%}
    hugeint
{%- endmacro %}
{% macro spark__wide_int() -%}
    decimal(38, 0)
{%- endmacro %}

{#- Text: Spark 4 reads a bare `varchar` as a string only with a length. -#}
{% macro text_type() -%}
    {{ adapter.dispatch('text_type', 'wallet_pipeline')() }}
{%- endmacro %}
{% macro default__text_type() -%}
    varchar
{%- endmacro %}
{% macro spark__text_type() -%}
    string
{%- endmacro %}

{#- Integer division of whole numbers, rounding down (DuckDB `//`, Spark `div`). -#}
{% macro int_div(dividend, divisor) -%}
    {{ adapter.dispatch('int_div', 'wallet_pipeline')(dividend, divisor) }}
{%- endmacro %}
{% macro default__int_div(dividend, divisor) -%}
    {{ dividend }} // {{ divisor }}
{%- endmacro %}
{% macro spark__int_div(dividend, divisor) -%}
    {{ dividend }} div {{ divisor }}
{%- endmacro %}

{#- Whole seconds since 1970 of a timestamp. -#}
{% macro epoch_seconds(ts) -%}
    {{ adapter.dispatch('epoch_seconds', 'wallet_pipeline')(ts) }}
{%- endmacro %}
{% macro default__epoch_seconds(ts) -%}
    epoch_ms({{ ts }}) // 1000
{%- endmacro %}
{% macro spark__epoch_seconds(ts) -%}
    unix_millis({{ ts }}) div 1000
{%- endmacro %}

{#- Days from `start` to `end`, a DOUBLE counted in whole seconds. DuckDB's date part is a quoted
    string and its `/ 86400.0` a DOUBLE; Spark's is a keyword and the same division a DECIMAL. -#}
{% macro days_between(start, end) -%}
    {{ adapter.dispatch('days_between', 'wallet_pipeline')(start, end) }}
{%- endmacro %}
{% macro default__days_between(start, end) -%}
    datediff('second', {{ start }}, {{ end }}) / 86400.0
{%- endmacro %}
{% macro spark__days_between(start, end) -%}
    cast(timestampdiff(second, {{ start }}, {{ end }}) as double) / 86400.0
{%- endmacro %}

{#- Every column of `relation` but `columns` (DuckDB `exclude`, Spark `except`). -#}
{% macro star_except(relation, columns) -%}
    {{ adapter.dispatch('star_except', 'wallet_pipeline')(relation, columns) }}
{%- endmacro %}
{% macro default__star_except(relation, columns) -%}
    {{ relation }}.* exclude ({{ columns | join(', ') }})
{%- endmacro %}
{% macro spark__star_except(relation, columns) -%}
    {{ relation }}.* except ({{ columns | join(', ') }})
{%- endmacro %}

{#- A DECIMAL(38, 0) amount divided by a count, rounded down. Spark's `div` returns a 64-bit
    integer (wrong past 9.2e18 wei), and its decimal `/` keeps 28 whole digits here, so on Spark a
    larger amount split over several NFTs is NULL; one NFT takes the amount whole. -#}
{% macro amount_div(amount, count) -%}
    {{ adapter.dispatch('amount_div', 'wallet_pipeline')(amount, count) }}
{%- endmacro %}
{% macro default__amount_div(amount, count) -%}
    {{ amount }} // {{ count }}
{%- endmacro %}
{% macro spark__amount_div(amount, count) -%}
    case when {{ count }} = 1 then {{ amount }} else floor({{ amount }} / {{ count }}) end
{%- endmacro %}

{#- True when the whole of `value` matches the regular expression `pattern` (a SQL string). -#}
{% macro full_match(value, pattern) -%}
    {{ adapter.dispatch('full_match', 'wallet_pipeline')(value, pattern) }}
{%- endmacro %}
{% macro default__full_match(value, pattern) -%}
    regexp_full_match({{ value }}, {{ pattern }})
{%- endmacro %}
{% macro spark__full_match(value, pattern) -%}
    ({{ value }} rlike concat('^(?:', {{ pattern }}, ')$'))
{%- endmacro %}

{#- An order key for (block number, position in the block), unknown ones last, as min_by() on the
    pair orders them in DuckDB. DuckDB: one 128-bit integer, which min_by() compares faster than
    the pair (docs/decoded_activity.md, Cost); positions stay below 2^32, blocks below 2^62.
    Spark keeps the pair: its DECIMAL(38, 0) would not hold the product. -#}
{% macro chain_order(block_number, transaction_index) -%}
    {{ adapter.dispatch('chain_order', 'wallet_pipeline')(block_number, transaction_index) }}
{%- endmacro %}
{% macro default__chain_order(block_number, transaction_index) -%}
    cast(coalesce({{ block_number }}, 4611686018427387904) as hugeint) * 4294967296
        + coalesce({{ transaction_index }}, 4294967295)
{%- endmacro %}
{% macro spark__chain_order(block_number, transaction_index) -%}
    ({{ block_number }}, {{ transaction_index }})
{%- endmacro %}
