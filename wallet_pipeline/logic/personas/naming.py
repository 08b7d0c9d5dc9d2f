"""Names from what clusters are, and names kept across retrains.

A cluster's profile is, for every numeric column of the training table (not only the model's
features), its median in original units, the population percentile of that median among the
modelled wallets, and the share of its wallets with a non-zero value. The vocabulary below is
checked in order; the first entry whose test passes names the cluster, and a cluster that passes
none is "Mixed". A test whose columns the table lacks is skipped. Several clusters may get the same
name; the persona is the name, so their probabilities add up.

After a retrain with a previous model, each new cluster looks at the personas the previous model
gave its wallets (the same training wallets; those a rule named are left out): when one persona
holds at least `min_overlap` of the cluster's wallets, the cluster takes that name. Personas,
not the previous model's clusters: the previous model served the persona (an ensemble's vote,
section 5 of docs/personas.md), and several clusters may carry one name.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from wallet_pipeline.logic.personas.descriptive import descriptive_names, unique_names
from wallet_pipeline.logic.personas.population import (
    DEPOSIT_FORWARDER,
    DEPOSIT_MAX_FRIEND_COLLECTOR_SHARE,
    DORMANT,
    SWAP_COLUMNS,
    TRADE_SIZE_COLUMN,
    passes_on_value,
    sweeps_to_collector,
)

# What the vocabulary returns for a cluster no entry fits; never served (describe_unfit).
MIXED = "Mixed"


class Profile:
    """Percentile (`pct`), non-zero share (`nz`) and median (`med`) of one cluster."""

    def __init__(self, pct: pd.Series, nz: pd.Series, pop_nz: pd.Series, med: pd.Series) -> None:
        self.pct_, self.nz_, self.pop_nz_, self.med_ = pct, nz, pop_nz, med

    def has(self, *cols: str) -> bool:
        return all(c in self.pct_.index for c in cols)

    def pct(self, col: str) -> float:
        return float(self.pct_[col])

    def nz(self, col: str) -> float:
        return float(self.nz_[col])

    def lift(self, col: str) -> float:
        """Non-zero share in the cluster over non-zero share in the population."""
        return float(self.nz_[col] / max(self.pop_nz_[col], 1e-9))

    def med(self, col: str) -> float:
        return float(self.med_[col])


def _exchange(p: Profile) -> bool:
    return p.pct("received_tx_count") >= 0.995 and p.pct("unique_counterparties") >= 0.995


def _bot(p: Profile) -> bool:
    return p.pct("tx_count") >= 0.98 and p.pct("max_tx_per_hour") >= 0.98


def _whale(p: Profile) -> bool:
    received = p.pct("eth_received") if p.has("eth_received") else 0.0
    return max(p.pct("eth_sent"), received) >= 0.95


# NFT trades per transaction sent from which activity is NFT trading (a quarter of it).
NFT_MIN_TRADE_SHARE = 0.25
NFT_TRADER, RETAIL_TRADER, WHALE = "NFT Trader", "Active Retail Trader", "Whale"


def _nft(p: Profile) -> bool:
    if p.nz("nft_transfers") < 0.6 or p.lift("nft_transfers") < 2:
        return False
    # A retail wallet that bought one NFT holds NFT transfers too; a trader's activity is mostly NFTs.
    return not p.has("nft_trade_share") or p.med("nft_trade_share") >= NFT_MIN_TRADE_SHARE


# Share of a wallet's inflows sent on to an externally owned address within 6 h (docs/personas_features.md);
# the first of these columns the table has names deposit forwarders, else the ETH out/in ratio does.
FORWARD_SHARE_COLUMNS = ("forwarded_to_eoa_6h_share", "forwarded_eoa_6h_share")


def _forwarder(p: Profile) -> bool:
    # Some users of a deposit address also trade; most of the cluster must not.
    if p.nz("dex_trades") > 0.25 or p.nz("nft_transfers") > 0.25:
        return False
    share = next((c for c in FORWARD_SHARE_COLUMNS if p.has(c)), None)
    if share is not None:
        return p.med(share) >= 0.8
    return p.has("forward_ratio") and p.med("forward_ratio") >= 0.8


def _farmer(p: Profile) -> bool:
    return (
        p.pct("hour_of_day_entropy") <= 0.2
        and p.nz("unique_contracts_called") >= 0.9
        and p.pct("tx_count") >= 0.5
        and p.pct("days_since_last_active") < 0.65
    )


def _dormant(p: Profile) -> bool:
    return p.pct("days_since_last_active") >= 0.65


def _retail(p: Profile) -> bool:
    # Dormant Holder is tested first (or given by rule), so what reaches here is recent enough.
    sends_eth = p.has("eth_sent") and p.nz("eth_sent") >= 0.5
    return p.nz("dex_trades") >= 0.3 or p.pct("tx_count") >= 0.5 or sends_eth


# (name, columns the test needs, test), checked in this order.
VOCABULARY: list[tuple[str, tuple[str, ...], Callable[[Profile], bool]]] = [
    ("Institutional / Exchange", ("received_tx_count", "unique_counterparties"), _exchange),
    ("High-Frequency Bot", ("tx_count", "max_tx_per_hour"), _bot),
    (WHALE, ("eth_sent",), _whale),
    (NFT_TRADER, ("nft_transfers",), _nft),
    (DEPOSIT_FORWARDER, ("dex_trades", "nft_transfers"), _forwarder),
    (
        "Airdrop Farmer",
        ("hour_of_day_entropy", "unique_contracts_called", "tx_count", "days_since_last_active"),
        _farmer,
    ),
    ("Dormant Holder", ("days_since_last_active",), _dormant),
    (RETAIL_TRADER, ("dex_trades", "tx_count"), _retail),
]


def _with_derived(raw: pd.DataFrame) -> pd.DataFrame:
    out = raw.copy()
    if {"eth_sent", "eth_received"} <= set(out.columns):
        out["forward_ratio"] = (out["eth_sent"] / out["eth_received"].where(out["eth_received"] > 0)).fillna(
            0
        )
    return out


def profiles(raw: pd.DataFrame, labels: np.ndarray, k: int) -> pd.DataFrame:
    """One row per (cluster, column): median, population percentile of the median, non-zero share."""
    raw = _with_derived(raw)
    labels = np.asarray(labels)
    values = raw.to_numpy(dtype=float)
    m = values.shape[1]
    # Every cluster's medians and non-zero shares in one grouped pass over the table (pandas skips
    # NaN as np.median of the non-NaN values did): the profiles of an ensemble's fits are taken
    # many times, and a loop over clusters and columns took 12.5 s of a 1,000,000-row training.
    member = (labels >= 0) & (labels < k)
    nonzero = np.nan_to_num(values) != 0
    grouped = pd.DataFrame(values[member]).groupby(labels[member])
    med = grouped.median().reindex(range(k)).to_numpy(dtype=float).reshape(k, m)
    size = np.bincount(labels[member], minlength=k)[:k]
    nz = pd.DataFrame(nonzero[member]).groupby(labels[member]).mean().reindex(range(k))
    nz = nz.to_numpy(dtype=float).reshape(k, m)
    pct = np.full((k, m), np.nan)
    for j in range(m):
        # The population sorted once per column: a percentile is two binary searches.
        pop = np.sort(values[~np.isnan(values[:, j]), j])
        known = ~np.isnan(med[:, j])
        if len(pop) and known.any():
            below = np.searchsorted(pop, med[known, j], "left")
            upto = np.searchsorted(pop, med[known, j], "right")
            pct[known, j] = (below + 0.5 * (upto - below)) / len(pop)
    pop_nz = nonzero.mean(0) if len(values) else np.full(m, np.nan)
    return pd.DataFrame(
        {
            "cluster": np.repeat(np.arange(k), m),
            "column": np.tile(np.asarray(raw.columns, dtype=object), k),
            "size": np.repeat(size, m).astype(int),
            "median": med.ravel(),
            "percentile": pct.ravel(),
            "nonzero_share": nz.ravel(),
            "population_nonzero_share": np.tile(pop_nz, k),
        }
    )


def name_cluster(profile: pd.DataFrame, skip: tuple[str, ...] = ()) -> str:
    """The first vocabulary name (not in `skip`) whose test passes for one cluster's profile, else Mixed."""
    p = profile.set_index("column")
    prof = Profile(
        p["percentile"].fillna(0.5), p["nonzero_share"], p["population_nonzero_share"], p["median"].fillna(0)
    )
    for name, cols, test in VOCABULARY:
        if name not in skip and prof.has(*cols) and test(prof):
            return name
    return MIXED


def name_clusters(profile_table: pd.DataFrame, k: int, skip: tuple[str, ...] = ()) -> list[str]:
    """Vocabulary name of each cluster 0..k-1; names in `skip` are given by rule, never to a cluster."""
    return [name_cluster(profile_table[profile_table["cluster"] == c], skip) for c in range(k)]


def inherit_names(
    names: list[str],
    labels: np.ndarray,
    previous_personas: np.ndarray,
    min_overlap: float,
    skip: tuple[str, ...] = (),
) -> tuple[list[str], dict]:
    """Give each cluster the persona the previous model gave most of its wallets, when enough did.

    Args:
        names: the vocabulary's name of each cluster.
        labels: cluster of each wallet.
        previous_personas: persona the previous model gave each wallet (None: a rule named it).
        min_overlap: share of the cluster's wallets that must have had that persona.
        skip: names not to pass on (a rule of the new model gives them).

    Returns:
        The names, and per cluster the previous persona it was matched to and the share.
    """
    prev = np.asarray(previous_personas, dtype=object)
    out, matches = list(names), {}
    for c in range(len(names)):
        member = labels == c
        held = prev[member]
        held = held[held != None]  # noqa: E711 - elementwise on object array
        if not member.any() or len(held) == 0:
            continue
        persona, counts = np.unique(held.astype(str), return_counts=True)
        top = int(counts.argmax())
        share = counts[top] / member.sum()
        matches[int(c)] = {"previous_persona": str(persona[top]), "overlap": round(float(share), 4)}
        if share >= min_overlap and persona[top] not in skip:
            out[c] = str(persona[top])
    return out, matches


# A cluster the vocabulary does not fit is "Mixed" when its wallets, each tested alone, do not
# agree: no answer (a persona, or fitting none) holds more than half of them. Half: a majority is
# what the ensemble's vote serves too. At most WALLET_TEST_SAMPLE wallets are tested per cluster.
MIXED_MAX_SHARE = 0.5
WALLET_TEST_SAMPLE = 300


def wallet_names(raw: pd.DataFrame, rows: np.ndarray, skip: tuple[str, ...] = ()) -> list[str]:
    """The vocabulary's name of each wallet of `rows`, its own values read as a one-wallet profile.

    The wallet's percentile in the population of `raw`, whether its value is non-zero, and the
    value itself take the place of a cluster's median percentile, non-zero share and median.
    """
    raw = _with_derived(raw)
    values = raw.to_numpy(dtype=float)
    pop_nz = pd.Series((np.nan_to_num(values) != 0).mean(0), index=raw.columns)
    pct = np.empty((len(rows), raw.shape[1]))
    for j in range(raw.shape[1]):
        col = values[:, j]
        pop = np.sort(col[~np.isnan(col)])
        v = values[rows, j]
        below, upto = np.searchsorted(pop, v, "left"), np.searchsorted(pop, v, "right")
        pct[:, j] = np.where(np.isnan(v), 0.5, (below + 0.5 * (upto - below)) / max(len(pop), 1))
    out = []
    for i, r in enumerate(rows):
        v = pd.Series(values[r], index=raw.columns)
        prof = Profile(
            pd.Series(pct[i], index=raw.columns), (v.fillna(0) != 0).astype(float), pop_nz, v.fillna(0)
        )
        out.append(
            next((n for n, cols, t in VOCABULARY if n not in skip and prof.has(*cols) and t(prof)), MIXED)
        )
    return out


def describe_unfit(
    names: list[str], raw: pd.DataFrame, labels: np.ndarray, k: int, skip: tuple[str, ...] = (), seed: int = 0
) -> tuple[list[str], dict]:
    """The vocabulary's names, each cluster it does not fit (MIXED) named from its profile instead.

    The descriptive name (descriptive.py) says which features stand out and differs from every
    other cluster's name. A cluster whose wallets, tested one by one, give no answer to more than
    MIXED_MAX_SHARE of them stays "Mixed" (with a suffix when several do). Returns the names and,
    per unfit cluster, the top answer of its wallets and its share.
    """
    if MIXED not in names:
        return list(names), {}
    described = descriptive_names(raw, labels, k)
    rng = np.random.default_rng(seed)
    out, agreement = list(names), {}
    for c, name in enumerate(names):
        if name != MIXED:
            continue
        member = np.flatnonzero(np.asarray(labels) == c)
        rows = (
            rng.choice(member, min(len(member), WALLET_TEST_SAMPLE), replace=False) if len(member) else member
        )
        answers = pd.Series(wallet_names(raw, rows, skip)).value_counts(normalize=True)
        share = float(answers.iloc[0]) if len(answers) else 0.0
        agreement[c] = {
            "top_wallet_answer": str(answers.index[0]) if len(answers) else None,
            "share": round(share, 4),
        }
        out[c] = described[c] if share > MIXED_MAX_SHARE else MIXED
    sizes = np.bincount(np.asarray(labels)[np.asarray(labels) >= 0], minlength=k)[:k]
    mixed = [i for i, n in enumerate(out) if n == MIXED]
    if len(mixed) > 1:
        suffixed = unique_names([MIXED] * len(mixed), sizes[mixed])
        for i, n in zip(mixed, suffixed, strict=True):
            out[i] = n
    return out, agreement


def fill_unfit(names: list[str], labels: np.ndarray, reference: np.ndarray) -> list[str]:
    """Each cluster the vocabulary does not fit (MIXED) takes the `reference` name most of its rows carry.

    For the ensemble's other fits: a descriptive name is the winner's, so a refit's unfit cluster
    votes for the name the winner gives most of its wallets (they may differ in a refit).
    """
    out = list(names)
    for c, name in enumerate(names):
        held = pd.Series(reference[labels == c])
        if name.startswith(MIXED) and len(held):
            out[c] = str(held.mode().iloc[0])
    return out


def display_names(names: list[str], raw: pd.DataFrame, labels: np.ndarray, k: int) -> list[str]:
    """Names for people to read: a persona several clusters share is followed by what sets each apart.

    "Active Retail Trader: high dex trades, low hour of day entropy": each such cluster described
    (descriptive.py) against the wallets of every cluster sharing its name, not the population, so
    the words say how it differs from its siblings. The served persona stays the shared name (the
    ensemble votes per persona); these tell the clusters apart in profiles and pictures.
    """
    labels = np.asarray(labels)
    out = list(names)
    for name, count in pd.Series(names).value_counts().items():
        if count < 2:
            continue
        siblings = [c for c in range(k) if names[c] == name]
        rows = np.isin(labels, siblings)
        local = np.searchsorted(siblings, labels[rows])
        described = descriptive_names(raw.loc[rows].reset_index(drop=True), local, len(siblings))
        for c, d in zip(siblings, described, strict=True):
            out[c] = f"{name}: {d[0].lower()}{d[1:]}"
    return out


# How sure a wallet's own NFT trade share must be of its side of the line before it overrides the
# clusters' name: one standard error (docs/personas.md, "The NFT / retail line").
NFT_WALLET_Z = 1.0


def nft_by_wallet(
    p: np.ndarray, features: pd.DataFrame, personas: list[str], over_swaps: bool = False
) -> np.ndarray:
    """Between Active Retail Trader and NFT Trader, a wallet clearly on one side of the line says which.

    A cluster is named NFT Trader when its median wallet's NFT trades are at least
    NFT_MIN_TRADE_SHARE of its transactions, and every wallet of it then carries that name, so a
    cluster straddling the line names wallets on the wrong side of it. For a wallet whose likeliest
    persona is one of the two, the vocabulary's test is applied to the wallet itself when its
    evidence allows: its share is k NFT trades over n sent transactions, and its Wilson interval at
    NFT_WALLET_Z standard errors must lie wholly above the line (with an NFT transfer) to make it
    NFT Trader, wholly below it (or no NFT transfer at all) to make it Active Retail Trader; a
    wallet whose interval holds the line keeps the clusters' answer. When the answer is the other
    persona the two probabilities are swapped, so the confidence stays the model's. Off when the
    table lacks a column the test reads or the model either persona.

    With `over_swaps`, a trader is named by what it trades most: a wallet whose NFT trades
    (`nft_buys` + `nft_sells`) do not outnumber its DEX swaps (`dex_trades`) is Active Retail
    Trader, whatever its NFT share; a tie goes to the broader persona. One NFT bought and sold
    beside a swap or two is a retail wallet trying NFTs (docs/personas.md, round 7). NULL counts
    as none; a table without these columns skips this part.

    Args:
        p: persona probabilities, one row per wallet of `features`, columns in `personas` order.
        features: the wallets' rows (`nft_trade_share`, `nft_transfers`, `tx_count`; with
            `over_swaps`, `nft_buys`, `nft_sells` and `dex_trades`).
        personas: the persona of each column of `p`.
        over_swaps: also ask that NFT trades outnumber DEX swaps.

    Returns:
        `p`, with the two columns swapped on the rows the wallet test moves.
    """
    columns = ("nft_trade_share", "nft_transfers", "tx_count")
    if not {NFT_TRADER, RETAIL_TRADER} <= set(personas) or not set(columns) <= set(features.columns):
        return p
    nft, retail = personas.index(NFT_TRADER), personas.index(RETAIL_TRADER)
    share, transfers, sent = (
        pd.to_numeric(features[c], errors="coerce").to_numpy(dtype=float) for c in columns
    )
    # NULL: no NFT trade seen. A share can pass 1 (trades counted on both sides); as a rate, 1.
    share = np.clip(np.nan_to_num(share), 0.0, 1.0)
    n = np.maximum(np.nan_to_num(sent), 1.0)
    z2 = NFT_WALLET_Z**2
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = NFT_WALLET_Z * np.sqrt(share * (1 - share) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    made = np.nan_to_num(transfers) > 0
    own_nft = made & (centre - half >= NFT_MIN_TRADE_SHARE)
    own_retail = ~made | (centre + half < NFT_MIN_TRADE_SHARE)
    if over_swaps and set(SWAP_COLUMNS) <= set(features.columns):
        buys, sells, swaps = (
            np.nan_to_num(pd.to_numeric(features[c], errors="coerce").to_numpy(dtype=float))
            for c in SWAP_COLUMNS
        )
        swapper = buys + sells <= swaps
        own_nft &= ~swapper
        own_retail |= made & swapper
    top = p.argmax(1) if len(p) else np.zeros(0, dtype=int)
    move = ((top == retail) & own_nft) | ((top == nft) & own_retail)
    out = p.copy()
    out[move, nft], out[move, retail] = p[move, retail], p[move, nft]
    return out


def whale_by_wallet(
    p: np.ndarray, features: pd.DataFrame, personas: list[str], min_trade_size: float | None
) -> np.ndarray:
    """A wallet whose DEX swaps are a whale's size is Whale, whatever else it looks like.

    The clusters read shares of a wallet's activity and the Whale name reads ETH sent or
    received: a whale that moves its money as tokens, swapping a few hundred thousand dollars at
    a time, sends little ETH and sits with retail wallets, and one that swapped early in the window
    is Dormant Holder by rule. Its `avg_trade_size` at least `min_trade_size` (set at training,
    population.WHALE_TRADE_MULTIPLE times the median trader's) makes a wallet whose likeliest
    persona is Active Retail Trader, NFT Trader or Dormant Holder Whale; the two columns are
    swapped, so the confidence stays the model's. A NULL size (no swap, no price) moves nothing.
    Off without the line, the column or a Whale persona in the model.

    Args:
        p: persona probabilities, one row per wallet of `features`, columns in `personas` order.
        features: the wallets' rows (`avg_trade_size`).
        personas: the persona of each column of `p`.
        min_trade_size: the line, in the column's unit (USD); None switches the test off.

    Returns:
        `p`, with two columns swapped on the rows the wallet test moves.
    """
    if min_trade_size is None or WHALE not in personas or TRADE_SIZE_COLUMN not in features.columns:
        return p
    whale = personas.index(WHALE)
    sources = [personas.index(n) for n in (RETAIL_TRADER, NFT_TRADER, DORMANT) if n in personas]
    size = pd.to_numeric(features[TRADE_SIZE_COLUMN], errors="coerce").to_numpy(dtype=float)
    top = p.argmax(1)
    with np.errstate(invalid="ignore"):
        rows = np.flatnonzero(np.isin(top, sources) & (size >= min_trade_size))
    out = p.copy()
    out[rows, whale], out[rows, top[rows]] = p[rows, top[rows]], p[rows, whale]
    return out


def deposit_by_wallet(
    p: np.ndarray, features: pd.DataFrame, personas: list[str], max_value_gap: float | None = None
) -> np.ndarray:
    """Deposit Forwarder follows whom a wallet pays, not only how fast it passes money on.

    The clusters see shares of a wallet's activity, not whom it pays: a deposit address that swept
    10 ETH sits with the whales, one that swept once with retail wallets that forward, and a
    wallet that passes its withdrawals on to a friend sits with the deposit addresses. Its own row
    says more. A wallet that sweeps to a collecting address (population.sweeps_to_collector: it
    passes on what it receives, to an address as many pay as the top 1% of paid addresses, and
    trades nothing) gets Deposit Forwarder; a wallet whose likeliest persona is Deposit Forwarder
    but whose payments reach a collector less than DEPOSIT_MAX_FRIEND_COLLECTOR_SHARE of the time
    gets its next likeliest persona. Either way the two columns are swapped: the persona follows
    the wallet, the confidence stays what the ensemble gave. A NULL share moves nothing. Off when
    the model has no Deposit Forwarder cluster or the table lacks a column the test reads.

    With `max_value_gap`, both tests also read the value: a sweeper must send on the ETH it
    received to within that share, and a wallet the clusters call Deposit Forwarder that keeps more
    (or pays out more than it received) gets its next likeliest persona
    (population.passes_on_value; docs/personas.md, round 7).

    Args:
        p: persona probabilities, one row per wallet of `features`, columns in `personas` order.
        features: the wallets' rows (population.DEPOSIT_COLUMNS).
        personas: the persona of each column of `p`.
        max_value_gap: largest share by which ETH sent may differ from ETH received; None: not read.

    Returns:
        `p`, with two columns swapped on the rows the wallet test moves.
    """
    if DEPOSIT_FORWARDER not in personas or not len(p) or "collector_payment_share" not in features.columns:
        return p
    deposit = personas.index(DEPOSIT_FORWARDER)
    top = p.argmax(1)
    others = p.copy()
    others[:, deposit] = -np.inf
    second = others.argmax(1)
    collector = pd.to_numeric(features["collector_payment_share"], errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        # Only to a persona the model gives the wallet at all: with every other probability 0 the
        # "next likeliest" is the first column, a persona the clusters never named (the shared
        # Raphtory sample served such wallets Contract, and the projection had no colour for it).
        keeps = (collector < DEPOSIT_MAX_FRIEND_COLLECTOR_SHARE) | ~passes_on_value(features, max_value_gap)
        friend = (top == deposit) & keeps & (others.max(1) > 0)
    sweeper = sweeps_to_collector(features, max_value_gap) & (top != deposit)
    swap = np.where(sweeper, top, np.where(friend, second, -1))
    rows = np.flatnonzero(swap >= 0)
    out = p.copy()
    out[rows, deposit], out[rows, swap[rows]] = p[rows, swap[rows]], p[rows, deposit]
    return out
