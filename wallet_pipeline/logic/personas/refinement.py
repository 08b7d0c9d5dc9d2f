"""The winner of model selection, fitted again on every modelled wallet.

Selection compares candidates fitted on small samples (10,000 wallets; 3,000 for HDBSCAN and
agglomerative), because it fits dozens of them. The winner's clusters are then a property of that
sample: on the default simulator the same HDBSCAN settings drew the line between retail wallets
with a few NFT trades and NFT traders at a different place for every seed (docs/personas.md,
"History"). `refine` keeps what the winner decided, how many clusters and where they start, and
fits the final model on up to `refine_sample` wallets:

1. Lloyd (K-Means) iterations from the winner's centroids until no wallet moves: each centroid
   becomes the mean of the wallets nearest to it among all of them. A cluster left without
   wallets is dropped, and so is a mixture component that ends (step 2) with less than
   `min_share` of the wallets: EM is run again from the others.
2. EM of a Gaussian mixture with one diagonal covariance per cluster, started from the Lloyd
   clusters (their shares, means and per-feature variances). Clusters differ in spread: wallets
   that never traded an NFT sit on one value of that feature, NFT traders spread over all of it.
   A nearest-centroid boundary ignores that and cuts half-way between centroids; the mixture puts
   the boundary where the two densities cross. Diagonal rather than full: 2d + 1 numbers per
   cluster, estimable for a cluster of 0.5% of the wallets.

Started straight from the winner's centroids, EM reached different optima on different seeds;
from the Lloyd clusters it reached the same one more often. One refined fit still depends on its
sample at the NFT boundary, which is why the served model is an ensemble (model.py).

The result is a `ClusterModel` of kind "gmm": prediction, probabilities and calibration work
as for a mixture candidate.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from wallet_pipeline.logic.personas.selection import ClusterModel

# The regularisation the mixture candidates use: a cluster whose wallets share one value on a
# feature (zero NFT trades) keeps a finite density.
REG_COVAR = 1e-4


def _lloyd(z: np.ndarray, centroids: np.ndarray, max_iter: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Lloyd iterations from `centroids` until no wallet moves; clusters left empty are dropped.

    Written out rather than scikit-learn's KMeans, which moves an empty cluster onto the wallets
    farthest from their centroids: that would invent a cluster of outliers the winner did not have.
    Returns the centroids, each wallet's cluster and the iterations run.
    """
    c = np.asarray(centroids, dtype=float).copy()
    labels: np.ndarray | None = None
    z_sq = (z * z).sum(1)[:, None]
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        new = (z_sq - 2 * z @ c.T + (c * c).sum(1)[None, :]).argmin(1)
        counts = np.bincount(new, minlength=len(c))
        if (counts == 0).any():
            kept = np.flatnonzero(counts)
            c, counts, new, labels = c[kept], counts[kept], np.searchsorted(kept, new), None
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        c = np.column_stack([np.bincount(new, weights=z[:, j], minlength=len(c)) for j in range(z.shape[1])])
        c /= counts[:, None]
    return c, labels, iteration


def refine(
    model: ClusterModel, z: np.ndarray, seed: int, max_iter: int = 300, min_share: float = 0.0
) -> tuple[ClusterModel, dict]:
    """The final model: `model`'s clusters refitted on `z` by Lloyd, then a diagonal mixture's EM.

    Args:
        model: the selection winner (any kind); its centroids start Lloyd.
        z: preprocessed wallets to fit on (every modelled wallet, or a sample of them).
        seed: seed of the mixture (it starts from the Lloyd clusters, so it only breaks ties).
        max_iter: most Lloyd and EM iterations.
        min_share: a mixture component left with a smaller share of the wallets (as their top
            component) is dropped and EM run again from the others, so the refined model passes
            the smallest-cluster test selection applied to the winner.

    Returns:
        The refined model and what happened: clusters before and after, iterations, convergence.
    """
    if model.n_clusters < 2 or len(z) < 2 * model.n_clusters:
        return model, {"refined": False, "reason": "fewer than 2 clusters or too few wallets"}
    z = np.asarray(z, dtype=float)
    means, labels, lloyd_iterations = _lloyd(z, model.centroids, max_iter)
    sizes = np.bincount(labels, minlength=len(means))
    weights = sizes / sizes.sum()
    precisions = 1.0 / (np.vstack([z[labels == j].var(0) for j in range(len(means))]) + REG_COVAR)
    dropped = em_iterations = 0
    while True:
        gmm = GaussianMixture(
            len(means),
            covariance_type="diag",
            reg_covar=REG_COVAR,
            weights_init=weights / weights.sum(),
            means_init=means,
            precisions_init=precisions,
            max_iter=max_iter,
            random_state=seed,
        )
        with warnings.catch_warnings():
            # Not converging within max_iter is reported in the returned info, not as a warning.
            warnings.simplefilter("ignore", ConvergenceWarning)
            gmm.fit(z)
        em_iterations += int(gmm.n_iter_)
        small = np.bincount(gmm.predict(z), minlength=len(means)) < min_share * len(z)
        if not small.any() or (~small).sum() < 2:
            break
        dropped += int(small.sum())
        weights, means, precisions = gmm.weights_[~small], gmm.means_[~small], gmm.precisions_[~small]
    refined = ClusterModel(
        model.method, {**model.params, "refined_on": len(z)}, "gmm", gmm.means_.copy(), gmm
    )
    info = {
        "refined": True,
        "wallets": len(z),
        "clusters_before": model.n_clusters,
        "clusters_after": len(means),
        "dropped_under_min_share": dropped,
        "lloyd_iterations": lloyd_iterations,
        "em_iterations": em_iterations,
        "em_converged": bool(gmm.converged_),
    }
    return refined, info
