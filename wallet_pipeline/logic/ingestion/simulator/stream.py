"""The simulation as one stream of (table, chunk) pairs, in the order it is generated.

Order: the planned cast (deployments and entities), then each wallet chunk, then the pooled
hot-wallet and poisoner transactions, then the small static tables (tokens, labels) and the
ground truth that needs counts from every chunk.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from wallet_pipeline.logic.ingestion.simulator.batch import Stream, finalize
from wallet_pipeline.logic.ingestion.simulator.behaviours import generate_chunk
from wallet_pipeline.logic.ingestion.simulator.config import SimulatorConfig
from wallet_pipeline.logic.ingestion.simulator.encoding import address_array
from wallet_pipeline.logic.ingestion.simulator.entities import entity_batches
from wallet_pipeline.logic.ingestion.simulator.labels import label_feed
from wallet_pipeline.logic.ingestion.simulator.truth import entities_table, wallets_table
from wallet_pipeline.logic.ingestion.simulator.world import World

GROUND_TRUTH_PREFIX = "ground_truth."
# Raw tables the simulator provides; others in the raw contract (balances) it leaves unprovided.
RAW_OUTPUT_TABLES = (
    "transactions",
    "token_transfers",
    "dex_trades",
    "nft_trades",
    "contract_creations",
    "tokens",
    "address_labels",
)
# Roles of chunk addresses that belong to an entity planned by the world.
_PLANNED_ENTITY_ROLES = pa.array(["lookalike", "shared_deposit_address"])
_STREAM_FINALIZE = 7
# Stream numbers inside a block: 0 the planned cast, 1 the pooled senders, 2.. the chunks.
_ENTITY_STREAM = 0
_DEFERRED_STREAM = 1


def simulate_arrow(config: SimulatorConfig) -> Iterator[tuple[str, pa.Table]]:
    """The simulation as Arrow tables; see `simulate`."""
    w = World(config)
    n_streams = config.n_chunks + 2
    seed = config.seed

    def rng(stream: int) -> np.random.Generator:
        return np.random.default_rng([seed, _STREAM_FINALIZE, stream])

    entity_batch, deferred = entity_batches(w)
    yield from finalize(
        entity_batch, w.clock, seed, Stream(_ENTITY_STREAM, n_streams), w, rng(_ENTITY_STREAM)
    )
    del entity_batch
    if any(c.pre_window for c in w.contracts):
        yield "contract_creations", _old_creations(w)
    yield GROUND_TRUTH_PREFIX + "wallets", _world_wallets(w)
    lookalikes: Counter[str] = Counter()
    chunk_labels: list[tuple[int, str, str]] = []
    for c in range(config.n_chunks):
        res = generate_chunk(w, c)
        stream = 2 + c
        yield from finalize(res.batch, w.clock, seed, Stream(stream, n_streams), w, rng(stream))
        yield GROUND_TRUTH_PREFIX + "wallets", res.wallets
        yield GROUND_TRUTH_PREFIX + "entities", res.entities
        # Chunk addresses that belong to planned entities: look-alikes and shared deposits.
        look = pc.filter(res.wallets["entity_id"], pc.is_in(res.wallets["role"], _PLANNED_ENTITY_ROLES))
        lookalikes.update(look.to_pylist())
        chunk_labels.extend(res.labels)
        deferred.extend(res.deferred)
    yield from finalize(
        deferred, w.clock, seed, Stream(_DEFERRED_STREAM, n_streams), w, rng(_DEFERRED_STREAM)
    )
    del deferred
    yield "tokens", _tokens(w)
    yield "address_labels", label_feed(w, chunk_labels)
    yield GROUND_TRUTH_PREFIX + "tokens", _truth_tokens(w)
    yield GROUND_TRUTH_PREFIX + "entities", _world_entities(w, lookalikes)


def simulate(config: SimulatorConfig) -> Iterator[tuple[str, pd.DataFrame]]:
    """Generate the simulated chain chunk by chunk.

    Args:
        config: what to simulate.

    Yields:
        (table, chunk) pairs. `table` is a raw table name from RAW_TABLES ("transactions",
        "token_transfers", "dex_trades", "nft_trades", "contract_creations", "tokens",
        "address_labels") or "ground_truth.<name>" ("wallets", "entities", "tokens"). Chunks
        carry the raw columns. ETH amounts (transactions.value, nft_trades.amount_raw) are exact
        DECIMAL(38, 0) wei; token amounts are exact decimal text. Columns use Arrow-backed
        pandas dtypes, so integers with NULLs stay integers.
    """
    for table, chunk in simulate_arrow(config):
        yield table, chunk.to_pandas(types_mapper=pd.ArrowDtype)


def _block_of(w: World, ts: list[int]) -> np.ndarray:
    t = np.array(ts, dtype=np.int64)
    inside = w.clock.block_number(w.clock.block_index(t))
    return np.where(t < w.start_ts, w.clock.block_number_before(t), inside)


def _token_contracts(w: World) -> list:
    return [*w.tokens, *w.collections]


def _tokens(w: World) -> pa.Table:
    cs = _token_contracts(w)
    return pa.table(
        {
            "address": address_array(w.seed, np.array([c.id for c in cs], dtype=np.int64)),
            "symbol": pa.array([c.symbol for c in cs], type=pa.string()),
            "name": pa.array([c.name for c in cs], type=pa.string()),
            "decimals": pa.array([c.decimals for c in cs], type=pa.int64()),
            "total_supply": pa.array(
                [None if c.supply is None else str(c.supply) for c in cs], type=pa.string()
            ),
            "block_number": _block_of(w, [c.created_ts for c in cs]),
        }
    )


def _old_creations(w: World) -> pa.Table:
    """contract_creations rows of contracts created before the window.

    Only the block number is known, as in an ethereum-etl export of the window: the block is
    not in the data (so no time), nor is the creating transaction or its sender (who would be
    an address with no other footprint).
    """
    cs = [c for c in w.contracts if c.pre_window]
    ids = np.array([c.id for c in cs], dtype=np.int64)
    ts = np.array([c.created_ts for c in cs], dtype=np.int64)
    meta = w.creation_metadata(ids)
    return pa.table(
        {
            "address": address_array(w.seed, ids),
            "creator_address": pa.nulls(len(cs), pa.string()),
            "transaction_hash": pa.nulls(len(cs), pa.string()),
            "block_number": w.clock.block_number_before(ts),
            "block_timestamp": pa.nulls(len(cs), pa.timestamp("us")),
            "block_date": pa.nulls(len(cs), pa.date32()),
            **meta,
        }
    )


def _truth_tokens(w: World) -> pa.Table:
    cs = _token_contracts(w)
    return pa.table(
        {
            "address": address_array(w.seed, np.array([c.id for c in cs], dtype=np.int64)),
            "symbol": pa.array([c.symbol for c in cs], type=pa.string()),
            "is_scam": pa.array([c.scam for c in cs], type=pa.bool_()),
            "is_popular": pa.array([c.popular for c in cs], type=pa.bool_()),
            "creator_address": address_array(w.seed, np.array([c.creator for c in cs], dtype=np.int64)),
            "entity_id": pa.array([c.entity_id for c in cs], type=pa.string()),
        }
    )


def _world_wallets(w: World) -> pa.Table:
    rows = w.truth
    return wallets_table(
        w.seed,
        np.array([r.id for r in rows], dtype=np.int64),
        [r.persona for r in rows],
        [r.entity_id for r in rows],
        [r.entity_type for r in rows],
        [r.role for r in rows],
        [r.is_malicious for r in rows],
        [r.is_contract for r in rows],
    )


def _world_entities(w: World, extra_members: Counter[str]) -> pa.Table:
    """Planned entities; n_wallets counts their EOAs (contracts excluded), look-alikes included."""
    members = Counter(r.entity_id for r in w.truth if r.entity_id and not r.is_contract)
    members.update(extra_members)
    return entities_table(
        [e.entity_id for e in w.entities],
        [e.entity_type for e in w.entities],
        [e.is_malicious for e in w.entities],
        [members.get(e.entity_id, 0) for e in w.entities],
        [e.description for e in w.entities],
    )
