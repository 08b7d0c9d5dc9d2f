"""Newline-delimited JSON exports: ethereum-etl's `.json` and BigQuery's NEWLINE_DELIMITED_JSON.

Each line is one JSON object whose fields are the table's columns. The file is read as lines of
text and every field is taken as the text it is written with (`json_extract_string` keeps a bare
integer such as 1180591620717411303424 as its digits; no value goes through a DOUBLE), so the
column checks of the CSV path apply unchanged. Arrays (`topics`, `trace_address`,
`function_sighashes`) are joined with commas, as ethereum-etl's CSV writes them and as the
Parquet path joins BigQuery's REPEATED columns.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from wallet_pipeline.logic.ingestion.etl_files.report import EtlFilesError
from wallet_pipeline.logic.ingestion.etl_files.sqltext import sql_ident, sql_literal

# ethereum-etl picks JSON lines for an output named `.json`; BigQuery extracts take whatever name
# the destination URI gives, and `.jsonl` / `.ndjson` are the common names for the same format.
JSON_SUFFIXES = (".json.gz", ".jsonl.gz", ".ndjson.gz", ".json", ".jsonl", ".ndjson")
# Fields ethereum-etl's stream and console exporters add to every item: not columns of any table.
ENVELOPE_FIELDS = frozenset({"type", "item_id", "item_timestamp"})
# ethereum-etl writes a contract's bytecode or a transaction's input on one line; 64 MiB holds
# the largest possible (a block's gas limit bounds calldata to a few MB).
_MAX_LINE_BYTES = 64 * 1024 * 1024
# A field that is an array or object in some row (or of mixed types) needs a per-value type test.
_COMPLEX = ("ARRAY", "OBJECT", "JSON")


@dataclass(frozen=True)
class JsonSchema:
    """The fields found in a JSON lines file.

    Attributes:
        names: field names as written, in order of first appearance.
        types: per field, "ARRAY", "OBJECT", "JSON" (of several types), "NUMBER" (a float or an
            integer beyond 64 bits in some line) or "SCALAR" (strings, 64-bit integers, booleans).
        rows: lines holding a JSON object.
        bad_lines: non-blank lines that are not a JSON object.
    """

    names: list[str]
    types: list[str]
    rows: int
    bad_lines: int


def lines_sql(path: Path) -> str:
    """Every line of the file with its 1-based number and whether it holds a JSON object."""
    compression = "gzip" if path.name.lower().endswith(".gz") else "none"
    # One VARCHAR column with a delimiter JSON never holds raw (a control character must be
    # escaped inside JSON strings) and no quoting: each line arrives as written.
    reader = (
        f"read_csv({sql_literal(str(path))}, columns={{'line': 'VARCHAR'}}, header=false, "
        f"auto_detect=false, delim='\\x01', quote='', escape='', strict_mode=false, "
        f"max_line_size={_MAX_LINE_BYTES}, compression='{compression}')"
    )
    return (
        # Valid JSON that starts with '{' is an object: no second parse to ask its type.
        "(select _line, line, coalesce(starts_with(ltrim(line), '{') and json_valid(line), false) as _ok "
        f"from (select row_number() over () as _line, line from {reader}) "
        "where trim(coalesce(line, '')) <> '')"
    )


def json_schema(con: duckdb.DuckDBPyConnection, path: Path, rel: str) -> JsonSchema:
    """Read the file once for its fields (BigQuery leaves NULL fields out, so every row counts).

    Raises:
        EtlFilesError: the file is one JSON document (an array) rather than one object per line,
            is unreadable, or has lines but none of them is a JSON object.
    """
    _refuse_document(path, rel)
    try:
        row = con.execute(
            f"select json_group_structure(case when _ok then line::json end), count(*) filter (where _ok), "
            f"count(*) filter (where not _ok), min(_line) filter (where not _ok), "
            f"arg_min(line, _line) filter (where not _ok) from {lines_sql(path)}"
        ).fetchone()
    except duckdb.Error as exc:
        raise EtlFilesError(
            f"{rel}: cannot be read as JSON lines ({str(exc).strip().splitlines()[0]}); expected "
            "one JSON object per line, UTF-8"
        ) from exc
    assert row is not None
    structure, rows, bad, first_bad, example = row
    if not rows and bad:
        raise EtlFilesError(
            f"{rel}: none of its {bad:,} lines is a JSON object (line {first_bad}: {example[:80]!r}); "
            "expected newline-delimited JSON, one object per line, as ethereum-etl and BigQuery write it"
        )
    fields = json.loads(structure) if structure else {}
    # DuckDB calls 2^70 a DOUBLE, yet reads the value as the digits written, so its scalar types
    # only say where a float may be ("NUMBER": some value is a DOUBLE or a big integer).
    return JsonSchema(list(fields), [_field_type(t) for t in fields.values()], int(rows), int(bad))


def _field_type(structure: object) -> str:
    """`JsonSchema.types` of one field from its `json_group_structure` entry."""
    if isinstance(structure, list):
        return "ARRAY"
    if isinstance(structure, dict):
        return "OBJECT"
    return {"JSON": "JSON", "DOUBLE": "NUMBER"}.get(str(structure), "SCALAR")


def _refuse_document(path: Path, rel: str) -> None:
    # A pretty-printed array of objects is a valid JSON file but not JSON lines: each of its
    # lines would be quarantined, so say what the file is instead.
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except (OSError, EOFError, zlib.error) as exc:
        raise EtlFilesError(f"{rel}: cannot be read ({exc}); expected JSON lines") from exc
    if head.startswith(b"["):
        raise EtlFilesError(
            f"{rel}: a JSON array document; expected newline-delimited JSON (one object per line, "
            "as ethereum-etl's `.json` outputs and BigQuery's NEWLINE_DELIMITED_JSON extracts are)"
        )


def rows_sql(path: Path, fields: list[tuple[str, str, str, bool]]) -> str:
    """The file's object lines as text columns, with `_json_line` their line number.

    Args:
        path: the file.
        fields: (output column, field name as written, field type from `json_schema`, whether
            the column holds an integer). A floating-point JSON number in an integer column is
            given in exponent form, so the column checks reject it as floating point.
    """
    # Only a field that holds a float somewhere needs each value's type.
    scalar = [(c, n, e and t == "NUMBER") for c, n, t, e in fields if t not in _COMPLEX]
    complex_ = [(c, n, e) for c, n, t, e in fields if t in _COMPLEX]
    exact = [n for _, n, e in scalar if e]
    parts = ["_line as _json_line"]
    extracts = []
    if scalar:
        extracts.append(f"json_extract_string(line, [{', '.join(_path(n) for _, n, _ in scalar)}]) as _s")
    if exact:
        extracts.append(f"json_type(line, [{', '.join(_path(n) for n in exact)}]) as _t")
    for i, (c, n, e) in enumerate(scalar):
        text = f"_s[{i + 1}]"
        parts.append(f"{_integral(text, f'_t[{exact.index(n) + 1}]') if e else text} as {sql_ident(c)}")
    if complex_:
        extracts.append(f"json_extract(line, [{', '.join(_path(n) for _, n, _ in complex_)}]) as _c")
    for i, (c, _, e) in enumerate(complex_):
        value = f"_c[{i + 1}]"
        text = _text(value)
        parts.append(f"{_integral(text, f'json_type({value})') if e else text} as {sql_ident(c)}")
    inner = f"select _line{''.join(', ' + e for e in extracts)} from {lines_sql(path)} where _ok"
    return f"(select {', '.join(parts)} from ({inner}))"


def _integral(text: str, json_type: str) -> str:
    # DuckDB keeps an integer literal's digits however long (2^70 arrives as written), but parses
    # a literal with a fraction or an exponent into a DOUBLE and prints that: 123456789012345678901.0
    # comes back as 123456789012345680000.0, which would pass as an integer with its last digits
    # changed. A DOUBLE printed with '.' or 'e' is therefore shown in exponent form, which the
    # column checks reject as floating point; an integer literal never prints either.
    return (
        f"case when {json_type} = 'DOUBLE' and regexp_matches({text}, '[.eE]') "
        f"then printf('%.16e', cast({text} as double)) else {text} end"
    )


def bad_lines_sql(path: Path) -> str:
    """The file's non-blank lines that are not a JSON object, with the reason."""
    reason = (
        "case when json_valid(line) then 'a JSON ' || lower(json_type(line)) || ', not an object' "
        "else 'not valid JSON (a line cut short, or a value without quotes?)' end "
        "|| '; expected one JSON object per line'"
    )
    return (
        f"(select _line, {reason} as reason, left(line, 1000) as line from {lines_sql(path)} where not _ok)"
    )


def _path(name: str) -> str:
    return sql_literal("$." + json.dumps(name))


def _text(value: str) -> str:
    # Arrays are joined with commas like the Parquet path's REPEATED columns; an object stays
    # its JSON text; a string loses its quotes; a number keeps its digits as written.
    return (
        f"case json_type({value}) "
        f"when 'ARRAY' then array_to_string(json_extract_string({value}, '$[*]'), ',') "
        f"when 'VARCHAR' then json_extract_string({value}, '$') when 'NULL' then null "
        f"else cast({value} as varchar) end"
    )
