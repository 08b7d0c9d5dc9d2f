"""Shared fixtures: every test gets its own DuckDB file and data folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data folder and DuckDB path, set the way a user would set them."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("WALLET_DATA_DIR", str(folder))
    monkeypatch.setenv("WALLET_DUCKDB_PATH", str(folder / "wallet_pipeline.duckdb"))
    monkeypatch.setenv("WALLET_DUCKDB_MEMORY_LIMIT", "2GB")
    monkeypatch.delenv("WALLET_SOURCE", raising=False)
    monkeypatch.delenv("WALLET_FILES_DIR", raising=False)
    return folder


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection."""
    connection = duckdb.connect()
    yield connection
    connection.close()
