"""Read, validate and load a folder of ethereum-etl exports into the raw schema.

The work happens in four steps, all in DuckDB temp tables of the caller's connection:

1. discover: map files onto tables and check every header (no row read yet), then check that
   every gzip and Parquet file is whole (`integrity.verify_file`);
2. stage: copy each table's files as text, with the file and line of every row;
3. check: parse every column by its kind, take times and creators from blocks and transactions,
   give each row its first problem, and mark later rows of a key as duplicates;
4. load: append the good rows and quarantine the rest through one `raw_load`.

Steps 1-3 raise `EtlFilesError` before `raw_load` starts, so a bad folder never touches the raw
tables; step 4 is atomic by itself.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import duckdb

from wallet_pipeline.logic.ingestion.etl_files.discover import InputFile, TableInput, discover
from wallet_pipeline.logic.ingestion.etl_files.integrity import verify_file
from wallet_pipeline.logic.ingestion.etl_files.json_lines import bad_lines_sql, rows_sql
from wallet_pipeline.logic.ingestion.etl_files.label_lists import read_label_list
from wallet_pipeline.logic.ingestion.etl_files.report import EtlFilesError, FilesLoadReport, TableReport
from wallet_pipeline.logic.ingestion.etl_files.specs import InputTable, build_input_tables
from wallet_pipeline.logic.ingestion.etl_files.sql import EXPECTED, EXPONENT_RE, column_sql
from wallet_pipeline.logic.ingestion.etl_files.sqltext import sql_ident, sql_literal
from wallet_pipeline.logic.ingestion.raw_schema import RAW_TABLES
from wallet_pipeline.logic.ingestion.raw_store import raw_load

SOURCE = "files"
# A table with more than this share of its rows rejected has a systematic problem (times in
# milliseconds, values in ETH) that quarantining would only hide.
DEFAULT_MAX_REJECT_FRACTION = 0.5
# Below this many rows a high share of rejects is a few bad rows, not a broken export.
MIN_ROWS_FOR_REJECT_FRACTION = 100
# Label lists are scraped pages and mixed lists: a list of mostly unusable rows is still worth
# the rows it has, and each rejected one is in raw.raw_rejects.
_NO_REJECT_LIMIT = frozenset({"address_labels"})
# An amount written with a non-zero fraction means the file is in whole ETH or tokens.
_FRACTION_RE = r"^[0-9]*\.[0-9]*[1-9][0-9]*$"
_TMP = "__etl_"


def load_etl_files(
    con: duckdb.DuckDBPyConnection,
    folder: Path | str,
    *,
    max_reject_fraction: float = DEFAULT_MAX_REJECT_FRACTION,
) -> FilesLoadReport:
    """Reads, validates and loads the folder into raw.* through raw_load(con, source="files").

    Args:
        con: DuckDB connection holding the raw schema.
        folder: folder of ethereum-etl / BigQuery exports; see docs/files_source.md.
        max_reject_fraction: the load stops when a table (other than labels) of at least 100
            rows has more than this share of its rows rejected.

    Returns:
        Rows read, loaded and rejected, files read and ignored columns, per table.

    Raises:
        EtlFilesError: the folder, a file or a whole table is unusable; the raw tables are left
            as they were.
    """
    folder = Path(folder)
    found = discover(con, folder, build_input_tables())
    inputs = found.tables
    # Whole files first: a cut .csv.gz would otherwise load the rows before the cut as if complete.
    for table in inputs.values():
        for file in table.files:
            verify_file(file.path, file.rel)
    work = _Work(con)
    try:
        work.register_files(inputs)
        for table in inputs.values():
            work.stage(table)
            work.check(table, inputs)
            work.limit_rejects(table, max_reject_fraction)
        reports = {}
        with raw_load(con, source=SOURCE, feed=f"{SOURCE}:{folder.resolve()}") as load:
            for table in inputs.values():
                spec = table.spec
                if spec.raw_table:
                    load.mark_provided(spec.raw_table)
                    loaded = load.append(spec.raw_table, work.good_rows(spec))
                else:
                    loaded = work.count(f"{_TMP}final_{spec.name}")
                rejected = load.reject(work.rejects(spec))
                notes = work.notes(table, inputs)
                for note in notes if spec.raw_table else ():
                    load.note(spec.raw_table, note)
                for idx, file in enumerate(table.files):
                    load.record_file(
                        file.rel, spec.name, "read", work.file_rows[spec.name].get(idx, 0), _file_note(file)
                    )
                reports[spec.label] = TableReport(
                    input_name=spec.name,
                    raw_table=spec.raw_table,
                    files=[f.rel for f in table.files],
                    rows_read=work.rows_read[spec.name],
                    rows_loaded=loaded,
                    rows_rejected=rejected,
                    ignored_columns=table.ignored_columns,
                    extra_columns={f.rel: list(f.extra_columns) for f in table.files if f.extra_columns},
                    notes=notes,
                )
            for path, why in sorted(found.ignored.items()):
                load.record_file(path, None, "ignored", None, why)
        return FilesLoadReport(
            tables=reports,
            folder=str(folder),
            load_id=load.load_id,
            ignored_paths=sorted(found.ignored),
            ignored_reasons=dict(sorted(found.ignored.items())),
            warnings=found.warnings,
        )
    finally:
        work.drop_all()


def _not_base_units(rel: str, column: str, example: str, line: int) -> str:
    if re.fullmatch(EXPONENT_RE, example):
        return (
            f"{rel} writes {column} as floating-point numbers (e.g. '{example}' at line {line}; a JSON "
            "number with a fraction or exponent is shown as read): a binary float keeps about 16 "
            "significant digits, so no amount of this file is loaded; export amounts as integers "
            "or strings"
        )
    return (
        f"{rel} writes {column} with decimals (e.g. '{example}' at line {line}): "
        "its amounts are in whole ETH or tokens, not the integer base units (wei, or the "
        "token's smallest unit: amount x 10^decimals) the column holds, so no amount of "
        "this file is loaded"
    )


def _file_note(file: InputFile) -> str | None:
    parts = []
    if file.renames:
        parts.append("read " + ", ".join(f"{src} as {dst}" for dst, src in file.renames if src != dst))
    if file.constants:
        parts.append(", ".join(f"{col} '{value}' from the file name" for col, value in file.constants))
    if file.extra_columns:
        parts.append(f"extra column(s) {list(file.extra_columns)} not read")
    return "; ".join(p for p in parts if p) or None


class _Work:
    """Temp tables and views of one load, dropped at the end whatever happens."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.created: list[tuple[str, str]] = []
        self.rows_read: dict[str, int] = {}
        self.file_rows: dict[str, dict[int, int]] = {}

    def _create(self, kind: str, name: str, sql: str, *, as_select: bool = True) -> None:
        self.con.execute(f"drop {kind} if exists {name}")
        self.created.append((kind, name))
        self.con.execute(f"create temp {kind} {name} {'as ' if as_select else ''}{sql}")

    def drop_all(self) -> None:
        for kind, name in reversed(self.created):
            # Cleanup must not mask the error that brought us here (e.g. a closed connection).
            with contextlib.suppress(duckdb.Error):
                self.con.execute(f"drop {kind} if exists {name}")
        self.created.clear()

    def count(self, name: str) -> int:
        row = self.con.execute(f"select count(*) from {name}").fetchone()
        return int(row[0]) if row else 0

    def register_files(self, inputs: dict[str, TableInput]) -> None:
        rows = [
            f"({sql_literal(t.spec.name)}, {i}, {sql_literal(f.rel)})"
            for t in inputs.values()
            for i, f in enumerate(t.files)
        ]
        self._create(
            "table",
            f"{_TMP}files",
            f"select * from (values {', '.join(rows)}) v(input_name, file_idx, rel)",
        )

    def stage(self, table: TableInput) -> None:
        """Copy the table's files as text, with the position of every row in its file."""
        name = f"{_TMP}stage_{table.spec.name}"
        cols = table.columns
        typed = "".join(f", {sql_ident(c)} varchar" for c in cols)
        self._create("table", name, f"(_file_idx integer, _line bigint{typed})", as_select=False)
        malformed = f"{_TMP}malformed_{table.spec.name}"
        self._create(
            "table",
            malformed,
            "(table_name varchar, source_file varchar, row_number bigint, column_name varchar, "
            "reason varchar, record varchar, _file_idx integer)",
            as_select=False,
        )
        for idx, file in enumerate(table.files):
            if file.fmt in ("json", "txt"):
                self._stage_list(name, idx, file, cols)
                continue
            trim = "trim({})" if table.spec.trim else "{}"
            select = ", ".join(
                f"{trim.format(_file_column(file, c))} as {sql_ident(c)}" for c in cols if file.provides(c)
            )
            insert = (
                f"insert into {name} by name select {idx} as _file_idx, {_line(file)} as _line"
                f"{', ' if select else ''}{select} from "
            )
            try:
                self.con.execute(insert + _reader(file))
            except duckdb.Error as exc:
                if file.fmt != "csv" or "CSV Error" not in str(exc):
                    raise EtlFilesError(f"{file.rel}: cannot be read: {_duckdb_message(exc)}") from exc
                # Keeping the rejected lines slows DuckDB's reader by about a third, so only a
                # file that has malformed lines is read a second time that way.
                self.con.execute(f"drop table if exists {_TMP}csv_rejects")
                self.con.execute(f"drop table if exists {_TMP}csv_scans")
                try:
                    self.con.execute(insert + _reader(file, keep_rejects=True))
                except duckdb.Error as again:
                    raise EtlFilesError(f"{file.rel}: cannot be read: {_duckdb_message(again)}") from again
                self._quarantine_malformed(table, name, malformed, idx, file)
            if file.bad_lines:
                self._quarantine_bad_json(table, malformed, idx, file)

    def _quarantine_bad_json(self, table: TableInput, malformed: str, idx: int, file: InputFile) -> None:
        """Quarantine the lines of a JSON lines file that are not a JSON object, by line number."""
        self.con.execute(
            f"insert into {malformed} select {sql_literal(table.spec.label)}, {sql_literal(file.rel)}, "
            f"_line, '(line)', reason, cast(json_object('line', line) as varchar), {idx} "
            f"from {bad_lines_sql(file.path)}"
        )

    def _quarantine_malformed(
        self, table: TableInput, stage: str, malformed: str, idx: int, file: InputFile
    ) -> None:
        """Quarantine the lines DuckDB could not split into the header's fields.

        Scraped lists carry such lines (an unquoted "3,154" in a count column); one must not
        refuse the file. The good rows were numbered in reading order, so each is moved down by
        the malformed lines before it to keep its true line number.
        """
        lines = self.con.execute(
            f"select line, any_value(error_type), any_value(error_message), any_value(csv_line) "
            f"from {_TMP}csv_rejects group by line order by line"
        ).fetchall()
        self.con.execute(f"drop table if exists {_TMP}csv_rejects")
        self.con.execute(f"drop table if exists {_TMP}csv_scans")
        if not lines:
            return
        # The k-th malformed line (0-based), at file line L, sits after L - 2 - k good rows.
        thresholds = ", ".join(f"({line - 2 - k})" for k, (line, *_) in enumerate(lines))
        self.con.execute(
            f"update {stage} set _line = _line + (select count(*) from (values {thresholds}) t(n) "
            f"where t.n < {stage}._line - 1) where _file_idx = {idx}"
        )
        self.con.executemany(
            f"insert into {malformed} values (?, ?, ?, '(line)', ?, ?, ?)",
            [
                [
                    table.spec.label,
                    file.rel,
                    line,
                    f"{str(kind).lower()}: {message} (expected the {len(file.columns)} fields of the header)",
                    json.dumps({"line": text.rstrip(chr(10))[:1000]}),
                    idx,
                ]
                for line, kind, message, text in lines
            ],
        )

    def _stage_list(self, name: str, idx: int, file: InputFile, cols: list[str]) -> None:
        frame = read_label_list(file.path, file.rel)
        self.con.register("_label_list", frame)
        try:
            select = ", ".join(sql_ident(c) for c in cols if c in frame.columns)
            self.con.execute(
                f"insert into {name} by name select {idx} as _file_idx, _line, {select} from _label_list"
            )
        finally:
            self.con.unregister("_label_list")

    def check(self, table: TableInput, inputs: dict[str, TableInput]) -> None:
        """Parse and validate every row, derive looked-up columns, find duplicates and rejects."""
        spec = table.spec
        present = set(table.columns)
        stage = f"{_TMP}stage_{spec.name}"
        values, problems = [], []
        for col in spec.columns:
            v = sql_ident(f"_v_{col.name}")
            source = f"s.{sql_ident(col.name)}" if col.name in present else None
            value_sql, problem_sql = column_sql(col, source, v, spec.min_time)
            lacking = [i for i, f in enumerate(table.files) if not f.provides(col.name)]
            if col.name in spec.may_be_absent and lacking:
                # A file without the column gives its rows NULL (or a synthetic value below);
                # only a file that has the column must fill it.
                files = ", ".join(map(str, lacking))
                problem_sql = f"case when s._file_idx in ({files}) then null else {problem_sql} end"
            if col.kind in ("wei", "uint256") and source is not None:
                problem_sql = self._whole_units(table, col.name, source, problem_sql)
            values.append(f"{value_sql} as {v}")
            problems.append(f"{v} as {sql_ident(col.name)}, {problem_sql} as {sql_ident('_p_' + col.name)}")
        clean = (
            f"select _file_idx, _line, {', '.join(problems)} "
            f"from (select s.*, {', '.join(values)} from {stage} s) s"
        )
        rows = _DERIVE.get(spec.name, _as_is)(clean, spec, inputs)
        out = _out_columns(spec)
        first_problem = " ".join(
            f"when {sql_ident('_p_' + c)} is not null then {sql_literal(c)}" for c in out
        )
        reason = ", ".join(sql_ident("_p_" + c) for c in out)
        checked = f"{_TMP}checked_{spec.name}"
        self._create(
            "table",
            checked,
            f"select _file_idx, _line, {', '.join(sql_ident(c) for c in out)}, "
            f"case {first_problem} end as _column, coalesce({reason}) as _reason from ({rows}) r",
        )
        self._find_duplicates(spec, checked, out)
        self._create(
            "view",
            f"{_TMP}final_{spec.name}",
            f"select * from {checked} c where c._reason is null and not exists "
            f"(select 1 from {_TMP}dups_{spec.name} d "
            f"where d._file_idx = c._file_idx and d._line = c._line)",
        )
        record = ", ".join(f"{sql_literal(c)}: s.{sql_ident(c)}" for c in table.columns)
        self._create(
            "table",
            f"{_TMP}rejects_{spec.name}",
            f"select {sql_literal(spec.label)} as table_name, f.rel as source_file, "
            f"r._line as row_number, r.column_name, r.reason, "
            f"cast(to_json({{{record}}}) as varchar) as record, r._file_idx "
            f"from (select _file_idx, _line, _column as column_name, _reason as reason "
            f"from {checked} where _reason is not null "
            f"union all select _file_idx, _line, column_name, reason from {_TMP}dups_{spec.name}) r "
            f"join {stage} s using (_file_idx, _line) "
            f"join {_TMP}files f on f.input_name = {sql_literal(spec.name)} and f.file_idx = r._file_idx "
            f"order by r._file_idx, r._line",
        )
        self.con.execute(f"insert into {_TMP}rejects_{spec.name} select * from {_TMP}malformed_{spec.name}")
        # The text copy is only needed for the reject records: free it before the next table.
        self.rows_read[spec.name] = self.count(stage) + self.count(f"{_TMP}malformed_{spec.name}")
        self.file_rows[spec.name] = dict(
            self.con.execute(
                f"select _file_idx, count(*) from (select _file_idx from {stage} "
                f"union all select _file_idx from {_TMP}malformed_{spec.name}) group by 1"
            ).fetchall()
        )
        self.con.execute(f"drop table {stage}")

    def _whole_units(self, table: TableInput, column: str, source: str, problem_sql: str) -> str:
        """Reject every amount of a file that writes amounts with decimals.

        "18.67" is a token amount in whole tokens; the column holds integer base units. Rejecting
        only the rows with a fraction would load "10000.0" of the same file as 10,000 base units,
        a silently wrong amount, so no amount of such a file is taken.
        """
        stage = f"{_TMP}stage_{table.spec.name}"
        col = sql_ident(column)
        rows = self.con.execute(
            f"select _file_idx, min(_line), arg_min({col}, _line) from {stage} "
            f"where (contains({col}, '.') or contains({col}, 'e') or contains({col}, 'E')) "
            f"and (regexp_full_match({col}, '{_FRACTION_RE}') or regexp_full_match({col}, '{EXPONENT_RE}')) "
            "group by 1"
        ).fetchall()
        if not rows:
            return problem_sql
        cases = " ".join(
            f"when s._file_idx = {idx} and {source} is not null then "
            + sql_literal(_not_base_units(table.files[idx].rel, column, example, line))
            for idx, line, example in rows
        )
        return f"case {cases} else {problem_sql} end"

    def notes(self, table: TableInput, inputs: dict[str, TableInput]) -> list[str]:
        """What a reader of the loaded table should know, with counts of the loaded rows."""
        spec = table.spec
        final = f"{_TMP}final_{spec.name}"
        notes = []
        for file in table.files:
            if file.extra_columns:
                notes.append(f"{file.rel}: extra column(s) {list(file.extra_columns)} not read")
        for column in sorted(spec.may_be_absent):
            lacking = [i for i, f in enumerate(table.files) if not f.provides(column)]
            if not lacking:
                continue
            n = self.count(f"{final} where _file_idx in ({', '.join(map(str, lacking))})")
            what = {
                "hash": "a synthetic hash, 0x || sha256('<file>:<line>')",
                "transaction_hash": "a synthetic transaction_hash, 0x || sha256('<file>:<line>')",
                "log_index": "the file line as log_index",
            }.get(column, f"NULL {column}")
            if n:
                notes.append(f"{n:,} rows have {what}: their files have no {column} column")
        if spec.name == "contracts":
            n = self.count(f"{final} where block_timestamp is null")
            if n:
                notes.append(
                    f"{n:,} contracts have no creation time: their block is not in blocks and no "
                    "creating transaction is in transactions (created before the exported window)"
                )
        if spec.name in ("logs", "traces"):
            n = self.count(f"{final} where block_timestamp is null")
            if n:
                notes.append(
                    f"{n:,} rows have no block time: their block is in neither blocks nor transactions"
                )
        if spec.name == "transactions" and "receipts" in inputs:
            n = self.count(f"{final} f semi join {_TMP}final_receipts r on r.transaction_hash = f.hash")
            notes.append(f"{n:,} transactions have receipt columns filled from receipts")
        if spec.name == "labels":
            top = self.con.execute(
                f"select count(*), string_agg(o, ', ' order by n desc) filter (where k <= 5) from ("
                f"select original_label_type o, count(*) n, row_number() over (order by count(*) desc, o) k "
                f"from {final} where label_type = 'other' group by 1)"
            ).fetchone()
            n = self.count(f"{final} where label_type = 'other'")
            if n and top:
                notes.append(
                    f"{n:,} labels of {top[0]:,} types no synonym knows load as other "
                    f"(original kept in original_label_type; most frequent: {top[1]})"
                )
        return notes

    def _find_duplicates(self, spec: InputTable, checked: str, out: list[str]) -> None:
        keys = ", ".join(sql_ident(k) for k in spec.key)
        key_text = " || ', ' || ".join(
            f"'{k}=' || coalesce(cast({sql_ident(k)} as varchar), 'NULL')" for k in spec.key
        )
        row_hash = f"hash({', '.join(sql_ident(c) for c in out)})"
        # Grouping first keeps the window (a sort) to the few keys that repeat.
        self._create(
            "table",
            f"{_TMP}dups_{spec.name}",
            f"""
            with valid as (select * from {checked} where _reason is null),
            repeated as (select {keys} from valid group by all having count(*) > 1),
            ranked as (
                select _file_idx, _line, {key_text} as key_text,
                    row_number() over w as _rank,
                    first_value(_file_idx) over w as _first_file,
                    first_value(_line) over w as _first_line,
                    first_value({row_hash}) over w = {row_hash} as _same
                from valid semi join repeated using ({keys})
                window w as (partition by {keys} order by _file_idx, _line)
            )
            select r._file_idx, r._line, {sql_literal(",".join(spec.key))} as column_name,
                'duplicate key ' || r.key_text || ': the first row with this key ('
                    || f.rel || ' line ' || r._first_line || ') was kept; this one '
                    || case when r._same then 'is identical' else 'differs from it' end as reason
            from ranked r
            join {_TMP}files f on f.input_name = {sql_literal(spec.name)} and f.file_idx = r._first_file
            where r._rank > 1
            """,
        )

    def limit_rejects(self, table: TableInput, max_fraction: float) -> None:
        """Stop the load when most of a table is rejected: the export is broken, not a few rows."""
        spec = table.spec
        if spec.label in _NO_REJECT_LIMIT:
            return
        read = self.rows_read[spec.name]
        rejected = self.count(f"{_TMP}rejects_{spec.name}")
        if read < MIN_ROWS_FOR_REJECT_FRACTION or rejected <= max_fraction * read:
            return
        top = self.con.execute(
            f"select source_file, column_name, count(*) as n, min(row_number) as first_line, "
            f"arg_min(reason, row_number) as example from {_TMP}rejects_{spec.name} "
            "group by all order by n desc limit 1"
        ).fetchone()
        assert top is not None
        source_file, column, n, first_line, example = top
        kind = next((c.kind for c in spec.columns if c.name == column), None)
        expected = EXPECTED.get(kind, "unique keys") if kind else "unique keys"
        raise EtlFilesError(
            f"{spec.name}: {rejected:,} of {read:,} rows ({rejected / read:.0%}) would be rejected, "
            f"more than the {max_fraction:.0%} allowed. Most are in {source_file}, column {column} "
            f"({n:,} rows), e.g. line {first_line}: {example}. Expected {expected}. "
            "Fix the export (or raise max_reject_fraction); nothing was loaded."
        )

    def good_rows(self, spec: InputTable) -> duckdb.DuckDBPyRelation:
        cols = ", ".join(sql_ident(c) for c in _out_columns(spec))
        return self.con.sql(f"select {cols} from {_TMP}final_{spec.name} order by _file_idx, _line")

    def rejects(self, spec: InputTable) -> duckdb.DuckDBPyRelation:
        return self.con.sql(
            "select table_name, source_file, row_number, column_name, reason, record "
            f"from {_TMP}rejects_{spec.name}"
        )


def _out_columns(spec: InputTable) -> list[str]:
    """Columns of the checked rows: the raw table's (minus its derived date), or the spec's."""
    if spec.raw_table is None:
        return spec.column_names
    raw = RAW_TABLES[spec.raw_table]
    return [c for c in raw.column_names if c != raw.date_column]


def _reader(file: InputFile, *, keep_rejects: bool = False) -> str:
    path = sql_literal(str(file.path))
    if file.fmt == "parquet":
        return f"read_parquet({path}, file_row_number=true)"
    if file.fmt == "jsonl":
        return rows_sql(
            file.path,
            [
                (c, n, t, c in file.integer_columns)
                for c, n, t in zip(file.columns, file.source_names, file.types, strict=True)
            ],
        )
    # The header was read and checked already; naming the columns skips DuckDB's sniffer,
    # which guesses wrong on files that are all text and fails on header-only files.
    columns = ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in file.columns)
    compression = "gzip" if file.path.name.lower().endswith(".gz") else "none"
    return (
        f"read_csv({path}, header=true, auto_detect=false, delim=',', quote='\"', escape='\"', "
        f"columns={{{columns}}}, compression='{compression}'"
        + (
            f", ignore_errors=true, store_rejects=true, rejects_table='{_TMP}csv_rejects', "
            f"rejects_scan='{_TMP}csv_scans'"
            if keep_rejects
            else ""
        )
        + ")"
    )


def _line(file: InputFile) -> str:
    # CSV: the line number, with the header as line 1 (one line per row: ethereum-etl never
    # writes line breaks inside fields). Parquet: the 1-based row number. JSON lines: the line.
    if file.fmt == "parquet":
        return "file_row_number + 1"
    if file.fmt == "jsonl":
        return "_json_line"
    return "row_number() over () + 1"


def _file_column(file: InputFile, column: str) -> str:
    """SQL for a table column's text in one file: its column (maybe under an alias) or a constant."""
    constants = dict(file.constants)
    if column in constants:
        return sql_literal(constants[column])
    name = file.file_column(column)
    assert name is not None, f"{file.rel} does not provide {column}"
    if file.fmt in ("csv", "jsonl"):
        return sql_ident(name)
    source = sql_ident(file.source_name(name))
    sql_type = file.type_of(name).upper()
    if sql_type.endswith("[]"):
        # BigQuery's REPEATED fields (function_sighashes, topics) export as lists; ethereum-etl's
        # CSV joins them with commas.
        return f"array_to_string({source}, ',')"
    if sql_type.startswith(("STRUCT", "MAP")):
        return f"cast(to_json({source}) as varchar)"
    return f"cast({source} as varchar)"


def _duckdb_message(exc: BaseException) -> str:
    """DuckDB's CSV error without its generic advice, the offending line cut short and last."""
    lines, original = [], ""
    for line in str(exc).strip().splitlines():
        line = line.strip()
        if line.startswith("Possible fixes"):
            break
        if line.startswith("Original Line:"):
            original = line if len(line) <= 140 else line[:137] + "..."
        elif line:
            lines.append(re.sub(r"^[A-Za-z ]+ Error: ", "", line))
    return " / ".join(lines[:3] + ([original] if original else []))


def _as_is(clean: str, _spec: InputTable, _inputs: dict[str, TableInput]) -> str:
    return clean


def _block_times(inputs: dict[str, TableInput]) -> str:
    if "blocks" in inputs:
        return f"(select number, timestamp from {_TMP}final_blocks)"
    return "(select null::bigint as number, null::timestamp as timestamp where false)"


def _synthetic_hash(spec: InputTable) -> str:
    # Deterministic: the same file and line give the same hash on every load.
    return (
        f"'0x' || sha256((select rel from {_TMP}files f where f.input_name = {sql_literal(spec.name)} "
        "and f.file_idx = c._file_idx) || ':' || c._line)"
    )


def _transaction_rows(clean: str, spec: InputTable, inputs: dict[str, TableInput]) -> str:
    # Receipts fill the receipt_* columns the transactions file lacks; a sender/receiver-only
    # file gets synthetic hashes, and its time from blocks when it has block numbers.
    receipts = "receipts" in inputs
    fill = (
        "coalesce(c.receipt_status, r.status) as receipt_status, "
        "coalesce(c.receipt_gas_used, r.gas_used) as receipt_gas_used, "
        "coalesce(c.receipt_effective_gas_price, r.effective_gas_price) as receipt_effective_gas_price, "
        "coalesce(c.receipt_contract_address, r.contract_address) as receipt_contract_address, "
        if receipts
        else ""
    )
    join = f"left join {_TMP}final_receipts r on r.transaction_hash = c.hash" if receipts else ""
    return f"""
        select c.* replace (
            {fill}
            coalesce(c.hash, {_synthetic_hash(spec)}) as hash,
            coalesce(c.block_timestamp, b.timestamp) as block_timestamp
        )
        from ({clean}) c
        left join {_block_times(inputs)} b on b.number = c.block_number
        {join}
    """


def _token_transfer_rows(clean: str, spec: InputTable, inputs: dict[str, TableInput]) -> str:
    # ethereum-etl token_transfers carry no time (BigQuery's do): take the block's, else the
    # transaction's. A transfer whose time is nowhere is quarantined, never loaded undated.
    time = "coalesce(c.block_timestamp, b.timestamp, t.block_timestamp)"
    blocks_note = "not in blocks" if "blocks" in inputs else "not dated (no blocks file)"
    return f"""
        select c.* replace (
            coalesce(c.transaction_hash, {_synthetic_hash(spec)}) as transaction_hash,
            coalesce(c.log_index, c._line) as log_index,
            {time} as block_timestamp,
            coalesce(c._p_block_timestamp, case when {time} is null then
                'no block time: the row has none, block ' || coalesce(cast(c.block_number as varchar), 'NULL')
                || ' is {blocks_note} and transaction ' || coalesce(c.transaction_hash, 'NULL')
                || ' is not in transactions' end) as _p_block_timestamp
        )
        from ({clean}) c
        left join {_block_times(inputs)} b on b.number = c.block_number
        left join (select hash, block_timestamp from {_TMP}final_transactions) t
            on t.hash = c.transaction_hash
    """


def _dated_rows(clean: str, _spec: InputTable, inputs: dict[str, TableInput]) -> str:
    # Logs and traces are dated like token transfers, but an undated one still loads (NULL time):
    # the decoded trades read their time from the transaction anyway.
    return f"""
        select c.* replace (coalesce(c.block_timestamp, b.timestamp, t.block_timestamp) as block_timestamp)
        from ({clean}) c
        left join {_block_times(inputs)} b on b.number = c.block_number
        left join (select hash, block_timestamp from {_TMP}final_transactions) t
            on t.hash = c.transaction_hash
    """


def _contract_rows(clean: str, _spec: InputTable, inputs: dict[str, TableInput]) -> str:
    # The creating transaction is the one whose receipt names the contract; a redeployed
    # (CREATE2 after SELFDESTRUCT) address keeps its first creation.
    block = "coalesce(c.block_number, cr.block_number)"
    return f"""
        select c.* replace (
                {block} as block_number,
                coalesce(c.block_timestamp, cr.block_timestamp, b.timestamp) as block_timestamp
            ),
            cr.from_address as creator_address, cr.hash as transaction_hash,
            null::varchar as _p_creator_address, null::varchar as _p_transaction_hash
        from ({clean}) c
        left join (
            select distinct on (receipt_contract_address) receipt_contract_address as address,
                from_address, hash, block_number, block_timestamp
            from {_TMP}final_transactions
            where receipt_contract_address is not null
            order by receipt_contract_address, block_number, transaction_index
        ) cr on cr.address = c.address
        left join {_block_times(inputs)} b on b.number = {block}
    """


def _label_rows(clean: str, spec: InputTable, _inputs: dict[str, TableInput]) -> str:
    # Without a source column the file names the source, so the key (address, type, source)
    # stays complete and two label files never collide.
    # Two labels of one address that map to one type ("balancer" and "dex" in Raphtory's list)
    # share a key: the row kept carries both originals, so the later one's reject loses nothing.
    problems = " and ".join(f"{sql_ident('_p_' + c.name)} is null" for c in spec.columns)
    return f"""
        select c.* replace (
            case when {problems} then string_agg(distinct c.original_label_type, ',')
                filter (where {problems}) over (partition by c.address, c.label_type, c.source)
                else c.original_label_type end as original_label_type
        )
        from (
            select c.* replace (coalesce(c.source, f.rel) as source)
            from ({clean}) c
            join {_TMP}files f on f.input_name = {sql_literal(spec.name)} and f.file_idx = c._file_idx
        ) c
    """


_DERIVE = {
    "transactions": _transaction_rows,
    "token_transfers": _token_transfer_rows,
    "logs": _dated_rows,
    "traces": _dated_rows,
    "contracts": _contract_rows,
    "labels": _label_rows,
}
