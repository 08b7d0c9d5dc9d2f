"""Knobs of the chain simulator.

Counts of planted entities and of hot wallets scale with `n_wallets` ("one per N wallets", never
fewer than one), so a small test run holds every kind of structure and a large run keeps the same
proportions.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

# Behaviour classes of ordinary wallets. Mainnet is mostly retail and idle addresses; bots are few
# wallets but many transactions.
DEFAULT_PERSONA_SHARES: tuple[tuple[str, float], ...] = (
    ("retail_trader", 0.555),
    ("dormant", 0.36),
    ("nft_trader", 0.07),
    ("whale", 0.012),
    ("hf_bot", 0.003),
)

# Vocabulary of ground_truth.wallets.persona, documented in docs/simulator.md.
PERSONAS = (
    "exchange",
    "deposit_address",
    "whale",
    "retail_trader",
    "hf_bot",
    "nft_trader",
    "dormant",
    "airdrop_farmer",
    "poisoning_lookalike",
    "contract",
)


@dataclass(frozen=True)
class SimulatorConfig:
    """What to simulate. The same config always gives the same data (chunk size included).

    Attributes:
        seed: seed of every random choice and of all addresses and hashes.
        n_wallets: ordinary wallets; entities, exchanges and contracts come on top.
        start_date: first day of the window (UTC); fixed so runs are reproducible.
        days: length of the window in days.
        chunk_wallets: ordinary wallets generated together; bounds memory.
        persona_shares: (persona, share) of ordinary wallets; shares are normalized.
        exchange_user_share: share of ordinary (non-bot) wallets that use an exchange deposit
            address.
        activity: multiplies every wallet's transaction rate.
        wallets_per_hot_wallet: one exchange hot wallet per this many wallets (12 at 20k).
        hot_wallets_per_exchange: hot wallets of one exchange.
        wallets_per_sybil_farm: one sybil farm per this many wallets.
        wallets_per_scam_ring: one scam-token ring per this many wallets.
        wallets_per_wash_ring: one wash-trading ring per this many wallets (at least two: one
            NFT ring and one token ring).
        wallets_per_launderer: one peel-chain launderer per this many wallets.
        wallets_per_poisoner: one address-poisoning operation per this many wallets.
        poison_share: share of retail stablecoin transfers to a wallet that get poisoned.
    """

    seed: int = 42
    n_wallets: int = 20_000
    start_date: dt.date = dt.date(2024, 7, 1)
    days: int = 120
    chunk_wallets: int = 25_000
    persona_shares: tuple[tuple[str, float], ...] = DEFAULT_PERSONA_SHARES
    exchange_user_share: float = 0.3
    activity: float = 1.0
    wallets_per_hot_wallet: int = 1_700
    hot_wallets_per_exchange: int = 3
    wallets_per_sybil_farm: int = 5_000
    wallets_per_scam_ring: int = 10_000
    wallets_per_wash_ring: int = 10_000
    wallets_per_launderer: int = 20_000
    wallets_per_poisoner: int = 50_000
    poison_share: float = 0.12

    def __post_init__(self) -> None:
        if self.n_wallets < 200:
            raise ValueError("n_wallets must be at least 200")
        if self.days < 14:
            raise ValueError("days must be at least 14 (airdrops and rugs need time to unfold)")
        if self.chunk_wallets < 100:
            raise ValueError("chunk_wallets must be at least 100")
        names = [p for p, _ in self.persona_shares]
        unknown = set(names) - {p for p, _ in DEFAULT_PERSONA_SHARES}
        if unknown:
            raise ValueError(f"unknown ordinary personas {sorted(unknown)}")
        if any(s < 0 for _, s in self.persona_shares) or sum(s for _, s in self.persona_shares) <= 0:
            raise ValueError("persona shares must be non-negative and not all zero")
        if not 0 <= self.exchange_user_share <= 1 or not 0 <= self.poison_share <= 1:
            raise ValueError("shares must lie in [0, 1]")
        if self.activity <= 0:
            raise ValueError("activity must be positive")

    def per(self, wallets_per_item: int, minimum: int = 1) -> int:
        """How many items at one per `wallets_per_item` wallets, at least `minimum`."""
        return max(minimum, round(self.n_wallets / wallets_per_item))

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.n_wallets / self.chunk_wallets)

    @property
    def n_hot_wallets(self) -> int:
        return self.per(self.wallets_per_hot_wallet, minimum=3)

    @property
    def n_exchanges(self) -> int:
        return max(2, math.ceil(self.n_hot_wallets / self.hot_wallets_per_exchange))

    def shares(self) -> dict[str, float]:
        """Normalized persona shares of ordinary wallets."""
        total = sum(s for _, s in self.persona_shares)
        return {p: s / total for p, s in self.persona_shares}
