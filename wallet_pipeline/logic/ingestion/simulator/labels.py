"""The label feed: what a label provider says about the world's addresses.

By default the feed is the partial, correct list the world planned, in the raw label types. The
knobs make it look like the public feeds a user brings: some true labels missing
(`label_drop_share`), some wrong ones (`label_wrong_share`, on ordinary wallets), and the types
and names written in public vocabularies (`public_labels`: Etherscan-like names such as
"Binance 14", types such as `phish-hack`, `heist`, `cex_deposit`, `mev_bot`, `contract`).
`raw_label_types` maps a feed back onto the raw label types for a direct load.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from wallet_pipeline.logic.ingestion.simulator.encoding import NS_WALLET, address_array, make_ids

if TYPE_CHECKING:
    from wallet_pipeline.logic.ingestion.simulator.world import World

LABEL_SOURCE = "simulator"
_STREAM_LABELS = 16

# Label kind (the raw label type the world means) -> how public feeds write it. Kinds with more
# than one spelling get one at random per label: feeds disagree.
PUBLIC_VOCABULARY: dict[str, tuple[str, ...]] = {
    "exchange": ("exchange", "cex", "hot-wallet"),
    "scam": ("phish-hack", "heist", "exploit", "scam", "fake-phishing"),
    "sanctioned": ("ofac", "sanctioned", "blocked"),
    "mixer": ("mixer", "tornado-cash"),
    "bridge": ("bridge", "layer-2"),
    "dex": ("dex", "decentralized-exchange"),
    "nft_marketplace": ("nft-marketplace", "nft_marketplace"),
    "airdrop": ("airdrop", "airdrops"),
    "deposit": ("cex_deposit",),
    "mev_bot": ("mev_bot", "mev-bot"),
    "contract": ("contract", "token-contract"),
}
# Public spelling -> kind.
PUBLIC_KIND = {spelling: kind for kind, spellings in PUBLIC_VOCABULARY.items() for spelling in spellings}
# Etherscan files exchange wallets under real exchange names, numbered ("Binance 14"); the world's
# invented exchanges get one of these each when public_labels is on.
PUBLIC_EXCHANGE_NAMES = (
    "Binance",
    "Coinbase",
    "Kraken",
    "OKX",
    "Bitfinex",
    "KuCoin",
    "Gemini",
    "Bybit",
    "Huobi",
    "Gate.io",
    "Bitstamp",
    "Crypto.com",
)
# Kinds of the wrong labels a noisy feed puts on ordinary wallets.
_WRONG_KINDS = ("exchange", "scam")
_WRONG_KINDS_PUBLIC = ("exchange", "scam", "mev_bot")


def label_feed(w: World, chunk_labels: Iterable[tuple[int, str, str]]) -> pa.Table:
    """The address_labels table of the world: (address, label_type, name, source)."""
    seen: dict[tuple[int, str], str] = {}
    for address, kind, name in (*w.labels, *chunk_labels):
        seen.setdefault((address, kind), name)
    ids = [k[0] for k in seen]
    kinds = [k[1] for k in seen]
    names = list(seen.values())
    cfg = w.config
    if cfg.label_drop_share or cfg.label_wrong_share or cfg.public_labels:
        ids, kinds, names = _noisy(w, ids, kinds, names)
    return pa.table(
        {
            "address": address_array(w.seed, np.array(ids, dtype=np.int64)),
            "label_type": pa.array(kinds, type=pa.string()),
            "name": pa.array(names, type=pa.string()),
            "source": pa.array([LABEL_SOURCE] * len(ids), type=pa.string()),
        }
    )


def _noisy(
    w: World, ids: list[int], kinds: list[str], names: list[str]
) -> tuple[list[int], list[str], list[str]]:
    cfg = w.config
    rng = np.random.default_rng([w.seed, _STREAM_LABELS])
    keep = rng.random(len(ids)) >= cfg.label_drop_share
    ids = [a for a, k in zip(ids, keep, strict=True) if k]
    kinds = [a for a, k in zip(kinds, keep, strict=True) if k]
    names = [a for a, k in zip(names, keep, strict=True) if k]
    n_wrong = int(rng.binomial(len(keep), cfg.label_wrong_share)) if cfg.label_wrong_share else 0
    if n_wrong:
        # Ordinary wallets only: never a planted entity, so unlabelled rings stay unlabelled.
        wrong_ids = make_ids(NS_WALLET, rng.integers(0, cfg.n_wallets, n_wrong))
        pool = _WRONG_KINDS_PUBLIC if cfg.public_labels else _WRONG_KINDS
        wrong_kinds = rng.choice(pool, n_wrong).tolist()
        taken = set(zip(ids, kinds, strict=True))
        for k, (a, kind) in enumerate(zip(wrong_ids.tolist(), wrong_kinds, strict=True)):
            if (a, kind) not in taken:
                taken.add((a, kind))
                ids.append(a)
                kinds.append(kind)
                names.append(_wrong_name(w, kind, k))
    if cfg.public_labels:
        names = _public_names(w, ids, kinds, names)
        kinds = [str(rng.choice(PUBLIC_VOCABULARY[kind])) for kind in kinds]
    return ids, kinds, names


def _wrong_name(w: World, kind: str, k: int) -> str:
    if kind == "exchange":
        return f"{w.exchange_names[k % len(w.exchange_names)]} {100 + k}"
    if kind == "scam":
        return f"Fake_Phishing{5000 + k}"
    return f"MEV Bot {1000 + k}"


def _public_names(w: World, ids: list[int], kinds: list[str], names: list[str]) -> list[str]:
    """Exchange labels named the Etherscan way: a real exchange name and a number."""
    public = {
        name: PUBLIC_EXCHANGE_NAMES[i % len(PUBLIC_EXCHANGE_NAMES)] for i, name in enumerate(w.exchange_names)
    }
    out = []
    for kind, name in zip(kinds, names, strict=True):
        head, _, number = (name or "").rpartition(" ")
        if kind == "exchange" and head in public and number.isdigit():
            # Etherscan numbers an exchange's wallets in the order it found them, well past ours.
            out.append(f"{public[head]} {int(number) + 13}")
        elif kind == "deposit" and name and name.endswith(": Deposit"):
            out.append(f"{public.get(name[: -len(': Deposit')], 'Exchange')}: Deposit")
        else:
            out.append(name)
    return out


def raw_label_types(labels: pa.Table, allowed: Iterable[str]) -> tuple[pa.Array, pa.Array]:
    """(raw label_type, original label_type) of a feed, for a load into raw.address_labels.

    Public spellings map to their kind; a kind the raw contract lacks becomes `other`. The
    original is the spelling as the feed wrote it.
    """
    allowed = set(allowed)
    original = labels["label_type"].to_pylist()
    raw = []
    for t in original:
        kind = t if t in allowed else PUBLIC_KIND.get(t, t)
        raw.append(kind if kind in allowed else "other")
    return pa.array(raw, type=pa.string()), pa.array(original, type=pa.string())
