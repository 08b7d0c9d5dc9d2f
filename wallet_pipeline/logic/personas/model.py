"""Train and serve the persona model: `train_personas` and `PersonaModel.predict`."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from wallet_pipeline.logic.personas.calibration import (
    agreement,
    confidence,
    expected_calibration_error,
    fit_temperature,
    softmax,
)
from wallet_pipeline.logic.personas.naming import inherit_names, name_clusters, profiles
from wallet_pipeline.logic.personas.population import DORMANT, RULE_PERSONAS, fit_dormant_days, rule_personas
from wallet_pipeline.logic.personas.preprocess import build_preprocessor
from wallet_pipeline.logic.personas.selection import (
    WINNER_RULE,
    ClusterModel,
    SelectionReport,
    add_named_scores,
    choose_winner,
    compare,
)

# Columns of `marts.wallet_features` the model clusters on when the table has them all: what a
# wallet does, as shares of its activity (forwarding, NFT trading, DEX trading, large transfers).
# Recency is a rule (population.py); counts and amounts spread every behaviour along an activity
# continuum and lowered agreement with the simulator's truth (docs/personas.md).
WALLET_FEATURES = ("forwarded_to_eoa_6h_share", "nft_trade_share", "dex_trade_share", "large_transfer_share")


class PersonaInputError(ValueError):
    """The features table cannot be used to train or to predict."""


@dataclass(frozen=True)
class PersonaConfig:
    """Knobs of one training run (defaults are what the pipeline uses)."""

    # Columns. None: WALLET_FEATURES when the table has them all, else every numeric non-boolean column.
    feature_columns: tuple[str, ...] | None = None
    id_column: str = "address"
    contract_column: str | None = "is_contract"
    activity_column: str | None = "tx_count"
    min_tx_count: float = 1  # below it: "Inactive" by rule
    recency_column: str | None = "days_since_last_active"
    # No sent transaction for this many days: "Dormant Holder" by rule; "auto" learns it at training
    # (population.fit_dormant_days), None switches the rule off.
    dormant_days: float | str | None = "auto"
    # Preprocessing.
    null_fill: str = "zero"  # "zero" (+ missing indicator) or "median" (+ indicator)
    clip_quantiles: tuple[float, float] = (0.001, 0.999)
    pca_components: int | float | None = None
    preprocess_sample: int = 200_000
    # Selection.
    methods: tuple[str, ...] = ("kmeans", "gmm", "hdbscan", "agglomerative")
    k_range: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8)
    gmm_covariance_types: tuple[str, ...] = ("full", "diag")
    hdbscan_min_cluster_shares: tuple[float, ...] = (0.01, 0.03)
    selection_sample: int = 10_000  # rows the candidates are fitted on
    eval_sample: int = 3_000  # rows the metrics (silhouette is quadratic) are computed on
    small_sample: int = 3_000  # rows agglomerative and HDBSCAN are fitted on
    stability_refits: int = 5
    min_stability: float = 0.8
    min_cluster_share: float = 0.005
    # Two clusters of active wallets is a split, not a segmentation (usually forwarders against the
    # rest), yet its silhouette beats every finer partition; it stays in the table, not eligible.
    min_clusters: int = 3
    silhouette_tie: float = 0.02
    # "silhouette", "named" (silhouette after merging same names), "distinct" (no two clusters named
    # alike) or "bic" (lowest BIC of the mixtures); see selection.py.
    selection: str = "silhouette"
    tie_break: str = "finer"  # among candidates tied on the score: "finer" or "stable" (selection.py)
    # Calibration and naming.
    holdout_share: float = 0.2
    max_holdout: int = 20_000
    min_name_overlap: float = 0.5
    seed: int = 0

    def rules(self, features: pd.DataFrame) -> pd.Series:
        """The rule persona of each row, or None where the model decides (population.py)."""
        return rule_personas(
            features,
            self.contract_column,
            self.activity_column,
            self.min_tx_count,
            self.recency_column,
            self.dormant_days,
        )


def persona_column(name: str) -> str:
    """Probability column of a persona: "High-Frequency Bot" -> "p_high_frequency_bot"."""
    return "p_" + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@dataclass
class PersonaModel:
    """A trained persona model. Picklable; `predict` scores any table with the trained columns."""

    config: PersonaConfig
    feature_columns: tuple[str, ...]
    preprocessor: Pipeline
    clusterer: ClusterModel
    temperature: float
    cluster_names: list[str]
    profiles: pd.DataFrame = field(repr=False)
    trained_rows: int = 0

    @property
    def personas(self) -> list[str]:
        """Every persona the model can output: the rule personas, then the cluster names."""
        return list(RULE_PERSONAS) + sorted(set(self.cluster_names))

    def _check(self, features: pd.DataFrame) -> None:
        if not isinstance(features, pd.DataFrame):
            raise PersonaInputError("features must be a pandas DataFrame")
        if self.config.id_column not in features.columns:
            raise PersonaInputError(f"features have no {self.config.id_column!r} column")
        missing = [c for c in self.feature_columns if c not in features.columns]
        if missing:
            raise PersonaInputError(
                f"features lack columns the model was trained on: {missing}; "
                f"trained on {list(self.feature_columns)}"
            )
        bad = [c for c in self.feature_columns if not _numeric(features[c])]
        if bad:
            raise PersonaInputError(f"columns the model was trained on are not numeric here: {bad}")

    def assign_clusters(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """Cluster id per row (-1 where a rule names the wallet) and the cluster probabilities."""
        self._check(features)
        rule = self.config.rules(features)
        active = rule.isna().to_numpy()
        labels = np.full(len(features), -1)
        probs = None
        if active.any():
            z = self.preprocessor.transform(features.loc[active, list(self.feature_columns)])
            probs = softmax(self.clusterer.scores(z), self.temperature)
            labels[active] = probs.argmax(1)
        return labels, probs

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """address, persona, confidence (probability of that persona) and p_<persona> per persona."""
        self._check(features)
        rule = self.config.rules(features)
        active = rule.isna().to_numpy()
        personas = self.personas
        p = np.zeros((len(features), len(personas)))
        for i, name in enumerate(RULE_PERSONAS):
            p[(rule == name).to_numpy(), i] = 1.0
        if active.any():
            _, probs = self.assign_clusters(features)
            for c, name in enumerate(self.cluster_names):
                p[active, personas.index(name)] += probs[:, c]
        top = p.argmax(1) if len(p) else np.zeros(0, dtype=int)
        out = pd.DataFrame(
            {
                "address": features[self.config.id_column].to_numpy(),
                "persona": np.asarray(personas, dtype=object)[top],
                "confidence": p[np.arange(len(p)), top],
            }
        )
        for i, name in enumerate(personas):
            out[persona_column(name)] = p[:, i]
        return out


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _feature_columns(features: pd.DataFrame, config: PersonaConfig) -> tuple[str, ...]:
    if config.feature_columns is not None:
        cols = tuple(config.feature_columns)
        missing = [c for c in cols if c not in features.columns]
        if missing:
            raise PersonaInputError(f"features lack configured columns: {missing}")
        bad = [c for c in cols if not _numeric(features[c])]
        if bad:
            raise PersonaInputError(f"configured feature columns are not numeric: {bad}")
        return cols
    if set(WALLET_FEATURES) <= set(features.columns):
        return WALLET_FEATURES
    skip = {config.id_column, config.contract_column}
    cols = tuple(c for c in features.columns if c not in skip and _numeric(features[c]))
    if not cols:
        raise PersonaInputError("features have no numeric column to cluster on")
    return cols


def _validate(features: pd.DataFrame, config: PersonaConfig) -> tuple[str, ...]:
    if not isinstance(features, pd.DataFrame):
        raise PersonaInputError("features must be a pandas DataFrame")
    if features.empty:
        raise PersonaInputError("features table is empty")
    if config.id_column not in features.columns:
        raise PersonaInputError(f"features have no {config.id_column!r} column")
    if config.selection not in ("silhouette", "named", "distinct", "bic"):
        raise PersonaInputError(f"unknown selection {config.selection!r}: silhouette, named, distinct or bic")
    dormant = config.dormant_days
    if not (dormant is None or dormant == "auto" or (isinstance(dormant, int | float) and dormant > 0)):
        raise PersonaInputError(f"dormant_days must be a number of days > 0, 'auto' or None, not {dormant!r}")
    if config.tie_break not in ("finer", "stable"):
        raise PersonaInputError(f"unknown tie_break {config.tie_break!r}: finer or stable")
    if features[config.id_column].duplicated().any():
        raise PersonaInputError(f"{config.id_column!r} has duplicates: one row per wallet is expected")
    return _feature_columns(features, config)


def _resolve_dormant_days(features: pd.DataFrame, config: PersonaConfig) -> tuple[PersonaConfig, str]:
    """The config with a number (or None) for `dormant_days`, and how it was chosen."""
    if config.dormant_days is None or not config.recency_column or config.recency_column not in features:
        return replace(config, dormant_days=None), "off: no recency column"
    if config.dormant_days != "auto":
        return config, "fixed by configuration"
    sent = np.ones(len(features), dtype=bool)
    if config.activity_column and config.activity_column in features:
        activity = pd.to_numeric(features[config.activity_column], errors="coerce").fillna(0)
        sent = (activity >= config.min_tx_count).to_numpy()
    if config.contract_column and config.contract_column in features:
        sent &= ~features[config.contract_column].fillna(False).astype(bool).to_numpy()
    recency = pd.to_numeric(features.loc[sent, config.recency_column], errors="coerce").to_numpy(dtype=float)
    days, how = fit_dormant_days(recency, config.seed)
    return replace(config, dormant_days=days), how


def train_personas(
    features: pd.DataFrame, config: PersonaConfig | None = None, previous: PersonaModel | None = None
) -> tuple[PersonaModel, SelectionReport]:
    """Fit the persona model on a wallets-by-features table; see docs/personas.md."""
    config = config or PersonaConfig()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    cols = _validate(features, config)
    config, dormant_how = _resolve_dormant_days(features, config)
    rule = config.rules(features)
    active = rule.isna().to_numpy()
    x = features.loc[active, list(cols)]
    min_rows = max(20, 2 * max(config.k_range))
    if len(x) < min_rows:
        raise PersonaInputError(
            f"only {len(x)} wallets are left for the model after the rules; need {min_rows}"
        )
    all_null = [c for c in cols if x[c].isna().all()]
    constant = [c for c in cols if c not in all_null and x[c].nunique(dropna=True) <= 1]
    dropped: list[str] = []
    if config.feature_columns is None and len(all_null) + len(constant) < len(cols):
        # Default features the source cannot fill (no NFT or DEX trades in an ethereum-etl export)
        # are left out and reported; columns a user asked for are an error instead.
        dropped = all_null + constant
        cols = tuple(c for c in cols if c not in dropped)
        x = x[list(cols)]
    elif all_null:
        raise PersonaInputError(f"feature columns are entirely null: {all_null}")
    elif constant:
        raise PersonaInputError(f"feature columns are constant (nothing to cluster on): {constant}")
    rng = np.random.default_rng(config.seed)

    pre = build_preprocessor(config.null_fill, config.clip_quantiles, config.pca_components, config.seed)
    fit_rows = rng.choice(len(x), min(len(x), config.preprocess_sample), replace=False)
    pre.fit(x.iloc[np.sort(fit_rows)])
    z = np.ascontiguousarray(pre.transform(x), dtype=float)
    timings["preprocess"] = time.perf_counter() - t0

    # Held-out wallets for calibration; candidates are fitted on a sample of the rest.
    perm = rng.permutation(len(z))
    n_hold = int(min(config.max_holdout, max(2, config.holdout_share * len(z))))
    hold, pool = perm[:n_hold], perm[n_hold:]
    z_fit = z[pool[: config.selection_sample]]
    z_eval = z_fit[: config.eval_sample]
    t1 = time.perf_counter()
    table, fitted = compare(config, z_fit, z_eval)
    if config.selection in ("named", "distinct"):
        numeric = [c for c in features.columns if c != config.id_column and _numeric(features[c])]
        raw_fit = features.loc[active, numeric].astype(float).iloc[pool[: config.selection_sample]]
        table = add_named_scores(table, fitted, raw_fit.reset_index(drop=True), z_fit, z_eval)
    winner, table = choose_winner(table, config)
    _, model, refits = fitted[winner]
    timings["selection"] = time.perf_counter() - t1

    # Assign every modelled wallet, profile the clusters and name them.
    t3 = time.perf_counter()
    labels = model.predict(z)
    numeric = [c for c in features.columns if c != config.id_column and _numeric(features[c])]
    prof = profiles(features.loc[active, numeric].astype(float), labels, model.n_clusters)
    dormant_by_rule = config.dormant_days is not None and config.recency_column in features.columns
    names = name_clusters(prof, model.n_clusters, skip=(DORMANT,) if dormant_by_rule else ())
    name_info: dict = {"vocabulary": list(names)}
    if previous is not None:
        try:
            prev_labels, _ = previous.assign_clusters(features.loc[active])
        except PersonaInputError as exc:
            name_info["previous"] = f"not matched: {exc}"
        else:
            names, matches = inherit_names(
                names, labels, prev_labels, previous.cluster_names, config.min_name_overlap
            )
            name_info["matches"] = matches
    name_info["final"] = list(names)
    timings["naming"] = time.perf_counter() - t3

    # Calibration: fit T on one half of the held-out wallets, report ECE on the other half.
    t2 = time.perf_counter()
    z_hold = z[hold]
    scores = model.scores(z_hold)
    labels_hold = scores.argmax(1)
    refit_labels = [r.predict(z_hold) for r in refits]
    refit_k = [r.n_clusters for r in refits]
    # T is fitted on clusters: fitted on personas it flattens the scores until a persona made of many
    # clusters outvotes the nearest one. Calibration is reported for both, personas being what a
    # user reads (clusters sharing a name are one answer).
    groups = np.unique(np.asarray(names, dtype=object), return_inverse=True)[1]
    agree = agreement(labels_hold, refit_labels, model.n_clusters, refit_k)
    half = len(hold) // 2
    temperature = fit_temperature(scores[:half], agree[:half])
    conf = confidence(scores, temperature)
    p_agree = agreement(labels_hold, refit_labels, model.n_clusters, refit_k, groups=groups)
    p_raw = agreement(labels_hold, refit_labels, model.n_clusters, refit_k, smoothed=False, groups=groups)
    p_conf = confidence(scores, temperature, groups)
    calibration = {
        "temperature": temperature,
        "ece_heldout": expected_calibration_error(p_conf[half:], p_agree[half:]),
        "ece_heldout_vs_raw_agreement": expected_calibration_error(p_conf[half:], p_raw[half:]),
        "mean_confidence": float(p_conf[half:].mean()),
        "mean_agreement": float(p_agree[half:].mean()),
        "ece_heldout_clusters": expected_calibration_error(conf[half:], agree[half:]),
        "ece_fit_half_clusters": expected_calibration_error(conf[:half], agree[:half]),
        "confidence_quantiles": {q: float(np.quantile(p_conf, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)},
        "heldout_wallets": int(len(hold) - half),
    }
    timings["calibration"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0

    persona_model = PersonaModel(
        config=config,
        feature_columns=cols,
        preprocessor=pre,
        clusterer=model,
        temperature=temperature,
        cluster_names=names,
        profiles=prof,
        trained_rows=len(features),
    )
    report = SelectionReport(
        table=table,
        winner=winner,
        rule=WINNER_RULE.format(**config.__dict__),
        calibration=calibration,
        timings={k: round(v, 3) for k, v in timings.items()},
        population={
            "dormant_days": config.dormant_days,
            "dormant_days_chosen": dormant_how,
            "features": list(cols),
            "dropped_features": dropped,
            "wallets": len(features),
            "modelled": int(active.sum()),
            **{p: int((rule == p).sum()) for p in RULE_PERSONAS},
        },
        names=name_info,
    )
    return persona_model, report
