"""The error that stops a files load, and the report of one that succeeded."""

from __future__ import annotations

from dataclasses import dataclass, field


class EtlFilesError(ValueError):
    """A problem with the input that stops the load.

    The message names the file, column, what was expected and how many rows.
    """


@dataclass
class TableReport:
    """What one input table contributed to a load.

    Attributes:
        input_name: file or folder name in the input, e.g. "contracts".
        raw_table: raw table it loaded, or None for lookup-only tables (blocks).
        files: files read, relative to the input folder, in reading order.
        rows_read: data rows in those files.
        rows_loaded: rows appended to the raw table.
        rows_rejected: rows quarantined in raw.raw_rejects (invalid or duplicate).
        ignored_columns: known ethereum-etl / BigQuery columns present in the files and not loaded.
        extra_columns: per file, columns nothing accounts for, read past (not refused).
        notes: what a reader of the loaded rows should know, also in raw.source_manifest.notes.
    """

    input_name: str
    raw_table: str | None
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    extra_columns: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class FilesLoadReport:
    """Outcome of `load_etl_files`.

    Attributes:
        tables: one report per table read, keyed by raw table name ("blocks" for blocks).
        folder: the input folder.
        load_id: id of the raw load, as in raw.raw_rejects and raw.source_manifest.
        ignored_paths: entries of the folder that were not read (notes, unused ethereum-etl
            exports such as geth_traces, files named after no table), relative to the folder.
        ignored_reasons: why each of them was not read, as in raw.source_files.
        warnings: skipped entries that look like a misspelt table (token_transfer.csv).
    """

    tables: dict[str, TableReport]
    folder: str = ""
    load_id: str = ""
    ignored_paths: list[str] = field(default_factory=list)
    ignored_reasons: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return sum(t.rows_loaded for t in self.tables.values() if t.raw_table)

    @property
    def rows_rejected(self) -> int:
        return sum(t.rows_rejected for t in self.tables.values())

    def summary(self) -> dict[str, dict[str, int]]:
        """Counts per table, e.g. for Dagster output metadata."""
        return {
            name: {
                "files": len(t.files),
                "rows_read": t.rows_read,
                "rows_loaded": t.rows_loaded,
                "rows_rejected": t.rows_rejected,
            }
            for name, t in self.tables.items()
        }
