"""SQL that parses one input column by its kind and says what is wrong with it.

Each kind gives two expressions over the column's text: the clean value (typed where the raw type
is exact: BIGINT, DECIMAL(38,0), TIMESTAMP, BOOLEAN) and a problem (NULL when the value is fine,
else a reason that quotes the offending text). Everything runs inside DuckDB, so a file of
millions of rows validates in one vectorized pass.
"""

from __future__ import annotations

from wallet_pipeline.logic.ingestion.etl_files.specs import (
    LABEL_SCAM_SUFFIXES,
    LABEL_SYNONYMS,
    MAINNET_LAUNCH,
    InputColumn,
)
from wallet_pipeline.logic.ingestion.etl_files.sqltext import sql_literal
from wallet_pipeline.logic.ingestion.raw_schema import LABEL_TYPES, MAX_UINT256, MAX_WEI_DIGITS

MAX_UINT256_TEXT = str(MAX_UINT256)
# Times from 2100 on are not block times; a unix time in milliseconds lands there first.
LATEST_TIME = "2100-01-01"

# Unsigned integer, optionally with a zero fraction: pandas writes "21000.0" for integer columns
# that hold NULLs, and BigQuery's NUMERIC exports carry nine zero decimals.
_INTEGER_RE = r"^([0-9]+)(?:\.0*)?$"
# 1e+21: how float writers (JavaScript, pandas on a float column) print large numbers; such a
# value went through a binary float, which holds about 16 significant digits. Full-match only.
EXPONENT_RE = r"[0-9]+(\.[0-9]*)?[eE][+-]?[0-9]+"
_EPOCH_RE = r"^([0-9]{1,11})(?:\.([0-9]*))?$"
# ISO-8601 and BigQuery's CSV format: date, optional time, optional Z / UTC / +hh[:mm] offset.
_ISO_RE = (
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2}(?:[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?)"
    r"\s*(Z|UTC|[+-][0-9]{2}(?::?[0-9]{2})?)?$"
)
_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")

SQL_TYPES = {
    "address": "varchar",
    "hash": "varchar",
    "int": "bigint",
    "wei": "decimal(38,0)",
    "uint256": "varchar",
    "timestamp": "timestamp",
    "text": "varchar",
    "bool": "boolean",
    "float": "double",
    "label": "varchar",
    "topics": "varchar",
}

EXPECTED = {
    "address": "an address: 0x and 40 hex digits",
    "hash": "a hash: 0x and 64 hex digits",
    "int": "a non-negative integer below 2^63",
    "wei": f"a non-negative integer of at most {MAX_WEI_DIGITS} digits (wei)",
    "uint256": "a non-negative integer up to 2^256-1",
    "timestamp": "unix seconds or an ISO-8601 timestamp",
    "text": "text",
    "bool": "true or false",
    "float": "a non-negative number",
    "label": f"one of {', '.join(LABEL_TYPES)} or a known synonym (else it loads as other)",
    "topics": "comma-separated 0x words of 64 hex digits",
}


def _shown(x: str) -> str:
    # The offending text goes into the reason, cut short so a stray blob does not flood it.
    return f"'''' || left({x}, 80) || case when length({x}) > 80 then '...''' else '''' end"


def column_sql(
    col: InputColumn, source: str | None, value_ref: str, min_time: str = MAINNET_LAUNCH
) -> tuple[str, str]:
    """Value and problem expressions for one column.

    The problem is meant for an outer query over the values, so each value is parsed once.

    Args:
        col: the column and its kind.
        source: SQL for its text, or None when no file has the column.
        value_ref: SQL that refers to the parsed value in the outer query.
        min_time: earliest acceptable time for timestamp columns.

    Returns:
        (value, problem): the value typed as SQL_TYPES[kind], over `source`; the problem, over
        `source` and `value_ref`, is NULL or a reason.
    """
    sql_type = SQL_TYPES[col.kind]
    missing = sql_literal("missing required value") if col.required else "null"
    if source is None:
        return f"cast(null as {sql_type})", missing
    if col.kind == "text":
        x = f"nullif({source}, '')"
        return x, f"case when {x} is null then {missing} end"
    # Values are taken as written, untrimmed: trimming every cell doubles the validation time and
    # ethereum-etl / BigQuery never pad; a padded value is rejected with the value quoted.
    x = f"nullif({source}, '')"
    value, bad = _KINDS[col.kind](x, value_ref, min_time)
    return value, f"case when {x} is null then {missing} {bad} end"


def _hex(x: str, v: str, digits: int, what: str) -> tuple[str, str]:
    bad = (
        f"when not regexp_full_match({v}, '0x[0-9a-f]{{{digits}}}') "
        f"then 'not {what} (0x and {digits} hex digits): ' || {_shown(x)}"
    )
    return f"lower({x})", bad


def _digits(x: str) -> str:
    return f"regexp_extract({x}, '{_INTEGER_RE}', 1)"


def _not_integer(x: str) -> str:
    return (
        f"when {_digits(x)} = '' then case when starts_with({x}, '-') "
        f"then 'negative: ' when regexp_full_match({x}, '{EXPONENT_RE}') "
        f"then 'floating-point notation, not an integer (digits may be lost): ' "
        f"else 'not a non-negative integer: ' end || {_shown(x)}"
    )


def _int(x: str, v: str, _min_time: str) -> tuple[str, str]:
    value = f"try_cast(nullif({_digits(x)}, '') as bigint)"
    bad = f"{_not_integer(x)} when {v} is null then 'beyond the BIGINT range (max 2^63-1): ' || {_shown(x)}"
    return value, bad


def _normalized_digits(x: str) -> str:
    d = _digits(x)
    return f"case when {d} = '' then null when ltrim({d}, '0') = '' then '0' else ltrim({d}, '0') end"


def _wei(x: str, v: str, _min_time: str) -> tuple[str, str]:
    n = _normalized_digits(x)
    # Through HUGEINT (39 digits, exact): DuckDB 1.5's direct text-to-DECIMAL cast is ~200x slower.
    value = (
        f"case when length({n}) <= {MAX_WEI_DIGITS} then cast(try_cast({n} as hugeint) as decimal(38,0)) end"
    )
    bad = (
        f"{_not_integer(x)} when {v} is null then "
        f"cast(length({n}) as varchar) || ' digits, beyond DECIMAL(38,0) "
        f"(all ETH ever issued is about 27 digits of wei): ' || {_shown(x)}"
    )
    return value, bad


def _uint256(x: str, v: str, _min_time: str) -> tuple[str, str]:
    n = _normalized_digits(x)
    value = f"case when length({n}) < 78 or (length({n}) = 78 and {n} <= '{MAX_UINT256_TEXT}') then {n} end"
    bad = f"{_not_integer(x)} when {v} is null then 'beyond uint256 (max 2^256-1): ' || {_shown(x)}"
    return value, bad


def timestamp_value(x: str) -> str:
    """UTC TIMESTAMP from unix seconds or ISO-8601 text; NULL when it is neither.

    Offsets are applied by hand: DuckDB's cast to TIMESTAMP drops an offset without applying
    it, and a cast to TIMESTAMPTZ would read offset-less text in the session's time zone.
    """
    secs = f"regexp_extract({x}, '{_EPOCH_RE}', 1)"
    frac = f"regexp_extract({x}, '{_EPOCH_RE}', 2)"
    u = f"upper({x})"
    dt = f"regexp_extract({u}, '{_ISO_RE}', 1)"
    tz = f"replace(regexp_extract({u}, '{_ISO_RE}', 2), ':', '')"
    offset_minutes = (
        f"case when {tz} in ('', 'Z', 'UTC') then 0 else "
        f"(case when starts_with({tz}, '-') then -1 else 1 end) * "
        f"(cast(substr({tz}, 2, 2) as integer) * 60 "
        f"+ coalesce(try_cast(nullif(substr({tz}, 4, 2), '') as integer), 0)) end"
    )
    epoch = (
        f"make_timestamp(cast({secs} as bigint) * 1000000 + cast(rpad(left({frac}, 6), 6, '0') as bigint))"
    )
    iso = f"try_cast(replace(nullif({dt}, ''), 'T', ' ') as timestamp) - to_minutes({offset_minutes})"
    return f"case when {secs} <> '' then {epoch} else {iso} end"


def _timestamp(x: str, v: str, min_time: str) -> tuple[str, str]:
    bad = (
        f"when {v} is null then case when regexp_full_match({x}, '[0-9]{{12,}}(\\.[0-9]*)?') "
        f"then 'unix time of 12+ digits (milliseconds?); expected seconds: ' "
        f"else 'not unix seconds or an ISO-8601 timestamp: ' end || {_shown(x)} "
        f"when {v} < timestamp '{min_time}' then 'before {min_time}: ' || {_shown(x)} "
        f"when {v} >= timestamp '{LATEST_TIME}' then 'after {LATEST_TIME}: ' || {_shown(x)}"
    )
    return timestamp_value(x), bad


def _bool(x: str, v: str, _min_time: str) -> tuple[str, str]:
    true = ", ".join(sql_literal(t) for t in _TRUE)
    false = ", ".join(sql_literal(f) for f in _FALSE)
    value = f"case when lower({x}) in ({true}) then true when lower({x}) in ({false}) then false end"
    return value, f"when {v} is null then 'not true or false: ' || {_shown(x)}"


def _float(x: str, v: str, _min_time: str) -> tuple[str, str]:
    number = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
    value = f"case when regexp_full_match({x}, '{number}') then try_cast({x} as double) end"
    bad = (
        f"when {v} is null or not isfinite({v}) then 'not a finite number: ' || {_shown(x)} "
        f"when {v} < 0 then 'negative: ' || {_shown(x)}"
    )
    return value, bad


def _label(x: str, v: str, _min_time: str) -> tuple[str, str]:
    # A label no synonym knows loads as `other`: the original text is kept beside it, so a list
    # in a new vocabulary still marks its addresses, and the report counts them.
    norm = f"trim(regexp_replace(lower({x}), '[^a-z0-9]+', '-', 'g'), '-')"
    cases = " ".join(
        f"when {sql_literal(k)} then {sql_literal(t)}" for k, t in sorted(LABEL_SYNONYMS.items())
    )
    suffixes = " or ".join(f"ends_with({norm}, {sql_literal(s)})" for s in LABEL_SCAM_SUFFIXES)
    value = f"coalesce(case {norm} {cases} end, case when {suffixes} then 'scam' end, 'other')"
    return value, ""


def _topics(x: str, v: str, _min_time: str) -> tuple[str, str]:
    # BigQuery's REPEATED topics arrive joined with ',' (see the loader); some tools add spaces.
    value = f"lower(replace({x}, ' ', ''))"
    bad = (
        f"when not regexp_full_match({v}, '0x[0-9a-f]{{64}}(,0x[0-9a-f]{{64}})*') "
        f"then 'not comma-separated topics (0x and 64 hex digits each): ' || {_shown(x)}"
    )
    return value, bad


_KINDS = {
    "address": lambda x, v, _m: _hex(x, v, 40, "an address"),
    "hash": lambda x, v, _m: _hex(x, v, 64, "a hash"),
    "int": _int,
    "wei": _wei,
    "uint256": _uint256,
    "timestamp": _timestamp,
    "bool": _bool,
    "float": _float,
    "label": _label,
    "topics": _topics,
}
