"""Find the files of each input table and check their headers before any row is read.

Every check here is about a whole file (missing, empty, unreadable, wrong columns), so it raises
`EtlFilesError` before the load starts and the previous raw tables stay untouched.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from wallet_pipeline.logic.ingestion.etl_files.json_lines import ENVELOPE_FIELDS, JSON_SUFFIXES, json_schema
from wallet_pipeline.logic.ingestion.etl_files.report import EtlFilesError
from wallet_pipeline.logic.ingestion.etl_files.specs import UNUSED_EXPORTS, InputTable, label_from_file_name
from wallet_pipeline.logic.ingestion.etl_files.sqltext import sql_literal

# Longest first: "x.csv.gz" must not be taken for a ".gz" of something else.
_TABLE_SUFFIXES = (".csv.gz", ".csv", ".parquet")
DATA_SUFFIXES = (*_TABLE_SUFFIXES, *JSON_SUFFIXES)
# BigQuery's wildcard extract puts a 12-digit shard number where the URI has its `*`
# (`transactions-*.csv.gz` gives transactions-000000000000.csv.gz, `transactions*.json` gives
# transactions000000000000.json); ethereum-etl's block-range files
# (`transactions_03300000_03399999.csv`) end in two numbers. Any of them, at the top of the
# folder, is one part of the table.
_SHARD_RE = re.compile(r"^(?P<table>[a-z][a-z0-9_]*?)(?:[-_]?[0-9]+)+$")
# Notes shipped beside data (a label list's README and licence) are listed, never read.
_DOC_NAMES = ("readme", "license", "licence", "notice", "copying")


@dataclass(frozen=True)
class InputFile:
    """One data file with its checked header.

    Attributes:
        path: absolute path.
        rel: path relative to the input folder, as shown in reports and rejects.
        fmt: "csv" (plain or gzip), "parquet", "jsonl" (JSON lines, plain or gzip), or "json" /
            "txt" for label lists.
        columns: header names, lower-cased and stripped, in file order.
        source_names: the names as written in the file (Parquet columns are selected by them).
        types: DuckDB type per column (all VARCHAR for CSV).
        renames: (table column, file column) for columns read under another name.
        constants: (table column, value) for columns the file's name gives (a label list's label).
        extra_columns: columns that no table column, alias or known upstream column accounts
            for; read past and reported.
        ignored_columns: known upstream columns the file has (JSON lines: also ethereum-etl's
            `type` field).
        bad_lines: JSON lines only: non-blank lines that are not a JSON object (quarantined).
        integer_columns: JSON lines only: the file's columns that feed an integer column (int,
            wei, uint256), where a floating-point JSON number is refused.
    """

    path: Path
    rel: str
    fmt: str
    columns: tuple[str, ...]
    source_names: tuple[str, ...]
    types: tuple[str, ...]
    renames: tuple[tuple[str, str], ...] = ()
    constants: tuple[tuple[str, str], ...] = ()
    extra_columns: tuple[str, ...] = ()
    ignored_columns: tuple[str, ...] = ()
    bad_lines: int = 0
    integer_columns: frozenset[str] = frozenset()

    def provides(self, column: str) -> bool:
        """The file fills this table column, under its name, an alias or from its own name."""
        return column in self.columns or column in dict(self.renames) or column in dict(self.constants)

    def file_column(self, column: str) -> str | None:
        """The file's column that holds this table column, if any."""
        return dict(self.renames).get(column, column if column in self.columns else None)

    def source_name(self, column: str) -> str:
        return self.source_names[self.columns.index(column)]

    def type_of(self, column: str) -> str:
        return self.types[self.columns.index(column)]


@dataclass
class TableInput:
    """The files of one input table, all with acceptable headers."""

    spec: InputTable
    files: list[InputFile] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """Used columns some file provides, in the spec's order."""
        return [c for c in self.spec.column_names if any(f.provides(c) for f in self.files)]

    @property
    def ignored_columns(self) -> list[str]:
        return sorted({c for f in self.files for c in f.ignored_columns})


@dataclass
class Discovery:
    """What `discover` found: the tables, the entries it skipped and why, and warnings."""

    tables: dict[str, TableInput]
    ignored: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def discover(con: duckdb.DuckDBPyConnection, folder: Path, specs: dict[str, InputTable]) -> Discovery:
    """Map the folder's entries onto input tables and check every file's header.

    Entries that are not input tables (notes, unused ethereum-etl exports, other files) are
    skipped and listed with the reason; one whose name is close to a table's is also a warning.

    Args:
        con: connection used to read Parquet schemas.
        folder: the input folder.
        specs: accepted tables by input name.

    Returns:
        The tables found, in the order of `specs`, the skipped entries and the warnings.

    Raises:
        EtlFilesError: the folder is missing or has no transactions; a table is given twice or in
            an unsupported format; a file is empty, unreadable or lacks required columns.
    """
    if not folder.exists():
        raise EtlFilesError(f"input folder {folder} does not exist")
    if not folder.is_dir():
        raise EtlFilesError(f"input {folder} is a file; expected a folder of ethereum-etl exports")
    found = Discovery(tables={})
    sources: dict[str, list[Path]] = {}
    shards: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        if _hidden(entry.name):
            continue
        suffix = _data_suffix(entry.name, _all_formats(specs))
        stem = entry.name[: -len(suffix)] if suffix and entry.is_file() else entry.name
        shard = _SHARD_RE.match(stem) if suffix and entry.is_file() else None
        if shard and shard["table"] in specs and suffix in _formats(specs[shard["table"]]):
            shards.setdefault(shard["table"], []).append(entry)
        elif entry.is_dir():
            if entry.name in specs:
                sources.setdefault(entry.name, []).append(entry)
            else:
                _skip(found, entry.name + "/", entry.name, specs, "a folder that is not an input table")
        elif suffix and stem in specs and suffix in _formats(specs[stem]):
            sources.setdefault(stem, []).append(entry)
        elif entry.name.split(".")[0] in specs:
            name = entry.name.split(".")[0]
            raise EtlFilesError(
                f"{entry.name}: unsupported format; export {name} as "
                f"{', '.join(_formats(specs[name]))} (or a {name}/ folder of such files)"
            )
        elif stem in UNUSED_EXPORTS:
            found.ignored[entry.name] = "an ethereum-etl export that no raw table needs"
        elif _is_doc(entry.name) or not suffix:
            found.ignored[entry.name] = "not a data file"
        else:
            _skip(found, entry.name, stem, specs, "not an input table")

    for name, spec in specs.items():
        paths = sources.get(name, [])
        given = [p.name + ("/" if p.is_dir() else "") for p in paths]
        if name in shards:
            given.append(f"{len(shards[name])} shard file(s) {name}-<n>")
        if len(given) > 1:
            raise EtlFilesError(f"{name} is given {len(given)} times ({', '.join(given)}); keep one of them")
        if not given:
            if spec.required_input:
                raise EtlFilesError(
                    f"no {name} in {folder}: expected {name}.csv, {name}.csv.gz, {name}.parquet, "
                    f"{name}.json (JSON lines), their BigQuery shards {name}-000000000000.<ext>, "
                    f"or a {name}/ folder of such files"
                )
            continue
        table = TableInput(spec)
        files = sorted(shards[name], key=_shard_order) if name in shards else None
        for path in files or _data_files(paths[0], folder, spec, found):
            table.files.append(_checked_file(con, path, folder, spec))
        found.tables[name] = table
    return found


def _shard_order(path: Path) -> tuple[int, ...]:
    # By number, not text: a shard writer that does not zero-pad still loads in its order.
    return tuple(int(n) for n in re.findall(r"[0-9]+", path.name.split(".")[0]))


def _skip(found: Discovery, shown: str, stem: str, specs: dict[str, InputTable], why: str) -> None:
    # A near miss of a table name ("token_transfer") is most likely that table misspelt: loading
    # without it must not go unnoticed.
    close = difflib.get_close_matches(stem.lower(), list(specs), n=1, cutoff=0.8)
    if close:
        found.ignored[shown] = f"{why}; did you mean {close[0]}?"
        suffix = "/" if shown.endswith("/") else _data_suffix(shown, (".json", ".txt")) or ""
        found.warnings.append(
            f"{shown} was not read: its name is not an input table; if it holds {close[0]}, "
            f"rename it {close[0]}{suffix}"
        )
    else:
        found.ignored[shown] = why


def _formats(spec: InputTable) -> tuple[str, ...]:
    # A table with formats of its own (label lists: a `.json` is one JSON document) takes those
    # instead of JSON lines.
    return _TABLE_SUFFIXES + spec.extra_formats if spec.extra_formats else DATA_SUFFIXES


def _all_formats(specs: dict[str, InputTable]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s for spec in specs.values() for s in _formats(spec)))


def _is_doc(name: str) -> bool:
    return name.lower().split(".")[0] in _DOC_NAMES


def _hidden(name: str) -> bool:
    # Spark and Hadoop write _SUCCESS and .crc markers next to the data.
    return name.startswith((".", "_"))


def _data_suffix(name: str, extra: tuple[str, ...] = ()) -> str | None:
    lowered = name.lower()
    return next((s for s in DATA_SUFFIXES + extra if lowered.endswith(s)), None)


def _data_files(path: Path, folder: Path, spec: InputTable, found: Discovery) -> list[Path]:
    if path.is_file():
        return [path]
    files = []
    for candidate in sorted(path.rglob("*")):
        rel_parts = candidate.relative_to(path).parts
        if candidate.is_dir() or any(_hidden(p) for p in rel_parts):
            continue
        if _is_doc(candidate.name) or _data_suffix(candidate.name, spec.extra_formats) not in _formats(spec):
            found.ignored[candidate.relative_to(folder).as_posix()] = (
                f"not a data file of {spec.name} (expected {', '.join(_formats(spec))})"
            )
            continue
        files.append(candidate)
    if not files:
        raise EtlFilesError(
            f"{path.relative_to(folder).as_posix()}/ holds no {', '.join(_formats(spec))} file"
        )
    # Partition folders are zero-padded (start_block=00000000), so path order is block order.
    return sorted(files, key=lambda p: p.relative_to(path).as_posix())


def _checked_file(con: duckdb.DuckDBPyConnection, path: Path, folder: Path, spec: InputTable) -> InputFile:
    rel = path.relative_to(folder).as_posix()
    suffix = _data_suffix(path.name, spec.extra_formats)
    if path.stat().st_size == 0 and suffix in JSON_SUFFIXES:
        # JSON lines have no header: ethereum-etl leaves a block range without rows as 0 bytes.
        return InputFile(path, rel, "jsonl", (), (), ())
    if path.stat().st_size == 0:
        raise EtlFilesError(
            f"{rel}: empty file (0 bytes); expected at least a header line with the {spec.name} "
            "columns (a header without rows is a valid empty table)"
        )
    if suffix in spec.extra_formats:
        # Label lists: the reader in label_lists.py gives every row these columns.
        columns = ("address", "label_type", "name", "original_label_type")
        return InputFile(path, rel, suffix[1:], columns, columns, ("VARCHAR",) * len(columns))
    bad_lines = 0
    if suffix == ".parquet":
        fmt = "parquet"
        names, types = _parquet_schema(con, path, rel)
    elif suffix in JSON_SUFFIXES:
        fmt = "jsonl"
        schema = json_schema(con, path, rel)
        names, types, bad_lines = schema.names, schema.types, schema.bad_lines
        if not schema.rows:
            # An empty range: ethereum-etl writes a JSON file with no line. No field to check.
            return InputFile(path, rel, fmt, (), (), (), bad_lines=bad_lines)
    else:
        fmt = "csv"
        names = _csv_header(path, rel, spec)
        types = ["VARCHAR"] * len(names)
    columns = [n.strip().lower() for n in names]
    known = spec.ignored | (ENVELOPE_FIELDS - set(spec.column_names) if fmt == "jsonl" else frozenset())
    renames, constants, extra = _resolve_columns(rel, path, columns, spec, known)
    _check_exact_types(rel, columns, types, spec, dict(renames))
    return InputFile(
        path=path,
        rel=rel,
        fmt=fmt,
        columns=tuple(columns),
        source_names=tuple(names),
        types=tuple(types),
        renames=tuple(renames.items()),
        constants=tuple(constants.items()),
        extra_columns=tuple(extra),
        ignored_columns=tuple(c for c in columns if c in known),
        bad_lines=bad_lines,
        integer_columns=frozenset(
            renames.get(c.name, c.name) for c in spec.columns if c.kind in ("int", "wei", "uint256")
        ),
    )


def _csv_header(path: Path, rel: str, spec: InputTable) -> list[str]:
    opener = gzip.open if _data_suffix(path.name) == ".csv.gz" else open
    try:
        # utf-8-sig drops the byte-order mark that spreadsheet tools put in front of the header.
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
            first = fh.readline()
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise EtlFilesError(f"{rel}: cannot read the header ({exc}); expected UTF-8 CSV") from exc
    if first == "":
        raise EtlFilesError(
            f"{rel}: empty file (no header line once decompressed); expected the {spec.name} columns"
        )
    if first.strip() == "":
        raise EtlFilesError(f"{rel}: the first line is blank; expected a header with the {spec.name} columns")
    names = next(csv.reader([first]))
    if len(names) == 1 and any(sep in first for sep in ";\t|"):
        raise EtlFilesError(
            f"{rel}: the header has one column {names[0].strip()!r}; expected comma-separated columns"
        )
    return names


def _parquet_schema(con: duckdb.DuckDBPyConnection, path: Path, rel: str) -> tuple[list[str], list[str]]:
    try:
        rows = con.execute(f"describe select * from read_parquet({sql_literal(str(path))})").fetchall()
    except duckdb.Error as exc:
        # A footer that cannot be read is nearly always a file cut short (a killed export).
        raise EtlFilesError(
            f"{rel}: truncated or corrupt Parquet file: its footer cannot be read ({_first_line(exc)}); "
            "export it again, nothing was loaded"
        ) from exc
    return [r[0] for r in rows], [str(r[1]) for r in rows]


def _resolve_columns(
    rel: str, path: Path, columns: list[str], spec: InputTable, known: frozenset[str]
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Which file column feeds each table column; refuse a file that lacks a required one.

    Returns:
        (renames, constants, extra): aliases used, values taken from the file name, and the
        columns nothing accounts for (read past and reported, never refused).
    """
    empty = [i + 1 for i, c in enumerate(columns) if c == ""]
    if empty:
        raise EtlFilesError(f"{rel}: header has an empty column name at position(s) {empty}")
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise EtlFilesError(f"{rel}: header names {duplicated} more than once")
    present = set(columns)
    renames: dict[str, str] = {}
    for column, alternatives in spec.aliases:
        if column not in present:
            alias = next((a for a in alternatives if a in present), None)
            if alias is not None:
                renames[column] = alias
    constants: dict[str, str] = {}
    if spec.label_from_file_name:
        stem = path.name[: -len(_data_suffix(path.name) or "")]
        if "label_type" not in present and "label_type" not in renames:
            constants["label_type"] = label_from_file_name(stem)
        if "original_label_type" not in present:
            if "label_type" in constants:
                constants["original_label_type"] = constants["label_type"]
            else:
                renames["original_label_type"] = renames.get("label_type", "label_type")
    provided = present | set(renames) | set(constants)
    missing = [c for c in spec.required_headers if c not in provided]
    used = set(spec.column_names) | known | set(renames.values())
    extra = [c for c in columns if c not in used]
    if not missing:
        return renames, constants, extra
    hints = [f"{old} -> {new}" for old, new in spec.hints if old in extra and new in missing]
    optional = [c for c in spec.column_names if c not in spec.required_headers]
    aliases = {c: list(a) for c, a in spec.aliases}
    raise EtlFilesError(
        f"{rel}: missing required column(s) {missing}"
        + (f" (rename {', '.join(hints)}?)" if hints else "")
        + ", so none of its rows can be loaded. "
        f"Expected {spec.name} columns: required {list(spec.required_headers)}, "
        f"optional {optional}"
        + (f", also read under the names {aliases}" if aliases else "")
        + f". Found {columns}."
    )


def _check_exact_types(
    rel: str, columns: list[str], types: list[str], spec: InputTable, renames: dict[str, str]
) -> None:
    # A wei or token amount stored as floating point has already lost its last digits; no
    # validation of the values can tell, so the whole file is refused.
    exact = {renames.get(c.name, c.name) for c in spec.columns if c.kind in ("wei", "uint256")}
    floats = [
        c for c, t in zip(columns, types, strict=True) if c in exact and t.upper() in ("FLOAT", "DOUBLE")
    ]
    if floats:
        raise EtlFilesError(
            f"{rel}: column(s) {floats} are floating point, which cannot hold large amounts exactly; "
            "expected an integer, DECIMAL or text column"
        )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def folder_fingerprint(folder: Path) -> str:
    """A digest of the export folder's data files (relative path, size, modification time).

    It changes when a file is added, removed, replaced or rewritten, and only then; hidden files
    and files that are not data (by suffix) do not count. A missing folder raises `EtlFilesError`.
    """
    import hashlib

    if not folder.is_dir():
        raise EtlFilesError(f"export folder {folder} does not exist or is not a folder")
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        rel_parts = path.relative_to(folder).parts
        if path.is_dir() or any(_hidden(p) for p in rel_parts) or _data_suffix(path.name) is None:
            continue
        stat = path.stat()
        digest.update(f"{path.relative_to(folder).as_posix()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]
