"""Worlds we did not tune to: `random_world_config` draws every knob from a documented range.

Rules, thresholds and figures tuned on the default world (seed 42) say little about a chain they
have not seen. A benchmark that scores the pipeline on many worlds drawn here sees where it
breaks: short and long windows, quiet and busy chains, other persona mixes, and each structure
that fools a clusterer or a risk score switched on at its own rate. docs/simulator.md lists the
ranges and why.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from wallet_pipeline.logic.ingestion.simulator.config import (
    DEFAULT_PERSONA_SHARES,
    MAX_DAYS,
    MIN_DAYS,
    SYBIL_TOPOLOGIES,
    SimulatorConfig,
)

_STREAM_RANDOM_WORLD = 9_001
_STREAM_DISPERSE = 1
# Windows start between the start of 2023 and mid-2025: post-Merge blocks, EIP-1559 fees.
_FIRST_START = dt.date(2023, 1, 1)
_LAST_START = dt.date(2025, 6, 30)
# Activity from half to twice the default rate, log-uniform.
ACTIVITY_RANGE = (0.5, 2.0)
# Raw rows grow with days x activity; capping it at twice the default's (120 days x 1.0) keeps a
# 6,000-wallet world near 300k raw rows, a run of the whole pipeline in about a minute.
MAX_DAY_ACTIVITY = 240.0
# Each persona share is the default times a log-normal factor (sigma 0.5), then renormalized.
PERSONA_SIGMA = 0.5


def random_world_config(seed: int, *, n_wallets_range: tuple[int, int] = (2_000, 6_000)) -> SimulatorConfig:
    """A random world, deterministic in `seed` (also the world's own seed).

    Args:
        seed: the world; the same seed always gives the same config.
        n_wallets_range: inclusive range of ordinary wallets.

    Returns:
        A config with every knob drawn from the ranges in docs/simulator.md.
    """
    lo, hi = n_wallets_range
    if not 200 <= lo <= hi:
        raise ValueError(f"n_wallets_range must satisfy 200 <= low <= high, not {n_wallets_range}")
    rng = np.random.default_rng([seed, _STREAM_RANDOM_WORLD])

    def maybe(p_on: float, low: float, high: float) -> float:
        """0 with probability 1 - p_on, else uniform in [low, high]."""
        value = float(rng.uniform(low, high))
        return value if rng.random() < p_on else 0.0

    n_wallets = int(rng.integers(lo, hi + 1))
    days = int(round(float(np.exp(rng.uniform(np.log(MIN_DAYS), np.log(365))))))
    days = min(max(days, MIN_DAYS), MAX_DAYS)
    activity = float(np.exp(rng.uniform(*np.log(ACTIVITY_RANGE))))
    # Rounded down to four decimals, so the cap holds exactly.
    activity = math.floor(min(activity, MAX_DAY_ACTIVITY / days) * 10_000) / 10_000
    start = _FIRST_START + dt.timedelta(days=int(rng.integers(0, (_LAST_START - _FIRST_START).days + 1)))
    factors = np.exp(PERSONA_SIGMA * rng.standard_normal(len(DEFAULT_PERSONA_SHARES)))
    shares = np.array([v for _, v in DEFAULT_PERSONA_SHARES]) * factors
    shares = shares / shares.sum()
    # The three topologies drawn before "disperse" existed keep their draw (and every knob after
    # them); disperse funding takes its share from a stream of its own, in half of the worlds.
    topology = rng.dirichlet(np.ones(len(SYBIL_TOPOLOGIES) - 1))
    extra = np.random.default_rng([seed, _STREAM_RANDOM_WORLD, _STREAM_DISPERSE])
    disperse = float(extra.uniform(0.1, 0.4)) if extra.random() < 0.5 else 0.0
    topology = np.r_[topology * (1.0 - disperse), disperse]
    return SimulatorConfig(
        seed=seed,
        n_wallets=n_wallets,
        start_date=start,
        days=days,
        persona_shares=tuple(
            (p, round(float(v), 5)) for (p, _), v in zip(DEFAULT_PERSONA_SHARES, shares, strict=True)
        ),
        exchange_user_share=float(rng.uniform(0.1, 0.5)),
        activity=activity,
        wallets_per_hot_wallet=int(rng.integers(800, 3_000)),
        hot_wallets_per_exchange=int(rng.integers(1, 5)),
        wallets_per_sybil_farm=int(rng.integers(2_000, 8_000)),
        wallets_per_scam_ring=int(rng.integers(3_000, 15_000)),
        wallets_per_wash_ring=int(rng.integers(3_000, 15_000)),
        wallets_per_launderer=int(rng.integers(5_000, 30_000)),
        wallets_per_poisoner=int(rng.integers(5_000, 60_000)),
        poison_share=float(rng.uniform(0.0, 0.25)),
        p2p_pair_share=maybe(0.8, 0.02, 0.2),
        family_share=maybe(0.8, 0.02, 0.12),
        shared_deposit_share=maybe(0.6, 0.02, 0.15),
        sybil_topologies=tuple(
            (t, round(float(v), 4)) for t, v in zip(SYBIL_TOPOLOGIES, topology, strict=True)
        ),
        short_bot_share=maybe(0.7, 0.2, 0.8),
        secondary_hot_wallets=int(rng.integers(0, 4)) if rng.random() < 0.6 else 0,
        unlabelled_ring_share=maybe(0.7, 0.3, 1.0),
        old_contract_share=maybe(0.8, 0.3, 1.0),
        label_drop_share=maybe(0.8, 0.1, 0.6),
        label_wrong_share=maybe(0.6, 0.005, 0.05),
        public_labels=bool(rng.random() < 0.5),
    )
