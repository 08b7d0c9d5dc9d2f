"""What load_simulation writes stays what it was: every table it fills, pinned by digest.

`test_simulator_worlds.py` pins the stream `simulate_arrow` yields; these digests pin the tables
after the load (raw.* with the balances derived in DuckDB, and ground_truth.* after pruning), so a
change to the load path that reorders, drops or recasts a value fails here. The digests were
taken on commit 7804f6f, before the load overlapped generation with writing (issue 22).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator

import duckdb
import pytest

from wallet_pipeline.logic.ingestion.raw_schema import GROUND_TRUTH_SCHEMA, RAW_SCHEMA
from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, load_simulation
from wallet_pipeline.logic.ingestion.simulator.prefetch import prefetched

# Columns of the manifest that name this load (its id and time), not the data.
_PER_LOAD_COLUMNS = {"loaded_at", "load_id"}

LOADED_DIGESTS = {
    SimulatorConfig(
        n_wallets=1_500, days=30
    ): "39a5ac4ec93efa51e48fc35fe9524e75b7714a6b0546681d2ff3cab468cffd71",
    SimulatorConfig(
        seed=7, n_wallets=1_500, days=30, chunk_wallets=400
    ): "a71e48a01eccfb272754adf9e4236b67849867f08ff00e174f2c3c44feaf37f1",
    SimulatorConfig(
        seed=11, n_wallets=600, days=14
    ): "1d73fe6c325b7064f2390d13c8c002a817109d649d1a48e652acb3516d3a03b8",
}


def loaded_digest(con: duckdb.DuckDBPyConnection) -> str:
    """A hash of every raw.* and ground_truth.* table, rows in the order of all their columns."""
    h = hashlib.sha256()
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() "
        "where schema_name in (?, ?) order by schema_name, table_name",
        [RAW_SCHEMA, GROUND_TRUTH_SCHEMA],
    ).fetchall()
    for schema, table in tables:
        columns = [
            name
            for (name,) in con.execute(
                "select column_name from duckdb_columns() where schema_name = ? and table_name = ? "
                "order by column_index",
                [schema, table],
            ).fetchall()
            if name not in _PER_LOAD_COLUMNS
        ]
        text = ", ".join(f"coalesce(cast({c} as varchar), '\\0')" for c in columns)
        h.update(f"{schema}.{table}:{','.join(columns)}\n".encode())
        for (line,) in con.execute(
            f"select concat_ws('\\x1f', {text}) from {schema}.{table} order by all"
        ).fetchall():
            h.update(line.encode())
            h.update(b"\n")
    return h.hexdigest()


@pytest.mark.parametrize("config", list(LOADED_DIGESTS), ids=lambda c: f"seed{c.seed}_{c.n_wallets}")
def test_load_simulation_writes_exactly_the_tables_it_wrote_before(config: SimulatorConfig) -> None:
    con = duckdb.connect()
    try:
        load_simulation(con, config)
        assert loaded_digest(con) == LOADED_DIGESTS[config]
    finally:
        con.close()


# ----- prefetched -------------------------------------------------------------------------------


def test_prefetched_yields_every_item_in_order() -> None:
    assert list(prefetched(iter(range(1_000)), depth=3)) == list(range(1_000))
    assert list(prefetched([])) == []


def test_prefetched_runs_the_producer_in_another_thread() -> None:
    threads: list[str] = []

    def items() -> Iterator[int]:
        for i in range(3):
            threads.append(threading.current_thread().name)
            yield i

    assert list(prefetched(items())) == [0, 1, 2]
    assert threading.current_thread().name not in threads


def test_prefetched_raises_the_producers_error_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("chunk 3 is broken")

    got = []
    with pytest.raises(ValueError, match="chunk 3 is broken"):
        for item in prefetched(items()):
            got.append(item)
    assert got == [1, 2]


def test_prefetched_stops_and_closes_the_producer_when_the_consumer_stops() -> None:
    produced: list[int] = []
    closed = threading.Event()

    def items() -> Iterator[int]:
        try:
            for i in range(1_000_000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    stream = prefetched(items(), depth=2)
    assert next(stream) == 0
    stream.close()  # joins the producer
    assert closed.is_set()
    # At most `depth` items ahead of the consumer, plus the one being handed over.
    assert len(produced) <= 4


def test_prefetched_stays_at_most_depth_items_ahead() -> None:
    produced: list[int] = []

    def items() -> Iterator[int]:
        for i in range(100):
            produced.append(i)
            yield i

    stream = prefetched(items(), depth=2)
    assert next(stream) == 0
    time.sleep(0.3)  # time enough for an unbounded producer to run to the end
    assert len(produced) <= 4
    assert list(stream) == list(range(1, 100))


def test_prefetched_refuses_a_depth_below_one() -> None:
    with pytest.raises(ValueError, match="depth must be at least 1"):
        list(prefetched([1], depth=0))
