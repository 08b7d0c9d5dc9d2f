"""Plans of the planted entities: who is in them and when they act.

Planning happens once, inside `World`, because chunks need parts of the plan (the scam tokens'
trading windows, the airdrop's claim window, the poisoners) and because entity members and their
tokens must exist before any transaction refers to them. What the entities then do is in
entities.py.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from wallet_pipeline.logic.ingestion.simulator.chain import DAY, HOUR

if TYPE_CHECKING:
    from wallet_pipeline.logic.ingestion.simulator.world import World


# Latest rug, as a fraction of the window: from 12.5 days on, the planned 1-5 trading days
# always end before it, so only shorter windows are compressed.
RUG_LATEST = 0.9
# Relays of a relay-tree sybil farm (2 to 5).
SYBIL_RELAYS = (2, 6)
_STREAM_TOPOLOGY = 15

SYBIL_DESCRIPTIONS = {
    "star": "One funder seeds fresh wallets that farm the AIR quest and airdrop, then sweep to a collector",
    "relay_tree": (
        "Relay tree: one funder pays a few relay wallets, each relay seeds fresh wallets that farm "
        "the AIR quest and airdrop, then sweep to a collector"
    ),
    "chain": (
        "Funding chain: the funder pays the first fresh wallet, each keeps its share and forwards "
        "the rest to the next; all farm the AIR quest and airdrop, then sweep to a collector"
    ),
    "disperse": (
        "Disperse: one funder pays every fresh wallet in a single call of a Disperse contract "
        "(internal transfers only); all farm the AIR quest and airdrop, then sweep to a collector"
    ),
}


@dataclass
class ScamToken:
    """A rug-pull token: launched, traded by victims between open_ts and rug_ts, then rugged."""

    token: int  # index into World.tokens
    pool: int  # pool contract id
    deployer: int
    created_ts: int
    open_ts: int
    rug_ts: int
    rug_kind: str  # "pull" (remove liquidity) or "dump" (sell the deployer's supply)
    liquidity_eth: float


@dataclass
class ScamRing:
    """Deployers who launch scam tokens and a collector who receives the proceeds."""

    entity_id: str
    deployers: list[int]
    collector: int
    deposit: int
    exchange: int
    start_ts: int
    tokens: list[ScamToken] = field(default_factory=list)


@dataclass
class SybilFarm:
    """A funder, the fresh wallets it seeds to farm the airdrop, and their collector."""

    entity_id: str
    funder: int
    members: np.ndarray
    collector: int
    deposit: int
    exchange: int
    fund_ts: int
    amount_eth: float
    topology: str = "star"
    relays: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


@dataclass
class WashRing:
    """Members that pass one asset around on a schedule."""

    entity_id: str
    kind: str  # "nft" or "token"
    members: np.ndarray
    asset: int  # collection contract id (nft) or token index (token)
    start_ts: int
    interval_s: int
    size: float  # price in ETH (nft) or token amount (token)


@dataclass
class Launderer:
    """A peel chain from a scam collector (source) to a wash-ring member (sink)."""

    entity_id: str
    hops: np.ndarray
    source: int
    sink: int
    start_ts: int
    deposits: list[int]
    deposit_exchanges: list[int]


@dataclass
class Poisoner:
    """Operators that send look-alike transfers, and the deployer of their fake token."""

    entity_id: str
    operators: np.ndarray
    deployer: int


@dataclass
class Airdrop:
    """The AIR protocol: quest contract, token, distributor and claim window."""

    entity_id: str
    deployer: int
    token: int  # index into World.tokens
    distributor: int
    quest: int
    pool: int
    launch_ts: int
    open_ts: int
    close_ts: int


def plan_airdrop(w: World) -> Airdrop:
    """The AIR protocol: a quest contract now, token, distributor and pool at 40% of the window."""
    e = w.new_entity("airdrop_001", "airdrop", False, "AIR protocol: points quest, token and Merkle airdrop")
    dep = w.new_actor("dormant", "deployer", e)
    launch = w.at(0.40)
    quest = w.new_contract("quest", "AIR Points Quest", dep, w.infra_ts(), entity_id=e.entity_id).id
    price = np.full(w.config.days + 1, 0.8) * np.exp(
        np.minimum(0, -0.02 * (np.arange(w.config.days + 1) - 0.4 * w.config.days))
    )
    tok = w.add_token("AIR", "Air Protocol", price, 1_000_000_000 * 10**18, dep, launch, e.entity_id)
    dist = w.new_contract(
        "distributor", "AIR: Merkle Distributor", dep, launch + 600, entity_id=e.entity_id
    ).id
    pool = w.new_pool(tok, w.WETH, dep, launch + 1200, entity_id=e.entity_id)
    w.labels.append((dist, "airdrop", "AIR: Merkle Distributor"))
    return Airdrop(e.entity_id, dep, tok, dist, quest, pool, launch, w.at(0.42), w.at(0.62))


def plan_scam_rings(w: World) -> list[ScamRing]:
    """Rings of deployers whose tokens open, trade for 1-5 days and get rugged."""
    rng = w.rng
    rings: list[ScamRing] = []
    for r in range(w.config.per(w.config.wallets_per_scam_ring)):
        e = w.new_entity(
            f"scam_ring_{r + 1:03d}",
            "scam_ring",
            True,
            "Deployers launch tokens, add liquidity, rug them; proceeds go to one collector",
        )
        collector = w.new_actor("whale", "collector", e)
        deposit = w.new_actor("deposit_address", "deposit_address", e, nonce_base=0)
        exchange = int(rng.choice(len(w.exchange_names), p=w.exchange_weight))
        deployers = [
            w.new_actor("retail_trader", "deployer", e, nonce_base=0) for _ in range(int(rng.integers(2, 4)))
        ]
        ring = ScamRing(
            e.entity_id,
            deployers,
            collector,
            deposit,
            exchange,
            w.at(0.04) + int(rng.integers(0, DAY)),
        )
        for d in deployers:
            for _ in range(int(rng.integers(2, 4))):
                created = w.at(rng.uniform(0.06, 0.5))
                sym = "".join(rng.choice(list(string.ascii_uppercase), 4)) + rng.choice(
                    ["INU", "AI", "PEPE", "X"]
                )
                price = np.full(w.config.days + 1, 1e-7)
                tok = w.add_token(
                    sym,
                    f"{sym} Official",
                    price,
                    1_000_000_000_000 * 10**18,
                    d,
                    created,
                    e.entity_id,
                    scam=True,
                    exp=15,
                )
                pool = w.new_pool(tok, w.WETH, d, created + 120, entity_id=e.entity_id)
                open_ts = created + 600
                rug = open_ts + int(rng.uniform(1.0, 5.0) * DAY)
                if rug > w.at(RUG_LATEST):
                    # Only windows under two weeks get here: the trading days shrink so that
                    # the rug and the cash-out still happen inside the window.
                    rug = max(open_ts + 6 * HOUR, w.at(RUG_LATEST))
                    note = f"{sym} trades only {(rug - open_ts) / DAY:.1f} days to fit the window"
                    w.notes.append(f"{e.entity_id}: {note}")
                    e.description += f"; {note}"
                st = ScamToken(
                    tok,
                    pool,
                    d,
                    created,
                    open_ts,
                    rug,
                    "pull" if rng.random() < 0.5 else "dump",
                    float(rng.uniform(1.0, 6.0)),
                )
                ring.tokens.append(st)
                if rng.random() < 0.5:
                    w.labels.append((w.tokens[tok].id, "scam", f"Fake_Phishing: {sym}"))
        w.labels.append((collector, "scam", f"Scam Collector {r + 1}"))
        w.labels.append((deployers[0], "scam", f"Rug Deployer {r + 1}"))
        rings.append(ring)
    return rings


def plan_sybil_farms(w: World) -> list[SybilFarm]:
    """Farms of fresh wallets seeded by one funder early in the window."""
    rng = w.rng
    farms: list[SybilFarm] = []
    names = [t for t, _ in w.config.sybil_topologies]
    weights = np.array([v for _, v in w.config.sybil_topologies], dtype=np.float64)
    n_farms = w.config.per(w.config.wallets_per_sybil_farm)
    topologies = ["star"] * n_farms
    # Star-only worlds draw nothing here, so the default world keeps its farms.
    topo_rng = np.random.default_rng([w.seed, _STREAM_TOPOLOGY]) if names != ["star"] else None
    if topo_rng is not None:
        # Systematic sampling: every topology with a weight of at least 1/n_farms gets a farm.
        u = (topo_rng.random() + np.arange(n_farms)) / n_farms
        picks = np.searchsorted(np.cumsum(weights) / weights.sum(), u, side="right")
        topologies = [names[min(int(i), len(names) - 1)] for i in topo_rng.permutation(picks)]
    if "disperse" in topologies:
        # One public contract that every disperse farm (and anyone else) calls, as Disperse.app.
        deployer = w.new_actor("dormant", "deployer")
        w.disperse = w.new_contract("disperse", "Disperse", deployer, w.infra_ts()).id
    for f in range(n_farms):
        topology = topologies[f]
        e = w.new_entity(f"sybil_farm_{f + 1:03d}", "sybil_farm", True, SYBIL_DESCRIPTIONS[topology])
        funder = w.new_actor("whale", "funder", e)
        members = np.array(
            [
                w.new_actor("airdrop_farmer", "member", e, nonce_base=0)
                for _ in range(int(rng.integers(20, 60)))
            ],
            dtype=np.int64,
        )
        relays = np.empty(0, dtype=np.int64)
        if topology == "relay_tree" and topo_rng is not None:
            # Relays only pass funds on, once, early: they look like dormant wallets.
            relays = np.array(
                [
                    w.new_actor("dormant", "relay", e, nonce_base=0)
                    for _ in range(int(topo_rng.integers(*SYBIL_RELAYS)))
                ],
                dtype=np.int64,
            )
        collector = w.new_actor("whale", "collector", e)
        deposit = w.new_actor("deposit_address", "deposit_address", e, nonce_base=0)
        exchange = int(rng.choice(len(w.exchange_names), p=w.exchange_weight))
        farms.append(
            SybilFarm(
                e.entity_id,
                funder,
                members,
                collector,
                deposit,
                exchange,
                w.at(rng.uniform(0.03, 0.15)),
                float(rng.choice([0.05, 0.08, 0.1, 0.15])),
                topology,
                relays,
            )
        )
    return farms


def plan_wash_rings(w: World) -> list[WashRing]:
    """Wash rings, alternately trading one NFT collection and one long-tail token."""
    rng = w.rng
    rings: list[WashRing] = []
    for k in range(w.config.per(w.config.wallets_per_wash_ring, minimum=2)):
        kind = "nft" if k % 2 == 0 else "token"
        e = w.new_entity(
            f"wash_ring_{k + 1:03d}",
            "wash_ring",
            True,
            f"Members pass the same {'NFTs' if kind == 'nft' else 'token amount'} "
            "back and forth on a schedule",
        )
        persona = "nft_trader" if kind == "nft" else "retail_trader"
        members = np.array(
            [w.new_actor(persona, "member", e) for _ in range(int(rng.integers(3, 7)))], dtype=np.int64
        )
        if kind == "nft":
            asset = int(w.collection_ids[int(rng.integers(0, len(w.collection_ids)))])
            size = float(np.round(rng.uniform(2.0, 12.0), 2))
        else:
            asset = int(w.longtail[int(rng.integers(0, len(w.longtail)))])
            size = float(np.round(10 ** rng.uniform(4, 6), -2))
        rings.append(
            WashRing(
                e.entity_id,
                kind,
                members,
                asset,
                w.at(rng.uniform(0.08, 0.2)),
                int(rng.uniform(4, 9) * HOUR),
                size,
            )
        )
    return rings


def plan_launderers(w: World) -> list[Launderer]:
    """Peel chains from a scam ring's collector to a wash ring, after the ring's last rug."""
    rng = w.rng
    launderers: list[Launderer] = []
    for k in range(w.config.per(w.config.wallets_per_launderer)):
        e = w.new_entity(
            f"launderer_{k + 1:03d}",
            "launderer",
            True,
            "Peel chain: each hop forwards most of its balance and peels a little off",
        )
        hops = np.array(
            [w.new_actor("whale", "hop", e, nonce_base=0) for _ in range(int(rng.integers(8, 15)))],
            dtype=np.int64,
        )
        for i in (0, len(hops) - 1):
            w.set_role(int(hops[i]), "bridge")
        ring = w.scam_rings[k % len(w.scam_rings)]
        wash = w.wash_rings[k % len(w.wash_rings)]
        last_rug = max(t.rug_ts for t in ring.tokens)
        start = min(last_rug + DAY, w.at(0.75))
        exchanges = [int(x) for x in rng.choice(len(w.exchange_names), 2, p=w.exchange_weight)]
        deposits = [w.new_actor("deposit_address", "deposit_address", e, nonce_base=0) for _ in exchanges]
        launderers.append(
            Launderer(e.entity_id, hops, ring.collector, int(wash.members[0]), start, deposits, exchanges)
        )
    return launderers


def plan_poisoners(w: World) -> list[Poisoner]:
    """Poisoning operations; the first also deploys the fake USDT (registered as w.FAKE_USDT)."""
    poisoners: list[Poisoner] = []
    for k in range(w.config.per(w.config.wallets_per_poisoner)):
        e = w.new_entity(
            f"poisoner_{k + 1:03d}",
            "poisoner",
            True,
            "Address poisoning: zero-value and fake-token transfers from look-alike addresses",
        )
        ops = np.array(
            [w.new_actor("hf_bot", "operator", e, nonce_base=int(w.rng.integers(0, 5000))) for _ in range(2)],
            dtype=np.int64,
        )
        dep = w.new_actor("dormant", "deployer", e)
        poisoners.append(Poisoner(e.entity_id, ops, dep))
        w.labels.append((int(ops[0]), "scam", f"Fake_Phishing{1000 + k}"))
    # One fake stablecoin, named like the real one, carries the tiny-amount variant.
    first = poisoners[0]
    w.FAKE_USDT = w.add_token(
        "USDT",
        "Tether USD",
        np.full(w.config.days + 1, 0.0),
        10**30,
        first.deployer,
        w.infra_ts(),
        first.entity_id,
        scam=True,
        exp=0,
    )
    w.tokens[w.FAKE_USDT].decimals = 6
    return poisoners
