"""Pick rows of an export folder with SQL and write them as a smaller export folder.

Live analysis of one wallet needs a few hundred rows of an export that may hold billions. DuckDB
reads every file of a table once per `keep` (CSV, CSV.gz or Parquet, through the same readers and
text conversion as the loader) and keeps only the rows a predicate picks. `write` then gives an
export folder of the same tables, which `load_etl_files` validates and loads like any other, so
a picked row is quarantined for exactly the reason the full load would quarantine it.

Predicates see every column as the text the loader reads (`lower(from_address) = '0x...'`), plus
`_file_idx` and `_line`, the row's place in the folder, which also keeps the rows in file order:
the loader keeps the first of two rows with one key, so the order must survive.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from wallet_pipeline.logic.ingestion.etl_files.discover import TableInput, discover
from wallet_pipeline.logic.ingestion.etl_files.loader import _file_column, _line, _reader
from wallet_pipeline.logic.ingestion.etl_files.specs import build_input_tables
from wallet_pipeline.logic.ingestion.etl_files.sqltext import sql_ident, sql_literal

_TMP = "__subset_"
FILE_ORDER = "_file_idx, _line"


@dataclass(frozen=True)
class Pick:
    """Which rows of a table to keep.

    Attributes:
        where: SQL predicate over the table's text columns (and `_file_idx`, `_line`).
        first_per: keep one matching row per value of this expression: the first by `order`.
        order: what "first" means for `first_per`; file order unless said.
        cap: keep nothing when more rows than this match (the caller reports what is missing).
    """

    where: str
    first_per: str | None = None
    order: str = FILE_ORDER
    cap: int | None = None


class FilesSubset:
    """The tables of one export folder, read lazily, and the rows picked from them so far.

    Args:
        con: the DuckDB connection that reads the files; its temp schema holds the picked rows.
        folder: the export folder.

    Raises:
        EtlFilesError: the folder is missing, has no transactions, or a file's header is wrong
            (the checks `load_etl_files` makes before reading a row).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, folder: Path) -> None:
        self.con = con
        self.folder = Path(folder)
        self.inputs = discover(con, self.folder, build_input_tables()).tables
        self._created: list[tuple[str, str]] = []
        for name, table in self.inputs.items():
            self._create("view", self.source(name), _union_of_files(table))
            self._create("table", self.kept(name), f"select * from {self.source(name)} limit 0")

    def has(self, name: str) -> bool:
        """Whether the folder holds the input table `name` (e.g. "contracts")."""
        return name in self.inputs

    def source(self, name: str) -> str:
        """The view of all rows of input table `name`, as text."""
        return f"{_TMP}src_{name}"

    def kept(self, name: str) -> str:
        """The temp table of the rows of `name` picked so far."""
        return f"{_TMP}kept_{name}"

    def keep(self, name: str, *picks: Pick) -> list[int | None]:
        """Add the rows of `name` each pick chooses, reading the table's files once.

        The rows any pick's predicate matches are read into a temp table first; each pick then
        chooses among those, which hold every row it could choose. A row already kept is not
        added twice.

        Returns:
            Rows added per pick; None for a pick whose predicate matched more than its cap (it
            adds nothing). Nothing happens when the folder lacks the table.
        """
        if not self.has(name) or not picks:
            return [0 for _ in picks]
        candidates = f"{_TMP}candidates_{name}"
        any_of = " or ".join(f"({p.where})" for p in picks)
        self.con.execute(
            f"create or replace temp table {candidates} as select * from {self.source(name)} where {any_of}"
        )
        try:
            return [self._insert(name, candidates, pick) for pick in picks]
        finally:
            self.con.execute(f"drop table if exists {candidates}")

    def keep_newest(self, name: str, newest_by: str) -> int:
        """Add the one row of `name` where `newest_by` is greatest (NULL never is)."""
        if not self.has(name):
            return 0
        order = f"{newest_by} desc, _file_idx desc, _line desc"
        picked = f"select * from {self.source(name)} where ({newest_by}) is not null order by {order} limit 1"
        return self._add(name, picked)

    def _insert(self, name: str, candidates: str, pick: Pick) -> int | None:
        matching = f"select * from {candidates} where ({pick.where})"
        if pick.cap is not None:
            row = self.con.execute(f"select count(*) from ({matching})").fetchone()
            if row and row[0] > pick.cap:
                return None
        if pick.first_per is not None:
            matching += (
                f" qualify row_number() over (partition by {pick.first_per} order by {pick.order}) = 1"
            )
        return self._add(name, matching)

    def _add(self, name: str, picked: str) -> int:
        row = self.con.execute(
            f"insert into {self.kept(name)} select * from ({picked}) p "
            f"anti join {self.kept(name)} k using (_file_idx, _line)"
        ).fetchone()
        return int(row[0]) if row else 0

    def count(self, name: str) -> int:
        """Rows of `name` kept so far."""
        if not self.has(name):
            return 0
        row = self.con.execute(f"select count(*) from {self.kept(name)}").fetchone()
        return int(row[0]) if row else 0

    def write(self, out: Path) -> Path:
        """Write the kept rows as an export folder, one Parquet file per table the folder holds.

        A table with no kept row is written empty, so the load records that the source has it
        (a feature of a table the source lacks is NULL, of an empty one 0).
        """
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for name, table in self.inputs.items():
            columns = ", ".join(sql_ident(c) for c in _columns(table))
            target = sql_literal(str(out / f"{name}.parquet"))
            self.con.execute(
                f"copy (select {columns} from {self.kept(name)} order by _file_idx, _line) "
                f"to {target} (format parquet)"
            )
        return out

    def close(self) -> None:
        """Drop the views and tables of this subset."""
        for kind, name in reversed(self._created):
            with contextlib.suppress(duckdb.Error):
                self.con.execute(f"drop {kind} if exists {name}")
        self._created.clear()

    def _create(self, kind: str, name: str, sql: str) -> None:
        self.con.execute(f"drop {kind} if exists {name}")
        self._created.append((kind, name))
        self.con.execute(f"create temp {kind} {name} as {sql}")


def _columns(table: TableInput) -> list[str]:
    """Columns written: those some file has; labels always carry their source."""
    columns = table.columns
    if table.spec.name == "labels" and "source" not in columns:
        columns = [*columns, "source"]
    return columns


def _union_of_files(table: TableInput) -> str:
    """Every file of the table as text, with its place in the folder; absent columns are NULL."""
    selects = []
    for idx, file in enumerate(table.files):
        parts = [f"{idx} as _file_idx", f"{_line(file)} as _line"]
        for col in table.spec.column_names:
            value = _file_column(file, col) if col in file.columns else "null::varchar"
            if table.spec.name == "labels" and col == "source":
                # The loader names a label's source after its file when the row has none; the
                # subset lives in another file, so the original name is written in.
                value = f"coalesce(nullif({value}, ''), {sql_literal(file.rel)})"
            parts.append(f"{value} as {sql_ident(col)}")
        selects.append(f"select {', '.join(parts)} from {_reader(file)}")
    return " union all ".join(selects)
