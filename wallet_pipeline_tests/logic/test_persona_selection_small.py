"""Candidate fits on tables with fewer distinct wallets than clusters (small real exports)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from wallet_pipeline.logic.personas.selection import Candidate, fit_candidate


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
