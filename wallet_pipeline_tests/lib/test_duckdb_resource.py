from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from wallet_pipeline.lib.duckdb_resource import DuckDBFile


def test_the_file_is_released_even_when_the_block_raises(tmp_path: Path) -> None:
    path = str(tmp_path / "x.duckdb")
    resource = DuckDBFile(database=path, connection_config={"threads": 1})
    with pytest.raises(RuntimeError), resource.get_connection() as con:
        con.execute("create table t as select 1 as a")
        raise RuntimeError("asset failed")
    # A connection with other settings is refused while any connection to the file is open.
    reader = duckdb.connect(path, read_only=True)
    assert reader.execute("select a from t").fetchall() == [(1,)]
    reader.close()
