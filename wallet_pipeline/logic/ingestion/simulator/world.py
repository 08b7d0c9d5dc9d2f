"""The fixed cast of a simulation: contracts, tokens and prices, exchanges and planted entities.

Everything here is small (hundreds to a few thousand addresses even at a million wallets) and is
planned once from the seed, before any wallet chunk is generated, so that every chunk can refer
to the same router, pools, hot wallets, scam-token windows and airdrop.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from wallet_pipeline.logic.ingestion.simulator.chain import DAY, HOUR, Clock
from wallet_pipeline.logic.ingestion.simulator.config import SimulatorConfig
from wallet_pipeline.logic.ingestion.simulator.encoding import (
    NS_ACTOR,
    NS_CONTRACT,
    NS_HOT,
    code_array,
    make_ids,
)
from wallet_pipeline.logic.ingestion.simulator.plans import (
    plan_airdrop,
    plan_launderers,
    plan_poisoners,
    plan_scam_rings,
    plan_sybil_farms,
    plan_wash_rings,
)
from wallet_pipeline.logic.ingestion.simulator.variety import (
    age_contracts,
    plan_public_labels,
    plan_secondary_hot_wallets,
    strip_ring_labels,
)

# Buyers of each scam token while it trades (whatever the number of wallets: a rug's reach
# does not grow with the sample), and their typical buy in ETH.
SCAM_VICTIMS_PER_TOKEN = 40
SCAM_BUY_ETH = 0.25
_STREAM_WORLD = 1

_ERC20_SIGHASHES = (
    "0x06fdde03,0x095ea7b3,0x18160ddd,0x23b872dd,0x313ce567,0x70a08231,0x95d89b41,0xa9059cbb,0xdd62ed3e"
)
_ERC721_SIGHASHES = (
    "0x01ffc9a7,0x06fdde03,0x081812fc,0x095ea7b3,0x23b872dd,0x42842e0e,0x6352211e,0x70a08231,"
    "0x95d89b41,0xa0712d68,0xa22cb465,0xb88d4fde,0xc87b56dd,0xe985e9c5"
)
SIGHASHES = {
    "erc20": _ERC20_SIGHASHES,
    "erc721": _ERC721_SIGHASHES,
    "router": "0x02751cec,0x18cbafe5,0x38ed1739,0x7ff36ab5,0xad5c4648,0xc45a0155,0xf305d719",
    "pool": "0x022c0d9f,0x0902f1ac,0x0dfe1681,0x6a627842,0x89afcb44,0xa9059cbb,0xd21220a7",
    "marketplace": "0x06fdde03,0x46423aa7,0x87201b41,0xe7acab24,0xed98a574,0xfb0f3ee1",
    "multisig": "0x0d582f13,0x2f54bf6e,0x6a761202,0xa0e67e2b,0xe318b52b,0xf8dc5dd9",
    "distributor": "0x2e7ba6ef,0x2eb4a7ab,0x9e34070f,0xfc0c546a",
    "quest": "0x1249c58b,0x18160ddd,0x70a08231",
    "bridge": "0x1532ec34,0x838b2520,0x9a2ac6d5,0xb1a1a882",
    "mixer": "0x21a0adb6,0x8bca6d16,0xb214faa5,0xe5285dcc",
    # Disperse.app: disperseToken, disperseTokenSimple, disperseEther.
    "disperse": "0x51ba162c,0xc73a2d60,0xe63d38ed",
}
EXCHANGE_NAMES = (
    "Harborex",
    "Kestrel",
    "Coinvault",
    "Meridian",
    "Quarry",
    "Tidepool",
    "Northbit",
    "Lumenex",
    "Basalt",
    "Orchard",
    "Cobalt",
    "Fjordex",
)
_NFT_WORDS_A = ("Bored", "Pixel", "Cosmic", "Lazy", "Neon", "Mutant", "Tiny", "Crypto", "Azure", "Doodle")
_NFT_WORDS_B = ("Apes", "Punks", "Cats", "Kongs", "Frogs", "Wizards", "Bears", "Owls", "Penguins", "Toadz")


@dataclass
class Contract:
    """A contract of the simulation, created by a transaction of `creator` at `created_ts`."""

    id: int
    kind: str
    name: str
    creator: int
    created_ts: int
    symbol: str | None = None
    decimals: int | None = None
    supply: int | None = None
    popular: bool = False
    scam: bool = False
    entity_id: str | None = None
    # Created before the window: no creating transaction, only a block number before it.
    pre_window: bool = False


@dataclass
class TruthRow:
    """One address of ground_truth.wallets, by id."""

    id: int
    persona: str
    entity_id: str | None = None
    entity_type: str | None = None
    role: str | None = None
    is_malicious: bool = False
    is_contract: bool = False


@dataclass
class Entity:
    """One row of ground_truth.entities (n_wallets is counted from the wallets)."""

    entity_id: str
    entity_type: str
    is_malicious: bool
    description: str


class World:
    """Everything planned once per simulation; see the module docstring."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.seed = config.seed
        self.clock = Clock(config.seed, config.start_date, config.days)
        self.rng = np.random.default_rng([config.seed, _STREAM_WORLD])
        self.start_ts = self.clock.start_ts
        self.end_ts = self.clock.end_ts
        self.window = self.end_ts - self.start_ts
        # Infrastructure is deployed in the first two hours; wallets act after it exists.
        self.activity_start = self.start_ts + 3 * HOUR
        self.contracts: list[Contract] = []
        self.truth: list[TruthRow] = []
        self.entities: list[Entity] = []
        self.labels: list[tuple[int, str, str]] = []
        # What a short window could not hold as planned (compressed or skipped), in words.
        self.notes: list[str] = []
        self._n_contracts = 0
        self._n_actors = 0
        self.actor_nonce: dict[int, int] = {}
        # The Disperse contract, deployed only in worlds with a disperse-funded farm.
        self.disperse: int | None = None
        self._build_tokens()
        self._build_dex()
        self._build_nft()
        self._build_services()
        self._build_exchanges()
        self.airdrop = plan_airdrop(self)
        self.scam_rings = plan_scam_rings(self)
        self.scam_tokens = [t for ring in self.scam_rings for t in ring.tokens]
        self.sybil_farms = plan_sybil_farms(self)
        self.wash_rings = plan_wash_rings(self)
        self.launderers = plan_launderers(self)
        self.poisoners = plan_poisoners(self)
        # Structure beyond the default world; each step is a no-op (no random draw) when its
        # knob is off, so the default world is unchanged.
        plan_secondary_hot_wallets(self)
        strip_ring_labels(self)
        age_contracts(self)
        plan_public_labels(self)
        self._finish()

    @property
    def scam_victim_rate(self) -> float:
        """Chance that a retail wallet buys a given scam token."""
        retail = self.config.n_wallets * self.config.shares().get("retail_trader", 0.0)
        return min(1.0, SCAM_VICTIMS_PER_TOKEN / max(retail, 1.0))

    def at(self, fraction: float) -> int:
        """Unix time at a fraction of the window."""
        return self.start_ts + int(fraction * self.window)

    def new_actor(
        self,
        persona: str,
        role: str | None = None,
        entity: Entity | None = None,
        nonce_base: int | None = None,
    ) -> int:
        """Allocate an EOA and its ground-truth row."""
        self._n_actors += 1
        actor = int(make_ids(NS_ACTOR, self._n_actors))
        self.truth.append(
            TruthRow(
                actor,
                persona,
                entity.entity_id if entity else None,
                entity.entity_type if entity else None,
                role,
                entity.is_malicious if entity else False,
            )
        )
        if nonce_base is None:
            nonce_base = int(self.rng.integers(0, 40))
        self.actor_nonce[actor] = nonce_base
        return actor

    def new_contract(self, kind: str, name: str, creator: int, created_ts: int, **kw: object) -> Contract:
        """Allocate a contract created by `creator` at `created_ts`."""
        self._n_contracts += 1
        c = Contract(int(make_ids(NS_CONTRACT, self._n_contracts)), kind, name, creator, created_ts, **kw)  # type: ignore[arg-type]
        self.contracts.append(c)
        return c

    def new_entity(self, entity_id: str, entity_type: str, is_malicious: bool, description: str) -> Entity:
        e = Entity(entity_id, entity_type, is_malicious, description)
        self.entities.append(e)
        return e

    def infra_ts(self, lo: int = 60, hi: int = 2 * HOUR - 600) -> int:
        """A deployment time in the first two hours (tokens before pools, pools before liquidity)."""
        return self.start_ts + int(self.rng.integers(lo, hi))

    # ----- tokens and prices -------------------------------------------------------------------
    def _build_tokens(self) -> None:
        rng = self.rng
        days = self.config.days
        self.tokens: list[Contract] = []
        self.token_exp: list[int] = []
        prices: list[np.ndarray] = []
        eth = 3_400.0 * np.exp(np.cumsum(np.r_[0.0, rng.normal(0.0, 0.03, days)]))
        self.eth_price = eth

        def add(
            symbol: str,
            name: str,
            decimals: int,
            exp: int,
            price: np.ndarray,
            supply: int,
            popular: bool = False,
            scam: bool = False,
            creator: int | None = None,
            ts: int | None = None,
            entity_id: str | None = None,
        ) -> int:
            if creator is None:
                creator = self.new_actor("dormant", "deployer")
            c = self.new_contract(
                "erc20",
                name,
                creator,
                ts if ts is not None else self.infra_ts(60, 40 * 60),
                symbol=symbol,
                decimals=decimals,
                supply=supply,
                popular=popular,
                scam=scam,
                entity_id=entity_id,
            )
            self.tokens.append(c)
            self.token_exp.append(exp)
            prices.append(price)
            return len(self.tokens) - 1

        stable = lambda: 1.0 + rng.normal(0, 0.0008, days + 1)  # noqa: E731
        self.WETH = add("WETH", "Wrapped Ether", 18, 9, eth, 3_000_000 * 10**18, popular=True)
        self.USDC = add("USDC", "USD Coin", 6, 0, stable(), 25_000_000_000 * 10**6, popular=True)
        self.USDT = add("USDT", "Tether USD", 6, 0, stable(), 40_000_000_000 * 10**6, popular=True)
        self.DAI = add("DAI", "Dai Stablecoin", 18, 12, stable(), 4_000_000_000 * 10**18, popular=True)
        n_long = max(6, round(20 * (self.config.n_wallets / 20_000) ** 0.5))
        taken = {"WETH", "USDC", "USDT", "DAI", "AIR"}
        self.longtail: list[int] = []
        for _ in range(n_long):
            while True:
                sym = "".join(rng.choice(list(string.ascii_uppercase), int(rng.integers(3, 6))))
                if sym not in taken:
                    taken.add(sym)
                    break
            p0 = 10 ** rng.uniform(-4, 2)
            series = p0 * np.exp(np.cumsum(np.r_[0.0, rng.normal(0.0, 0.06, days)]))
            exp = 12 if p0 >= 0.01 else 15
            supply = int(10 ** rng.uniform(7, 11)) * 10**18
            self.longtail.append(add(sym, f"{sym.title()} Token", 18, exp, series, supply))
        self._prices = prices

    def _finish_prices(self) -> None:
        self.token_price = np.vstack(self._prices)
        self.token_ids = np.array([t.id for t in self.tokens], dtype=np.int64)
        self.token_exp_arr = np.array(self.token_exp, dtype=np.int64)
        dec = np.array([t.decimals for t in self.tokens], dtype=np.int64)
        self.token_unit = 10.0 ** (dec - self.token_exp_arr)

    def price(self, token: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """USD price of tokens (indexes into tokens) at times."""
        day = np.clip((np.asarray(ts) - self.start_ts) // DAY, 0, self.config.days)
        return self.token_price[np.asarray(token), day]

    def eth_usd(self, ts: np.ndarray) -> np.ndarray:
        """USD per ETH at times."""
        day = np.clip((np.asarray(ts) - self.start_ts) // DAY, 0, self.config.days)
        return self.eth_price[day]

    def mantissa(self, token: np.ndarray, amount: np.ndarray) -> np.ndarray:
        """Token amounts (whole tokens, float) as mantissas of the token's exponent."""
        return np.maximum(np.round(np.asarray(amount) * self.token_unit[np.asarray(token)]), 0).astype(
            np.int64
        )

    # ----- DEX, NFTs, services ------------------------------------------------------------------
    def _build_dex(self) -> None:
        self.dex_deployer = self.new_actor("dormant", "deployer")
        self.router = self.new_contract(
            "router", "Uniswap V2: Router", self.dex_deployer, self.start_ts + 300
        ).id
        self.liquidity_provider = self.new_actor("whale", "liquidity_provider")
        self.pool_of: dict[int, int] = {}
        self.pools: list[tuple[int, int, int]] = []  # (pool id, token a, token b)
        for tok in [self.USDC, self.USDT, self.DAI, *self.longtail]:
            self.new_pool(tok, self.WETH, self.dex_deployer, self.infra_ts(45 * 60, 80 * 60))
        self.stable_pool = self.new_pool(
            self.USDC, self.USDT, self.dex_deployer, self.infra_ts(45 * 60, 80 * 60)
        )

    def new_pool(self, a: int, b: int, creator: int, ts: int, entity_id: str | None = None) -> int:
        name = f"Uniswap V2: {self.tokens[a].symbol}/{self.tokens[b].symbol}"
        pool = self.new_contract("pool", name, creator, ts, entity_id=entity_id).id
        self.pools.append((pool, a, b))
        if b == self.WETH:
            self.pool_of[a] = pool
        return pool

    def _build_nft(self) -> None:
        rng = self.rng
        self.market_deployer = self.new_actor("dormant", "deployer")
        self.marketplace = self.new_contract(
            "marketplace", "OpenSea: Seaport", self.market_deployer, self.infra_ts()
        ).id
        n = max(4, round(15 * (self.config.n_wallets / 20_000) ** 0.5))
        self.collections: list[Contract] = []
        names: set[str] = set()
        for i in range(n):
            name = f"{_NFT_WORDS_A[i % 10]} {_NFT_WORDS_B[(i * 3 + i // 10) % 10]}"
            while name in names:
                name += " II"
            names.add(name)
            sym = "".join(w[0] for w in name.split()).upper() + str(i)
            creator = self.new_actor("dormant", "deployer")
            self.collections.append(
                self.new_contract("erc721", name, creator, self.infra_ts(), symbol=sym, supply=10_000)
            )
        self.collection_ids = np.array([c.id for c in self.collections], dtype=np.int64)
        # Floors from a few hundredths to a few ETH; attention is heavy-tailed across collections.
        self.collection_floor = np.exp(rng.normal(np.log(0.25), 1.0, n))
        w = 1.0 / np.arange(1, n + 1) ** 1.1
        self.collection_weight = w / w.sum()

    def _build_services(self) -> None:
        safe = self.new_actor("dormant", "deployer")
        n_multisig = self.config.per(2_000, minimum=2)
        self.multisigs = np.array(
            [
                self.new_contract("multisig", "Gnosis Safe Proxy", safe, self.infra_ts()).id
                for _ in range(n_multisig)
            ],
            dtype=np.int64,
        )
        bridge_dep = self.new_actor("dormant", "deployer")
        self.bridge = self.new_contract("bridge", "L2 Canonical Bridge", bridge_dep, self.infra_ts()).id
        mixer_dep = self.new_actor("dormant", "deployer")
        self.mixer = self.new_contract("mixer", "Mixer: 1 ETH pool", mixer_dep, self.infra_ts()).id
        self.labels += [
            (self.router, "dex", "Uniswap V2: Router 2"),
            (self.marketplace, "nft_marketplace", "OpenSea: Seaport 1.5"),
            (self.bridge, "bridge", "L2 Canonical Bridge"),
            (self.mixer, "mixer", "Mixer: 1 ETH"),
            (self.mixer, "sanctioned", "OFAC SDN: Mixer"),
        ]
        for pool, a, b in self.pools:
            if self.rng.random() < 0.5:
                self.labels.append(
                    (pool, "dex", f"Uniswap V2: {self.tokens[a].symbol} {self.tokens[b].symbol}")
                )

    def _build_exchanges(self) -> None:
        cfg, rng = self.config, self.rng
        n_ex, n_hot = cfg.n_exchanges, cfg.n_hot_wallets
        self.exchange_names = [
            EXCHANGE_NAMES[i % len(EXCHANGE_NAMES)]
            + ("" if i < len(EXCHANGE_NAMES) else f" {i // len(EXCHANGE_NAMES) + 1}")
            for i in range(n_ex)
        ]
        w = 1.0 / np.arange(1, n_ex + 1) ** 1.0
        self.exchange_weight = w / w.sum()
        self.hot_ids = make_ids(NS_HOT, np.arange(1, n_hot + 1))
        self.hot_exchange = np.arange(n_hot) % n_ex
        self.hot_nonce = rng.integers(100_000, 5_000_000, n_hot)
        self.exchange_entities = [
            self.new_entity(
                f"exchange_{i:03d}", "exchange", False, f"{name}: centralized exchange hot wallets"
            )
            for i, name in enumerate(self.exchange_names)
        ]
        counter = np.zeros(n_ex, dtype=np.int64)
        for k, hot in enumerate(self.hot_ids):
            ex = int(self.hot_exchange[k])
            counter[ex] += 1
            e = self.exchange_entities[ex]
            self.truth.append(TruthRow(int(hot), "exchange", e.entity_id, "exchange", "hot_wallet"))
            # Label sets miss some hot wallets: most, not all, are tagged.
            if rng.random() < 0.85:
                self.labels.append((int(hot), "exchange", f"{self.exchange_names[ex]} {counter[ex]}"))
        self.hot_by_exchange = [self.hot_ids[self.hot_exchange == i] for i in range(n_ex)]

    def pick_hot(self, exchange: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A hot wallet of each exchange (u uniform in [0, 1)); returns (hot ids, hot indexes)."""
        n_ex = len(self.exchange_names)
        per = np.bincount(self.hot_exchange, minlength=n_ex)
        k = np.minimum((u * per[exchange]).astype(np.int64), per[exchange] - 1)
        idx = exchange + k * n_ex
        return self.hot_ids[idx], idx

    # ----- planted entities ---------------------------------------------------------------------
    def add_token(
        self,
        symbol: str,
        name: str,
        price: np.ndarray,
        supply: int,
        creator: int,
        ts: int,
        entity_id: str | None,
        scam: bool = False,
        exp: int = 12,
    ) -> int:
        c = self.new_contract(
            "erc20",
            name,
            creator,
            ts,
            symbol=symbol,
            decimals=18,
            supply=supply,
            scam=scam,
            entity_id=entity_id,
        )
        self.tokens.append(c)
        self.token_exp.append(exp)
        self._prices.append(price)
        return len(self.tokens) - 1

    def set_role(self, actor: int, role: str) -> None:
        for row in reversed(self.truth):
            if row.id == actor:
                row.role = role
                return

    def _finish(self) -> None:
        self._finish_prices()
        self.pool_arr = np.full(len(self.tokens), -1, dtype=np.int64)
        for tok, pool in self.pool_of.items():
            self.pool_arr[tok] = pool
        for c in self.contracts:
            self.truth.append(
                TruthRow(
                    c.id,
                    "contract",
                    c.entity_id,
                    self._entity_type(c.entity_id),
                    c.kind,
                    self._entity_malicious(c.entity_id) if c.entity_id else False,
                    True,
                )
            )
        self.contract_index = {c.id: i for i, c in enumerate(self.contracts)}
        self._sorted_contract_ids = np.array(sorted(self.contract_index), dtype=np.int64)
        self._kind_by_sorted = [
            self.contracts[self.contract_index[int(i)]].kind for i in self._sorted_contract_ids
        ]
        swappable = np.array([not t.scam and i != self.WETH for i, t in enumerate(self.tokens)])
        self.swap_tokens = np.flatnonzero(
            swappable & np.isin(np.arange(len(self.tokens)), list(self.pool_of))
        )
        weights = np.where(
            self.swap_tokens <= self.DAI, 6.0, 1.0 / (1 + np.arange(len(self.swap_tokens))) ** 0.3
        )
        weights[self.swap_tokens == self.airdrop.token] = 0.0  # only claimers sell AIR
        self.swap_weight = weights / weights.sum()
        self.transfer_tokens = np.array([self.USDC, self.USDT, self.DAI, self.WETH, *self.longtail[:5]])
        tw = np.array([0.36, 0.32, 0.1, 0.12, *([0.02] * len(self.longtail[:5]))])
        self.transfer_weight = tw / tw.sum()

    def _entity_type(self, entity_id: str | None) -> str | None:
        return next((e.entity_type for e in self.entities if e.entity_id == entity_id), None)

    def _entity_malicious(self, entity_id: str) -> bool:
        return next((e.is_malicious for e in self.entities if e.entity_id == entity_id), False)

    def creation_metadata(self, ids: np.ndarray) -> dict[str, pa.Array]:
        """Byte code, selectors and standard flags of created contracts."""
        kinds = [self.contracts[self.contract_index[int(i)]].kind for i in ids]
        sizes = np.array([96 if k == "pool" else 160 for k in kinds], dtype=np.int64)
        code = [code_array(self.seed, ids[sizes == s], int(s)) for s in (96, 160)]
        text = np.empty(len(ids), dtype=object)
        for s, arr in zip((96, 160), code, strict=True):
            text[sizes == s] = arr.to_pylist()
        return {
            "bytecode": pa.array(text.tolist(), type=pa.string()),
            "function_sighashes": pa.array([SIGHASHES[k] for k in kinds], type=pa.string()),
            "is_erc20": pa.array([k == "erc20" for k in kinds], type=pa.bool_()),
            "is_erc721": pa.array([k == "erc721" for k in kinds], type=pa.bool_()),
        }
