"""Model selection: every training run compares K-Means, Gaussian mixtures, HDBSCAN and agglomerative.

Each candidate is fitted on a sample of the preprocessed training wallets and scored on a smaller
evaluation sample (silhouette is quadratic in rows):

- `silhouette` (higher is better), `davies_bouldin` (lower), `calinski_harabasz` (higher);
- `bic` for Gaussian mixtures (lower; NaN for the others);
- `stability`: mean adjusted Rand index between the candidate and refits on bootstrap samples with
  other seeds, all predicting the same evaluation wallets;
- `min_share` (smallest cluster's share) and `balance` (entropy of cluster sizes / log k);
- `noise_share` for HDBSCAN (its noise points are then given to the nearest cluster centroid).

Agglomerative (Ward) and HDBSCAN are fitted on a smaller sample and extended to every wallet by
nearest centroid.

Winner rule (`choose_winner`, text in `WINNER_RULE`): a candidate is eligible when its stability is
at least `min_stability`, its smallest cluster holds at least `min_cluster_share` of the wallets and
it has at least `min_clusters` clusters. Among the eligible, the highest score wins; candidates
within `silhouette_tie` of the best are tied, and the tie goes to the finer one (more clusters, then
higher stability; `tie_break="stable"`: higher stability, then fewer clusters). With no eligible
candidate, the most stable one wins. The score is set by `PersonaConfig.selection`:

- "personas" (default): the silhouette, among the eligible candidates whose clusters the vocabulary
  gives the most distinct persona names (`n_personas`, Mixed not counted; names a rule gives are
  not given to clusters). A candidate that carries fewer personas than another eligible one has
  merged behaviours the vocabulary tells apart, however well separated its few clusters are: a
  three-cluster split (forwarders, whales, the rest) has a silhouette of 0.70 and says little;
- "silhouette": the silhouette of the candidate's clusters;
- "named": the silhouette of its *named* partition (`named_silhouette`): each candidate's clusters
  are named from their profiles on the fitting sample and clusters with the same name are merged
  before the silhouette is taken, so splitting one persona into look-alike halves earns nothing.
  Candidates whose clusters all get one name are not eligible. This favours coarse partitions;
- "distinct": the silhouette, but a candidate is eligible only when no two of its clusters get the
  same name (`n_names == k`): a split that the vocabulary cannot tell apart is penalised out;
- "bic": the lowest BIC among the eligible Gaussian mixtures (silhouette when there are none).

The winner is then refined and must hold (refinement.py, `REFINE_RULE`).

Speed (`select`): fitting every candidate six times (once and five refits) on 10,000 wallets took
73 s on a 7,264-row world under load, most of it in full-covariance mixtures that could not win.
So selection runs in two stages. Screening fits each candidate once on `screen_sample` wallets
(2,000 by default: a 1% cluster still holds 20 of them) and scores silhouette, cluster shares and
names on the evaluation sample. Only a shortlist goes on: the `shortlist` best by the winner rule's
own order (passes the size tests, most personas, then silhouette), and always K-Means k = 4, the
baseline. Shortlisted candidates are fitted on the selection sample and refitted for stability;
the refits of a candidate stop as soon as it could not reach `min_stability` even if every
remaining refit agreed with it fully (an exact bound, so no eligible candidate is lost). Pruned
candidates stay in the table with their screening scores (`stage`), not eligible.

Baseline (`baseline_comparison`): selection earns its place against plain K-Means k = 4 fitted on
the same preprocessed table, scored on the same evaluation wallets. The served model beats it when
its stability is at least `min_stability` and its clusters carry more distinct persona names, or
as many with a silhouette no more than `silhouette_tie` lower; otherwise the report says it does
not, and why.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.mixture import GaussianMixture

from wallet_pipeline.logic.personas.naming import MIXED, name_clusters, profiles


@dataclass
class ClusterModel:
    """A fitted clusterer reduced to what prediction needs: a score per (wallet, cluster).

    `kind` is "centroid" (score = minus squared distance to each centroid) or "gmm" (score = the
    mixture's weighted log density per component). The predicted cluster is the highest score.
    """

    method: str
    params: dict
    kind: str
    centroids: np.ndarray
    gmm: GaussianMixture | None = None

    @property
    def n_clusters(self) -> int:
        return len(self.centroids)

    def scores(self, z: np.ndarray) -> np.ndarray:
        if self.kind == "gmm":
            return self.gmm._estimate_weighted_log_prob(z)  # noqa: SLF001 (per-component log density)
        sq = (z * z).sum(1)[:, None] - 2 * z @ self.centroids.T + (self.centroids**2).sum(1)[None, :]
        return -np.maximum(sq, 0.0)

    def predict(self, z: np.ndarray, chunk: int = 200_000) -> np.ndarray:
        return np.concatenate(
            [self.scores(z[i : i + chunk]).argmax(1) for i in range(0, max(len(z), 1), chunk)]
        )


@dataclass(frozen=True)
class Candidate:
    """One model family and its parameters."""

    method: str
    params: dict

    @property
    def name(self) -> str:
        return self.method + "(" + ", ".join(f"{k}={v}" for k, v in self.params.items()) + ")"


@dataclass
class SelectionReport:
    """The whole comparison of one training run, the winner and how it was chosen."""

    table: pd.DataFrame
    winner: str
    rule: str
    calibration: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)  # wall seconds per phase of training, and "total"
    cpu_timings: dict = field(default_factory=dict)  # CPU seconds of the same phases (model.PhaseClock)
    population: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)
    # The served model when the winner was refitted (refinement.py): its scores, measured like a
    # candidate's on the same evaluation wallets, against refits refined the same way.
    final: dict = field(default_factory=dict)


def _centroids(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    ids = [c for c in np.unique(labels) if c >= 0]
    return np.vstack([z[labels == c].mean(0) for c in ids]) if ids else np.zeros((0, z.shape[1]))


_WARD_TREES: dict[bytes, np.ndarray] = {}


def _ward_tree(sub: np.ndarray) -> np.ndarray:
    """The Ward tree of `sub`, built once per sample: every k is a cut of the same tree.

    The agglomerative candidates k = 2..8 (and their refits, which share seeds across k) are fitted
    on the same samples; building the quadratic tree once per sample instead of once per k took the
    shortlisted agglomerative candidates of a 10,896-wallet table from 25-27 s each to 27 s for the
    first (it builds the trees) and 2 s for each other (the same loaded machine, same table).
    """
    key = hashlib.sha1(np.ascontiguousarray(sub).tobytes()).digest()
    if key not in _WARD_TREES:
        if len(_WARD_TREES) >= 16:  # a training's samples; older trees are not asked for again
            _WARD_TREES.pop(next(iter(_WARD_TREES)))
        _WARD_TREES[key] = linkage(sub, method="ward")
    return _WARD_TREES[key]


def fit_candidate(candidate: Candidate, z: np.ndarray, seed: int, small_sample: int) -> ClusterModel:
    """Fit one candidate on `z` (agglomerative and HDBSCAN on at most `small_sample` rows)."""
    p = candidate.params
    rng = np.random.default_rng(seed)
    if candidate.method in ("kmeans", "gmm"):
        # No more centres than distinct points: a small export can leave one or two distinct
        # feature rows, and K-Means (also the GMM's initialisation) would stack centres on them
        # and warn once per init and refit (206 warnings on a 49-wallet export).
        k = min(p["k"], len(np.unique(z, axis=0)))
    if candidate.method == "kmeans":
        km = KMeans(k, n_init=4, random_state=seed).fit(z)
        return ClusterModel("kmeans", p, "centroid", km.cluster_centers_)
    if candidate.method == "gmm":
        gm = GaussianMixture(
            k, covariance_type=p["covariance"], n_init=2, reg_covar=1e-4, random_state=seed
        ).fit(z)
        return ClusterModel("gmm", p, "gmm", gm.means_, gm)
    sub = z[rng.choice(len(z), min(small_sample, len(z)), replace=False)]
    if candidate.method == "agglomerative":
        labels = fcluster(_ward_tree(sub), t=p["k"], criterion="maxclust") - 1
        return ClusterModel("agglomerative", p, "centroid", _centroids(sub, labels))
    if candidate.method == "hdbscan":
        size = max(5, int(p["min_cluster_share"] * len(sub)))
        labels = HDBSCAN(min_cluster_size=size, min_samples=5, copy=True).fit_predict(sub)
        return ClusterModel("hdbscan", p, "centroid", _centroids(sub, labels))
    raise ValueError(f"unknown clustering method {candidate.method!r}")


def candidates_for(config: object) -> list[Candidate]:
    """The candidates a `PersonaConfig` asks for."""
    out: list[Candidate] = []
    methods = config.methods
    for k in config.k_range:
        if "kmeans" in methods:
            out.append(Candidate("kmeans", {"k": k}))
        if "gmm" in methods:
            out += [Candidate("gmm", {"k": k, "covariance": c}) for c in config.gmm_covariance_types]
        if "agglomerative" in methods:
            out.append(Candidate("agglomerative", {"k": k}))
    if "hdbscan" in methods:
        out += [Candidate("hdbscan", {"min_cluster_share": s}) for s in config.hdbscan_min_cluster_shares]
    return out


def score_model(
    model: ClusterModel, refits: list[ClusterModel], z_fit: np.ndarray, z_eval: np.ndarray
) -> dict:
    """Scores of one fitted model: cluster shares on `z_fit`, separation and stability on `z_eval`."""
    row: dict = {"k": model.n_clusters}
    if model.n_clusters < 2:
        return row | {"stability": 0.0, "min_share": 1.0, "balance": 0.0}
    labels = model.predict(z_eval)
    shares = np.bincount(model.predict(z_fit), minlength=model.n_clusters) / len(z_fit)
    used = shares[shares > 0]
    row["min_share"] = float(shares.min())
    row["balance"] = float(-(used * np.log(used)).sum() / np.log(model.n_clusters))
    if len(np.unique(labels)) >= 2:
        row["silhouette"] = float(silhouette_score(z_eval, labels))
        row["davies_bouldin"] = float(davies_bouldin_score(z_eval, labels))
        row["calinski_harabasz"] = float(calinski_harabasz_score(z_eval, labels))
    if model.gmm is not None:
        row["bic"] = float(model.gmm.bic(z_fit))
    aris = [adjusted_rand_score(labels, r.predict(z_eval)) for r in refits]
    row["stability"] = float(np.mean(aris)) if aris else np.nan
    return row


def refit(candidate: Candidate, z: np.ndarray, seeds: list[int], small_sample: int) -> list[ClusterModel]:
    """Refits on bootstrap samples of half of `z` (more honest variation than full size), one per seed."""
    out = []
    for s in seeds:
        boot = z[np.random.default_rng(s).integers(0, len(z), max(len(z) // 2, 2))]
        out.append(fit_candidate(candidate, boot, s, small_sample))
    return out


def refit_seeds(config: object) -> list[int]:
    """Seeds of the bootstrap refits that measure stability (and, for the winner, calibration)."""
    return [config.seed + 1000 * (i + 1) for i in range(config.stability_refits)]


def stable_refits(
    candidate: Candidate,
    model: ClusterModel,
    z_fit: np.ndarray,
    z_eval: np.ndarray,
    seeds: list[int],
    small_sample: int,
    min_stability: float,
) -> list[ClusterModel]:
    """Bootstrap refits as `refit`, stopped once the candidate cannot reach `min_stability`.

    The bound is exact: with the ARIs so far and every remaining refit counted as 1, the mean is
    still under `min_stability`.
    """
    labels = model.predict(z_eval)
    out: list[ClusterModel] = []
    total = 0.0
    for i, s in enumerate(seeds):
        boot = z_fit[np.random.default_rng(s).integers(0, len(z_fit), max(len(z_fit) // 2, 2))]
        r = fit_candidate(candidate, boot, s, small_sample)
        out.append(r)
        total += adjusted_rand_score(labels, r.predict(z_eval))
        if (total + len(seeds) - i - 1) / len(seeds) < min_stability:
            break
    return out


BASELINE = Candidate("kmeans", {"k": 4})


def _screen_rank(row: pd.Series, config: object) -> tuple:
    passes = row["k"] >= getattr(config, "min_clusters", 1) and row["min_share"] >= config.min_cluster_share
    personas = row.get("n_personas", 0) if getattr(config, "selection", "") == "personas" else 0
    sil = row["silhouette"] if pd.notna(row["silhouette"]) else -1.0
    return (not passes, -(personas or 0), -sil)


def select(
    config: object,
    z_fit: np.ndarray,
    z_eval: np.ndarray,
    raw_fit: pd.DataFrame | None = None,
    skip: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, dict]:
    """Screen every candidate, then fit and score the shortlist (module docstring, "Speed").

    `raw_fit` (the raw rows of `z_fit`) lets screening and the shortlist carry names; without it
    names are not taken. Returns the table and {name: (candidate, model, refits)} of the shortlist.
    """
    screen_n = int(getattr(config, "screen_sample", 2_000))
    keep = int(getattr(config, "shortlist", 6))
    cands = candidates_for(config)
    # The baseline is always measured; when the configuration does not ask for it, it cannot win.
    baseline_only = BASELINE not in cands
    if baseline_only:
        cands.append(BASELINE)
    named = raw_fit is not None and getattr(config, "selection", "") in ("named", "distinct", "personas")
    z_screen = z_fit[:screen_n]
    # Screening ranks, it does not decide: 1,000 evaluation wallets (a ninth of the pairwise work
    # of 3,000) order candidates whose silhouettes differ by more than their sampling noise.
    z_seval = z_eval[:1_000]
    rows, screened = [], {}
    for cand in cands:
        t0 = time.perf_counter()
        model = fit_candidate(cand, z_screen, config.seed, config.small_sample)
        row = {"candidate": cand.name, "k": model.n_clusters, "silhouette": np.nan, "min_share": 0.0}
        if model.n_clusters >= 2:
            labels = model.predict(z_seval)
            lab = model.predict(z_screen)
            shares = np.bincount(lab, minlength=model.n_clusters) / len(z_screen)
            row["min_share"] = float(shares.min())
            if len(np.unique(labels)) >= 2:
                row["silhouette"] = float(silhouette_score(z_seval, labels))
            if model.gmm is not None:
                row["bic"] = float(model.gmm.bic(z_screen))  # on the screening sample (`stage`)
            # Only a candidate that passes the size tests can win: naming the others is wasted.
            sized = model.n_clusters >= getattr(config, "min_clusters", 1) and row["min_share"] >= (
                config.min_cluster_share
            )
            if named and sized:
                prof = profiles(raw_fit.iloc[: len(z_screen)], lab, model.n_clusters)
                names = name_clusters(prof, model.n_clusters, skip=skip)
                row["n_personas"] = len(set(names) - {MIXED})
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        screened[cand.name] = cand
    screen = pd.DataFrame(rows)
    order = sorted(range(len(screen)), key=lambda i: _screen_rank(screen.iloc[i], config))
    short = [screen["candidate"].iloc[i] for i in order[:keep]]
    if BASELINE.name not in short:
        short.append(BASELINE.name)
    if len(cands) <= keep + 1:
        short = [c.name for c in cands]
    table, fitted = compare(config, z_fit, z_eval, [screened[n] for n in short])
    if named:
        table = add_named_scores(
            table, fitted, raw_fit, z_fit, z_eval, skip, silhouettes=config.selection == "named"
        )
    screen_cols = screen.set_index("candidate")
    table["stage"] = "shortlist"
    table["screen_silhouette"] = table["candidate"].map(screen_cols["silhouette"])
    table["seconds"] = table["seconds"] + table["candidate"].map(screen_cols["seconds"]).round(3)
    pruned = screen[~screen["candidate"].isin(short)].rename(columns={"silhouette": "screen_silhouette"})
    pruned = pruned.assign(
        stage="pruned",
        method=[screened[n].method for n in pruned["candidate"]],
        seconds=pruned["seconds"].round(3),
    )
    if "n_personas" in pruned:
        pruned = pruned.drop(columns="n_personas")
    table = pd.concat([table, pruned], ignore_index=True)
    table["baseline_only"] = baseline_only & (table["candidate"] == BASELINE.name)
    return table, fitted


def baseline_comparison(table: pd.DataFrame, final: dict, config: object) -> dict:
    """The served model next to K-Means k = 4 on the same evaluation wallets (module docstring)."""
    base = table[table["candidate"] == BASELINE.name]
    if base.empty or pd.isna(base["silhouette"].iloc[0]):
        return {"baseline": BASELINE.name, "verdict": "no baseline: K-Means k=4 could not be scored"}
    b = base.iloc[0]
    won = table[table.get("winner", False) == True]  # noqa: E712 (a column of booleans)
    served_sil = final.get("silhouette", won["silhouette"].iloc[0] if len(won) else np.nan)
    served_stab = final.get("stability", won["stability"].iloc[0] if len(won) else np.nan)
    served_personas = won["n_personas"].iloc[0] if len(won) and "n_personas" in won else np.nan
    base_personas = b.get("n_personas", np.nan)
    out = {
        "baseline": BASELINE.name,
        "baseline_silhouette": float(b["silhouette"]),
        "baseline_stability": float(b["stability"]),
        "served_silhouette": float(served_sil),
        "served_stability": float(served_stab),
        "silhouette_gain": float(served_sil - b["silhouette"]),
    }
    if pd.notna(served_personas) and pd.notna(base_personas):
        out["baseline_personas"], out["served_personas"] = int(base_personas), int(served_personas)
    more = pd.notna(served_personas) and pd.notna(base_personas) and served_personas > base_personas
    fewer = pd.notna(served_personas) and pd.notna(base_personas) and served_personas < base_personas
    stable = served_stab >= config.min_stability
    as_good = served_sil >= b["silhouette"] - config.silhouette_tie
    out["beats_baseline"] = bool(stable and (more or (not fewer and as_good)))
    if not stable:
        out["verdict"] = f"does not beat K-Means k=4: served stability under {config.min_stability}"
    elif more:
        out["verdict"] = "beats K-Means k=4: its clusters carry more personas, and it is stable"
    elif out["beats_baseline"]:
        out["verdict"] = "beats K-Means k=4: as many personas, silhouette within the tie, stable"
    else:
        out["verdict"] = "does not beat K-Means k=4: fewer personas or a lower silhouette"
    return out


def compare(
    config: object, z_fit: np.ndarray, z_eval: np.ndarray, cands: list[Candidate] | None = None
) -> tuple[pd.DataFrame, dict]:
    """Fit and score `cands` (every candidate by default); returns the table and {name: (model, refits)}."""
    rows, fitted = [], {}
    seeds = refit_seeds(config)
    for cand in candidates_for(config) if cands is None else cands:
        t0 = time.perf_counter()
        model = fit_candidate(cand, z_fit, config.seed, config.small_sample)
        refits = []
        if model.n_clusters >= 2:
            refits = stable_refits(
                cand, model, z_fit, z_eval, seeds, config.small_sample, config.min_stability
            )
        row = {"candidate": cand.name, "method": cand.method} | score_model(model, refits, z_fit, z_eval)
        row["refits"] = len(refits)
        if cand.method == "hdbscan":
            row["params"] = str(cand.params)
        row["seconds"] = round(time.perf_counter() - t0, 3)
        rows.append(row)
        fitted[cand.name] = (cand, model, refits)
    cols = [
        "candidate", "method", "k", "silhouette", "davies_bouldin", "calinski_harabasz", "bic",
        "stability", "refits", "min_share", "balance", "seconds",
    ]  # fmt: skip
    table = pd.DataFrame(rows).reindex(columns=cols)
    return table, fitted


def add_named_scores(
    table: pd.DataFrame,
    fitted: dict,
    raw_fit: pd.DataFrame,
    z_fit: np.ndarray,
    z_eval: np.ndarray,
    skip: tuple[str, ...] = (),
    silhouettes: bool = True,
) -> pd.DataFrame:
    """Add `n_names`, `n_personas`, `named_silhouette` and `names` to the candidate table.

    Each candidate is named on `raw_fit` (the raw rows of `z_fit`; names in `skip` are given by
    rule and never to a cluster). `n_personas` counts its distinct names other than Mixed. With
    `silhouettes`, clusters with the same name are merged and the silhouette of the merged
    partition is taken on `z_eval` (the first rows of `z_fit`).
    """
    n_names, n_personas, named_sil, names_col = [], [], [], []
    for cand_name in table["candidate"]:
        _, model, _ = fitted[cand_name]
        if model.n_clusters < 2:
            n_names.append(1)
            n_personas.append(0)
            named_sil.append(np.nan)
            names_col.append("")
            continue
        labels = model.predict(z_fit)
        names = name_clusters(profiles(raw_fit, labels, model.n_clusters), model.n_clusters, skip=skip)
        n_names.append(len(set(names)))
        n_personas.append(len(set(names) - {MIXED}))
        names_col.append(" | ".join(names))
        merged = np.unique(np.asarray(names, dtype=object), return_inverse=True)[1][labels[: len(z_eval)]]
        if silhouettes and len(np.unique(merged)) >= 2:
            named_sil.append(float(silhouette_score(z_eval, merged)))
        else:
            named_sil.append(np.nan)
    out = table.copy()
    out["n_names"], out["n_personas"], out["names"] = n_names, n_personas, names_col
    out["named_silhouette"] = named_sil
    return out


WINNER_RULE = (
    "eligible: stability >= {min_stability}, smallest cluster >= {min_cluster_share:.1%} of wallets and "
    "at least {min_clusters} clusters; "
    "selection '{selection}' ('personas': only the eligible candidates whose clusters get the most distinct "
    "persona names from the vocabulary, Mixed not counted, compete, on silhouette); "
    "winner: best score among them; candidates within {silhouette_tie} of it are "
    "tied, and the tie goes to the {tie_break} candidate ('finer': more clusters, then higher stability; "
    "'stable': higher stability, then fewer clusters); no eligible candidate: the most stable one"
)


REFINE_RULE = (
    "; the winner is then fitted again on up to {refine_sample} modelled wallets: Lloyd iterations from "
    "its centroids, then EM of a diagonal Gaussian mixture from those clusters (refinement.py); a "
    "winner whose refined model is less stable than {min_stability} against refits refined the same "
    "way is refused and the rule applied again to the others (at most {max_winners_tried} winners "
    "tried; if none holds, the most stable refined one is served)"
)


ENSEMBLE_RULE = (
    "; the served persona probabilities are the mean over {members} fits: the winner and its bootstrap "
    "refits (refined the same way), each named from its own clusters' profiles"
)


def choose_winner(
    table: pd.DataFrame, config: object, refused: dict[str, float] | None = None
) -> tuple[str, pd.DataFrame]:
    """Apply the winner rule; returns the winner's name and the table with `eligible`, `winner`.

    `refused` maps candidates that already won and were refused once refined (their served model
    fell under `min_stability`) to that stability; they are not eligible and the table says so.
    """
    t = table.copy()
    refused = refused or {}
    selection = getattr(config, "selection", "silhouette")
    score = "named_silhouette" if selection == "named" and "named_silhouette" in t else "silhouette"
    t["refused_served_stability"] = t["candidate"].map(refused).astype(float)
    t["eligible"] = (
        (t["stability"] >= config.min_stability)
        & (t["min_share"] >= config.min_cluster_share)
        & (t["k"] >= getattr(config, "min_clusters", 1))
        & t[score].notna()
        & t["refused_served_stability"].isna()
    )
    if "baseline_only" in t:
        t["eligible"] &= ~t["baseline_only"].fillna(False).astype(bool)
    if selection == "distinct" and "n_names" in t:
        t["eligible"] &= t["n_names"] == t["k"]
    pool = t[t["eligible"]]
    if selection == "personas" and "n_personas" in t and not pool.empty:
        # A candidate whose clusters carry fewer distinct personas than another eligible one's has
        # merged behaviours the vocabulary tells apart: the silhouette only compares the others.
        pool = pool[pool["n_personas"] == pool["n_personas"].max()]
    gmms = pool[pool["bic"].notna()]
    if pool.empty:
        pool = t[t["silhouette"].notna()] if t["silhouette"].notna().any() else t
        best = pool.sort_values(["stability", "k"], ascending=[False, True]).iloc[0]
    elif selection == "bic" and not gmms.empty:
        best = gmms.sort_values("bic").iloc[0]
    else:
        top = pool[score].max()
        tied = pool[pool[score] >= top - config.silhouette_tie]
        # Names merge clusters that are the same persona, so a finer partition loses nothing a user
        # sees, while a coarser one can merge two behaviours for good.
        if getattr(config, "tie_break", "finer") == "finer":
            best = tied.sort_values(["k", "stability"], ascending=[False, False]).iloc[0]
        else:
            best = tied.sort_values(["stability", "k"], ascending=[False, True]).iloc[0]
    t["winner"] = t["candidate"] == best["candidate"]
    order = t.sort_values(["winner", "eligible", "silhouette"], ascending=False).reset_index(drop=True)
    return str(best["candidate"]), order
