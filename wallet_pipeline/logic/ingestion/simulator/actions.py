"""The on-chain actions wallets take, each as one transaction plus the events it emits.

Every function takes arrays (scalars broadcast) and adds one transaction per element to a
`TxBatch`, with the Transfer / Swap / Sale events a real call of that kind emits: a router swap
moves WETH between router and pool and the other token between pool and taker; a marketplace buy
pays ETH to the marketplace and moves the NFT from seller to buyer.
"""

from __future__ import annotations

import numpy as np

from wallet_pipeline.logic.ingestion.simulator.batch import FEE_RETAIL, M, TxBatch
from wallet_pipeline.logic.ingestion.simulator.encoding import ZERO_ID
from wallet_pipeline.logic.ingestion.simulator.world import World

GWEI_PER_ETH = 1_000_000_000
# Uniswap V2 keeps 0.3% of the input.
SWAP_FEE = 0.003


def eth_parts(
    eth: np.ndarray, rng: np.random.Generator, round_share: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Split ETH amounts into (gwei, wei remainder).

    People type round amounts; scripts and balances sweeps carry every digit. A `round_share`
    of the amounts keep three significant digits and no wei remainder.
    """
    eth = np.maximum(np.asarray(eth, dtype=np.float64), 0.0)
    gwei = np.floor(eth * GWEI_PER_ETH).astype(np.int64)
    lo = rng.integers(0, GWEI_PER_ETH, len(gwei))
    if round_share > 0:
        rounded = rng.random(len(gwei)) < round_share
        digits = np.floor(np.log10(np.maximum(gwei, 1))).astype(np.int64)
        step = 10 ** np.maximum(digits - 2, 0)
        gwei = np.where(rounded, (gwei // step) * step, gwei)
        lo = np.where(rounded, 0, lo)
    return gwei, lo


def send_eth(
    b: TxBatch,
    sender: np.ndarray,
    to: np.ndarray,
    ts: np.ndarray,
    eth: np.ndarray,
    nonce_base: np.ndarray | int,
    rng: np.random.Generator,
    *,
    method: M = M.ETH,
    fee_class: int = FEE_RETAIL,
    round_share: float = 0.0,
) -> np.ndarray:
    """Plain ETH transfers (or payable calls with `method`)."""
    gwei, lo = eth_parts(np.broadcast_to(eth, np.broadcast(sender, ts).shape), rng, round_share)
    return b.add_txs(
        sender=sender,
        ts=ts,
        to=to,
        method=method,
        value_gwei=gwei,
        value_lo=lo,
        nonce_base=nonce_base,
        fee_class=fee_class,
    )


def disperse_eth(
    b: TxBatch,
    sender: int,
    contract: int,
    to: np.ndarray,
    ts: int,
    eth: np.ndarray,
    nonce_base: int,
) -> int:
    """One call to a Disperse-style contract that pays every `to` inside the transaction.

    The sender's transaction carries the total; the recipients' ETH arrives only as internal
    calls of the contract (ethereum-etl `traces`), with no transaction of their own. Returns the
    transaction's position.
    """
    gwei = np.floor(np.asarray(eth, dtype=np.float64) * GWEI_PER_ETH).astype(np.int64)
    pos = int(
        b.add_txs(
            sender=np.array([sender]),
            ts=np.array([ts]),
            to=contract,
            method=M.DISPERSE_ETHER,
            value_gwei=int(gwei.sum()),
            nonce_base=nonce_base,
        )[0]
    )
    n = len(gwei)
    b.add_traces(
        tx=pos,
        seq=np.arange(n + 1),
        frm=np.r_[sender, np.full(n, contract)],
        to=np.r_[contract, to],
        value_gwei=np.r_[gwei.sum(), gwei],
    )
    return pos


def send_token(
    b: TxBatch,
    w: World,
    sender: np.ndarray,
    token: np.ndarray,
    to: np.ndarray,
    amount: np.ndarray,
    ts: np.ndarray,
    nonce_base: np.ndarray | int,
    *,
    fee_class: int = FEE_RETAIL,
    method: M = M.TRANSFER,
    frm: np.ndarray | None = None,
) -> np.ndarray:
    """ERC-20 transfer calls (token indexes); the event moves tokens from `frm` (default sender)."""
    token = np.broadcast_to(np.asarray(token, dtype=np.int64), np.broadcast(sender, ts).shape)
    pos = b.add_txs(
        sender=sender, ts=ts, to=w.token_ids[token], method=method, nonce_base=nonce_base, fee_class=fee_class
    )
    b.add_transfers(
        tx=pos,
        seq=0,
        token=w.token_ids[token],
        frm=sender if frm is None else frm,
        to=to,
        mant=w.mantissa(token, np.broadcast_to(amount, pos.shape)),
        exp=w.token_exp_arr[token],
    )
    return pos


def swap(
    b: TxBatch,
    w: World,
    sender: np.ndarray,
    token: np.ndarray,
    buy: np.ndarray,
    usd: np.ndarray,
    ts: np.ndarray,
    nonce_base: np.ndarray | int,
    *,
    fee_class: int = FEE_RETAIL,
    status: np.ndarray | int = 1,
    price_usd: np.ndarray | None = None,
) -> np.ndarray:
    """Router swaps between ETH and a token (token indexes); failed swaps emit no events.

    Args:
        b: batch to add to.
        w: the world (tokens, pools, prices).
        sender: takers.
        token: the non-WETH side of each swap.
        buy: True for ETH -> token, False for token -> ETH.
        usd: trade size in USD.
        ts: times.
        nonce_base: nonce base of each sender.
        fee_class: priority-fee profile.
        status: 1 success, 0 reverted.
        price_usd: token price override (scam tokens have no market price).
    """
    shape = np.broadcast(sender, ts, usd).shape
    token = np.broadcast_to(np.asarray(token, dtype=np.int64), shape)
    buy = np.broadcast_to(np.asarray(buy, dtype=bool), shape)
    status = np.broadcast_to(np.asarray(status, dtype=np.int8), shape)
    usd = np.broadcast_to(np.asarray(usd, dtype=np.float64), shape)
    ts = np.broadcast_to(np.asarray(ts, dtype=np.int64), shape)
    sender = np.broadcast_to(np.asarray(sender, dtype=np.int64), shape)
    eth_usd = w.eth_usd(ts)
    price = w.price(token, ts) if price_usd is None else np.broadcast_to(price_usd, shape)
    eth_in = usd / eth_usd
    gwei_in = np.floor(eth_in * GWEI_PER_ETH).astype(np.int64)
    gwei_out = np.floor(eth_in * (1 - SWAP_FEE) * GWEI_PER_ETH).astype(np.int64)
    tok_amount = usd / price
    tok_in = w.mantissa(token, tok_amount)
    tok_out = w.mantissa(token, tok_amount * (1 - SWAP_FEE))
    method = np.where(buy, M.SWAP_ETH_FOR_TOKENS, M.SWAP_TOKENS_FOR_ETH)
    pos = b.add_txs(
        sender=sender,
        ts=ts,
        to=w.router,
        method=method,
        value_gwei=np.where(buy, gwei_in, 0),
        status=status,
        nonce_base=nonce_base,
        fee_class=fee_class,
    )
    ok = status == 1
    pos, token, buy, sender = pos[ok], token[ok], buy[ok], sender[ok]
    gwei_in, gwei_out, tok_in, tok_out, usd = gwei_in[ok], gwei_out[ok], tok_in[ok], tok_out[ok], usd[ok]
    pool = w.pool_arr[token]
    weth, exp_w = w.token_ids[w.WETH], w.token_exp_arr[w.WETH]
    tok_id, exp_t = w.token_ids[token], w.token_exp_arr[token]
    # Buy: router sends the wrapped ETH to the pool, the pool sends tokens to the taker.
    # Sell: the taker sends tokens to the pool, the pool sends WETH to the router (unwrapped there).
    b.add_transfers(
        tx=pos,
        seq=0,
        token=np.where(buy, weth, tok_id),
        frm=np.where(buy, w.router, sender),
        to=pool,
        mant=np.where(buy, gwei_in, tok_in),
        exp=np.where(buy, exp_w, exp_t),
    )
    b.add_transfers(
        tx=pos,
        seq=1,
        token=np.where(buy, tok_id, weth),
        frm=pool,
        to=np.where(buy, sender, w.router),
        mant=np.where(buy, tok_out, gwei_out),
        exp=np.where(buy, exp_t, exp_w),
    )
    b.add_dex(
        tx=pos,
        seq=2,
        pool=pool,
        bought=np.where(buy, tok_id, weth),
        sold=np.where(buy, weth, tok_id),
        bought_mant=np.where(buy, tok_out, gwei_out),
        bought_exp=np.where(buy, exp_t, exp_w),
        sold_mant=np.where(buy, gwei_in, tok_in),
        sold_exp=np.where(buy, exp_w, exp_t),
        usd=usd,
    )
    return pos


def swap_stables(
    b: TxBatch,
    w: World,
    sender: np.ndarray,
    usd: np.ndarray,
    ts: np.ndarray,
    nonce_base: np.ndarray | int,
    usdc_to_usdt: np.ndarray,
) -> np.ndarray:
    """USDC <-> USDT swaps through the stable pool."""
    shape = np.broadcast(sender, ts, usd).shape
    sender = np.broadcast_to(np.asarray(sender, dtype=np.int64), shape)
    fwd = np.broadcast_to(np.asarray(usdc_to_usdt, dtype=bool), shape)
    sold = np.where(fwd, w.USDC, w.USDT)
    bought = np.where(fwd, w.USDT, w.USDC)
    pos = b.add_txs(sender=sender, ts=ts, to=w.router, method=M.SWAP_TOKENS_FOR_TOKENS, nonce_base=nonce_base)
    amt_in = w.mantissa(sold, usd)
    amt_out = w.mantissa(bought, np.asarray(usd) * (1 - 0.0005))
    pool = w.stable_pool
    b.add_transfers(tx=pos, seq=0, token=w.token_ids[sold], frm=sender, to=pool, mant=amt_in, exp=0)
    b.add_transfers(tx=pos, seq=1, token=w.token_ids[bought], frm=pool, to=sender, mant=amt_out, exp=0)
    b.add_dex(
        tx=pos,
        seq=2,
        pool=pool,
        bought=w.token_ids[bought],
        sold=w.token_ids[sold],
        bought_mant=amt_out,
        bought_exp=0,
        sold_mant=amt_in,
        sold_exp=0,
        usd=usd,
    )
    return pos


def approve(
    b: TxBatch,
    contract: np.ndarray,
    sender: np.ndarray,
    ts: np.ndarray,
    nonce_base: np.ndarray | int,
    method: M = M.APPROVE,
) -> np.ndarray:
    """Approve (or setApprovalForAll) calls: no Transfer event."""
    return b.add_txs(sender=sender, ts=ts, to=contract, method=method, nonce_base=nonce_base)


def nft_sale(
    b: TxBatch,
    w: World,
    buyer: np.ndarray,
    seller: np.ndarray,
    collection: np.ndarray,
    token_id: np.ndarray,
    price_eth: np.ndarray,
    ts: np.ndarray,
    nonce_base: np.ndarray | int,
) -> np.ndarray:
    """Marketplace buys: the buyer pays ETH to the marketplace, the NFT moves seller -> buyer."""
    gwei = np.round(np.asarray(price_eth) * 1000).astype(np.int64) * 1_000_000  # 0.001 ETH ticks
    pos = b.add_txs(
        sender=buyer, ts=ts, to=w.marketplace, method=M.NFT_BUY, value_gwei=gwei, nonce_base=nonce_base
    )
    b.add_transfers(tx=pos, seq=0, token=collection, frm=seller, to=buyer, mant=token_id, exp=0)
    b.add_nft(
        tx=pos,
        seq=1,
        collection=collection,
        token_id=token_id,
        buyer=buyer,
        seller=seller,
        price_gwei=gwei,
        usd=gwei / GWEI_PER_ETH * w.eth_usd(ts),
    )
    return pos


def nft_mint(
    b: TxBatch,
    minter: np.ndarray,
    collection: np.ndarray,
    token_id: np.ndarray,
    price_eth: np.ndarray,
    ts: np.ndarray,
    nonce_base: np.ndarray | int,
) -> np.ndarray:
    """Public mints: ETH to the collection, the NFT from the zero address to the minter."""
    gwei = np.round(np.asarray(price_eth) * 1000).astype(np.int64) * 1_000_000
    pos = b.add_txs(
        sender=minter, ts=ts, to=collection, method=M.NFT_MINT, value_gwei=gwei, nonce_base=nonce_base
    )
    b.add_transfers(tx=pos, seq=0, token=collection, frm=ZERO_ID, to=minter, mant=token_id, exp=0)
    return pos


def claim_airdrop(
    b: TxBatch,
    w: World,
    claimer: np.ndarray,
    amount: np.ndarray,
    ts: np.ndarray,
    nonce_base: np.ndarray | int,
) -> np.ndarray:
    """Merkle-distributor claims: the distributor sends AIR to the claimer."""
    a = w.airdrop
    pos = b.add_txs(sender=claimer, ts=ts, to=a.distributor, method=M.CLAIM, nonce_base=nonce_base)
    b.add_transfers(
        tx=pos,
        seq=0,
        token=w.token_ids[a.token],
        frm=a.distributor,
        to=claimer,
        mant=w.mantissa(np.full(len(pos), a.token), np.broadcast_to(amount, pos.shape)),
        exp=w.token_exp_arr[a.token],
    )
    return pos


def add_liquidity(
    b: TxBatch,
    w: World,
    provider: int,
    token: int,
    eth: float,
    ts: int,
    nonce_base: int,
    token_amount: float | None = None,
    pool: int | None = None,
) -> None:
    """Add liquidity to a token/WETH pool through the router."""
    pool = w.pool_arr[token] if pool is None else pool
    if token_amount is None:
        token_amount = (
            eth * float(w.eth_usd(np.array([ts]))[0]) / float(w.price(np.array([token]), np.array([ts]))[0])
        )
    gwei = int(eth * GWEI_PER_ETH)
    pos = b.add_txs(
        sender=provider,
        ts=ts,
        to=w.router,
        method=M.ADD_LIQUIDITY_ETH,
        value_gwei=gwei,
        nonce_base=nonce_base,
        fee_class=2,
    )
    b.add_transfers(
        tx=pos,
        seq=0,
        token=w.token_ids[token],
        frm=provider,
        to=pool,
        mant=w.mantissa(np.array([token]), np.array([token_amount])),
        exp=w.token_exp_arr[token],
    )
    b.add_transfers(
        tx=pos,
        seq=1,
        token=w.token_ids[w.WETH],
        frm=w.router,
        to=pool,
        mant=gwei,
        exp=w.token_exp_arr[w.WETH],
    )
