"""Ordinary wallets, generated a chunk at a time, with the deposit addresses of their users.

Ordinary wallets are retail traders, dormant holders, NFT traders, whales and high-frequency bots.

Each wallet gets a persona, a timezone, an active span and an activity level (heavy-tailed), and
then a number of actions of each kind. Human actions fall into sessions in the daytime of the
wallet's timezone, so their inter-arrival times are irregular and bursty; bots act on a clock.
Counterparties are other wallets of the same chunk (chosen by a heavy-tailed popularity), the
shared contracts, and the exchanges' hot wallets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from wallet_pipeline.logic.ingestion.simulator.actions import (
    approve,
    claim_airdrop,
    nft_mint,
    nft_sale,
    send_eth,
    send_token,
    swap,
    swap_stables,
)
from wallet_pipeline.logic.ingestion.simulator.batch import FEE_BOT, FEE_INSTITUTION, M, TxBatch
from wallet_pipeline.logic.ingestion.simulator.chain import DAY, HOUR
from wallet_pipeline.logic.ingestion.simulator.encoding import NS_DEPOSIT, NS_WALLET, lookalike_ids, make_ids
from wallet_pipeline.logic.ingestion.simulator.entities import deposit_and_sweep, nonce_of, withdraw_eth
from wallet_pipeline.logic.ingestion.simulator.truth import entities_table, wallets_table
from wallet_pipeline.logic.ingestion.simulator.variety import pick_secondary
from wallet_pipeline.logic.ingestion.simulator.world import SCAM_BUY_ETH, World

_STREAM_CHUNK = 100
MINUTE = 60
ORDINARY = ("retail_trader", "dormant", "nft_trader", "whale", "hf_bot")
R, D, N, W, B = range(5)

# Expected actions per active day, by persona (retail, dormant, nft, whale, bot). Dormant wallets
# and bots follow their own schedules below.
RATES: dict[str, tuple[float, ...]] = {
    "eth": (0.025, 0, 0.012, 0.02, 0),
    "token": (0.018, 0, 0.006, 0.015, 0),
    "swap": (0.028, 0, 0.012, 0.02, 0),
    "stable": (0.004, 0, 0, 0.005, 0),
    "deposit": (0.010, 0, 0.006, 0.02, 0),
    "withdraw": (0.012, 0, 0.008, 0.01, 0),
    "bridge": (0.002, 0, 0.001, 0.003, 0),
    "mixer": (0.0001, 0, 0, 0, 0),
    "multisig": (0, 0, 0, 0.01, 0),
}
# Median USD size of swaps and token transfers, and median ETH of plain transfers, by persona.
USD_MEDIAN = np.array([300.0, 150.0, 400.0, 150_000.0, 2_000.0])
ETH_MEDIAN = np.array([0.15, 0.08, 0.3, 120.0, 0.1])
# Where wallets are: weights roughly follow Ethereum node and exchange-traffic geography.
TZ_OFFSETS = np.array([-8, -7, -5, -3, 0, 1, 2, 3, 5.5, 7, 8, 9])
TZ_WEIGHTS = np.array([0.08, 0.04, 0.14, 0.05, 0.08, 0.14, 0.08, 0.05, 0.05, 0.06, 0.14, 0.09])
# One in four active wallets appears during the window (first transaction inside it).
FRESH_SHARE = 0.25
AIRDROP_CLAIM_SHARE = 0.18
NFT_TOKENS_PER_TRADER = 2.5
NFT_TOKEN_ID_STRIDE = 1_000_000
# Streams of the structure beyond the default world (one per knob, so each leaves the rest as is).
_STREAM_SHARED_DEPOSIT = 101
_STREAM_SHORT_BOTS = 102
_STREAM_P2P = 103
_STREAM_FAMILY = 104
_STREAM_SECONDARY = 105
_STREAM_CHUNK_LABELS = 106
# Shared deposit addresses serve two to four unrelated customers.
SHARED_DEPOSIT_USERS = (2, 5)
# Short-lived bots: one or two days, 50-150 transactions.
SHORT_BOT_DAYS = (1.0, 2.0)
SHORT_BOT_TXS = (50, 151)
# A paying pair settles about three times a month (rent, salaries, shared costs).
P2P_PAYMENTS_PER_DAY = 0.1
P2P_REVERSE_SHARE = 0.2
# Friends and families: three to six people, each paying someone of the group about weekly.
FAMILY_SIZE = (3, 7)
FAMILY_PAYMENTS_PER_MEMBER_DAY = 0.15
# Share of a wallet's withdrawals that a second-tier hot wallet pays in addition.
SECONDARY_PAYOUT_SHARE = 0.5
# With public_labels: share of bots a public feed tags mev_bot, of deposit addresses cex_deposit.
PUBLIC_BOT_LABEL_SHARE = 0.3
PUBLIC_DEPOSIT_LABEL_SHARE = 0.1


@dataclass
class ChunkResult:
    """Everything one chunk produces."""

    batch: TxBatch
    deferred: TxBatch
    wallets: pa.Table
    entities: pa.Table
    # (address id, label kind, name) of chunk wallets a public label feed tags.
    labels: list[tuple[int, str, str]]


def _lognormal(rng: np.random.Generator, median: np.ndarray | float, sigma: float, n: int) -> np.ndarray:
    return np.asarray(median) * np.exp(sigma * rng.standard_normal(n))


def _first_of_pairs(a: np.ndarray, b: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Positions of the earliest element of each distinct (a, b) pair."""
    if len(a) == 0:
        return np.empty(0, dtype=np.int64)
    order = np.lexsort((ts, b, a))
    first = np.ones(len(a), dtype=bool)
    first[1:] = (a[order][1:] != a[order][:-1]) | (b[order][1:] != b[order][:-1])
    return order[first]


class _Chunk:
    """State shared by the generators of one chunk."""

    def __init__(self, w: World, c: int) -> None:
        cfg = w.config
        self.w, self.c = w, c
        self.lo = c * cfg.chunk_wallets
        self.hi = min(cfg.n_wallets, self.lo + cfg.chunk_wallets)
        n = self.n = self.hi - self.lo
        self.rng = rng = np.random.default_rng([w.seed, _STREAM_CHUNK, c])
        self.ids = make_ids(NS_WALLET, np.arange(self.lo, self.hi))
        shares = cfg.shares()
        p = np.array([shares.get(name, 0.0) for name in ORDINARY])
        self.persona = rng.choice(5, n, p=p / p.sum())
        self.tz = rng.choice(TZ_OFFSETS, n, p=TZ_WEIGHTS / TZ_WEIGHTS.sum())
        self.mult = np.exp(0.95 * rng.standard_normal(n) - 0.45)
        self.b, self.d = TxBatch(), TxBatch()
        self.poison: list[tuple[np.ndarray, ...]] = []
        self.shared_user = np.zeros(0, dtype=bool)
        self.short_bots = np.empty(0, dtype=np.int64)
        self._spans()
        self._exchange_users()

    def _spans(self) -> None:
        w, rng, n, p = self.w, self.rng, self.n, self.persona
        t0, t1 = w.activity_start, w.end_ts
        span = t1 - t0
        self.fresh = np.isin(p, (R, N, W)) & (rng.random(n) < FRESH_SHARE)
        join = np.where(self.fresh, t0 + (rng.uniform(0.02, 0.8, n) * span).astype(np.int64), t0)
        churn = np.isin(p, (R, N)) & (rng.random(n) < 0.15)
        leave = np.where(churn, join + (rng.uniform(0.2, 1.0, n) * (t1 - join)).astype(np.int64), t1)
        leave = np.where(p == D, t0 + (rng.uniform(0.04, 0.18, n) * span).astype(np.int64), leave)
        self.join, self.leave = join, np.maximum(leave, join + HOUR)
        base = np.select(
            [p == B, p == W, p == D],
            [rng.integers(1_000, 300_000, n), _lognormal(rng, 200, 1.0, n), _lognormal(rng, 8, 1.0, n)],
            _lognormal(rng, 30, 1.2, n),
        ).astype(np.int64)
        self.nonce = np.where(self.fresh, 0, base)
        pop = np.where(p == B, 0.0, np.where(p == D, 0.2, 1.0)) * np.exp(1.3 * rng.standard_normal(n))
        self.pop_cdf = np.cumsum(pop) / pop.sum()

    def _exchange_users(self) -> None:
        """Group exchange users' wallets (1-3 per user) behind one deposit address each."""
        w, rng, n = self.w, self.rng, self.n
        n_ex = len(w.exchange_names)
        self.home_ex = rng.choice(n_ex, n, p=w.exchange_weight)
        is_user = (self.persona != B) & (rng.random(n) < w.config.exchange_user_share)
        members = np.flatnonzero(is_user)
        sizes = rng.choice([1, 2, 3], len(members), p=[0.8, 0.15, 0.05])
        sizes = sizes[: np.searchsorted(np.cumsum(sizes), len(members)) + 1]
        user_of = np.repeat(np.arange(len(sizes)), sizes)[: len(members)]
        n_users = int(user_of[-1]) + 1 if len(user_of) else 0
        # user_of is non-decreasing: a user's first wallet is where its run starts.
        first = members[np.flatnonzero(np.r_[True, user_of[1:] != user_of[:-1]])] if n_users else members
        self.user_first = first
        self.user_exchange = self.home_ex[first]
        self.deposit_ids = make_ids(NS_DEPOSIT, self.lo + first)
        self.deposit_nonce = rng.integers(0, 20, n_users)
        self.user = np.full(n, -1, dtype=np.int64)
        self.user[members] = user_of
        if n_users:
            self.home_ex = np.where(
                self.user >= 0, self.user_exchange[np.maximum(self.user, 0)], self.home_ex
            )

    def _drop_idle_users(self, deposits: np.ndarray) -> None:
        """Keep only users who deposit: an unused deposit address never shows on chain."""
        users = self.user >= 0
        per_user = np.bincount(self.user[users], weights=deposits[users], minlength=len(self.user_first))
        keep = per_user > 0
        new_index = np.cumsum(keep) - 1
        self.user = np.where(users & keep[np.maximum(self.user, 0)], new_index[np.maximum(self.user, 0)], -1)
        self.user_first = self.user_first[keep]
        self.user_exchange = self.user_exchange[keep]
        self.deposit_ids = self.deposit_ids[keep]
        self.deposit_nonce = self.deposit_nonce[keep]

    # ----- times -----------------------------------------------------------------------------
    def _build_sessions(self, total: np.ndarray) -> None:
        rng, n = self.rng, self.n
        burst = rng.uniform(1.3, 3.5, n)
        s = np.where(total > 0, np.ceil(total / burst), 0).astype(np.int64)
        owner = np.repeat(np.arange(n), s)
        u = self.join[owner] + (rng.random(len(owner)) * (self.leave - self.join)[owner]).astype(np.int64)
        tz_s = (self.tz[owner] * HOUR).astype(np.int64)
        local_day = (u + tz_s) // DAY * DAY
        # People act in the evening and around midday of their own timezone.
        evening = rng.random(len(owner)) < 0.55
        hour = np.where(evening, rng.normal(20.5, 1.8, len(owner)), rng.normal(13.0, 2.5, len(owner)))
        t = local_day + (np.clip(hour, 7.0, 23.9) * HOUR).astype(np.int64) - tz_s
        self.sess_t = np.clip(t, self.join[owner], self.leave[owner] - MINUTE)
        self.sess_count = s
        self.sess_start = np.cumsum(s) - s

    def times(self, wallets: np.ndarray) -> np.ndarray:
        """A time for each action of `wallets`, inside one of the wallet's sessions."""
        k = self.sess_count[wallets]
        pick = self.sess_start[wallets] + (self.rng.random(len(wallets)) * k).astype(np.int64)
        return self.sess_t[pick] + self.rng.exponential(300.0, len(wallets)).astype(np.int64)

    def peers(self, wallets: np.ndarray) -> np.ndarray:
        """Counterparty wallets, by popularity, never the wallet itself."""
        peer = np.searchsorted(self.pop_cdf, self.rng.random(len(wallets)), side="right")
        peer = np.minimum(peer, self.n - 1)
        return np.where(peer == wallets, (peer + 1) % self.n, peer)

    def usd(self, wallets: np.ndarray, sigma: float = 1.2) -> np.ndarray:
        return np.round(_lognormal(self.rng, USD_MEDIAN[self.persona[wallets]], sigma, len(wallets)), 2)

    # ----- generation ------------------------------------------------------------------------
    def generate(self) -> ChunkResult:
        w, rng, n, p = self.w, self.rng, self.n, self.persona
        days_active = (self.leave - self.join) / DAY
        scale = days_active * self.mult * w.config.activity
        counts = {}
        for kind, rates in RATES.items():
            counts[kind] = rng.poisson(np.asarray(rates)[p] * scale)
        counts["deposit"] = np.where(self.user >= 0, counts["deposit"], 0)
        self._drop_idle_users(counts["deposit"])
        self.shared_user = np.zeros(len(self.user_first), dtype=bool)
        if w.config.shared_deposit_share > 0:
            self._share_deposits()
        dormant = p == D
        k = 1 + rng.binomial(3, 0.35, n)
        kind_of = rng.random(n)
        counts["eth"] = np.where(dormant, np.where(kind_of < 0.45, k, 0), counts["eth"])
        counts["token"] = np.where(
            dormant, np.where((kind_of >= 0.45) & (kind_of < 0.65), k, 0), counts["token"]
        )
        counts["swap"] = np.where(dormant, np.where(kind_of >= 0.65, k, 0), counts["swap"])
        counts["withdraw"] = np.where(dormant, rng.random(n) < 0.6, counts["withdraw"]).astype(np.int64)
        total = sum(counts.values())
        # Every human wallet does something in the window.
        idle = (total == 0) & (p != B)
        counts["swap"] = counts["swap"] + (idle & (p == R))
        counts["eth"] = counts["eth"] + (idle & (p != R))
        total = sum(counts.values())
        self._build_sessions(total)

        self._fund_fresh()
        for kind, fn in (
            ("eth", self._eth),
            ("token", self._tokens),
            ("swap", self._swaps),
            ("stable", self._stables),
            ("deposit", self._deposits),
            ("withdraw", self._withdrawals),
            ("bridge", self._bridge),
            ("mixer", self._mixer),
            ("multisig", self._multisig),
        ):
            wallets = np.repeat(np.arange(n), counts[kind])
            if len(wallets):
                fn(wallets, self.times(wallets))
        self._nft_market()
        self._airdrop_claims()
        self._scam_victims()
        self._bots()
        lookalikes = self._poisoning()
        cfg = w.config
        if cfg.p2p_pair_share > 0:
            self._p2p_pairs()
        if cfg.family_share > 0:
            self._families()
        if cfg.secondary_hot_wallets > 0:
            self._secondary_payouts(counts["withdraw"])
        labels = self._public_labels() if cfg.public_labels else []
        return ChunkResult(self.b, self.d, *self._truth(lookalikes), labels)

    # ----- structure beyond the default world (each behind its knob) ---------------------------
    def _share_deposits(self) -> None:
        """Merge a share of the users of each exchange into groups that use one deposit address.

        The first user's address serves the group; the other users' own addresses then never
        appear. Users stay separate entities; the shared address belongs to the exchange.
        """
        rng = np.random.default_rng([self.w.seed, _STREAM_SHARED_DEPOSIT, self.c])
        chosen = np.flatnonzero(rng.random(len(self.user_first)) < self.w.config.shared_deposit_share)
        chosen = chosen[rng.permutation(len(chosen))]
        for ex in np.unique(self.user_exchange[chosen]):
            users = chosen[self.user_exchange[chosen] == ex]
            i = 0
            while len(users) - i >= 2:
                group = users[i : i + min(int(rng.integers(*SHARED_DEPOSIT_USERS)), len(users) - i)]
                self.deposit_ids[group] = self.deposit_ids[group[0]]
                self.deposit_nonce[group] = self.deposit_nonce[group[0]]
                self.shared_user[group] = True
                i += len(group)

    def _session_times(self, wallets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Like `times`, from another random stream; wallets must have sessions."""
        k = self.sess_count[wallets]
        pick = self.sess_start[wallets] + (rng.random(len(wallets)) * k).astype(np.int64)
        return self.sess_t[pick] + rng.exponential(300.0, len(wallets)).astype(np.int64)

    def _humans(self) -> np.ndarray:
        """Retail, NFT and whale wallets that have sessions to act in, one per owner.

        An exchange user's other wallets are left out, so people paired or grouped by the
        payment structures are always unrelated owners.
        """
        humans = np.flatnonzero(np.isin(self.persona, (R, N, W)) & (self.sess_count > 0))
        owner = np.where(self.user[humans] >= 0, self.user[humans], -1 - humans)
        _, first = np.unique(owner, return_index=True)
        return humans[np.sort(first)]

    def _pay(
        self,
        rng: np.random.Generator,
        sender: np.ndarray,
        receiver: np.ndarray,
        usd: np.ndarray,
        as_eth: np.ndarray,
        ts: np.ndarray,
    ) -> None:
        """Payments between wallets of the chunk: round ETH amounts or round stablecoin amounts."""
        w = self.w
        e = as_eth
        eth = usd[e] / w.eth_usd(ts[e])
        send_eth(
            self.b,
            self.ids[sender[e]],
            self.ids[receiver[e]],
            ts[e],
            eth,
            self.nonce[sender[e]],
            rng,
            round_share=1.0,
        )
        t = ~as_eth
        tok = np.where(rng.random(int(t.sum())) < 0.55, w.USDC, w.USDT)
        amount = np.maximum(np.round(usd[t], -1), 10.0)
        send_token(
            self.b, w, self.ids[sender[t]], tok, self.ids[receiver[t]], amount, ts[t], self.nonce[sender[t]]
        )

    def _p2p_pairs(self) -> None:
        """Unrelated wallets paired by repeated payments (one mostly pays the other)."""
        w, rng = self.w, np.random.default_rng([self.w.seed, _STREAM_P2P, self.c])
        humans = self._humans()
        chosen = rng.permutation(humans[rng.random(len(humans)) < w.config.p2p_pair_share])
        k = len(chosen) // 2
        if k == 0:
            return
        payer, payee = chosen[:k], chosen[k : 2 * k]
        days = (self.leave[payer] - self.join[payer]) / DAY
        n_pay = 2 + rng.poisson(P2P_PAYMENTS_PER_DAY * days * w.config.activity)
        pair = np.repeat(np.arange(k), n_pay)
        reverse = rng.random(len(pair)) < P2P_REVERSE_SHARE
        sender = np.where(reverse, payee[pair], payer[pair])
        receiver = np.where(reverse, payer[pair], payee[pair])
        # The same kind of settlement each time: one asset and a typical amount per pair.
        usd = _lognormal(rng, 250.0, 1.0, k)[pair] * rng.uniform(0.9, 1.1, len(pair))
        as_eth = (rng.random(k) < 0.4)[pair]
        self._pay(rng, sender, receiver, usd, as_eth, self._session_times(sender, rng))

    def _families(self) -> None:
        """Small groups of unrelated owners who pay each other often; not one entity."""
        w, rng = self.w, np.random.default_rng([self.w.seed, _STREAM_FAMILY, self.c])
        humans = self._humans()
        chosen = rng.permutation(humans[rng.random(len(humans)) < w.config.family_share])
        sizes = rng.integers(*FAMILY_SIZE, max(1, len(chosen) // 3))
        sizes = sizes[np.cumsum(sizes) <= len(chosen)]
        if len(sizes) == 0:
            return
        members = chosen[: sizes.sum()]
        group = np.repeat(np.arange(len(sizes)), sizes)
        start = np.cumsum(sizes) - sizes
        days = (self.leave[members] - self.join[members]) / DAY
        n_pay = rng.poisson(FAMILY_PAYMENTS_PER_MEMBER_DAY * days * w.config.activity)
        sender_pos = np.repeat(np.arange(len(members)), n_pay)
        g = group[sender_pos]
        # Anyone else of the group: shift by 1..size-1 inside the group.
        offset = 1 + (rng.random(len(g)) * (sizes[g] - 1)).astype(np.int64)
        rank = sender_pos - start[g]
        receiver_pos = start[g] + (rank + offset) % sizes[g]
        sender, receiver = members[sender_pos], members[receiver_pos]
        usd = _lognormal(rng, 60.0, 0.9, len(sender))
        as_eth = rng.random(len(sender)) < 0.35
        self._pay(rng, sender, receiver, usd, as_eth, self._session_times(sender, rng))

    def _secondary_payouts(self, withdrawals: np.ndarray) -> None:
        """Second-tier hot wallets pay users of their exchange, on top of the main tier."""
        w, rng = self.w, np.random.default_rng([self.w.seed, _STREAM_SECONDARY, self.c])
        wi = np.repeat(np.arange(self.n), rng.binomial(withdrawals, SECONDARY_PAYOUT_SHARE))
        wi = wi[self.sess_count[wi] > 0]
        if len(wi) == 0:
            return
        ts = self._session_times(wi, rng) - rng.integers(2 * MINUTE, 30 * MINUTE, len(wi))
        sid, idx = pick_secondary(w, self.home_ex[wi], rng.random(len(wi)))
        e = rng.random(len(wi)) < 0.6
        send_eth(
            self.d,
            sid[e],
            self.ids[wi[e]],
            ts[e],
            _lognormal(rng, 2 * ETH_MEDIAN[self.persona[wi[e]]], 1.0, int(e.sum())),
            w.secondary_nonce[idx[e]],
            rng,
            fee_class=FEE_INSTITUTION,
        )
        t = ~e
        tok = rng.choice([w.USDT, w.USDC], int(t.sum()), p=[0.55, 0.45])
        send_token(
            self.d,
            w,
            sid[t],
            tok,
            self.ids[wi[t]],
            np.round(self.usd(wi[t]) * 3, 2),
            ts[t],
            w.secondary_nonce[idx[t]],
            fee_class=FEE_INSTITUTION,
        )

    def _public_labels(self) -> list[tuple[int, str, str]]:
        """Labels a public feed has for chunk wallets: some bots (mev_bot), some deposit addresses."""
        rng = np.random.default_rng([self.w.seed, _STREAM_CHUNK_LABELS, self.c])
        bots = self.ids[self.persona == B]
        bots = bots[rng.random(len(bots)) < PUBLIC_BOT_LABEL_SHARE]
        deposits, first = np.unique(self.deposit_ids, return_index=True)
        pick = rng.random(len(deposits)) < PUBLIC_DEPOSIT_LABEL_SHARE
        names = [self.w.exchange_names[int(x)] for x in self.user_exchange[first[pick]]]
        return [(int(b), "mev_bot", f"MEV Bot {k + 1}") for k, b in enumerate(bots)] + [
            (int(d), "deposit", f"{name}: Deposit") for d, name in zip(deposits[pick], names, strict=True)
        ]

    def _fund_fresh(self) -> None:
        w, rng = self.w, self.rng
        fresh = np.flatnonzero(self.fresh)
        ts = self.join[fresh] - rng.integers(5 * MINUTE, HOUR, len(fresh))
        eth = _lognormal(rng, 0.3, 1.0, len(fresh))
        via_peer = rng.random(len(fresh)) < 0.2
        pool = np.flatnonzero(~self.fresh & np.isin(self.persona, (R, W)))
        if len(pool) == 0:
            via_peer[:] = False
            pool = np.zeros(1, dtype=np.int64)
        donors = rng.choice(pool, int(via_peer.sum()))
        send_eth(
            self.b,
            self.ids[donors],
            self.ids[fresh[via_peer]],
            ts[via_peer],
            eth[via_peer],
            self.nonce[donors],
            rng,
            round_share=0.8,
        )
        ex = ~via_peer
        withdraw_eth(w, self.d, self.ids[fresh[ex]], ts[ex], eth[ex], rng, self.home_ex[fresh[ex]])

    def _eth(self, wi: np.ndarray, ts: np.ndarray) -> None:
        to = self.peers(wi)
        eth = _lognormal(self.rng, ETH_MEDIAN[self.persona[wi]], 1.1, len(wi))
        send_eth(self.b, self.ids[wi], self.ids[to], ts, eth, self.nonce[wi], self.rng, round_share=0.6)

    def _tokens(self, wi: np.ndarray, ts: np.ndarray) -> None:
        w = self.w
        tok = self.rng.choice(w.transfer_tokens, len(wi), p=w.transfer_weight)
        amount = self.usd(wi) / w.price(tok, ts)
        to = self.ids[self.peers(wi)]
        send_token(self.b, w, self.ids[wi], tok, to, amount, ts, self.nonce[wi])
        self._poison_candidates(wi, tok, to, amount, ts)

    def _poison_candidates(
        self, wi: np.ndarray, tok: np.ndarray, to: np.ndarray, amount: np.ndarray, ts: np.ndarray
    ) -> None:
        w = self.w
        stable = (tok == w.USDT) | (tok == w.USDC)
        hit = stable & (self.persona[wi] != B) & (self.rng.random(len(wi)) < w.config.poison_share)
        self.poison.append((wi[hit], tok[hit], to[hit], amount[hit], ts[hit]))

    def _swaps(self, wi: np.ndarray, ts: np.ndarray) -> None:
        w, rng = self.w, self.rng
        tok = rng.choice(w.swap_tokens, len(wi), p=w.swap_weight)
        buy = rng.random(len(wi)) < 0.55
        swap(self.b, w, self.ids[wi], tok, buy, self.usd(wi), ts, self.nonce[wi])
        self._approvals(wi[~buy], tok[~buy], ts[~buy])

    def _approvals(self, wi: np.ndarray, tok: np.ndarray, ts: np.ndarray) -> None:
        """Approve the router before a wallet's first sale of each token."""
        first = _first_of_pairs(wi, tok, ts)
        t = ts[first] - self.rng.integers(30, 5 * MINUTE, len(first))
        approve(self.b, self.w.token_ids[tok[first]], self.ids[wi[first]], t, self.nonce[wi[first]])

    def _stables(self, wi: np.ndarray, ts: np.ndarray) -> None:
        w = self.w
        fwd = self.rng.random(len(wi)) < 0.5
        swap_stables(self.b, w, self.ids[wi], self.usd(wi), ts, self.nonce[wi], fwd)
        self._approvals(wi, np.where(fwd, w.USDC, w.USDT), ts)

    def _deposits(self, wi: np.ndarray, ts: np.ndarray) -> None:
        w, rng = self.w, self.rng
        user = self.user[wi]
        dep = self.deposit_ids[user]
        ex = self.user_exchange[user]
        dn = self.deposit_nonce[user]
        as_eth = rng.random(len(wi)) < 0.7
        e = as_eth
        eth = _lognormal(rng, 4 * ETH_MEDIAN[self.persona[wi[e]]], 1.0, int(e.sum()))
        deposit_and_sweep(
            w, self.b, self.ids[wi[e]], dep[e], ex[e], ts[e], eth, self.nonce[wi[e]], dn[e], rng
        )
        t = ~as_eth
        tok = np.where(rng.random(int(t.sum())) < 0.55, w.USDT, w.USDC)
        amount = np.round(self.usd(wi[t]) * 3, 2)
        send_token(self.b, w, self.ids[wi[t]], tok, dep[t], amount, ts[t], self.nonce[wi[t]])
        hot, _ = w.pick_hot(ex[t], rng.random(int(t.sum())))
        sweep_ts = ts[t] + rng.integers(10 * MINUTE, 4 * HOUR, int(t.sum()))
        send_token(self.b, w, dep[t], tok, hot, amount, sweep_ts, dn[t], fee_class=FEE_INSTITUTION)
        self._poison_candidates(wi[t], tok, dep[t], amount, ts[t])

    def _withdrawals(self, wi: np.ndarray, ts: np.ndarray) -> None:
        w, rng = self.w, self.rng
        ts = ts - rng.integers(2 * MINUTE, 30 * MINUTE, len(wi))
        ex = self.home_ex[wi]
        as_eth = rng.random(len(wi)) < 0.6
        e = as_eth
        withdraw_eth(
            w,
            self.d,
            self.ids[wi[e]],
            ts[e],
            _lognormal(rng, 2 * ETH_MEDIAN[self.persona[wi[e]]], 1.0, int(e.sum())),
            rng,
            ex[e],
        )
        t = ~as_eth
        k = int(t.sum())
        tok = rng.choice([w.USDT, w.USDC, w.DAI], k, p=[0.5, 0.4, 0.1])
        hot, idx = w.pick_hot(ex[t], rng.random(k))
        send_token(
            self.d,
            w,
            hot,
            tok,
            self.ids[wi[t]],
            np.round(self.usd(wi[t]) * 3, 2),
            ts[t],
            w.hot_nonce[idx],
            fee_class=FEE_INSTITUTION,
        )

    def _bridge(self, wi: np.ndarray, ts: np.ndarray) -> None:
        eth = _lognormal(self.rng, 2 * ETH_MEDIAN[self.persona[wi]], 1.0, len(wi))
        send_eth(
            self.b,
            self.ids[wi],
            self.w.bridge,
            ts,
            eth,
            self.nonce[wi],
            self.rng,
            method=M.BRIDGE_DEPOSIT,
            round_share=0.7,
        )

    def _mixer(self, wi: np.ndarray, ts: np.ndarray) -> None:
        send_eth(
            self.b,
            self.ids[wi],
            self.w.mixer,
            ts,
            np.ones(len(wi)),
            self.nonce[wi],
            self.rng,
            method=M.MIXER_DEPOSIT,
        )

    def _multisig(self, wi: np.ndarray, ts: np.ndarray) -> None:
        w = self.w
        safe = w.multisigs[self.rng.integers(0, len(w.multisigs), len(wi))]
        eth = _lognormal(self.rng, 300.0, 1.0, len(wi))
        send_eth(
            self.b,
            self.ids[wi],
            safe,
            ts,
            eth,
            self.nonce[wi],
            self.rng,
            method=M.ETH_TO_CONTRACT,
            round_share=0.9,
        )

    def _nft_market(self) -> None:
        """Mint-then-resell chains: each token passes owner to owner, so every seller owns what it sells."""
        w, rng, p = self.w, self.rng, self.persona
        weight = np.where(p == N, 1.0, np.where(p == R, 0.02, 0.0)) * self.mult
        if weight.sum() == 0:
            return
        cdf = np.cumsum(weight) / weight.sum()
        scale = w.config.days / 120 * w.config.activity
        n_tokens = int(round((p == N).sum() * NFT_TOKENS_PER_TRADER * scale))
        if n_tokens == 0:
            return
        coll_i = rng.choice(len(w.collection_ids), n_tokens, p=w.collection_weight)
        coll = w.collection_ids[coll_i]
        floor = w.collection_floor[coll_i]
        token_id = self.c * NFT_TOKEN_ID_STRIDE + np.arange(n_tokens)
        n_sales = np.minimum(rng.geometric(0.35, n_tokens) - 1 + (rng.random(n_tokens) < 0.7), 12)
        n_owners = n_sales + 1
        owner = np.minimum(np.searchsorted(cdf, rng.random(int(n_owners.sum())), side="right"), self.n - 1)
        tok_of = np.repeat(np.arange(n_tokens), n_owners)
        start = np.cumsum(n_owners) - n_owners
        rank = np.arange(len(owner)) - start[tok_of]
        # Nobody buys from themselves: a repeated owner hands over to the next wallet instead.
        same = np.r_[False, (owner[1:] == owner[:-1]) & (rank[1:] > 0)]
        owner = np.where(same, (owner + 1) % self.n, owner)
        span = w.end_ts - w.activity_start
        gap = _lognormal(rng, 4 * DAY * w.config.days / 120, 1.0, len(owner)).astype(np.int64)
        gap[rank == 0] = 0
        mint_ts = w.activity_start + (rng.random(n_tokens) * 0.7 * span).astype(np.int64)
        t = mint_ts[tok_of] + np.cumsum(gap) - (np.cumsum(gap)[start] - gap[start])[tok_of]
        ids = self.ids[owner]
        m = rank == 0
        nft_mint(
            self.b,
            ids[m],
            coll[tok_of[m]],
            token_id[tok_of[m]],
            np.round(floor[tok_of[m]] * rng.uniform(0.1, 0.4, int(m.sum())), 3),
            t[m],
            self.nonce[owner[m]],
        )
        s = ~m
        sellers = np.flatnonzero(s) - 1
        price = np.maximum(
            np.round(floor[tok_of[s]] * np.exp(0.35 * rng.standard_normal(int(s.sum()))), 3), 0.001
        )
        nft_sale(
            self.b,
            w,
            ids[s],
            ids[sellers],
            coll[tok_of[s]],
            token_id[tok_of[s]],
            price,
            t[s],
            self.nonce[owner[s]],
        )
        first = _first_of_pairs(owner[sellers], coll[tok_of[s]], t[s])
        approve(
            self.b,
            coll[tok_of[s]][first],
            ids[sellers][first],
            t[s][first] - rng.integers(10 * MINUTE, HOUR, len(first)),
            self.nonce[owner[sellers][first]],
            method=M.SET_APPROVAL_FOR_ALL,
        )

    def _airdrop_claims(self) -> None:
        w, rng, p = self.w, self.rng, self.persona
        a = w.airdrop
        ok = np.isin(p, (R, N)) & (self.join < a.close_ts - HOUR) & (self.leave > a.open_ts + HOUR)
        ok &= rng.random(self.n) < AIRDROP_CLAIM_SHARE
        wi = np.flatnonzero(ok)
        lo = np.maximum(self.join[wi], a.open_ts)
        hi = np.minimum(self.leave[wi], a.close_ts)
        ts = lo + (rng.random(len(wi)) * (hi - lo)).astype(np.int64)
        amount = rng.choice([400.0, 800.0, 1_600.0, 3_200.0], len(wi), p=[0.5, 0.3, 0.15, 0.05])
        claim_airdrop(self.b, w, self.ids[wi], amount, ts, self.nonce[wi])
        sell = rng.random(len(wi)) < 0.4
        st = ts[sell] + _lognormal(rng, DAY, 1.2, int(sell.sum())).astype(np.int64) + HOUR
        usd = amount[sell] * 0.98 * w.price(np.full(int(sell.sum()), a.token), st)
        approve(
            self.b,
            w.token_ids[a.token],
            self.ids[wi[sell]],
            st - rng.integers(30, 5 * MINUTE, len(st)),
            self.nonce[wi[sell]],
        )
        swap(self.b, w, self.ids[wi[sell]], a.token, False, usd, st, self.nonce[wi[sell]])

    def _scam_victims(self) -> None:
        w, rng = self.w, self.rng
        for st in w.scam_tokens:
            cand = np.flatnonzero((self.persona == R) & (self.join < st.rug_ts) & (self.leave > st.open_ts))
            k = rng.binomial(len(cand), w.scam_victim_rate)
            if k == 0:
                continue
            wi = rng.choice(cand, k, replace=False)
            ts = rng.integers(st.open_ts + MINUTE, st.rug_ts - MINUTE, k)
            eth = _lognormal(rng, SCAM_BUY_ETH * 0.75, 0.8, k)
            swap(self.b, w, self.ids[wi], st.token, True, eth * w.eth_usd(ts), ts, self.nonce[wi])

    def _bots(self) -> None:
        """Bots trade on a clock: a fixed period with small jitter, round the clock, some reverts."""
        w, rng = self.w, self.rng
        bots = np.flatnonzero(self.persona == B)
        if len(bots) == 0:
            return
        span = w.end_ts - w.activity_start
        period = rng.uniform(60, 900, len(bots))
        n_tx = np.clip(
            _lognormal(rng, 450, 0.6, len(bots)) * w.config.activity * w.config.days / 120, 50, 4000
        )
        n_tx = np.minimum(n_tx, 0.95 * span / period).astype(np.int64)
        start = w.activity_start + (rng.random(len(bots)) * (span - n_tx * period)).astype(np.int64)
        if w.config.short_bot_share > 0:
            srng = np.random.default_rng([w.seed, _STREAM_SHORT_BOTS, self.c])
            short = srng.random(len(bots)) < w.config.short_bot_share
            k = int(short.sum())
            duration = srng.uniform(*SHORT_BOT_DAYS, k) * DAY
            n_tx[short] = srng.integers(*SHORT_BOT_TXS, k)
            period[short] = duration / n_tx[short]
            start[short] = w.activity_start + (srng.random(k) * (span - duration)).astype(np.int64)
            self.short_bots = bots[short]
        fail_rate = rng.uniform(0.05, 0.2, len(bots))
        tokens = w.swap_tokens[rng.integers(0, min(6, len(w.swap_tokens)), (len(bots), 2))]
        bi = np.repeat(np.arange(len(bots)), n_tx)
        step = np.arange(len(bi)) - np.repeat(np.cumsum(n_tx) - n_tx, n_tx)
        ts = start[bi] + (step * period[bi] + rng.normal(0, 0.06, len(bi)) * period[bi]).astype(np.int64)
        status = (rng.random(len(bi)) >= fail_rate[bi]).astype(np.int8)
        tok = tokens[bi, rng.integers(0, 2, len(bi))]
        wallet = bots[bi]
        usd = np.round(_lognormal(rng, USD_MEDIAN[B], 0.5, len(bi)), 2)
        swap(
            self.b,
            w,
            self.ids[wallet],
            tok,
            step % 2 == 0,
            usd,
            ts,
            self.nonce[wallet],
            fee_class=FEE_BOT,
            status=status,
        )

    def _poisoning(self) -> np.ndarray:
        """Answer stablecoin transfers with transfers from look-alikes of their recipients.

        Within minutes the victim's history shows a near-copy of an address it trusts.
        """
        w, rng = self.w, self.rng
        parts = [np.concatenate(col) for col in zip(*self.poison, strict=True)] if self.poison else []
        if not parts or len(parts[0]) == 0:
            return np.empty(0, dtype=np.int64)
        wi, tok, target, amount, ts = parts
        k = len(wi)
        look = lookalike_ids(target)
        pz = (target & 0xFFFF) % len(w.poisoners)
        ops = np.stack([pp.operators for pp in w.poisoners])
        op = ops[pz, rng.integers(0, ops.shape[1], k)]
        variant = rng.random(k)
        zero = variant < 0.5
        fake = variant >= 0.75
        token = np.where(fake, w.FAKE_USDT, tok)
        # Zero-value transferFrom on the real token; dust of the real token; or the fake token
        # carrying the victim's own amount.
        value = np.where(zero, 0.0, np.where(fake, amount, rng.integers(1, 100, k) / 1e6))
        send_token(
            self.d,
            w,
            op,
            token,
            self.ids[wi],
            value,
            ts + rng.integers(MINUTE, 30 * MINUTE, k),
            nonce_of(w, op),
            fee_class=FEE_BOT,
            method=M.TRANSFER_FROM,
            frm=look,
        )
        return np.unique(look)

    def _truth(self, lookalikes: np.ndarray) -> tuple[pa.Table, pa.Table]:
        w = self.w
        persona = np.array(ORDINARY, dtype=object)[self.persona]
        users = self.user >= 0
        ent = np.array([f"exchange_user_{self.lo + int(f):09d}" for f in self.user_first], dtype=object)
        entity_id = np.where(users, ent[np.maximum(self.user, 0)] if len(ent) else None, None)
        role = np.where(users, "user", None)
        if len(self.short_bots):
            role[np.isin(np.arange(self.n), self.short_bots)] = "short_lived_bot"
        wallets = wallets_table(
            w.seed,
            self.ids,
            persona,
            entity_id,
            np.where(users, "exchange_user", None),
            role,
        )
        own = ~self.shared_user
        deposits = wallets_table(
            w.seed, self.deposit_ids[own], "deposit_address", ent[own], "exchange_user", "deposit_address"
        )
        if self.shared_user.any():
            # Industry attribution gives a shared deposit address to the exchange.
            shared, first = np.unique(self.deposit_ids[self.shared_user], return_index=True)
            ex = self.user_exchange[self.shared_user][first]
            shared_deposits = wallets_table(
                w.seed,
                shared,
                "deposit_address",
                np.array([w.exchange_entities[int(x)].entity_id for x in ex], dtype=object),
                "exchange",
                "shared_deposit_address",
            )
            deposits = pa.concat_tables([deposits, shared_deposits])
        look_entity = np.array([p.entity_id for p in w.poisoners], dtype=object)
        look_target = lookalikes & ((np.int64(1) << 40) - 1)
        looks = wallets_table(
            w.seed,
            lookalikes,
            # They never send or receive: their only footprint is spoofed transfers out of them,
            # inside transactions the poisoning operator sends. Calling them dormant misleads.
            "poisoning_lookalike",
            look_entity[(look_target & 0xFFFF) % len(w.poisoners)],
            "poisoner",
            "lookalike",
            True,
        )
        n_members = np.bincount(self.user[users], minlength=len(ent)) + own
        names = [w.exchange_names[int(x)] for x in self.user_exchange]
        entities = entities_table(
            ent.tolist(),
            "exchange_user",
            False,
            n_members,
            [
                f"{name} customer: {k - 1} wallet(s) sharing one deposit address"
                if o
                else f"{name} customer: {k} wallet(s); its deposit address is shared with unrelated customers"
                for name, k, o in zip(names, n_members, own, strict=True)
            ],
        )
        return pa.concat_tables([wallets, deposits, looks]), entities


def generate_chunk(w: World, c: int) -> ChunkResult:
    """Transactions, deferred hot-wallet transactions and ground truth of wallet chunk `c`."""
    return _Chunk(w, c).generate()
