"""Find the files of each input table and check their headers before any row is read.

Every check here is about a whole file (missing, empty, unreadable, wrong columns), so it raises
`EtlFilesError` before the load starts and the previous raw tables stay untouched.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from wallet_pipeline.logic.etl_files.report import EtlFilesError
from wallet_pipeline.logic.etl_files.specs import UNUSED_EXPORTS, InputTable

# Longest first: "x.csv.gz" must not be taken for a ".gz" of something else.
DATA_SUFFIXES = (".csv.gz", ".csv", ".parquet")


@dataclass(frozen=True)
class InputFile:
    """One data file with its checked header.

    Attributes:
        path: absolute path.
        rel: path relative to the input folder, as shown in reports and rejects.
        fmt: "csv" (plain or gzip) or "parquet".
        columns: header names, lower-cased and stripped, in file order.
        source_names: the names as written in the file (Parquet columns are selected by them).
        types: DuckDB type per column (all VARCHAR for CSV).
    """

    path: Path
    rel: str
    fmt: str
    columns: tuple[str, ...]
    source_names: tuple[str, ...]
    types: tuple[str, ...]

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
        """Used columns present in at least one file, in the spec's order."""
        present = {c for f in self.files for c in f.columns}
        return [c for c in self.spec.column_names if c in present]

    @property
    def ignored_columns(self) -> list[str]:
        return sorted({c for f in self.files for c in f.columns} & self.spec.ignored)


def discover(
    con: duckdb.DuckDBPyConnection, folder: Path, specs: dict[str, InputTable]
) -> tuple[dict[str, TableInput], list[str]]:
    """Map the folder's entries onto input tables and check every file's header.

    Args:
        con: connection used to read Parquet schemas.
        folder: the input folder.
        specs: accepted tables by input name.

    Returns:
        The tables found, in the order of `specs`, and the entries that were not read.

    Raises:
        EtlFilesError: the folder is missing or has no transactions; a table is given twice or in
            an unsupported format; a data file is not named after a table; a file is empty,
            unreadable or has missing or unknown columns.
    """
    if not folder.exists():
        raise EtlFilesError(f"input folder {folder} does not exist")
    if not folder.is_dir():
        raise EtlFilesError(f"input {folder} is a file; expected a folder of ethereum-etl exports")
    sources: dict[str, list[Path]] = {}
    ignored: list[str] = []
    for entry in sorted(folder.iterdir()):
        if _hidden(entry.name):
            continue
        suffix = _data_suffix(entry.name)
        stem = entry.name[: -len(suffix)] if suffix and entry.is_file() else entry.name
        if entry.is_dir():
            if entry.name in specs:
                sources.setdefault(entry.name, []).append(entry)
            else:
                ignored.append(entry.name + "/")
        elif suffix and stem in specs:
            sources.setdefault(stem, []).append(entry)
        elif entry.name.split(".")[0] in specs:
            raise EtlFilesError(
                f"{entry.name}: unsupported format; export {entry.name.split('.')[0]} as "
                ".csv, .csv.gz or .parquet"
            )
        elif suffix and stem not in UNUSED_EXPORTS:
            raise EtlFilesError(
                f"{entry.name}: not an input table; expected files or folders named "
                f"{', '.join(specs)} (ethereum-etl exports "
                f"{', '.join(sorted(UNUSED_EXPORTS))} are accepted and ignored)"
            )
        else:
            ignored.append(entry.name)

    tables: dict[str, TableInput] = {}
    for name, spec in specs.items():
        paths = sources.get(name, [])
        if len(paths) > 1:
            shown = ", ".join(p.name + ("/" if p.is_dir() else "") for p in paths)
            raise EtlFilesError(f"{name} is given {len(paths)} times ({shown}); keep one of them")
        if not paths:
            if spec.required_input:
                raise EtlFilesError(
                    f"no {name} in {folder}: expected {name}.csv, {name}.csv.gz, {name}.parquet "
                    f"or a {name}/ folder of such files"
                )
            continue
        table = TableInput(spec)
        for path in _data_files(paths[0], folder):
            table.files.append(_checked_file(con, path, folder, spec))
        tables[name] = table
    return tables, ignored


def _hidden(name: str) -> bool:
    # Spark and Hadoop write _SUCCESS and .crc markers next to the data.
    return name.startswith((".", "_"))


def _data_suffix(name: str) -> str | None:
    lowered = name.lower()
    return next((s for s in DATA_SUFFIXES if lowered.endswith(s)), None)


def _data_files(path: Path, folder: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = []
    for candidate in sorted(path.rglob("*")):
        rel_parts = candidate.relative_to(path).parts
        if candidate.is_dir() or any(_hidden(p) for p in rel_parts):
            continue
        if _data_suffix(candidate.name) is None:
            raise EtlFilesError(
                f"{candidate.relative_to(folder).as_posix()}: unexpected file in the {path.name}/ "
                "folder; expected only .csv, .csv.gz or .parquet files"
            )
        files.append(candidate)
    if not files:
        raise EtlFilesError(f"{path.relative_to(folder).as_posix()}/ holds no .csv, .csv.gz or .parquet file")
    # Partition folders are zero-padded (start_block=00000000), so path order is block order.
    return sorted(files, key=lambda p: p.relative_to(path).as_posix())


def _checked_file(con: duckdb.DuckDBPyConnection, path: Path, folder: Path, spec: InputTable) -> InputFile:
    rel = path.relative_to(folder).as_posix()
    if path.stat().st_size == 0:
        raise EtlFilesError(
            f"{rel}: empty file (0 bytes); expected at least a header line with the {spec.name} "
            "columns (a header without rows is a valid empty table)"
        )
    if _data_suffix(path.name) == ".parquet":
        names, types = _parquet_schema(con, path, rel)
    else:
        names = _csv_header(path, rel, spec)
        types = ["VARCHAR"] * len(names)
    columns = [n.strip().lower() for n in names]
    _check_columns(rel, columns, spec)
    _check_exact_types(rel, columns, types, spec)
    return InputFile(
        path=path,
        rel=rel,
        fmt="parquet" if _data_suffix(path.name) == ".parquet" else "csv",
        columns=tuple(columns),
        source_names=tuple(names),
        types=tuple(types),
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
        raise EtlFilesError(f"{rel}: not a readable Parquet file ({_first_line(exc)})") from exc
    return [r[0] for r in rows], [str(r[1]) for r in rows]


def _check_columns(rel: str, columns: list[str], spec: InputTable) -> None:
    empty = [i + 1 for i, c in enumerate(columns) if c == ""]
    if empty:
        raise EtlFilesError(f"{rel}: header has an empty column name at position(s) {empty}")
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise EtlFilesError(f"{rel}: header names {duplicated} more than once")
    present = set(columns)
    missing = [c for c in spec.required_headers if c not in present]
    unknown = [c for c in columns if c not in set(spec.column_names) | spec.ignored]
    if not missing and not unknown:
        return
    problems = []
    if missing:
        problems.append(f"missing required column(s) {missing}")
    if unknown:
        hints = [f"{old} -> {new}" for old, new in spec.hints if old in unknown and new in missing]
        problems.append(f"unknown column(s) {unknown}" + (f" (rename {', '.join(hints)}?)" if hints else ""))
    optional = [c for c in spec.column_names if c not in spec.required_headers]
    raise EtlFilesError(
        f"{rel}: {'; '.join(problems)}, so none of its rows can be loaded. "
        f"Expected {spec.name} columns: required {list(spec.required_headers)}, "
        f"optional {optional}, accepted and ignored {sorted(spec.ignored)}. Found {columns}."
    )


def _check_exact_types(rel: str, columns: list[str], types: list[str], spec: InputTable) -> None:
    # A wei or token amount stored as floating point has already lost its last digits; no
    # validation of the values can tell, so the whole file is refused.
    exact = {c.name for c in spec.columns if c.kind in ("wei", "uint256")}
    floats = [
        c for c, t in zip(columns, types, strict=True) if c in exact and t.upper() in ("FLOAT", "DOUBLE")
    ]
    if floats:
        raise EtlFilesError(
            f"{rel}: column(s) {floats} are floating point, which cannot hold large amounts exactly; "
            "expected an integer, DECIMAL or text column"
        )


def sql_literal(text: str) -> str:
    """Quote a string for SQL."""
    return "'" + text.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """Quote an identifier for SQL."""
    return '"' + name.replace('"', '""') + '"'


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
