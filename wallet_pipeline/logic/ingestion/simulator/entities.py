"""Transactions of the planned cast: deployments, liquidity, exchanges and the planted entities.

Two batches come out. The entity batch holds everything sent by deployers and entity members.
The deferred batch holds what exchange hot wallets and poisoning operators send: those senders
also act inside every wallet chunk, so their transactions are pooled and get nonces only once
all chunks are generated.
"""

from __future__ import annotations

import numpy as np

from wallet_pipeline.logic.ingestion.simulator.actions import (
    GWEI_PER_ETH,
    add_liquidity,
    claim_airdrop,
    disperse_eth,
    nft_mint,
    nft_sale,
    send_eth,
    send_token,
    swap,
)
from wallet_pipeline.logic.ingestion.simulator.batch import FEE_INSTITUTION, M, TxBatch
from wallet_pipeline.logic.ingestion.simulator.chain import DAY, HOUR
from wallet_pipeline.logic.ingestion.simulator.encoding import ZERO_ID
from wallet_pipeline.logic.ingestion.simulator.plans import Launderer, ScamRing, SybilFarm, WashRing
from wallet_pipeline.logic.ingestion.simulator.world import SCAM_BUY_ETH, World

_STREAM_ENTITIES = 2
MINUTE = 60
# Token ids of wash-ring NFTs sit far above those minted by ordinary wallets.
WASH_TOKEN_ID_BASE = 10**12
# Every sybil member receives the same allocation: eligibility was met by the same script.
SYBIL_CLAIM_AIR = 1_250.0


def entity_batches(w: World) -> tuple[TxBatch, TxBatch]:
    """Transactions of deployers and entities, and the deferred hot-wallet transactions they cause."""
    rng = np.random.default_rng([w.seed, _STREAM_ENTITIES])
    b, d = TxBatch(), TxBatch()
    _deployments(w, b, rng)
    proceeds = {ring.entity_id: _scam_ring(w, ring, b, d, rng) for ring in w.scam_rings}
    for farm in w.sybil_farms:
        _sybil_farm(w, farm, b, d, rng)
    for ring in w.wash_rings:
        _wash_ring(w, ring, b, d, rng)
    for lau in w.launderers:
        source_ring = next(r for r in w.scam_rings if r.collector == lau.source)
        _launderer(w, lau, 0.6 * proceeds[source_ring.entity_id], b, rng)
    _exchange_rebalancing(w, d, rng)
    for p in w.poisoners:
        withdraw_eth(w, d, p.operators, np.full(len(p.operators), w.activity_start), 2.0, rng)
    if len(w.secondary_ids):
        _secondary_top_ups(w, d, rng)
    return b, d


def _secondary_top_ups(w: World, d: TxBatch, rng: np.random.Generator) -> None:
    """Main hot wallets refill their exchange's second tier every one to three days."""
    for sid, ex in zip(w.secondary_ids, w.secondary_exchange, strict=True):
        gaps = rng.uniform(1.0, 3.0, w.config.days) * DAY
        ts = (w.activity_start + np.cumsum(gaps) - gaps[0] + rng.uniform(0, DAY)).astype(np.int64)
        ts = ts[ts < w.end_ts]
        hot, idx = w.pick_hot(np.full(len(ts), ex, dtype=np.int64), rng.random(len(ts)))
        send_eth(
            d,
            hot,
            np.full(len(ts), sid),
            ts,
            10 ** rng.uniform(1.5, 2.5, len(ts)),
            w.hot_nonce[idx],
            rng,
            fee_class=FEE_INSTITUTION,
            round_share=1.0,
        )


def nonce_of(w: World, ids: np.ndarray | int) -> np.ndarray:
    """Nonce bases of planned actors."""
    return np.array([w.actor_nonce.get(int(i), 0) for i in np.atleast_1d(ids)], dtype=np.int64)


def withdraw_eth(
    w: World,
    d: TxBatch,
    to: np.ndarray,
    ts: np.ndarray,
    eth: np.ndarray | float,
    rng: np.random.Generator,
    exchange: np.ndarray | int | None = None,
) -> None:
    """Exchange withdrawals: a hot wallet sends ETH to each recipient."""
    to = np.atleast_1d(np.asarray(to, dtype=np.int64))
    if exchange is None:
        exchange = rng.choice(len(w.exchange_names), len(to), p=w.exchange_weight)
    hot, idx = w.pick_hot(np.broadcast_to(exchange, to.shape).astype(np.int64), rng.random(len(to)))
    send_eth(d, hot, to, ts, np.broadcast_to(eth, to.shape), w.hot_nonce[idx], rng, fee_class=FEE_INSTITUTION)


def deposit_and_sweep(
    w: World,
    b: TxBatch,
    sender: np.ndarray,
    deposit: np.ndarray,
    exchange: np.ndarray,
    ts: np.ndarray,
    eth: np.ndarray,
    nonce_base: np.ndarray,
    deposit_nonce: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """ETH to an exchange deposit address, then forwarded (swept) to one of its hot wallets."""
    n = len(ts)
    send_eth(b, sender, deposit, ts, eth, nonce_base, rng)
    hot, _ = w.pick_hot(np.asarray(exchange, dtype=np.int64), rng.random(n))
    sweep_ts = ts + rng.integers(10 * MINUTE, 2 * HOUR, n)
    send_eth(
        b,
        deposit,
        hot,
        sweep_ts,
        np.asarray(eth) * rng.uniform(0.9985, 0.9998, n),
        deposit_nonce,
        rng,
        fee_class=FEE_INSTITUTION,
    )


def _deployments(w: World, b: TxBatch, rng: np.random.Generator) -> None:
    # Contracts from before the window were deployed (and pools filled) by transactions the
    # window does not hold.
    cs = [c for c in w.contracts if not c.pre_window]
    ids = np.array([c.id for c in cs], dtype=np.int64)
    creators = np.array([c.creator for c in cs], dtype=np.int64)
    ts = np.array([c.created_ts for c in cs], dtype=np.int64)
    pos = b.add_txs(
        sender=creators,
        ts=ts,
        to=-1,
        method=M.CREATE,
        created=ids,
        nonce_base=nonce_of(w, creators),
        fee_class=FEE_INSTITUTION,
    )
    # Scam tokens mint their whole supply to the deployer in the constructor.
    for k, c in enumerate(cs):
        if c.kind == "erc20" and c.scam and c.id != w.token_ids[w.FAKE_USDT]:
            tok = w.token_ids.tolist().index(c.id)
            b.add_transfers(
                tx=pos[k],
                seq=0,
                token=c.id,
                frm=ZERO_ID,
                to=c.creator,
                mant=int(c.supply // 10 ** int(w.token_exp_arr[tok])),
                exp=w.token_exp_arr[tok],
            )
    lp = w.liquidity_provider
    lp_nonce = int(nonce_of(w, lp)[0])
    pool_ts = {c.id: c.created_ts for c in cs if c.kind == "pool"}
    for pool, a, other in w.pools:
        contract = w.contracts[w.contract_index[pool]]
        if pool == w.airdrop.pool or contract.entity_id is not None or contract.pre_window:
            continue
        t = pool_ts[pool] + int(rng.integers(5, 40)) * MINUTE
        if other == w.WETH:
            add_liquidity(
                w=w,
                b=b,
                provider=lp,
                token=a,
                eth=float(10 ** rng.uniform(2.5, 3.7)),
                ts=t,
                nonce_base=lp_nonce,
            )
        else:
            usd = float(10 ** rng.uniform(6.5, 7.5))
            pos2 = b.add_txs(
                sender=lp,
                ts=t,
                to=w.router,
                method=M.ADD_LIQUIDITY,
                nonce_base=lp_nonce,
                fee_class=FEE_INSTITUTION,
            )
            for seq, tok in enumerate((a, other)):
                b.add_transfers(
                    tx=pos2,
                    seq=seq,
                    token=w.token_ids[tok],
                    frm=lp,
                    to=pool,
                    mant=w.mantissa(np.array([tok]), np.array([usd])),
                    exp=w.token_exp_arr[tok],
                )
    # The airdrop allocation and the team's liquidity are minted at launch.
    a = w.airdrop
    dep_nonce = int(nonce_of(w, a.deployer)[0])
    air_id = w.token_ids[a.token]
    mint = b.add_txs(
        sender=a.deployer,
        ts=a.launch_ts + 900,
        to=air_id,
        method=M.MINT,
        nonce_base=dep_nonce,
        fee_class=FEE_INSTITUTION,
    )
    for seq, (to, amount) in enumerate(((a.distributor, 150e6), (a.deployer, 20e6))):
        b.add_transfers(
            tx=mint,
            seq=seq,
            token=air_id,
            frm=ZERO_ID,
            to=to,
            mant=w.mantissa(np.array([a.token]), np.array([amount])),
            exp=w.token_exp_arr[a.token],
        )
    add_liquidity(
        w=w, b=b, provider=a.deployer, token=a.token, eth=60.0, ts=a.launch_ts + 1800, nonce_base=dep_nonce
    )


def _scam_ring(w: World, ring: ScamRing, b: TxBatch, d: TxBatch, rng: np.random.Generator) -> float:
    """Launch and rug the ring's tokens; returns the ETH that reached the collector."""
    col_nonce = nonce_of(w, ring.collector)
    first_launch = min(t.created_ts for t in ring.tokens)
    fund_ts = max(w.activity_start + HOUR, first_launch - int(rng.integers(6, 30)) * HOUR)
    withdraw_eth(w, d, np.array([ring.collector]), np.array([fund_ts - 2 * HOUR]), 40.0, rng, ring.exchange)
    deployers = np.array(ring.deployers, dtype=np.int64)
    send_eth(
        b,
        np.full(len(deployers), ring.collector),
        deployers,
        fund_ts + np.sort(rng.integers(0, 2 * HOUR, len(deployers))),
        rng.uniform(3.0, 8.0, len(deployers)),
        col_nonce,
        rng,
        round_share=1.0,
    )
    expected_victims = w.config.n_wallets * w.config.shares().get("retail_trader", 0) * w.scam_victim_rate
    total = 0.0
    for st in ring.tokens:
        dep_nonce = nonce_of(w, st.deployer)
        supply_tokens = w.tokens[st.token].supply / 10**18
        add_liquidity(
            w=w,
            b=b,
            provider=st.deployer,
            token=st.token,
            eth=st.liquidity_eth,
            ts=st.open_ts - 300,
            nonce_base=int(dep_nonce[0]),
            token_amount=supply_tokens * 0.5,
            pool=st.pool,
        )
        take = st.liquidity_eth + expected_victims * SCAM_BUY_ETH * rng.uniform(0.7, 1.1)
        tok_id = w.token_ids[st.token]
        weth, exp_w = w.token_ids[w.WETH], w.token_exp_arr[w.WETH]
        gwei = int(take * GWEI_PER_ETH)
        if st.rug_kind == "pull":
            pos = b.add_txs(
                sender=st.deployer,
                ts=st.rug_ts,
                to=w.router,
                method=M.REMOVE_LIQUIDITY_ETH,
                nonce_base=dep_nonce,
            )
            b.add_transfers(tx=pos, seq=0, token=weth, frm=st.pool, to=w.router, mant=gwei, exp=exp_w)
            b.add_transfers(
                tx=pos,
                seq=1,
                token=tok_id,
                frm=st.pool,
                to=st.deployer,
                mant=w.mantissa(np.array([st.token]), np.array([supply_tokens * 0.45])),
                exp=w.token_exp_arr[st.token],
            )
        else:
            usd = take * float(w.eth_usd(np.array([st.rug_ts]))[0])
            price = usd / (supply_tokens * 0.4)
            swap(
                b,
                w,
                np.array([st.deployer]),
                st.token,
                False,
                np.array([usd]),
                np.array([st.rug_ts]),
                dep_nonce,
                price_usd=np.array([price]),
            )
        total += take * 0.97
        send_eth(
            b,
            np.array([st.deployer]),
            np.array([ring.collector]),
            np.array([st.rug_ts + int(rng.integers(10 * MINUTE, 3 * HOUR))]),
            np.array([take * 0.97]),
            dep_nonce,
            rng,
        )
    # A share is cashed out through the collector's own exchange deposit address.
    last = max(t.rug_ts for t in ring.tokens) + int(rng.integers(2, 12)) * HOUR
    deposit_and_sweep(
        w,
        b,
        np.array([ring.collector]),
        np.array([ring.deposit]),
        np.array([ring.exchange]),
        np.array([last]),
        np.array([0.3 * total]),
        col_nonce,
        nonce_of(w, ring.deposit),
        rng,
    )
    return total


def _sybil_farm(w: World, farm: SybilFarm, b: TxBatch, d: TxBatch, rng: np.random.Generator) -> None:
    members = farm.members
    n = len(members)
    m_nonce = np.zeros(n, dtype=np.int64)
    withdraw_eth(
        w,
        d,
        np.array([farm.funder]),
        np.array([farm.fund_ts - int(rng.integers(1, 4)) * HOUR]),
        n * farm.amount_eth * 1.3,
        rng,
    )
    if farm.topology == "star":
        # Similar amounts to fresh wallets, within a few hours.
        send_eth(
            b,
            np.full(n, farm.funder),
            members,
            farm.fund_ts + np.sort(rng.integers(0, 3 * HOUR, n)),
            farm.amount_eth * rng.uniform(0.985, 1.015, n),
            nonce_of(w, farm.funder),
            rng,
        )
    elif farm.topology == "relay_tree":
        _fund_through_relays(w, farm, b, rng)
    elif farm.topology == "disperse":
        # Scripts split one amount evenly: every member gets the same value, to the gwei.
        disperse_eth(
            b,
            farm.funder,
            w.disperse,
            members,
            farm.fund_ts,
            np.full(n, round(farm.amount_eth, 6)),
            nonce_of(w, farm.funder),
        )
    else:
        _fund_as_chain(w, farm, b, rng)
    a = w.airdrop
    lo, hi = farm.fund_ts + DAY, a.launch_ts - DAY
    if hi <= lo:
        # Only windows under two weeks get here: the farming rounds fit between the funding
        # and the claim window instead of ending a day before the launch.
        lo, hi = farm.fund_ts + 2 * HOUR, a.open_ts - 2 * HOUR
    n_rounds = int(rng.integers(4, 9))
    rounds = np.sort(rng.integers(lo, max(hi, lo + 1), n_rounds))
    for k, t in enumerate(rounds):
        ts = t + rng.integers(0, 90 * MINUTE, n)
        if k % 3 == 2:
            # Some rounds are tiny swaps instead, the same size for every member.
            swap(b, w, members, w.USDC, True, np.full(n, 25.0) * rng.uniform(0.99, 1.01, n), ts, m_nonce)
        else:
            b.add_txs(sender=members, ts=ts, to=a.quest, method=M.QUEST, nonce_base=m_nonce)
    claim_ts = a.open_ts + int(rng.integers(0, 2 * DAY)) + rng.integers(0, 2 * HOUR, n)
    claim_airdrop(b, w, members, np.full(n, SYBIL_CLAIM_AIR), claim_ts, m_nonce)
    sweep_ts = claim_ts + rng.integers(10 * MINUTE, 3 * HOUR, n)
    send_token(
        b, w, members, a.token, np.full(n, farm.collector), np.full(n, SYBIL_CLAIM_AIR), sweep_ts, m_nonce
    )
    eth_ts = sweep_ts + rng.integers(10 * MINUTE, 2 * HOUR, n)
    send_eth(
        b,
        members,
        np.full(n, farm.collector),
        eth_ts,
        farm.amount_eth * 0.7 * rng.uniform(0.97, 1.0, n),
        m_nonce,
        rng,
    )
    col_nonce = nonce_of(w, farm.collector)
    sell_ts = int(eth_ts.max()) + int(rng.integers(2, 24)) * HOUR
    usd = n * SYBIL_CLAIM_AIR * float(w.price(np.array([a.token]), np.array([sell_ts]))[0])
    swap(b, w, np.array([farm.collector]), a.token, False, np.array([usd]), np.array([sell_ts]), col_nonce)
    cash = n * farm.amount_eth * 0.6 + usd / float(w.eth_usd(np.array([sell_ts]))[0])
    deposit_and_sweep(
        w,
        b,
        np.array([farm.collector]),
        np.array([farm.deposit]),
        np.array([farm.exchange]),
        np.array([sell_ts + 3 * HOUR]),
        np.array([cash]),
        col_nonce,
        nonce_of(w, farm.deposit),
        rng,
    )


def _fund_through_relays(w: World, farm: SybilFarm, b: TxBatch, rng: np.random.Generator) -> None:
    """Funder -> relays -> members: each relay seeds its own share of the members."""
    members, relays = farm.members, farm.relays
    relay_of = np.arange(len(members)) % len(relays)
    per_relay = np.bincount(relay_of, minlength=len(relays))
    # After the funder's own withdrawal (an hour or more before fund_ts), as in the star.
    relay_ts = farm.fund_ts + np.sort(rng.integers(0, 2 * HOUR, len(relays)))
    # The funder passes on what the members need plus their gas, the way farm scripts top up.
    send_eth(
        b,
        np.full(len(relays), farm.funder),
        relays,
        relay_ts,
        per_relay * farm.amount_eth * rng.uniform(1.02, 1.05, len(relays)),
        nonce_of(w, farm.funder),
        rng,
    )
    send_eth(
        b,
        relays[relay_of],
        members,
        relay_ts[relay_of] + HOUR + rng.integers(0, 3 * HOUR, len(members)),
        farm.amount_eth * rng.uniform(0.985, 1.015, len(members)),
        0,
        rng,
    )


def _fund_as_chain(w: World, farm: SybilFarm, b: TxBatch, rng: np.random.Generator) -> None:
    """Funder -> member 1 -> member 2 -> ...: each keeps its share and forwards the rest."""
    members = farm.members
    n = len(members)
    # Hops minutes apart: even a 59-member chain is funded before the first farming round a day on.
    hop_ts = farm.fund_ts + np.cumsum(rng.integers(2 * MINUTE, 20 * MINUTE, n))
    # Member i receives what it and every later member need.
    remaining = farm.amount_eth * (n - np.arange(n)) * rng.uniform(1.0, 1.01, n)
    senders = np.r_[farm.funder, members[:-1]].astype(np.int64)
    nonce = np.r_[nonce_of(w, farm.funder), np.zeros(n - 1, dtype=np.int64)]
    send_eth(b, senders, members, hop_ts, remaining, nonce, rng)


def _wash_ring(w: World, ring: WashRing, b: TxBatch, d: TxBatch, rng: np.random.Generator) -> None:
    members = ring.members
    k = len(members)
    nonce = nonce_of(w, members)
    gas_money = ring.size * 1.5 if ring.kind == "nft" else 0.5
    withdraw_eth(w, d, members, ring.start_ts - rng.integers(2 * HOUR, 12 * HOUR, k), gas_money, rng)
    stop = w.at(0.92)
    n_steps = max(4, (stop - ring.start_ts) // ring.interval_s)
    steps = np.arange(n_steps)
    # Coordinated: every hand-over follows the schedule within minutes.
    ts = ring.start_ts + HOUR + steps * ring.interval_s + rng.integers(-10 * MINUTE, 10 * MINUTE, n_steps)
    if ring.kind == "nft":
        token_ids = WASH_TOKEN_ID_BASE + int(ring.entity_id.rsplit("_", 1)[1]) * 10 + np.arange(2)
        nft_mint(b, members[:2], ring.asset, token_ids, 0.05, np.full(2, ring.start_ts), nonce[:2])
        token = steps % 2
        hand = steps // 2
        # Token j starts with member j and moves one member on at each of its sales.
        seller_i = (token + hand) % k
        buyer_i = (token + hand + 1) % k
        price = np.round(ring.size * rng.uniform(0.985, 1.015, n_steps), 3)
        nft_sale(
            b, w, members[buyer_i], members[seller_i], ring.asset, token_ids[token], price, ts, nonce[buyer_i]
        )
    else:
        tok = ring.asset
        usd = ring.size * float(w.price(np.array([tok]), np.array([ring.start_ts]))[0])
        swap(
            b, w, members[:1], tok, True, np.array([usd / (1 - 0.003)]), np.array([ring.start_ts]), nonce[:1]
        )
        seller_i = steps % k
        buyer_i = (steps + 1) % k
        amount = ring.size * rng.uniform(0.99, 1.01, n_steps)
        send_token(b, w, members[seller_i], tok, members[buyer_i], amount, ts, nonce[seller_i])


def _launderer(w: World, lau: Launderer, amount_eth: float, b: TxBatch, rng: np.random.Generator) -> None:
    hops = lau.hops
    t = lau.start_ts
    send_eth(
        b,
        np.array([lau.source]),
        hops[:1],
        np.array([t]),
        np.array([amount_eth]),
        nonce_of(w, lau.source),
        rng,
    )
    balance = amount_eth
    for i, hop in enumerate(hops):
        peel = balance * rng.uniform(0.02, 0.06)
        peel_ts = t + int(rng.integers(5 * MINUTE, 40 * MINUTE))
        kind = i % 4
        one = np.array([hop])
        if kind in (0, 2):
            j = kind // 2
            deposit_and_sweep(
                w,
                b,
                one,
                np.array([lau.deposits[j]]),
                np.array([lau.deposit_exchanges[j]]),
                np.array([peel_ts]),
                np.array([peel]),
                np.zeros(1, dtype=np.int64),
                nonce_of(w, lau.deposits[j]),
                rng,
            )
        elif kind == 1:
            peel = 1.0  # the mixer pool takes fixed 1 ETH notes
            send_eth(
                b,
                one,
                np.array([w.mixer]),
                np.array([peel_ts]),
                np.array([peel]),
                0,
                rng,
                method=M.MIXER_DEPOSIT,
            )
        else:
            send_eth(
                b,
                one,
                np.array([w.bridge]),
                np.array([peel_ts]),
                np.array([peel]),
                0,
                rng,
                method=M.BRIDGE_DEPOSIT,
            )
        forward = max(balance - peel - 0.01, 0.1)
        # Windows under two weeks hurry the chain so that it ends inside them.
        t = peel_ts + int(int(rng.integers(1 * HOUR, 6 * HOUR)) * min(1.0, w.config.days / 14))
        nxt = hops[i + 1] if i + 1 < len(hops) else lau.sink
        send_eth(b, one, np.array([nxt]), np.array([t]), np.array([forward]), 0, rng)
        balance = forward


def _exchange_rebalancing(w: World, d: TxBatch, rng: np.random.Generator) -> None:
    """Daily moves between the hot wallets of one exchange."""
    for hots in w.hot_by_exchange:
        if len(hots) < 2:
            continue
        days = w.config.days
        ts = w.activity_start + np.arange(days) * DAY + rng.integers(0, DAY - 4 * HOUR, days)
        a = rng.integers(0, len(hots), days)
        c = (a + rng.integers(1, len(hots), days)) % len(hots)
        idx = np.array([int(np.flatnonzero(w.hot_ids == h)[0]) for h in hots])
        send_eth(
            d,
            hots[a],
            hots[c],
            ts,
            10 ** rng.uniform(2.0, 3.5, days),
            w.hot_nonce[idx[a]],
            rng,
            fee_class=FEE_INSTITUTION,
            round_share=1.0,
        )
