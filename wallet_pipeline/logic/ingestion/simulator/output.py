"""Where a simulation goes: straight into DuckDB, or into an ethereum-etl export folder."""

from __future__ import annotations

import gzip
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from wallet_pipeline.logic.ingestion.raw_schema import (
    GROUND_TRUTH_SCHEMA,
    LABEL_TYPES,
    RAW_SCHEMA,
    RAW_TABLES,
)
from wallet_pipeline.logic.ingestion.raw_store import raw_load
from wallet_pipeline.logic.ingestion.simulator.balances import balances_query
from wallet_pipeline.logic.ingestion.simulator.chain import Clock
from wallet_pipeline.logic.ingestion.simulator.config import SimulatorConfig
from wallet_pipeline.logic.ingestion.simulator.encoding import (
    NS_BUILDER,
    TAG_BLOCK,
    address_array,
    hash_array,
    make_ids,
    uniform_hash,
)
from wallet_pipeline.logic.ingestion.simulator.labels import raw_label_types
from wallet_pipeline.logic.ingestion.simulator.prefetch import prefetched
from wallet_pipeline.logic.ingestion.simulator.stream import (
    GROUND_TRUTH_PREFIX,
    RAW_OUTPUT_TABLES,
    simulate_arrow,
)
from wallet_pipeline.logic.ingestion.simulator.truth import TRUTH_SCHEMAS, create_sql

SOURCE = "simulator"
ETL_FORMATS = ("csv", "csv.gz", "parquet")
GZIP_LEVEL = 4
_SHADOW = "__loading"
# Block gas limit since early 2024 (30M); builders are a handful of addresses, heavy-tailed.
BLOCK_GAS_LIMIT = 30_000_000
_BUILDER_SHARES = np.array([0.35, 0.25, 0.15, 0.1, 0.06, 0.05, 0.04])


@dataclass(frozen=True)
class SimulationReport:
    """What load_simulation wrote.

    Attributes:
        row_counts: rows per table: raw table names and "ground_truth.<name>".
        persona_counts: addresses per ground-truth persona.
        entity_counts: entities per entity type.
        load_id: id of the raw load (raw.source_manifest.load_id).
        seconds: wall time of generation and load.
    """

    row_counts: dict[str, int]
    persona_counts: dict[str, int]
    entity_counts: dict[str, int] = field(default_factory=dict)
    load_id: str = ""
    seconds: float = 0.0


# Where an address shows it is on chain: every raw column that names one.
_ON_CHAIN_COLUMNS = (
    ("transactions", "from_address"),
    ("transactions", "to_address"),
    ("token_transfers", "from_address"),
    ("token_transfers", "to_address"),
    ("token_transfers", "token_address"),
    ("dex_trades", "taker"),
    ("nft_trades", "buyer"),
    ("nft_trades", "seller"),
    ("contract_creations", "address"),
)


def _prune_silent_wallets(con: duckdb.DuckDBPyConnection) -> int:
    """Drop planned wallets that never made it on chain; returns how many.

    A plan can leave a wallet without a single event (a deposit whose only transfer would fall
    after the window). With no footprint it is not a wallet of this chain, and keeping it would
    make the truth list addresses no stage can see.
    """
    on_chain = " union ".join(
        f"select {column} as address from {RAW_SCHEMA}.{table}" for table, column in _ON_CHAIN_COLUMNS
    )
    return _prune_wallets_off(con, on_chain)


def _prune_wallets_off(con: duckdb.DuckDBPyConnection, on_chain: str) -> int:
    """Delete staged truth wallets whose address the query `on_chain` does not list."""
    row = con.execute(
        f"delete from {GROUND_TRUTH_SCHEMA}.wallets{_SHADOW} "
        f"where address not in (select address from ({on_chain}) where address is not null)"
    ).fetchone()
    return int(row[0]) if row else 0


def load_simulation(con: duckdb.DuckDBPyConnection, config: SimulatorConfig) -> SimulationReport:
    """Simulate and load: raw tables atomically, then the ground_truth schema in one transaction.

    The raw tables go through `raw_load(con, source="simulator")`. Ground-truth chunks are
    staged in shadow tables meanwhile and replace `ground_truth.*` only after the raw load
    published, so a failed run leaves both schemas as they were.

    Args:
        con: DuckDB connection.
        config: what to simulate.

    Returns:
        Row counts per table and address counts per persona.
    """
    started = time.perf_counter()
    con.execute(f"create schema if not exists {GROUND_TRUTH_SCHEMA}")
    _drop_truth_shadows(con)
    for name in TRUTH_SCHEMAS:
        con.execute(create_sql(name, GROUND_TRUTH_SCHEMA, name + _SHADOW))
    truth_rows: Counter[str] = Counter()
    personas: Counter[str] = Counter()
    entity_types: Counter[str] = Counter()
    try:
        with raw_load(con, source=SOURCE) as load:
            # The next chunk is generated while DuckDB writes this one (see prefetch.py).
            for table, chunk in prefetched(simulate_arrow(config)):
                if table.startswith(GROUND_TRUTH_PREFIX):
                    name = table[len(GROUND_TRUTH_PREFIX) :]
                    _insert_truth(con, name, chunk)
                    truth_rows[table] += chunk.num_rows
                    if name == "wallets":
                        personas.update(_value_counts(chunk["persona"]))
                    elif name == "entities":
                        entity_types.update(_value_counts(chunk["entity_type"]))
                elif table == "address_labels" and config.public_labels:
                    load.append(table, _raw_labels(chunk))
                else:
                    load.append(table, chunk)
            balances = con.sql(balances_query(load.staged("transactions"), config.seed)).fetch_arrow_table()
            load.append("balances", balances)
            for table in (*RAW_OUTPUT_TABLES, "balances"):
                load.mark_provided(table)
            load_id = load.load_id
            raw_rows = dict(load.row_counts)
    except BaseException:
        _drop_truth_shadows(con)
        raise
    silent = _prune_silent_wallets(con)
    personas = Counter(
        dict(
            con.execute(
                f"select persona, count(*) from {GROUND_TRUTH_SCHEMA}.wallets{_SHADOW} group by persona"
            ).fetchall()
        )
    )
    truth_rows[GROUND_TRUTH_PREFIX + "wallets"] -= silent
    _publish_truth(con)
    return SimulationReport(
        row_counts={**{t: raw_rows.get(t, 0) for t in (*RAW_OUTPUT_TABLES, "balances")}, **dict(truth_rows)},
        persona_counts=dict(sorted(personas.items())),
        entity_counts=dict(sorted(entity_types.items())),
        load_id=load_id,
        seconds=time.perf_counter() - started,
    )


def _publish_truth(con: duckdb.DuckDBPyConnection) -> None:
    """Replace ground_truth.* by the staged shadow tables, in one transaction."""
    con.execute("begin transaction")
    try:
        for name in TRUTH_SCHEMAS:
            con.execute(f"drop table if exists {GROUND_TRUTH_SCHEMA}.{name}")
            con.execute(f"alter table {GROUND_TRUTH_SCHEMA}.{name}{_SHADOW} rename to {name}")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def load_truth(con: duckdb.DuckDBPyConnection, config: SimulatorConfig) -> dict[str, int]:
    """Write only the world's ground truth (ground_truth.wallets, entities, tokens).

    For a world whose raw data went elsewhere (an ethereum-etl export run through the files
    source): one simulation pass, no raw.* table touched. The truth is the one `load_simulation`
    writes for the same config: planned wallets that never made it on chain are left out.
    Tables are staged and swapped in one transaction; a failed run leaves the old ones.

    Args:
        con: DuckDB connection (its own file or in memory).
        config: the world.

    Returns:
        Rows per table, "ground_truth.<name>".
    """
    con.execute(f"create schema if not exists {GROUND_TRUTH_SCHEMA}")
    _drop_truth_shadows(con)
    for name in TRUTH_SCHEMAS:
        con.execute(create_sql(name, GROUND_TRUTH_SCHEMA, name + _SHADOW))
    on_chain = f"{GROUND_TRUTH_SCHEMA}.on_chain{_SHADOW}"
    con.execute(f"create or replace table {on_chain} (address varchar)")
    columns: dict[str, list[str]] = {}
    for table, column in _ON_CHAIN_COLUMNS:
        columns.setdefault(table, []).append(column)
    try:
        for table, chunk in simulate_arrow(config):
            if table.startswith(GROUND_TRUTH_PREFIX):
                _insert_truth(con, table[len(GROUND_TRUTH_PREFIX) :], chunk)
            elif table in columns and chunk.num_rows:
                con.register("_addresses", chunk.select(columns[table]))
                try:
                    union = " union ".join(f"select {c} from _addresses" for c in columns[table])
                    con.execute(f"insert into {on_chain} select distinct * from ({union})")
                finally:
                    con.unregister("_addresses")
        _prune_wallets_off(con, f"select address from {on_chain}")
    except BaseException:
        _drop_truth_shadows(con)
        raise
    finally:
        con.execute(f"drop table if exists {on_chain}")
    _publish_truth(con)
    return {
        GROUND_TRUTH_PREFIX + name: int(
            con.execute(f"select count(*) from {GROUND_TRUTH_SCHEMA}.{name}").fetchone()[0]  # type: ignore[index]
        )
        for name in TRUTH_SCHEMAS
    }


def _raw_labels(labels: pa.Table) -> pa.Table:
    """A label feed written in public spellings (public_labels), in raw label types.

    Each spelling maps to its raw type; the spelling is kept in `original_label_type` when the
    raw contract has that column, as the files source keeps it. Two spellings of one kind on
    one address collapse into one raw row, as the raw key (address, label_type, source) asks.
    """
    raw, original = raw_label_types(labels, LABEL_TYPES)
    out = labels.set_column(labels.schema.get_field_index("label_type"), "label_type", raw)
    if "original_label_type" in RAW_TABLES["address_labels"].column_names:
        out = out.append_column("original_label_type", original)
    keys = zip(*(out[c].to_pylist() for c in ("address", "label_type", "source")), strict=True)
    first: dict[tuple, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    return out.take(pa.array(list(first.values()), type=pa.int64()))


def _value_counts(column: pa.ChunkedArray) -> dict[str, int]:
    counts = pc.value_counts(column)
    return {v["values"]: v["counts"] for v in counts.to_pylist()}


def _insert_truth(con: duckdb.DuckDBPyConnection, name: str, chunk: pa.Table) -> None:
    cols = ", ".join(chunk.column_names)
    con.register("_truth_chunk", chunk)
    try:
        con.execute(
            f"insert into {GROUND_TRUTH_SCHEMA}.{name}{_SHADOW} ({cols}) select {cols} from _truth_chunk"
        )
    finally:
        con.unregister("_truth_chunk")


def _drop_truth_shadows(con: duckdb.DuckDBPyConnection) -> None:
    for name in TRUTH_SCHEMAS:
        con.execute(f"drop table if exists {GROUND_TRUTH_SCHEMA}.{name}{_SHADOW}")


# ----- ethereum-etl export ---------------------------------------------------------------------

# Raw table -> (file table, columns written). ethereum-etl has no time on token transfers and no
# creator on contracts: readers take them from blocks and from the creating transaction.
ETL_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "transactions": (
        "transactions",
        tuple(c for c in RAW_TABLES["transactions"].column_names if c != "block_date"),
    ),
    "token_transfers": (
        "token_transfers",
        (
            "token_address",
            "from_address",
            "to_address",
            "value",
            "transaction_hash",
            "log_index",
            "block_number",
        ),
    ),
    "dex_trades": ("dex_trades", tuple(RAW_TABLES["dex_trades"].column_names)),
    "nft_trades": ("nft_trades", tuple(RAW_TABLES["nft_trades"].column_names)),
    "contract_creations": (
        "contracts",
        ("address", "bytecode", "function_sighashes", "is_erc20", "is_erc721", "block_number"),
    ),
    "tokens": ("tokens", tuple(RAW_TABLES["tokens"].column_names)),
    "traces": ("traces", tuple(c for c in RAW_TABLES["traces"].column_names if c != "block_date")),
    "address_labels": (
        "labels",
        tuple(c for c in RAW_TABLES["address_labels"].column_names if c != "original_label_type"),
    ),
}
BLOCK_COLUMNS = (
    "number",
    "hash",
    "parent_hash",
    "miner",
    "timestamp",
    "gas_limit",
    "gas_used",
    "base_fee_per_gas",
    "transaction_count",
)
_TIME_COLUMNS = ("block_timestamp", "block_time")
# Decoded trades: our extension of an ethereum-etl export, not part of it.
_TRADE_TABLES = ("dex_trades", "nft_trades")


class _FileWriter:
    """Appends Arrow tables with one schema to a CSV, gzipped CSV or Parquet file."""

    def __init__(self, path: Path, fmt: str, schema: pa.Schema) -> None:
        self.path, self.schema = path, schema
        self._sink: Any = None
        if fmt == "parquet":
            self._writer: Any = pq.ParquetWriter(path, schema, compression="zstd")
        else:
            # Arrow's gzip stream compresses at the slowest level; level 4 is ~5x faster and
            # within a few percent of its size.
            self._sink = (
                gzip.open(path, "wb", compresslevel=GZIP_LEVEL)
                if fmt == "csv.gz"
                else pa.OSFile(str(path), "wb")
            )
            options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
            self._writer = pacsv.CSVWriter(self._sink, schema, write_options=options)

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table.cast(self.schema))

    def close(self) -> None:
        self._writer.close()
        if self._sink is not None:
            self._sink.close()


def _to_file_table(raw_name: str, table: pa.Table) -> pa.Table:
    _, columns = ETL_TABLES[raw_name]
    out = table.select(list(columns))
    for i, f in enumerate(out.schema):
        if f.name in _TIME_COLUMNS:
            seconds = pc.divide(out[f.name].cast(pa.timestamp("us")).cast(pa.int64()), 1_000_000)
            out = out.set_column(i, f.name, seconds)
        elif pa.types.is_decimal(f.type):
            # Wei amounts are decimal text in every format, as in ethereum-etl's CSV.
            out = out.set_column(i, f.name, out[f.name].cast(pa.string()))
    return out


def write_etl_files(
    config: SimulatorConfig, folder: Path, fmt: str = "csv", *, trade_tables: bool = True
) -> dict[str, list[Path]]:
    """Write the simulation as an ethereum-etl export folder.

    Files, one per table: transactions, token_transfers, blocks, contracts, tokens and labels in
    the ethereum-etl / BigQuery `crypto_ethereum` layout (transactions carry the receipt
    columns, as in BigQuery), plus the documented extensions dex_trades and nft_trades with the
    raw column names. Times are unix seconds; wei and uint256 amounts are decimal text. Blocks
    are those holding at least one simulated transaction. Ground truth is not written.

    Args:
        config: what to simulate (the same config as load_simulation gives the same data).
        folder: output folder, created if missing.
        fmt: "csv", "csv.gz" or "parquet".
        trade_tables: write the dex_trades and nft_trades extensions; False gives a pure
            ethereum-etl export, from which a reader must decode trades itself.

    Returns:
        Paths written, per file table.
    """
    if fmt not in ETL_FORMATS:
        raise ValueError(f"fmt must be one of {ETL_FORMATS}, not {fmt!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clock = Clock(config.seed, config.start_date, config.days)
    tx_count = np.zeros(clock.n_blocks, dtype=np.int64)
    gas_used = np.zeros(clock.n_blocks, dtype=np.int64)
    writers: dict[str, _FileWriter] = {}

    def writer(name: str, schema: pa.Schema) -> _FileWriter:
        if name not in writers:
            writers[name] = _FileWriter(folder / f"{name}.{fmt}", fmt, schema)
        return writers[name]

    try:
        for table, chunk in simulate_arrow(config):
            if table.startswith(GROUND_TRUTH_PREFIX) or (not trade_tables and table in _TRADE_TABLES):
                continue
            if table == "transactions" and chunk.num_rows:
                idx = chunk["block_number"].to_numpy() - clock.first_block
                tx_count += np.bincount(idx, minlength=clock.n_blocks)
                gas_used += np.bincount(
                    idx, weights=chunk["receipt_gas_used"].to_numpy(), minlength=clock.n_blocks
                ).astype(np.int64)
            out = _to_file_table(table, chunk)
            writer(ETL_TABLES[table][0], out.schema).write(out)
        blocks = _blocks(config.seed, clock, tx_count, gas_used)
        writer("blocks", blocks.schema).write(blocks)
    finally:
        for w in writers.values():
            w.close()
    written = {name: [w.path] for name, w in writers.items()}
    written["balances"] = [_write_balances(config, folder, fmt, writers["transactions"].path)]
    return written


def _write_balances(config: SimulatorConfig, folder: Path, fmt: str, transactions: Path) -> Path:
    """The balances file (BigQuery `crypto_ethereum.balances` layout), from the written transactions."""
    con = duckdb.connect()
    try:
        scan = (
            f"read_parquet('{transactions}')"
            if fmt == "parquet"
            else f"read_csv('{transactions}', header = true, all_varchar = true)"
        )
        typed = (
            f"(select * replace (cast(receipt_status as bigint) as receipt_status, "
            f"cast(block_number as bigint) as block_number, "
            f"cast(transaction_index as bigint) as transaction_index) from {scan})"
        )
        table = con.sql(balances_query(typed, config.seed)).fetch_arrow_table()
        out = table.set_column(
            table.schema.get_field_index("eth_balance"),
            "eth_balance",
            pc.cast(table["eth_balance"], pa.string()),
        )
    finally:
        con.close()
    path = folder / f"balances.{fmt}"
    w = _FileWriter(path, fmt, out.schema)
    try:
        w.write(out)
    finally:
        w.close()
    return path


def _blocks(seed: int, clock: Clock, tx_count: np.ndarray, gas_used: np.ndarray) -> pa.Table:
    index = np.flatnonzero(tx_count > 0)
    number = clock.block_number(index)
    builder = np.searchsorted(
        np.cumsum(_BUILDER_SHARES) / _BUILDER_SHARES.sum(), uniform_hash(seed, TAG_BLOCK, number)
    )
    return pa.table(
        {
            "number": number,
            "hash": hash_array(seed, TAG_BLOCK, number),
            "parent_hash": hash_array(seed, TAG_BLOCK, number - 1),
            "miner": address_array(seed, make_ids(NS_BUILDER, builder + 1)),
            "timestamp": clock.block_ts[index],
            "gas_limit": np.full(len(index), BLOCK_GAS_LIMIT, dtype=np.int64),
            "gas_used": gas_used[index],
            "base_fee_per_gas": clock.base_fee_wei(index),
            "transaction_count": tx_count[index],
        }
    )
