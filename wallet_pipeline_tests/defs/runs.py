"""A pipeline run in a test's own data folder, and SQL on what it wrote."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb


@dataclass
class Run:
    folder: Path
    result: dg.ExecuteInProcessResult

    @property
    def db(self) -> Path:
        return self.folder / "wallet_pipeline.duckdb"

    def sql(self, query: str):  # noqa: ANN201 - a pandas frame
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.sql(query).df()
