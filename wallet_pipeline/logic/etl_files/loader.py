"""Read, validate and load a folder of ethereum-etl exports into the raw schema.

The work happens in four steps, all in DuckDB temp tables of the caller's connection:

1. discover: map files onto tables and check every header (no row read yet);
2. stage: copy each table's files as text, with the file and line of every row;
3. check: parse every column by its kind, take times and creators from blocks and transactions,
   give each row its first problem, and mark later rows of a key as duplicates;
4. load: append the good rows and quarantine the rest through one `raw_load`.

Steps 1-3 raise `EtlFilesError` before `raw_load` starts, so a bad folder never touches the raw
tables; step 4 is atomic by itself.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import duckdb

from wallet_pipeline.logic.etl_files.discover import (
    InputFile,
    TableInput,
    discover,
    sql_ident,
    sql_literal,
)
from wallet_pipeline.logic.etl_files.report import EtlFilesError, FilesLoadReport, TableReport
from wallet_pipeline.logic.etl_files.specs import InputTable, build_input_tables
from wallet_pipeline.logic.etl_files.sql import EXPECTED, column_sql
from wallet_pipeline.logic.raw_schema import RAW_TABLES
from wallet_pipeline.logic.raw_store import raw_load

SOURCE = "files"
# A table with more than this share of its rows rejected has a systematic problem (times in
# milliseconds, values in ETH) that quarantining would only hide.
DEFAULT_MAX_REJECT_FRACTION = 0.5
# Below this many rows a high share of rejects is a few bad rows, not a broken export.
MIN_ROWS_FOR_REJECT_FRACTION = 100
# Label lists mix many categories by design; quarantining the unknown ones is the point.
_NO_REJECT_LIMIT = frozenset({"address_labels"})
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
    inputs, ignored_paths = discover(con, folder, build_input_tables())
    work = _Work(con)
    try:
        work.register_files(inputs)
        for table in inputs.values():
            work.stage(table)
            work.check(table, inputs)
            work.limit_rejects(table, max_reject_fraction)
        reports = {}
        with raw_load(con, source=SOURCE) as load:
            for table in inputs.values():
                spec = table.spec
                if spec.raw_table:
                    load.mark_provided(spec.raw_table)
                    loaded = load.append(spec.raw_table, work.good_rows(spec))
                else:
                    loaded = work.count(f"{_TMP}final_{spec.name}")
                rejected = load.reject(work.rejects(spec))
                reports[spec.label] = TableReport(
                    input_name=spec.name,
                    raw_table=spec.raw_table,
                    files=[f.rel for f in table.files],
                    rows_read=work.rows_read[spec.name],
                    rows_loaded=loaded,
                    rows_rejected=rejected,
                    ignored_columns=table.ignored_columns,
                )
        return FilesLoadReport(
            tables=reports, folder=str(folder), load_id=load.load_id, ignored_paths=ignored_paths
        )
    finally:
        work.drop_all()


class _Work:
    """Temp tables and views of one load, dropped at the end whatever happens."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.created: list[tuple[str, str]] = []
        self.rows_read: dict[str, int] = {}

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
        for idx, file in enumerate(table.files):
            select = ", ".join(
                f"{_file_column(file, c)} as {sql_ident(c)}" for c in cols if c in file.columns
            )
            try:
                self.con.execute(
                    f"insert into {name} by name select {idx} as _file_idx, {_line(file)} as _line"
                    f"{', ' if select else ''}{select} from {_reader(file)}"
                )
            except duckdb.Error as exc:
                raise EtlFilesError(f"{file.rel}: cannot be read: {_duckdb_message(exc)}") from exc

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
        # The text copy is only needed for the reject records: free it before the next table.
        self.rows_read[spec.name] = self.count(stage)
        self.con.execute(f"drop table {stage}")

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


def _reader(file: InputFile) -> str:
    path = sql_literal(str(file.path))
    if file.fmt == "parquet":
        return f"read_parquet({path}, file_row_number=true)"
    # The header was read and checked already; naming the columns skips DuckDB's sniffer,
    # which guesses wrong on files that are all text and fails on header-only files.
    columns = ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in file.columns)
    compression = "gzip" if file.path.name.lower().endswith(".gz") else "none"
    return (
        f"read_csv({path}, header=true, auto_detect=false, delim=',', quote='\"', escape='\"', "
        f"columns={{{columns}}}, compression='{compression}')"
    )


def _line(file: InputFile) -> str:
    # CSV: the line number, with the header as line 1 (one line per row: ethereum-etl never
    # writes line breaks inside fields). Parquet: the 1-based row number.
    if file.fmt == "parquet":
        return "file_row_number + 1"
    return "row_number() over () + 1"


def _file_column(file: InputFile, column: str) -> str:
    if file.fmt == "csv":
        return sql_ident(column)
    source = sql_ident(file.source_name(column))
    sql_type = file.type_of(column).upper()
    if sql_type.endswith("[]"):
        # BigQuery's REPEATED fields (function_sighashes) export as lists; ethereum-etl's CSV
        # joins them with commas.
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


def _token_transfer_rows(clean: str, _spec: InputTable, inputs: dict[str, TableInput]) -> str:
    # ethereum-etl token_transfers carry no time (BigQuery's do): take the block's, else the
    # transaction's. A transfer whose time is nowhere is quarantined, never loaded undated.
    time = "coalesce(c.block_timestamp, b.timestamp, t.block_timestamp)"
    blocks_note = "not in blocks" if "blocks" in inputs else "not dated (no blocks file)"
    return f"""
        select c.* replace (
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
    return f"""
        select c.* replace (coalesce(c.source, f.rel) as source)
        from ({clean}) c
        join {_TMP}files f on f.input_name = {sql_literal(spec.name)} and f.file_idx = c._file_idx
    """


_DERIVE = {
    "token_transfers": _token_transfer_rows,
    "contracts": _contract_rows,
    "labels": _label_rows,
}
