"""Block timing and base fees: the part of the chain every stream of the simulation shares.

Blocks come every 12 seconds, as on proof-of-stake Ethereum, except for a small share of missed
slots. Everything here is a pure function of (seed, start date, days), so the entity stream, every
wallet chunk and the ethereum-etl writer agree on block numbers, times, hashes and base fees.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from wallet_pipeline.logic.ingestion.simulator.encoding import TAG_BLOCK, uniform_hash

HOUR = 3_600
DAY = 86_400
SLOT_SECONDS = 12
# About 1% of slots have no block on mainnet (offline or late proposers).
MISSED_SLOT_SHARE = 0.01
# The Merge: block 15,537,394 at 2022-09-15 06:42:59 UTC. Numbering from it keeps block numbers
# close to mainnet's for the chosen dates.
_MERGE_BLOCK = 15_537_394
_MERGE_TS = 1_663_224_179
_STREAM_CLOCK = 3


def date_to_ts(day: dt.date) -> int:
    """Unix seconds of midnight UTC of `day`."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


class Clock:
    """Maps times to blocks for a window of `days` days starting at `start_date` (UTC)."""

    def __init__(self, seed: int, start_date: dt.date, days: int) -> None:
        self.seed = seed
        self.start_ts = date_to_ts(start_date)
        self.end_ts = self.start_ts + days * 86_400
        self.days = days
        n_slots = days * 86_400 // SLOT_SECONDS
        rng = np.random.default_rng([seed, _STREAM_CLOCK])
        present = rng.random(n_slots) >= MISSED_SLOT_SHARE
        present[0] = present[-1] = True
        self.slots = np.flatnonzero(present).astype(np.int64)
        self.block_ts = self.start_ts + self.slots * SLOT_SECONDS
        blocks_since_merge = (self.start_ts - _MERGE_TS) / SLOT_SECONDS * (1 - MISSED_SLOT_SHARE)
        self.first_block = max(1, _MERGE_BLOCK + int(blocks_since_merge))
        # Daily base-fee level: a mean-reverting walk in log-gwei around ~6 gwei (mid-2024).
        level = np.empty(days + 1)
        level[0] = 0.0
        shocks = rng.normal(0.0, 0.35, days + 1)
        for d in range(1, days + 1):
            level[d] = 0.75 * level[d - 1] + shocks[d]
        self._fee_level = np.log(6.0) + level

    @property
    def n_blocks(self) -> int:
        return len(self.slots)

    def block_index(self, ts: np.ndarray) -> np.ndarray:
        """Index (0-based) of the first block at or after each time, clipped to the window."""
        slot = -((self.start_ts - np.asarray(ts, dtype=np.int64)) // SLOT_SECONDS)
        idx = np.searchsorted(self.slots, slot, side="left")
        return np.minimum(idx, len(self.slots) - 1)

    def block_number(self, index: np.ndarray) -> np.ndarray:
        """Block numbers of block indexes."""
        return self.first_block + np.asarray(index, dtype=np.int64)

    def block_number_before(self, ts: np.ndarray) -> np.ndarray:
        """Block numbers of times before the window (one block per 12 s slot, 1% missed).

        Those blocks are not part of the simulation: only contracts created before the window
        refer to them. Numbers stay at least 1.
        """
        ts = np.asarray(ts, dtype=np.int64)
        back = np.ceil((self.start_ts - ts) / SLOT_SECONDS * (1 - MISSED_SLOT_SHARE)).astype(np.int64)
        return np.maximum(self.first_block - np.maximum(back, 1), 1)

    def base_fee_wei(self, index: np.ndarray) -> np.ndarray:
        """EIP-1559 base fee per gas of each block, in wei."""
        index = np.asarray(index, dtype=np.int64)
        ts = self.block_ts[index]
        day = (ts - self.start_ts) // 86_400
        hour = ((ts - self.start_ts) % 86_400) / 3600.0
        # Fees peak when US and European hours overlap.
        intraday = 0.3 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
        noise = 0.25 * (uniform_hash(self.seed, TAG_BLOCK, index) - 0.5)
        gwei = np.exp(self._fee_level[day] + intraday + noise)
        return np.round(np.clip(gwei, 0.3, 300.0) * 1e9).astype(np.int64)
