"""Candidate fits on tables with fewer distinct wallets than clusters (small real exports)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from wallet_pipeline.logic.personas.model import PersonaConfig
from wallet_pipeline.logic.personas.selection import (
    BASELINE,
    Candidate,
    baseline_comparison,
    candidates_for,
    choose_winner,
    fit_candidate,
    select,
    stable_refits,
)


@pytest.mark.parametrize(
    "candidate",
    [Candidate("kmeans", {"k": 6}), Candidate("gmm", {"k": 6, "covariance": "full"})],
    ids=lambda c: c.name,
)
def test_a_candidate_asking_more_clusters_than_distinct_points_fits_those_points_without_warnings(
    candidate: Candidate,
) -> None:
    # 30 wallets on two distinct feature rows, as a 49-wallet export gave.
    z = np.repeat(np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 1.0]]), 15, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = fit_candidate(candidate, z, seed=0, small_sample=1_000)
    assert model.n_clusters == 2
    assert sorted(map(tuple, np.round(model.centroids, 6))) == [(0.0, 1.0, 0.0), (2.0, 0.0, 1.0)]


def test_with_enough_distinct_points_the_asked_clusters_are_fitted() -> None:
    z = np.random.default_rng(0).normal(size=(200, 3))
    assert fit_candidate(Candidate("kmeans", {"k": 6}), z, seed=0, small_sample=1_000).n_clusters == 6


def _blobs(n: int, seed: int = 0) -> np.ndarray:
    """Five well separated Gaussian blobs in 3 dimensions (a clear best partition exists)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10], [10, 10, 10]], dtype=float)
    return centres[rng.integers(0, 5, n)] + rng.normal(size=(n, 3))


def test_refits_stop_once_the_candidate_cannot_reach_the_stability_floor() -> None:
    # Uniform noise: K-Means k=8 cuts it differently on every bootstrap, so its ARI is far under 0.8
    # and the bound (mean with every remaining refit counted as 1) falls under 0.8 after a few.
    z = np.random.default_rng(0).uniform(size=(2_000, 2))
    cand = Candidate("kmeans", {"k": 8})
    model = fit_candidate(cand, z, seed=0, small_sample=1_000)
    seeds = [1000, 2000, 3000, 4000, 5000]
    refits = stable_refits(cand, model, z, z[:500], seeds, 1_000, min_stability=0.99)
    assert 1 <= len(refits) < len(seeds)
    # A clear structure keeps every refit: none of them can be skipped.
    blobs = _blobs(2_000)
    cand5 = Candidate("kmeans", {"k": 5})
    model5 = fit_candidate(cand5, blobs, seed=0, small_sample=1_000)
    assert len(stable_refits(cand5, model5, blobs, blobs[:500], seeds, 1_000, min_stability=0.8)) == 5


def test_selection_screens_every_candidate_scores_a_shortlist_and_always_the_kmeans_baseline() -> None:
    config = PersonaConfig(selection="silhouette", shortlist=3, screen_sample=600, small_sample=600)
    z = _blobs(1_500)
    table, fitted = select(config, z, z[:600])
    screened = len(candidates_for(config))
    assert len(table) == screened
    short = table[table["stage"] == "shortlist"]
    assert set(short["candidate"]) == set(fitted) and BASELINE.name in set(fitted)
    assert len(short) in (3, 4)  # the three best, and K-Means k=4 when it is not among them
    pruned = table[table["stage"] == "pruned"]
    assert pruned["stability"].isna().all() and pruned["screen_silhouette"].notna().any()
    winner, ranked = choose_winner(table, config)
    assert winner in fitted and not ranked.loc[ranked["stage"] == "pruned", "eligible"].any()
    # Five blobs: the best screened candidates find five clusters and win over K-Means k=4.
    assert ranked.loc[ranked["winner"], "k"].item() == 5
    verdict = baseline_comparison(ranked, {}, config)
    assert verdict["served_silhouette"] > verdict["baseline_silhouette"]
    assert verdict["beats_baseline"] is True


def test_the_baseline_verdict_says_when_the_served_model_does_not_beat_kmeans() -> None:
    config = PersonaConfig()
    table = pd.DataFrame(
        {
            "candidate": [BASELINE.name, "gmm(k=3, covariance=diag)"],
            "silhouette": [0.6, 0.3],
            "stability": [0.95, 0.9],
            "n_personas": [3, 3],
            "winner": [False, True],
        }
    )
    served = {"silhouette": 0.3, "stability": 0.9}
    verdict = baseline_comparison(table, served, config)
    assert verdict["beats_baseline"] is False and verdict["silhouette_gain"] == pytest.approx(-0.3)
    verdict = baseline_comparison(table.assign(n_personas=[3, 4]), served, config)
    assert verdict["beats_baseline"] is True and "more personas" in verdict["verdict"]
    # More personas from an unstable model is no gain: what it names would change on a refit.
    shaky = {"silhouette": 0.3, "stability": 0.6}
    verdict = baseline_comparison(table.assign(n_personas=[3, 4]), shaky, config)
    assert verdict["beats_baseline"] is False and "stability under 0.8" in verdict["verdict"]


def test_the_baseline_is_measured_but_cannot_win_when_the_configuration_leaves_kmeans_out() -> None:
    config = PersonaConfig(
        selection="silhouette", methods=("gmm",), gmm_covariance_types=("diag",), k_range=(3, 5),
        screen_sample=600, small_sample=600,
    )  # fmt: skip
    z = _blobs(1_500)
    table, fitted = select(config, z, z[:600])
    assert BASELINE.name in fitted
    winner, ranked = choose_winner(table, config)
    assert winner.startswith("gmm")
    assert not ranked.loc[ranked["candidate"] == BASELINE.name, "eligible"].item()
