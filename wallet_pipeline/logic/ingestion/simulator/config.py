"""Knobs of the chain simulator.

Counts of planted entities and of hot wallets scale with `n_wallets` ("one per N wallets", never
fewer than one), so a small test run holds every kind of structure and a large run keeps the same
proportions.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, fields

# Behaviour classes of ordinary wallets. Mainnet is mostly retail and idle addresses; bots are few
# wallets but many transactions.
DEFAULT_PERSONA_SHARES: tuple[tuple[str, float], ...] = (
    ("retail_trader", 0.555),
    ("dormant", 0.36),
    ("nft_trader", 0.07),
    ("whale", 0.012),
    ("hf_bot", 0.003),
)

# How sybil farms get their funds to the members; docs/simulator.md describes each.
SYBIL_TOPOLOGIES = ("star", "relay_tree", "chain", "disperse")
# A week still holds an airdrop claim window and a rug (compressed); a year bounds the block table.
MIN_DAYS = 7
MAX_DAYS = 366

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

        The knobs below add structure that real chains have and the default world lacks; each is
        off (zero) by default, so the default world stays as it was. docs/simulator.md says what
        each one plants and how `random_world_config` draws it.

        p2p_pair_share: share of retail, NFT and whale wallets paired with an unrelated wallet
            that they pay again and again (ETH or stablecoins).
        family_share: share of retail, NFT and whale wallets in small groups (3-6) of unrelated
            owners who pay each other often: friends and families, not one entity.
        shared_deposit_share: share of exchange users whose deposit address they share with one
            to three unrelated users of the same exchange; the address then belongs to the
            exchange.
        sybil_topologies: (topology, weight) of how sybil farms are funded: "star" (the funder
            pays every member), "relay_tree" (funder -> relays -> members), "chain"
            (funder -> member 1 -> member 2 -> ...) or "disperse" (one call of a Disperse-style
            contract pays every member; the members' ETH is only in the traces).
        short_bot_share: share of hf_bot wallets that run for one or two days only (50-150
            transactions).
        secondary_hot_wallets: hot wallets of a second tier per exchange, topped up by the main
            hot wallets and paying users.
        unlabelled_ring_share: share of scam rings that carry no label at all (wash rings never
            do).
        old_contract_share: share of the infrastructure contracts (popular and long-tail tokens,
            router, pools, marketplace, collections, multisigs, bridge, mixer) created before
            `start_date`: no creating transaction in the window.
        label_drop_share: share of true labels missing from the label feed.
        label_wrong_share: wrong labels added, as a share of the true labels in the feed.
        public_labels: write labels in public vocabularies (Etherscan-like names, `phish-hack`,
            `cex_deposit`, `mev_bot`, ...) instead of the raw label types.
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
    p2p_pair_share: float = 0.0
    family_share: float = 0.0
    shared_deposit_share: float = 0.0
    sybil_topologies: tuple[tuple[str, float], ...] = (("star", 1.0),)
    short_bot_share: float = 0.0
    secondary_hot_wallets: int = 0
    unlabelled_ring_share: float = 0.0
    old_contract_share: float = 0.0
    label_drop_share: float = 0.0
    label_wrong_share: float = 0.0
    public_labels: bool = False

    def __post_init__(self) -> None:
        if self.n_wallets < 200:
            raise ValueError("n_wallets must be at least 200")
        if not MIN_DAYS <= self.days <= MAX_DAYS:
            raise ValueError(
                f"days must be between {MIN_DAYS} and {MAX_DAYS} (a week lets an airdrop and a rug unfold)"
            )
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
        shares = {
            "p2p_pair_share": self.p2p_pair_share,
            "family_share": self.family_share,
            "shared_deposit_share": self.shared_deposit_share,
            "short_bot_share": self.short_bot_share,
            "unlabelled_ring_share": self.unlabelled_ring_share,
            "old_contract_share": self.old_contract_share,
            "label_drop_share": self.label_drop_share,
            "label_wrong_share": self.label_wrong_share,
        }
        bad = [name for name, v in shares.items() if not 0 <= v <= 1]
        if bad:
            raise ValueError(f"{', '.join(bad)} must lie in [0, 1]")
        topologies = dict(self.sybil_topologies)
        if set(topologies) - set(SYBIL_TOPOLOGIES):
            raise ValueError(
                f"unknown sybil topologies {sorted(set(topologies) - set(SYBIL_TOPOLOGIES))}; "
                f"expected some of {SYBIL_TOPOLOGIES}"
            )
        if any(v < 0 for v in topologies.values()) or sum(topologies.values()) <= 0:
            raise ValueError("sybil topology weights must be non-negative and not all zero")
        if not 0 <= self.secondary_hot_wallets <= 10:
            raise ValueError("secondary_hot_wallets must lie between 0 and 10 per exchange")

    def describe(self) -> str:
        """One line: the seed, size and window, then every knob that differs from its default."""
        head = f"seed={self.seed} n_wallets={self.n_wallets} start={self.start_date} days={self.days}"
        parts = [head]
        for f in fields(self):
            if f.name in {"seed", "n_wallets", "start_date", "days", "chunk_wallets"}:
                continue
            value = getattr(self, f.name)
            if value == f.default:
                continue
            if f.name == "persona_shares":
                total = sum(v for _, v in value)
                value = "/".join(f"{p}:{v / total:.3f}" for p, v in value)
            elif f.name == "sybil_topologies":
                total = sum(v for _, v in value)
                value = "/".join(f"{t}:{v / total:.2f}" for t, v in value)
            elif isinstance(value, float):
                value = f"{value:.3g}"
            parts.append(f"{f.name}={value}")
        return " ".join(parts)

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
