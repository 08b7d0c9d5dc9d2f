"""Transactions and their events as columns of integers, before they become raw-table rows.

Generators describe what happens with address ids, times and amounts (`TxBatch`). `finalize`
then does the chain bookkeeping once for a whole batch: it snaps times to blocks, gives every
sender increasing nonces, numbers transactions and logs inside blocks, derives hashes, gas and
fees, and writes Arrow tables with the raw schema's columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wallet_pipeline.logic.ingestion.simulator.chain import Clock
from wallet_pipeline.logic.ingestion.simulator.encoding import (
    TAG_BLOCK,
    TAG_TX,
    address_array,
    code_array,
    hash_array,
    scaled_text,
    wei_decimal,
)


class M(IntEnum):
    """What a transaction calls; the value indexes METHODS."""

    ETH = 0
    ETH_TO_CONTRACT = 1
    TRANSFER = 2
    APPROVE = 3
    TRANSFER_FROM = 4
    SWAP_ETH_FOR_TOKENS = 5
    SWAP_TOKENS_FOR_ETH = 6
    SWAP_TOKENS_FOR_TOKENS = 7
    ADD_LIQUIDITY_ETH = 8
    REMOVE_LIQUIDITY_ETH = 9
    NFT_BUY = 10
    NFT_MINT = 11
    SET_APPROVAL_FOR_ALL = 12
    CLAIM = 13
    QUEST = 14
    MIXER_DEPOSIT = 15
    BRIDGE_DEPOSIT = 16
    CREATE = 17
    MINT = 18
    ADD_LIQUIDITY = 19
    DISPERSE_ETHER = 20


@dataclass(frozen=True)
class Method:
    """A 4-byte selector and the range of gas a successful call uses."""

    selector: str
    gas_lo: int
    gas_hi: int


METHODS: dict[M, Method] = {
    M.ETH: Method("0x", 21_000, 21_000),
    M.ETH_TO_CONTRACT: Method("0x", 23_000, 31_000),
    M.TRANSFER: Method("0xa9059cbb", 34_000, 65_000),  # transfer(address,uint256)
    M.APPROVE: Method("0x095ea7b3", 44_000, 48_500),  # approve(address,uint256)
    M.TRANSFER_FROM: Method("0x23b872dd", 38_000, 62_000),  # transferFrom(address,address,uint256)
    M.SWAP_ETH_FOR_TOKENS: Method("0x7ff36ab5", 105_000, 190_000),
    M.SWAP_TOKENS_FOR_ETH: Method("0x18cbafe5", 110_000, 200_000),
    M.SWAP_TOKENS_FOR_TOKENS: Method("0x38ed1739", 110_000, 210_000),
    M.ADD_LIQUIDITY_ETH: Method("0xf305d719", 170_000, 260_000),
    M.REMOVE_LIQUIDITY_ETH: Method("0x02751cec", 120_000, 190_000),
    M.NFT_BUY: Method("0xfb0f3ee1", 140_000, 230_000),  # Seaport fulfillBasicOrder
    M.NFT_MINT: Method("0xa0712d68", 60_000, 160_000),  # mint(uint256)
    M.SET_APPROVAL_FOR_ALL: Method("0xa22cb465", 46_000, 48_500),
    M.CLAIM: Method("0x2e7ba6ef", 70_000, 115_000),  # MerkleDistributor claim(...)
    M.QUEST: Method("0x1249c58b", 60_000, 95_000),  # mint()
    M.MIXER_DEPOSIT: Method("0xb214faa5", 900_000, 1_100_000),  # deposit(bytes32)
    M.BRIDGE_DEPOSIT: Method("0xb1a1a882", 80_000, 125_000),  # depositETH(uint32,bytes)
    M.CREATE: Method("", 600_000, 3_000_000),
    M.MINT: Method("0x40c10f19", 50_000, 75_000),  # mint(address,uint256)
    M.ADD_LIQUIDITY: Method("0xe8e33700", 150_000, 230_000),  # addLiquidity(token, token, ...)
    # disperseEther(address[],uint256[]) of Disperse.app; a value call to a fresh account costs
    # 34,000 gas, so 20-60 recipients need about 0.7-2.1M.
    M.DISPERSE_ETHER: Method("0xe63d38ed", 700_000, 2_100_000),
}

_SELECTORS = pa.array([METHODS[m].selector for m in M])
_GAS_LO = np.array([METHODS[m].gas_lo for m in M], dtype=np.int64)
_GAS_HI = np.array([METHODS[m].gas_hi for m in M], dtype=np.int64)

# Priority-fee profiles (gwei): median and spread of the tip a sender adds.
FEE_RETAIL = 0
FEE_BOT = 1
FEE_INSTITUTION = 2
_TIP_MEDIAN_GWEI = np.array([0.08, 2.5, 0.6])
_TIP_SIGMA = np.array([1.0, 0.7, 0.4])
# Share of retail transactions still sent as legacy (type 0).
LEGACY_SHARE = 0.04
# log_index = transaction_index * LOG_STRIDE + position in the transaction: unique in a block
# across independently generated streams, and ordered like the transactions.
LOG_STRIDE = 16
NFT_PROJECT = "opensea"
DEX_PROJECT = "uniswap"

_FIELDS: dict[str, dict[str, type]] = {
    "tx": {
        "sender": np.int64,
        "ts": np.int64,
        "to": np.int64,
        "method": np.int16,
        "value_gwei": np.int64,
        "value_lo": np.int64,
        "status": np.int8,
        "nonce_base": np.int64,
        "fee_class": np.int8,
        "created": np.int64,
    },
    "transfer": {
        "tx": np.int64,
        "seq": np.int64,
        "token": np.int64,
        "frm": np.int64,
        "to": np.int64,
        "mant": np.int64,
        "exp": np.int64,
    },
    "dex": {
        "tx": np.int64,
        "seq": np.int64,
        "pool": np.int64,
        "bought": np.int64,
        "sold": np.int64,
        "bought_mant": np.int64,
        "bought_exp": np.int64,
        "sold_mant": np.int64,
        "sold_exp": np.int64,
        "usd": np.float64,
    },
    "nft": {
        "tx": np.int64,
        "seq": np.int64,
        "collection": np.int64,
        "token_id": np.int64,
        "buyer": np.int64,
        "seller": np.int64,
        "price_gwei": np.int64,
        "usd": np.float64,
    },
    # Call traces of transactions that move ETH inside a contract call: seq 0 is the
    # transaction's own top-level call, seq k > 0 its (k-1)-th internal call.
    "trace": {
        "tx": np.int64,
        "seq": np.int64,
        "frm": np.int64,
        "to": np.int64,
        "value_gwei": np.int64,
    },
}
_DEFAULTS = {
    "to": -1,
    "value_gwei": 0,
    "value_lo": 0,
    "status": 1,
    "nonce_base": 0,
    "fee_class": FEE_RETAIL,
    "created": -1,
}


class TxBatch:
    """Transactions and events being collected; events point at transactions by position."""

    def __init__(self) -> None:
        self._parts: dict[str, dict[str, list[np.ndarray]]] = {
            kind: {name: [] for name in fields} for kind, fields in _FIELDS.items()
        }
        self.n_tx = 0

    def _add(self, kind: str, cols: dict[str, object]) -> int:
        fields = _FIELDS[kind]
        unknown = set(cols) - set(fields)
        if unknown:
            raise TypeError(f"unknown {kind} fields {sorted(unknown)}")
        n = max((np.size(v) for v in cols.values() if np.ndim(v) > 0), default=1)
        for name, dtype in fields.items():
            if name not in cols and name not in _DEFAULTS:
                raise TypeError(f"{kind} field {name} is required")
            value = cols.get(name, _DEFAULTS.get(name))
            arr = np.asarray(value, dtype=dtype)
            if arr.ndim == 0 or (len(arr) == 1 and n != 1):
                arr = np.full(n, arr.reshape(-1)[0], dtype=dtype)
            elif len(arr) != n:
                raise ValueError(f"{kind}.{name} has {len(arr)} values, expected {n}")
            self._parts[kind][name].append(arr)
        return n

    def add_txs(self, **cols: object) -> np.ndarray:
        """Add transactions; returns their positions, for events to refer to."""
        n = self._add("tx", cols)
        pos = np.arange(self.n_tx, self.n_tx + n, dtype=np.int64)
        self.n_tx += n
        return pos

    def add_transfers(self, **cols: object) -> None:
        """Add ERC-20 / ERC-721 Transfer events (value = mant * 10**exp)."""
        self._add("transfer", cols)

    def add_dex(self, **cols: object) -> None:
        """Add DEX swap events."""
        self._add("dex", cols)

    def add_nft(self, **cols: object) -> None:
        """Add NFT sale events."""
        self._add("nft", cols)

    def add_traces(self, **cols: object) -> None:
        """Add call traces (ethereum-etl `traces`): internal ETH transfers and their top-level call."""
        self._add("trace", cols)

    def extend(self, other: TxBatch) -> None:
        """Append all of `other`, shifting its event positions."""
        for kind, fields in other._parts.items():
            for name, parts in fields.items():
                if kind != "tx" and name == "tx":
                    parts = [p + self.n_tx for p in parts]
                self._parts[kind][name].extend(parts)
        self.n_tx += other.n_tx

    def columns(self) -> dict[str, dict[str, np.ndarray]]:
        """Concatenated columns per kind ("tx", "transfer", "dex", "nft", "trace")."""
        out: dict[str, dict[str, np.ndarray]] = {}
        for kind, fields in _FIELDS.items():
            out[kind] = {
                name: (
                    np.concatenate(self._parts[kind][name])
                    if self._parts[kind][name]
                    else np.empty(0, dtype=dtype)
                )
                for name, dtype in fields.items()
            }
        return out


class ContractCatalog(Protocol):
    """What finalize needs to describe created contracts."""

    def creation_metadata(self, ids: np.ndarray) -> dict[str, pa.Array]:
        """Columns bytecode, function_sighashes, is_erc20, is_erc721 for contract ids."""
        ...


@dataclass(frozen=True)
class Stream:
    """Where a batch sits among the independently generated streams of one simulation."""

    index: int
    count: int


def _group_rank(keys_sorted: np.ndarray) -> np.ndarray:
    """0-based rank of each element inside its run of equal keys (keys already sorted)."""
    n = len(keys_sorted)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.ones(n, dtype=bool)
    starts[1:] = keys_sorted[1:] != keys_sorted[:-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return np.arange(n) - first


def _timestamps(ts: np.ndarray) -> tuple[pa.Array, pa.Array]:
    return (
        pa.array(ts * 1_000_000, type=pa.timestamp("us")),
        pa.array((ts // 86_400).astype(np.int32), type=pa.date32()),
    )


def finalize(
    batch: TxBatch,
    clock: Clock,
    seed: int,
    stream: Stream,
    catalog: ContractCatalog,
    rng: np.random.Generator,
    slice_rows: int = 400_000,
) -> Iterator[tuple[str, pa.Table]]:
    """Turn a batch into raw-table slices: transactions, events and contract creations.

    Transactions after the window's end are dropped with their events (they have not happened
    yet); earlier ones are moved to the window's start.

    Args:
        batch: the transactions and events.
        clock: block timing shared by all streams.
        seed: the simulation seed (addresses and hashes).
        stream: this batch's stream; transaction indexes interleave streams inside a block.
        catalog: metadata of contracts created by the batch.
        rng: randomness for gas and fees.
        slice_rows: transactions per yielded slice; bounds the memory of the Arrow tables.

    Yields:
        (raw table name, Arrow table) pairs; every event table at least once.
    """
    cols = batch.columns()
    tx = cols["tx"]
    ts = np.maximum(tx["ts"], clock.start_ts)
    keep = ts < clock.end_ts
    remap = np.cumsum(keep) - 1
    tx = {k: v[keep] for k, v in tx.items()}
    ts = ts[keep]
    events = {}
    for kind in ("transfer", "dex", "nft", "trace"):
        ev = cols[kind]
        ok = keep[ev["tx"]] if len(ev["tx"]) else np.zeros(0, dtype=bool)
        ev = {k: v[ok] for k, v in ev.items()}
        ev["tx"] = remap[ev["tx"]]
        events[kind] = ev
    n = len(ts)
    sender = tx["sender"]

    blk = clock.block_index(ts)
    bts = clock.block_ts[blk]

    # Nonces follow each sender's time order.
    # A sender's nonce base is taken from its first transaction, so that callers may pass it
    # per transaction without having to agree on it.
    order = np.lexsort((np.arange(n), ts, sender))
    rank = _group_rank(sender[order])
    base_sorted = tx["nonce_base"][order]
    nonce = np.empty(n, dtype=np.int64)
    nonce[order] = base_sorted[np.arange(n) - rank] + rank

    # Position in block: by sender and nonce inside this stream, interleaved with other streams.
    out_order = np.lexsort((nonce, sender, blk))
    tx_index = np.empty(n, dtype=np.int64)
    tx_index[out_order] = stream.index + stream.count * _group_rank(blk[out_order])
    out_pos = np.empty(n, dtype=np.int64)
    out_pos[out_order] = np.arange(n)

    method = tx["method"].astype(np.int64)
    status = tx["status"].astype(np.int64)
    gas_used = _GAS_LO[method] + (rng.random(n) * (_GAS_HI[method] - _GAS_LO[method] + 1)).astype(np.int64)
    gas_limit = np.where(
        method == M.ETH,
        21_000,
        (np.ceil(gas_used * rng.uniform(1.15, 1.6, n) / 1000) * 1000).astype(np.int64),
    )
    gas_used = np.where(status == 1, gas_used, (gas_limit * rng.uniform(0.2, 0.75, n)).astype(np.int64))
    base_fee = clock.base_fee_wei(blk)
    fee_class = tx["fee_class"].astype(np.int64)
    tip_gwei = np.exp(np.log(_TIP_MEDIAN_GWEI[fee_class]) + _TIP_SIGMA[fee_class] * rng.standard_normal(n))
    tip = (np.round(tip_gwei * 1000) * 1_000_000).astype(np.int64)  # multiples of 0.001 gwei
    legacy = (fee_class == FEE_RETAIL) & (rng.random(n) < LEGACY_SHARE)
    effective = base_fee + tip
    max_fee = (np.ceil((2 * base_fee + tip) / 1e9) * 1e9).astype(np.int64)

    created = tx["created"]
    for kind, ev in events.items():
        ev["out"] = out_pos[ev["tx"]]
        ev["log_index"] = tx_index[ev["tx"]] * LOG_STRIDE + ev["seq"]
        o = np.lexsort((ev["seq"], ev["out"]))
        events[kind] = {k: v[o] for k, v in ev.items()}

    first = True
    for lo in range(0, max(n, 1), slice_rows):
        hi = min(n, lo + slice_rows)
        rows = out_order[lo:hi]
        tx_hash = hash_array(seed, TAG_TX, sender[rows], nonce[rows])
        block_number = clock.block_number(blk[rows])
        block_hash = hash_array(seed, TAG_BLOCK, block_number)
        b_ts, b_date = _timestamps(bts[rows])
        is_create = created[rows] >= 0
        input_text = _SELECTORS.take(pa.array(method[rows]))
        if is_create.any():
            init_code = code_array(seed, created[rows][is_create], 48, prefix="0x60806040523480156100")
            input_text = pc.replace_with_mask(input_text, pa.array(is_create), init_code)
        leg = legacy[rows]
        to_ids = tx["to"][rows]
        yield (
            "transactions",
            pa.table(
                {
                    "hash": tx_hash,
                    "nonce": nonce[rows],
                    "block_hash": block_hash,
                    "block_number": block_number,
                    "transaction_index": tx_index[rows],
                    "from_address": address_array(seed, sender[rows]),
                    "to_address": address_array(seed, to_ids),
                    "value": wei_decimal(tx["value_gwei"][rows], tx["value_lo"][rows]),
                    "gas": gas_limit[rows],
                    "gas_price": effective[rows],
                    "input": input_text,
                    "block_timestamp": b_ts,
                    "block_date": b_date,
                    "max_fee_per_gas": pa.array(max_fee[rows], mask=leg),
                    "max_priority_fee_per_gas": pa.array(tip[rows], mask=leg),
                    "transaction_type": np.where(leg, 0, 2).astype(np.int64),
                    "receipt_status": status[rows],
                    "receipt_gas_used": gas_used[rows],
                    "receipt_effective_gas_price": effective[rows],
                    "receipt_contract_address": address_array(seed, np.where(is_create, created[rows], -1)),
                }
            ),
        )
        ctx = _SliceContext(
            seed,
            clock,
            lo,
            hi,
            tx_hash,
            block_number,
            bts[rows],
            sender[rows],
            to_ids,
            tx_index[rows],
            status[rows],
        )
        yield from _event_tables(events, ctx, first)
        if is_create.any() or first:
            yield "contract_creations", _creations(ctx, created[rows], is_create, catalog)
        first = False


@dataclass
class _SliceContext:
    seed: int
    clock: Clock
    lo: int
    hi: int
    tx_hash: pa.Array
    block_number: np.ndarray
    block_ts: np.ndarray
    sender: np.ndarray
    to: np.ndarray
    tx_index: np.ndarray
    status: np.ndarray


def _slice_events(ev: dict[str, np.ndarray], ctx: _SliceContext) -> tuple[dict[str, np.ndarray], np.ndarray]:
    a, b = np.searchsorted(ev["out"], [ctx.lo, ctx.hi], side="left")
    part = {k: v[a:b] for k, v in ev.items()}
    return part, part["out"] - ctx.lo


def _event_tables(
    events: dict[str, dict[str, np.ndarray]], ctx: _SliceContext, always: bool
) -> Iterator[tuple[str, pa.Table]]:
    seed = ctx.seed
    tr, rel = _slice_events(events["transfer"], ctx)
    if len(rel) or always:
        b_ts, b_date = _timestamps(ctx.block_ts[rel])
        yield (
            "token_transfers",
            pa.table(
                {
                    "token_address": address_array(seed, tr["token"]),
                    "from_address": address_array(seed, tr["frm"]),
                    "to_address": address_array(seed, tr["to"]),
                    "value": scaled_text(tr["mant"], tr["exp"]),
                    "transaction_hash": ctx.tx_hash.take(pa.array(rel)),
                    "log_index": tr["log_index"],
                    "block_number": ctx.block_number[rel],
                    "block_timestamp": b_ts,
                    "block_date": b_date,
                }
            ),
        )
    dx, rel = _slice_events(events["dex"], ctx)
    if len(rel) or always:
        b_ts, b_date = _timestamps(ctx.block_ts[rel])
        k = len(rel)
        yield (
            "dex_trades",
            pa.table(
                {
                    "block_time": b_ts,
                    "block_date": b_date,
                    "block_number": ctx.block_number[rel],
                    "tx_hash": ctx.tx_hash.take(pa.array(rel)),
                    "evt_index": dx["log_index"],
                    "project": pa.array([DEX_PROJECT] * k, type=pa.string()),
                    "taker": address_array(seed, ctx.sender[rel]),
                    "token_bought_address": address_array(seed, dx["bought"]),
                    "token_sold_address": address_array(seed, dx["sold"]),
                    "token_bought_amount_raw": scaled_text(dx["bought_mant"], dx["bought_exp"]),
                    "token_sold_amount_raw": scaled_text(dx["sold_mant"], dx["sold_exp"]),
                    "amount_usd": np.round(dx["usd"], 2),
                    "tx_from": address_array(seed, ctx.sender[rel]),
                    "tx_to": address_array(seed, ctx.to[rel]),
                    "project_contract_address": address_array(seed, dx["pool"]),
                }
            ),
        )
    tc, rel = _slice_events(events["trace"], ctx)
    # Only worlds whose generators made traces export the table: others have no traces file.
    if len(rel):
        yield "traces", _traces_table(tc, rel, ctx)
    nf, rel = _slice_events(events["nft"], ctx)
    if len(rel) or always:
        b_ts, b_date = _timestamps(ctx.block_ts[rel])
        k = len(rel)
        yield (
            "nft_trades",
            pa.table(
                {
                    "block_time": b_ts,
                    "block_date": b_date,
                    "block_number": ctx.block_number[rel],
                    "tx_hash": ctx.tx_hash.take(pa.array(rel)),
                    "evt_index": nf["log_index"],
                    "project": pa.array([NFT_PROJECT] * k, type=pa.string()),
                    "nft_contract_address": address_array(seed, nf["collection"]),
                    "token_id": pc.cast(pa.array(nf["token_id"]), pa.string()),
                    "token_standard": pa.array(["erc721"] * k, type=pa.string()),
                    "buyer": address_array(seed, nf["buyer"]),
                    "seller": address_array(seed, nf["seller"]),
                    "amount_raw": wei_decimal(nf["price_gwei"]),
                    "currency_symbol": pa.array(["ETH"] * k, type=pa.string()),
                    "amount_usd": np.round(nf["usd"], 2),
                    "tx_from": address_array(seed, ctx.sender[rel]),
                    "tx_to": address_array(seed, ctx.to[rel]),
                }
            ),
        )


def _traces_table(tc: dict[str, np.ndarray], rel: np.ndarray, ctx: _SliceContext) -> pa.Table:
    """ethereum-etl `traces` rows: the top-level call (trace_address NULL) and its internal calls."""
    b_ts, _ = _timestamps(ctx.block_ts[rel])
    k = len(rel)
    top = tc["seq"] == 0
    # A failed transaction's calls all revert with it, as a node's trace_transaction reports.
    ok = ctx.status[rel] == 1
    return pa.table(
        {
            "transaction_hash": ctx.tx_hash.take(pa.array(rel, type=pa.int64())),
            "transaction_index": ctx.tx_index[rel],
            "trace_address": pa.array((tc["seq"] - 1).astype(str), mask=top, type=pa.string()),
            "block_number": ctx.block_number[rel],
            "block_timestamp": b_ts,
            "from_address": address_array(ctx.seed, tc["frm"]),
            "to_address": address_array(ctx.seed, tc["to"]),
            "value": wei_decimal(tc["value_gwei"]),
            "trace_type": pa.array(["call"] * k, type=pa.string()),
            "call_type": pa.array(["call"] * k, type=pa.string()),
            "status": ok.astype(np.int64),
            "error": pa.array(np.where(ok, None, "Reverted"), type=pa.string()),
        }
    )


def _creations(
    ctx: _SliceContext, created: np.ndarray, is_create: np.ndarray, catalog: ContractCatalog
) -> pa.Table:
    rel = np.flatnonzero(is_create)
    ids = created[rel]
    b_ts, b_date = _timestamps(ctx.block_ts[rel])
    meta = catalog.creation_metadata(ids)
    return pa.table(
        {
            "address": address_array(ctx.seed, ids),
            "creator_address": address_array(ctx.seed, ctx.sender[rel]),
            "transaction_hash": ctx.tx_hash.take(pa.array(rel, type=pa.int64())),
            "block_number": ctx.block_number[rel],
            "block_timestamp": b_ts,
            "block_date": b_date,
            "bytecode": meta["bytecode"],
            "function_sighashes": meta["function_sighashes"],
            "is_erc20": meta["is_erc20"],
            "is_erc721": meta["is_erc721"],
        }
    )
