"""World-level structure beyond the default world.

Second-tier hot wallets, rings without labels, contracts older than the window, and the extra
labels public feeds carry.

Each step is a no-op that draws nothing when its knob is off, and each draws from its own random
stream when on, so switching one knob on leaves every other part of the world as it was.
docs/simulator.md ("Worlds we did not tune to") says what each plants.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from wallet_pipeline.logic.ingestion.simulator.chain import DAY
from wallet_pipeline.logic.ingestion.simulator.encoding import NS_HOT, make_ids

if TYPE_CHECKING:
    from wallet_pipeline.logic.ingestion.simulator.world import World

_STREAM_SECONDARY = 11
_STREAM_UNLABELLED = 12
_STREAM_OLD = 13
_STREAM_PUBLIC = 14
# Label sets know the main hot wallets of an exchange far better than its second tier.
SECONDARY_LABEL_SHARE = 0.3
# Contracts that a real export's window usually finds already deployed: mainnet's popular tokens,
# routers and marketplaces are years old. Entity contracts (scam tokens, the airdrop) stay inside.
OLD_KINDS = frozenset(
    {"erc20", "router", "pool", "marketplace", "erc721", "multisig", "bridge", "mixer", "disperse"}
)
# How long before the window an old contract was created: from a week to about four years.
OLD_AGE_DAYS = (7.0, 1_500.0)
# Public feeds tag plain contracts and tokens with a bare "contract" label (Etherscan's token and
# contract pages); a share of the unlabelled infrastructure gets one when public_labels is on.
PUBLIC_CONTRACT_LABEL_SHARE = 0.3


def plan_secondary_hot_wallets(w: World) -> None:
    """A second tier of `secondary_hot_wallets` hot wallets per exchange (none by default).

    Sets `w.secondary_ids`, `w.secondary_exchange` (exchange index of each) and
    `w.secondary_nonce`. The main hot wallets top them up (entities.py) and they pay users
    (behaviours.py).
    """
    from wallet_pipeline.logic.ingestion.simulator.world import TruthRow

    k = w.config.secondary_hot_wallets
    n_ex = len(w.exchange_names)
    w.secondary_exchange = np.repeat(np.arange(n_ex, dtype=np.int64), k)
    w.secondary_ids = make_ids(NS_HOT, len(w.hot_ids) + 1 + np.arange(n_ex * k, dtype=np.int64))
    if k == 0:
        w.secondary_nonce = np.empty(0, dtype=np.int64)
        return
    rng = np.random.default_rng([w.seed, _STREAM_SECONDARY])
    w.secondary_nonce = rng.integers(10_000, 1_000_000, n_ex * k)
    main_per_exchange = np.bincount(w.hot_exchange, minlength=n_ex)
    for j, (sid, ex) in enumerate(zip(w.secondary_ids, w.secondary_exchange, strict=True)):
        e = w.exchange_entities[int(ex)]
        w.truth.append(TruthRow(int(sid), "exchange", e.entity_id, "exchange", "secondary_hot_wallet"))
        if rng.random() < SECONDARY_LABEL_SHARE:
            number = int(main_per_exchange[ex]) + 1 + j % k
            w.labels.append((int(sid), "exchange", f"{w.exchange_names[int(ex)]} {number}"))


def pick_secondary(w: World, exchange: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A second-tier hot wallet of each exchange (u uniform in [0, 1)); returns (ids, indexes)."""
    k = w.config.secondary_hot_wallets
    idx = np.asarray(exchange, dtype=np.int64) * k + np.minimum((np.asarray(u) * k).astype(np.int64), k - 1)
    return w.secondary_ids[idx], idx


def strip_ring_labels(w: World) -> None:
    """Remove every label of a share of the scam rings; record which entities carry none.

    `w.unlabelled_entities` lists them, wash rings included (they never carry a label), so the
    noisy label feed can keep its wrong labels off them too.
    """
    w.unlabelled_entities = {r.entity_id for r in w.wash_rings}
    share = w.config.unlabelled_ring_share
    if share == 0:
        return
    rng = np.random.default_rng([w.seed, _STREAM_UNLABELLED])
    for ring in w.scam_rings:
        if rng.random() >= share:
            continue
        members = {ring.collector, ring.deposit, *ring.deployers}
        members |= {int(w.tokens[t.token].id) for t in ring.tokens} | {t.pool for t in ring.tokens}
        w.labels = [label for label in w.labels if label[0] not in members]
        w.unlabelled_entities.add(ring.entity_id)
        entity = next(e for e in w.entities if e.entity_id == ring.entity_id)
        entity.description += "; no address of the ring carries a label"


def age_contracts(w: World) -> None:
    """Move a share of the infrastructure contracts to before the window (pre_window)."""
    share = w.config.old_contract_share
    if share == 0:
        return
    rng = np.random.default_rng([w.seed, _STREAM_OLD])
    pool_tokens = {pool: (w.tokens[a], w.tokens[b]) for pool, a, b in w.pools}
    n_old = 0
    # Tokens come before their pools in w.contracts: a pool is old only if both its tokens are.
    for c in w.contracts:
        draw = rng.random()
        if c.kind == "pool" and not all(t.pre_window for t in pool_tokens[c.id]):
            continue
        if c.entity_id is None and c.kind in OLD_KINDS and draw < share:
            c.pre_window = True
            c.created_ts = w.start_ts - int(rng.uniform(*OLD_AGE_DAYS) * DAY)
            n_old += 1
    w.notes.append(f"{n_old} of {len(w.contracts)} contracts were created before the window")


def plan_public_labels(w: World) -> None:
    """With public_labels, tag a share of the unlabelled infrastructure as plain `contract`."""
    if not w.config.public_labels:
        return
    rng = np.random.default_rng([w.seed, _STREAM_PUBLIC])
    labelled = {label[0] for label in w.labels}
    for c in w.contracts:
        if c.entity_id is None and c.id not in labelled and rng.random() < PUBLIC_CONTRACT_LABEL_SHARE:
            w.labels.append((c.id, "contract", c.name))
