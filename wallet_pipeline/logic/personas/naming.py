"""Names from what clusters are, and names kept across retrains.

A cluster's profile is, for every numeric column of the training table (not only the model's
features), its median in original units, the population percentile of that median among the
modelled wallets, and the share of its wallets with a non-zero value. The vocabulary below is
checked in order; the first entry whose test passes names the cluster, and a cluster that passes
none is "Mixed". A test whose columns the table lacks is skipped. Several clusters may get the same
name; the persona is the name, so their probabilities add up.

After a retrain with a previous model, each new cluster is matched to a previous cluster by the
Hungarian method on wallet overlap (both models assign the same training wallets); a new cluster
that shares at least `min_overlap` of its wallets with its match inherits the match's name. A new
cluster left without a match (the retrain found more clusters) inherits the name of the previous
cluster holding most of its wallets, under the same threshold.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

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


def _nft(p: Profile) -> bool:
    if p.nz("nft_transfers") < 0.6 or p.lift("nft_transfers") < 2:
        return False
    # A retail wallet that bought one NFT holds NFT transfers too; a trader's activity is mostly NFTs.
    return not p.has("nft_trade_share") or p.med("nft_trade_share") >= 0.25


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
    ("Whale", ("eth_sent",), _whale),
    ("NFT Trader", ("nft_transfers",), _nft),
    ("Deposit Forwarder", ("dex_trades", "nft_transfers"), _forwarder),
    (
        "Airdrop Farmer",
        ("hour_of_day_entropy", "unique_contracts_called", "tx_count", "days_since_last_active"),
        _farmer,
    ),
    ("Dormant Holder", ("days_since_last_active",), _dormant),
    ("Active Retail Trader", ("dex_trades", "tx_count"), _retail),
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
    rows = []
    for c in range(k):
        members = raw[labels == c]
        for col in raw.columns:
            pop = raw[col].dropna().to_numpy()
            med = float(members[col].median()) if members[col].notna().any() else np.nan
            pct = (
                np.nan
                if np.isnan(med) or len(pop) == 0
                else float(((pop < med).sum() + 0.5 * (pop == med).sum()) / len(pop))
            )
            rows.append(
                {
                    "cluster": c,
                    "column": col,
                    "size": len(members),
                    "median": med,
                    "percentile": pct,
                    "nonzero_share": float((members[col].fillna(0) != 0).mean()) if len(members) else np.nan,
                    "population_nonzero_share": float((raw[col].fillna(0) != 0).mean()),
                }
            )
    return pd.DataFrame(rows)


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
    previous_labels: np.ndarray,
    previous_names: list[str],
    min_overlap: float,
) -> tuple[list[str], dict]:
    """Give each new cluster its Hungarian match's previous name when they share enough wallets."""
    k, kp = len(names), len(previous_names)
    overlap = np.zeros((k, kp))
    valid = previous_labels >= 0
    np.add.at(overlap, (labels[valid], previous_labels[valid]), 1)
    rows, cols = linear_sum_assignment(-overlap)
    out, matches = list(names), {}
    sizes = np.maximum(overlap.sum(1), 1)
    for r, c in zip(rows, cols, strict=True):
        share = overlap[r, c] / sizes[r]
        matches[int(r)] = {"previous_cluster": int(c), "overlap": round(float(share), 4)}
        if share >= min_overlap:
            out[r] = previous_names[c]
    for r in set(range(k)) - set(rows.tolist()):  # more clusters than before: a split keeps its parent's name
        c = int(overlap[r].argmax())
        share = overlap[r, c] / sizes[r]
        matches[int(r)] = {"previous_cluster": c, "overlap": round(float(share), 4)}
        if share >= min_overlap:
            out[r] = previous_names[c]
    return out, matches
