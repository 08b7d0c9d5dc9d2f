"""Probabilities that mean something, and a check of them on held-out wallets.

A fit's cluster probabilities are `softmax(scores / T)`. For a mixture (the refined winner and its
refits) the scores are weighted log densities and T = 1 gives its posterior; for a centroid model
the scores are minus squared distances and T is fitted: it minimises the cross-entropy between the
winner's cluster confidence and cluster agreement (the share of calibration refits that, aligned
to the winner's clusters by the Hungarian method, keep the wallet in its cluster) on one half of
the held-out wallets. A persona's probability is the sum over the clusters carrying its name,
averaged over the fits of the ensemble.

Target: on held-out wallets, the stated confidence (top persona probability) should match how often
the persona survives a refit: the share of calibration refits (not in the ensemble, each named on
its own) that give the wallet the same persona, smoothed as (hits + 1) / (refits + 2) so that a
handful of refits cannot certify certainty, and raw. The expected calibration error (ECE) is
reported on the other half of the held-out wallets, which took no part in any fit.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment, minimize_scalar

T_BOUNDS = (1e-3, 1e3)


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise softmax of `scores / temperature`."""
    s = scores / temperature
    s = s - s.max(1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(1, keepdims=True)


def align(reference: np.ndarray, other: np.ndarray, k_ref: int, k_other: int) -> np.ndarray:
    """Relabel `other` to `reference`'s cluster ids by maximum overlap (unmatched clusters -> -1)."""
    overlap = np.zeros((k_other, k_ref))
    np.add.at(overlap, (other, reference), 1)
    rows, cols = linear_sum_assignment(-overlap)
    mapping = np.full(k_other, -1)
    mapping[rows] = cols
    return mapping[other]


def share_of_refits(hits: np.ndarray, refits: int, smoothed: bool = True) -> np.ndarray:
    """Share of `refits` that agreed, `hits` per wallet.

    `smoothed` gives the posterior mean under a uniform prior, (hits + 1) / (refits + 2): with R
    refits one cannot claim more than (R + 1) / (R + 2), so a wallet no refit moved is not stated
    as certain. Raw, no refits means nothing contradicted the assignment: 1.
    """
    if smoothed:
        return (hits + 1) / (refits + 2)
    return hits / refits if refits else np.ones(len(hits))


def agreement(labels: np.ndarray, refit_labels: list[np.ndarray], k: int, refit_k: list[int]) -> np.ndarray:
    """Smoothed share of refits that, once aligned, give each wallet the same cluster as `labels`."""
    hits = np.zeros(len(labels))
    for r, rk in zip(refit_labels, refit_k, strict=True):
        hits += align(labels, r, k, rk) == labels
    return share_of_refits(hits, len(refit_labels))


def confidence(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Top probability of each row."""
    return softmax(scores, temperature).max(1)


def _loss(scores: np.ndarray, target: np.ndarray, temperature: float) -> float:
    conf = np.clip(confidence(scores, temperature), 1e-6, 1 - 1e-6)
    return float(-(target * np.log(conf) + (1 - target) * np.log(1 - conf)).mean())


def fit_temperature(scores: np.ndarray, target: np.ndarray) -> float:
    """Temperature minimising the cross-entropy of top-probability vs agreement."""
    scale = float(np.median(np.abs(np.diff(np.sort(scores, 1)[:, -2:], axis=1)))) or 1.0
    lo, hi = np.log(T_BOUNDS[0] * scale), np.log(T_BOUNDS[1] * scale)
    grid = np.linspace(lo, hi, 61)
    best = grid[np.argmin([_loss(scores, target, np.exp(g)) for g in grid])]
    res = minimize_scalar(
        lambda g: _loss(scores, target, np.exp(g)), bounds=(best - 0.2, best + 0.2), method="bounded"
    )
    return float(np.exp(res.x))


def expected_calibration_error(confidence: np.ndarray, target: np.ndarray, bins: int = 10) -> float:
    """Sum over confidence bins of |mean confidence - mean target| weighted by the bin's share."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(confidence[m].mean() - target[m].mean())
    return float(ece)


def shrink_by_evidence(p: np.ndarray, evidence: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    """Persona probabilities pulled toward the population's persona shares by how little a wallet did.

    `p` (rows x personas) is what the model says from a wallet's features; those features are
    shares of its `evidence` transactions, and a share of 1 in 3 says much less than 100 in 300.
    The result is the posterior mean under a Dirichlet prior at `prior` worth `strength`
    transactions: (n p + strength prior) / (n + strength). A wallet with n = 3 and strength 3 is
    half the model, half the population; with n = 300 the model alone. Rows still sum to 1.
    """
    if strength <= 0:
        return p
    n = np.clip(np.nan_to_num(np.asarray(evidence, dtype=float), nan=0.0), 0.0, None)[:, None]
    return (n * p + strength * np.asarray(prior, dtype=float)[None, :]) / (n + strength)
