"""The DuckDB resource: one file, closed on every exit path."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from pydantic import Field

from wallet_pipeline.lib.data_lock import hold_data_folder

# Another process holding the write lock (a dbt run, an analyst's writable session) clears in
# seconds; past this the run fails with DuckDB's message, which names the holder's PID.
_LOCK_RETRIES = 8
_FIRST_WAIT_SECONDS = 0.25


class DuckDBFile(dg.ConfigurableResource):
    """A DuckDB database file.

    dagster-duckdb's `DuckDBResource` closes its connection only when the asset succeeds; after a
    failure the file stays open in the run's process, and with it DuckDB's single-writer lock.
    This one closes on every exit.
    """

    database: str = Field(description="Path of the DuckDB file.")
    connection_config: dict[str, Any] = Field(default_factory=dict, description="DuckDB settings.")

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[DuckDBFile]:
        """In a run, hold the data folder's writer lock from before the first step to after the last.

        A second run on the folder fails here, before it writes, naming the holder. Sensors
        and other uses outside a run (no run id) only read, and take no lock.
        """
        if context.run_id is None or self.database == ":memory:":
            yield self
            return
        folder = Path(self.database).resolve().parent
        with hold_data_folder(folder, "a Dagster run", run_id=context.run_id):
            yield self

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection, closed when the block exits, normally or not."""
        con = self._connect()
        try:
            yield con
        finally:
            con.close()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        wait = _FIRST_WAIT_SECONDS
        for attempt in range(_LOCK_RETRIES):
            try:
                return duckdb.connect(self.database, read_only=False, config=self.connection_config)
            except duckdb.IOException:
                if attempt == _LOCK_RETRIES - 1:
                    raise
                time.sleep(wait)
                wait *= 2
        raise AssertionError("unreachable")
