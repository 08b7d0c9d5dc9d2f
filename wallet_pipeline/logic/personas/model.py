"""Train and serve the persona model: `train_personas` and `PersonaModel.predict`."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from wallet_pipeline.logic.personas.calibration import (
    agreement,
    confidence,
    expected_calibration_error,
    fit_temperature,
    share_of_refits,
    shrink_by_evidence,
    softmax,
)
from wallet_pipeline.logic.personas.descriptive import descriptive_names, unique_names
from wallet_pipeline.logic.personas.naming import (
    MIXED,
    WHALE,
    deposit_by_wallet,
    describe_unfit,
    display_names,
    fill_unfit,
    inherit_names,
    name_clusters,
    nft_by_wallet,
    profiles,
    whale_by_wallet,
)
from wallet_pipeline.logic.personas.population import (
    DEPOSIT_FORWARDER,
    DEPOSIT_MAX_VALUE_GAP,
    DORMANT,
    DORMANT_GAP_MULTIPLE,
    PRIOR_COLUMN,
    RELEASE_MAX_GAPS,
    RULE_PERSONAS,
    TRADE_SIZE_COLUMN,
    fit_dormant_days,
    fit_dormant_max_prior,
    fit_whale_trade_size,
    long_history,
    operator_rules_in_force,
    rule_personas,
    typical_gap_days,
)
from wallet_pipeline.logic.personas.preprocess import build_preprocessor, detect_id_column
from wallet_pipeline.logic.personas.refinement import refine
from wallet_pipeline.logic.personas.selection import (
    ENSEMBLE_RULE,
    REFINE_RULE,
    WINNER_RULE,
    ClusterModel,
    SelectionReport,
    baseline_comparison,
    choose_winner,
    refit,
    refit_seeds,
    score_model,
    select,
)

SELECTIONS = ("personas", "silhouette", "named", "distinct", "bic")  # see selection.py

# Winners tried when a refined winner is refused for instability (selection.REFINE_RULE).
MAX_WINNERS_TRIED = 3

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
    # ... and the silence is at least this many of the wallet's own typical gaps between active days
    # (population.py, rule 2; a wallet on its rhythm is that quiet with probability e^-3). None: the
    # days alone decide.
    dormant_gap_multiple: float | None = DORMANT_GAP_MULTIPLE
    # ... and the wallet sent at most this many transactions before the data began
    # (`prior_tx_count`): a longer history is a wallet in use, not a holder (population.py, rule 2).
    # "auto" sets it at training to a quantile of the senders still in use (population.py);
    # None switches the test off.
    dormant_max_prior: float | str | None = "auto"
    # ... while its silence is under this many days: "auto", RELEASE_MAX_GAPS of the population's
    # typical gap between active days, set at training (population.typical_gap_days).
    dormant_release_days: float | str | None = "auto"
    # Airdrop Farmer, High-Frequency Bot and Institutional / Exchange by stated rules (population.py).
    operator_rules: bool = True
    # ... and a wallet that made ERC-20 transfers in a silent wallet's name (`spoofed_transfers_sent`,
    # an address-poisoning operator) is a High-Frequency Bot (population.py, rule 3; docs/personas.md,
    # round 8). In training and prediction, as the other operator rules.
    spoofing_rule: bool = True
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
    # Screening (selection.py, "Speed"): every candidate fitted once on `screen_sample` rows; only
    # the `shortlist` best and K-Means k=4 (the baseline) are fitted in full and refitted.
    screen_sample: int = 2_000
    shortlist: int = 6
    eval_sample: int = 3_000  # rows the metrics (silhouette is quadratic) are computed on
    small_sample: int = 3_000  # rows agglomerative and HDBSCAN are fitted on
    stability_refits: int = 5
    min_stability: float = 0.8
    min_cluster_share: float = 0.005
    # Two clusters of active wallets is a split, not a segmentation (usually forwarders against the
    # rest), yet its silhouette beats every finer partition; it stays in the table, not eligible.
    min_clusters: int = 3
    silhouette_tie: float = 0.02
    # "personas" (silhouette among the candidates naming the most distinct personas), "silhouette",
    # "named" (silhouette after merging same names), "distinct" (no two clusters named alike) or
    # "bic" (lowest BIC of the mixtures); see selection.py.
    selection: str = "personas"
    tie_break: str = "finer"  # among candidates tied on the score: "finer" or "stable" (selection.py)
    # The served model (docs/personas.md, section 5). `refine`: the winner and its refits are fitted
    # again on up to `refine_sample` modelled wallets (refinement.py). `ensemble`: the winner's
    # `stability_refits` bootstrap refits, each named on its own, vote with it on every persona.
    refine: bool = True
    refine_sample: int = 200_000
    # The other fits (ensemble members, calibration refits) are refined on bootstraps of at most
    # this many refinement wallets and named on as many: they are there to vary the boundary, which
    # a smaller bootstrap does more, not less. Ten of them refined on 200,000 wallets were 62 of the
    # 109 s of a 1,000,000-row training (docs/personas.md, "Training cost"). Every table of the
    # random worlds and the default simulator has fewer modelled wallets, so nothing changes there.
    member_sample: int = 50_000
    ensemble: bool = True
    # Between Active Retail Trader and NFT Trader, the wallet's own NFT trade share decides
    # (naming.nft_by_wallet; docs/personas.md, "The NFT / retail line").
    nft_by_wallet: bool = True
    # ... and a trader is named by what it trades most: NFT trades must outnumber DEX swaps for NFT
    # Trader (naming.nft_by_wallet `over_swaps`; docs/personas.md, round 7).
    nft_over_swaps: bool = True
    # A wallet whose mean DEX swap is at least this size (USD) is Whale (naming.whale_by_wallet);
    # "auto" sets it at training to population.WHALE_TRADE_MULTIPLE times the median trader's
    # (population.fit_whale_trade_size); None switches the test off.
    whale_trade_size: float | str | None = "auto"
    # The personas the wallet tests serve (Deposit Forwarder, Whale) exist even when no cluster
    # of the ensemble carries them: a wallet's own row names it, whatever clusters the sample gave
    # (docs/personas.md, round 7).
    wallet_tests_add_personas: bool = True
    # A wallet that sweeps what it receives to a collecting address (an exchange's hot wallet) is
    # served Deposit Forwarder, whether the clusters or the dormancy rule named it otherwise
    # (population.sweeps_to_collector, naming.deposit_by_wallet; docs/personas.md, round 5).
    deposit_by_wallet: bool = True
    # ... and a deposit address passes on the value it receives: ETH sent within this share of ETH
    # received (population.passes_on_value; docs/personas.md, round 7). None: the value is not read.
    deposit_max_value_gap: float | None = DEPOSIT_MAX_VALUE_GAP
    # Calibration and naming.
    holdout_share: float = 0.2
    max_holdout: int = 20_000
    min_name_overlap: float = 0.5
    # Confidence that knows how little it saw (calibration.shrink_by_evidence): probabilities are
    # pulled toward the training population's persona shares with a prior worth this many
    # transactions of `activity_column`; 0 switches it off. 1: of 0, 1, 3 and 10, the strength whose
    # confidence was closest to the share of right personas over the 20 kept random worlds
    # (benchmarks/persona_confidence_evidence.py --worlds; docs/personas.md, "Evidence").
    evidence_strength: float = 1.0
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
            self.operator_rules,
            self.dormant_gap_multiple,
            self.spoofing_rule,
        )

    def __setstate__(self, state: dict) -> None:
        # A model pickled before a knob existed predicts as it was trained: rules added since are
        # off for it (training-only knobs take their defaults).
        object.__setattr__(self, "__dict__", {**_ADDED_OFF, **state})


# Knobs added after models were first registered, with the value that reproduces the old behaviour.
_ADDED_OFF = {
    "operator_rules": False,
    "spoofing_rule": False,
    "refine": False,
    "ensemble": False,
    "evidence_strength": 0.0,
    "dormant_gap_multiple": None,
    "dormant_max_prior": None,
    "dormant_release_days": None,
    "nft_by_wallet": False,
    "deposit_by_wallet": False,
    "nft_over_swaps": False,
    "deposit_max_value_gap": None,
    "wallet_tests_add_personas": False,
    "whale_trade_size": None,
}


def persona_column(name: str) -> str:
    """Probability column of a persona: "High-Frequency Bot" -> "p_high_frequency_bot"."""
    return "p_" + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@dataclass(frozen=True)
class Member:
    """One fit of the served ensemble: a clusterer and the persona name of each of its clusters."""

    clusterer: ClusterModel
    cluster_names: list[str]


@dataclass
class PersonaModel:
    """A trained persona model. Picklable; `predict` scores any table with the trained columns.

    `clusterer` and `cluster_names` are the refined winner: its clusters are what profiles and
    plots show. `members` are the other fits of the ensemble (refined bootstrap
    refits, each named on its own); a wallet's persona probabilities are the mean over the winner
    and the members. Without members the winner alone decides.
    """

    config: PersonaConfig
    feature_columns: tuple[str, ...]
    preprocessor: Pipeline
    clusterer: ClusterModel
    temperature: float
    cluster_names: list[str]
    profiles: pd.DataFrame = field(repr=False)
    trained_rows: int = 0
    members: tuple[Member, ...] = ()
    # Share of each persona (by name) among the modelled training wallets: the evidence prior.
    persona_prior: dict[str, float] = field(default_factory=dict)
    # A distinct name per cluster of the winner for people to read (naming.display_names); ()
    # in models trained before it, where `cluster_labels` falls back to suffixes.
    display_names: tuple[str, ...] = ()

    @property
    def cluster_labels(self) -> list[str]:
        """One distinct name per cluster of the winner: `display_names`, else the names suffixed by size."""
        if len(self.display_names) == len(self.cluster_names):
            return list(self.display_names)
        sizes = (
            self.profiles.groupby("cluster")["size"]
            .first()
            .reindex(range(len(self.cluster_names)), fill_value=0)
        )
        return unique_names(self.cluster_names, sizes.to_numpy())

    @property
    def cluster_personas(self) -> list[str]:
        """The personas clusters carry, over every fit of the ensemble (sorted)."""
        return sorted(set(self.cluster_names).union(*(m.cluster_names for m in self.members)))

    @property
    def personas(self) -> list[str]:
        """Every persona the model can output: rule personas, cluster names, then wallet tests' others.

        The last are the personas a wallet test serves that no cluster carries
        (`wallet_tests_add_personas`).
        """
        out = list(RULE_PERSONAS) + [p for p in self.cluster_personas if p not in RULE_PERSONAS]
        return out + [p for p in self._wallet_test_personas() if p not in out]

    def _wallet_test_personas(self) -> tuple[str, ...]:
        if not getattr(self.config, "wallet_tests_add_personas", False):
            return ()
        deposit = (DEPOSIT_FORWARDER,) if getattr(self.config, "deposit_by_wallet", False) else ()
        return deposit + ((WHALE,) if self._whale_line() is not None else ())

    def _id_column(self, features: pd.DataFrame) -> str:
        """The trained id column, or the one detected in `features` (preprocess.detect_id_column)."""
        try:
            return detect_id_column(features, self.config.id_column)
        except ValueError as exc:
            raise PersonaInputError(str(exc)) from exc

    def _check(self, features: pd.DataFrame) -> None:
        if not isinstance(features, pd.DataFrame):
            raise PersonaInputError("features must be a pandas DataFrame")
        self._id_column(features)
        missing = [c for c in self.feature_columns if c not in features.columns]
        if missing:
            raise PersonaInputError(
                f"features lack columns the model was trained on: {missing}; "
                f"trained on {list(self.feature_columns)}"
            )
        bad = [c for c in self.feature_columns if not _numeric(features[c])]
        if bad:
            raise PersonaInputError(f"columns the model was trained on are not numeric here: {bad}")

    def _space(self, features: pd.DataFrame) -> tuple[pd.Series, np.ndarray, np.ndarray | None]:
        """Rule personas, the mask of modelled rows and their preprocessed features (None if none)."""
        self._check(features)
        rule = self.config.rules(features)
        release = long_history(
            features,
            getattr(self.config, "dormant_max_prior", None),
            getattr(self.config, "dormant_release_days", None),
            self.config.recency_column or "",
        )
        if release.any():
            # A wallet quiet since early in the window yet long in use before it is scored, not
            # named Dormant Holder. Only served: training leaves the line to the window, so the
            # clusters are fitted as before (docs/personas.md, round 6).
            rule = rule.mask((rule == DORMANT).to_numpy() & release)
        active = rule.isna().to_numpy()
        z = None
        if active.any():
            z = np.asarray(self.preprocessor.transform(features.loc[active, list(self.feature_columns)]))
        return rule, active, z

    def assign_clusters(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """The winner's cluster per row (-1 where a rule names the wallet) and its cluster probabilities."""
        _, active, z = self._space(features)
        labels = np.full(len(features), -1)
        probs = None
        if z is not None:
            probs = softmax(self.clusterer.scores(z), self.temperature)
            labels[active] = probs.argmax(1)
        return labels, probs

    def persona_probabilities(self, z: np.ndarray) -> np.ndarray:
        """Mean over the ensemble of each fit's persona probabilities; columns follow `personas`."""
        personas = self.personas
        fits = [Member(self.clusterer, self.cluster_names), *self.members]
        p = np.zeros((len(z), len(personas)))
        for fit in fits:
            probs = softmax(fit.clusterer.scores(z), self.temperature)
            for c, name in enumerate(fit.cluster_names):
                p[:, personas.index(name)] += probs[:, c]
        return p / len(fits)

    def served_probabilities(self, z: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
        """The served persona probabilities of the modelled `rows` (`z`: their preprocessed features).

        `persona_probabilities`, then, when configured, the wallet's own NFT test between Active
        Retail Trader and NFT Trader (naming.nft_by_wallet) and its own deposit test
        (naming.deposit_by_wallet).
        """
        p = self.persona_probabilities(z)
        if getattr(self.config, "nft_by_wallet", False):
            p = nft_by_wallet(p, rows, self.personas, getattr(self.config, "nft_over_swaps", False))
        p = whale_by_wallet(p, rows, self.personas, self._whale_line())
        if getattr(self.config, "deposit_by_wallet", False):
            p = deposit_by_wallet(p, rows, self.personas, getattr(self.config, "deposit_max_value_gap", None))
        return p

    def _whale_line(self) -> float | None:
        line = getattr(self.config, "whale_trade_size", None)
        return line if isinstance(line, int | float) else None

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """address, persona, confidence (probability of that persona) and p_<persona> per persona."""
        rule, active, z = self._space(features)
        personas = self.personas
        p = np.zeros((len(features), len(personas)))
        for i, name in enumerate(RULE_PERSONAS):
            p[(rule == name).to_numpy(), i] = 1.0
        if z is not None:
            p[active] = self.served_probabilities(z, features.loc[active])
        quiet = (rule == DORMANT).to_numpy()
        if getattr(self.config, "deposit_by_wallet", False):
            # A deposit address that swept early in the window is Dormant Holder by rule and out of
            # training (bringing such wallets in moved model selection: docs/personas.md, round 5);
            # served, it is what its row says it is.
            gap = getattr(self.config, "deposit_max_value_gap", None)
            p[quiet] = deposit_by_wallet(p[quiet], features.loc[quiet], personas, gap)
        if quiet.any():
            # Who trades at a whale's size stays a whale when it stops: the dormancy rule is a
            # state (naming.whale_by_wallet). Served only, like the deposit test above.
            p[quiet] = whale_by_wallet(p[quiet], features.loc[quiet], personas, self._whale_line())
        top = p.argmax(1) if len(p) else np.zeros(0, dtype=int)
        evidence = self.config.activity_column
        strength = getattr(self.config, "evidence_strength", 0.0)
        if z is not None and strength > 0 and self.persona_prior and evidence in features.columns:
            # The persona stays the model's; its confidence and the probabilities say how much
            # activity they rest on (calibration.shrink_by_evidence).
            prior = np.array([self.persona_prior.get(name, 0.0) for name in personas])
            n = pd.to_numeric(features.loc[active, evidence], errors="coerce").to_numpy(dtype=float)
            # A prior over other names than the model's (clusters renamed after training) is no
            # prior of this model: left unshrunk rather than pulled toward personas it cannot serve.
            if abs(prior.sum() - 1.0) < 1e-6:
                p[active] = shrink_by_evidence(p[active], n, prior, strength)
        out = pd.DataFrame(
            {
                "address": features[self._id_column(features)].to_numpy(),
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
    if config.selection not in SELECTIONS:
        raise PersonaInputError(f"unknown selection {config.selection!r}: one of {', '.join(SELECTIONS)}")
    dormant = config.dormant_days
    if not (dormant is None or dormant == "auto" or (isinstance(dormant, int | float) and dormant > 0)):
        raise PersonaInputError(f"dormant_days must be a number of days > 0, 'auto' or None, not {dormant!r}")
    gaps = config.dormant_gap_multiple
    if not (gaps is None or (isinstance(gaps, int | float) and gaps > 0)):
        raise PersonaInputError(f"dormant_gap_multiple must be a number of gaps > 0 or None, not {gaps!r}")
    prior = config.dormant_max_prior
    if not (prior is None or prior == "auto" or (isinstance(prior, int | float) and prior >= 0)):
        raise PersonaInputError(f"dormant_max_prior must be a count >= 0, 'auto' or None, not {prior!r}")
    gap = config.deposit_max_value_gap
    if not (gap is None or (isinstance(gap, int | float) and gap >= 0)):
        raise PersonaInputError(f"deposit_max_value_gap must be a share >= 0 or None, not {gap!r}")
    whale = config.whale_trade_size
    if not (whale is None or whale == "auto" or (isinstance(whale, int | float) and whale > 0)):
        raise PersonaInputError(f"whale_trade_size must be a size > 0, 'auto' or None, not {whale!r}")
    release = config.dormant_release_days
    if not (release is None or release == "auto" or (isinstance(release, int | float) and release > 0)):
        raise PersonaInputError(
            f"dormant_release_days must be a number of days > 0, 'auto' or None, not {release!r}"
        )
    if config.tie_break not in ("finer", "stable"):
        raise PersonaInputError(f"unknown tie_break {config.tie_break!r}: finer or stable")
    for knob in ("refine_sample", "member_sample"):
        value = getattr(config, knob)
        if not isinstance(value, int) or value < 1:
            raise PersonaInputError(f"{knob} must be a whole number >= 1, not {value!r}")
    if features[config.id_column].duplicated().any():
        raise PersonaInputError(f"{config.id_column!r} has duplicates: one row per wallet is expected")
    return _feature_columns(features, config)


def _senders(features: pd.DataFrame, config: PersonaConfig) -> np.ndarray:
    """Rows of wallets that sent in the data and are not contracts: the population the lines read."""
    sent = np.ones(len(features), dtype=bool)
    if config.activity_column and config.activity_column in features:
        activity = pd.to_numeric(features[config.activity_column], errors="coerce").fillna(0)
        sent = (activity >= config.min_tx_count).to_numpy()
    if config.contract_column and config.contract_column in features:
        sent &= ~features[config.contract_column].fillna(False).astype(bool).to_numpy()
    return sent


def _resolve_dormant_days(features: pd.DataFrame, config: PersonaConfig) -> tuple[PersonaConfig, str]:
    """The config with numbers (or None) for `dormant_days` and `dormant_max_prior`, and how."""
    if config.dormant_days is None or not config.recency_column or config.recency_column not in features:
        off = replace(config, dormant_days=None, dormant_max_prior=None, dormant_release_days=None)
        return off, "off: no recency column"
    sent = _senders(features, config)
    if config.dormant_days == "auto":
        recency = pd.to_numeric(features.loc[sent, config.recency_column], errors="coerce")
        days, how = fit_dormant_days(recency.to_numpy(dtype=float), config.seed)
        config = replace(config, dormant_days=days)
    else:
        how = "fixed by configuration"
    if config.dormant_max_prior == "auto":
        if PRIOR_COLUMN in features:
            # Read from the wallets still in use (not quiet by the window): a population that is
            # mostly stopped wallets would otherwise pull the line into their own short histories.
            since = pd.to_numeric(features[config.recency_column], errors="coerce").to_numpy(dtype=float)
            in_use = sent & (since < config.dormant_days)
            prior = pd.to_numeric(features.loc[in_use, PRIOR_COLUMN], errors="coerce").to_numpy(dtype=float)
            line, prior_how = fit_dormant_max_prior(prior)
        else:
            line, prior_how = None, f"off: no {PRIOR_COLUMN} column"
        config = replace(config, dormant_max_prior=line)
        how += f"; prior history: {prior_how}"
    if config.dormant_release_days == "auto":
        gap = typical_gap_days(features.loc[sent], config.recency_column)
        release = None if gap is None else round(RELEASE_MAX_GAPS * gap, 3)
        config = replace(config, dormant_release_days=release)
        how += (
            "; release: off, no wallet with two active days"
            if gap is None
            else f"; release while silent under {RELEASE_MAX_GAPS:g} typical gaps of {gap:.2f} days"
        )
    return config, how


def _resolve_whale_trade_size(features: pd.DataFrame, config: PersonaConfig) -> tuple[PersonaConfig, str]:
    """The config with a number (or None) for `whale_trade_size`, and how it was set."""
    if config.whale_trade_size != "auto":
        return config, "fixed by configuration" if config.whale_trade_size is not None else "off"
    if TRADE_SIZE_COLUMN not in features:
        return replace(config, whale_trade_size=None), f"off: no {TRADE_SIZE_COLUMN} column"
    sizes = pd.to_numeric(features.loc[_senders(features, config), TRADE_SIZE_COLUMN], errors="coerce")
    line, how = fit_whale_trade_size(sizes.to_numpy(dtype=float))
    return replace(config, whale_trade_size=line), how


def _kept_by_rhythm(features: pd.DataFrame, rule: pd.Series, config: PersonaConfig) -> int:
    """Wallets quiet for `dormant_days` that the rhythm test left to the model.

    Every rule but dormancy overrides or precedes it, so a wallet the days alone would call dormant
    and the rules left unnamed is one the rhythm kept: counted without running the rules again.
    """
    if config.dormant_days is None or not config.recency_column or config.recency_column not in features:
        return 0
    since = pd.to_numeric(features[config.recency_column], errors="coerce").to_numpy(dtype=float)
    return int((rule.isna().to_numpy() & (since >= config.dormant_days)).sum())


def _previous_personas(
    previous: PersonaModel | None, features: pd.DataFrame
) -> tuple[np.ndarray | None, str]:
    """The persona `previous` gives each row (None where its rules named the row), and why not."""
    if previous is None:
        return None, "no previous model"
    try:
        rule = previous.config.rules(features)
        served = previous.predict(features)["persona"].to_numpy(dtype=object)
    except PersonaInputError as exc:
        return None, f"not matched: {exc}"
    served[~rule.isna().to_numpy()] = None
    return served, "matched"


def _personas_of(member: Member, z: np.ndarray) -> np.ndarray:
    """The persona one fit gives each row: the name of its top cluster."""
    return np.asarray(member.cluster_names, dtype=object)[member.clusterer.predict(z)]


def _name(
    model: ClusterModel,
    labels: np.ndarray,
    raw: pd.DataFrame,
    skip: tuple[str, ...],
    previous: np.ndarray | None,
    min_overlap: float,
) -> tuple[list[str], pd.DataFrame, dict]:
    """Names of `model`'s clusters (`labels` of the rows of `raw`), their profiles, and how named.

    The vocabulary names each cluster from its profile; with `previous` (the persona the previous
    model gave each row, None where a rule did), inherited names replace them (naming.py).
    """
    prof = profiles(raw, labels, model.n_clusters)
    vocabulary = name_clusters(prof, model.n_clusters, skip=skip)
    names, matches = vocabulary, {}
    if previous is not None:
        names, matches = inherit_names(vocabulary, labels, previous, min_overlap, skip=skip)
    return names, prof, {"vocabulary": vocabulary, **matches}


def foreign_table(features: pd.DataFrame) -> bool:
    """A table with none of our mart's model features: someone else's columns (a Dune query...)."""
    return not set(WALLET_FEATURES) & set(features.columns)


def foreign_names(vocabulary: list[str], raw: pd.DataFrame, labels: np.ndarray, k: int) -> list[str]:
    """The vocabulary's name where no other cluster has it, else a descriptive one; all distinct."""
    described = descriptive_names(raw, labels, k)
    counts = pd.Series(vocabulary).value_counts()
    names = [v if v != MIXED and counts[v] == 1 else d for v, d in zip(vocabulary, described, strict=True)]
    return unique_names(names, np.bincount(labels[labels >= 0], minlength=k)[:k])


def majority_names(labels: np.ndarray, reference: np.ndarray, k: int) -> list[str]:
    """Per cluster of `labels`, the `reference` name most of its rows carry (the first one if empty)."""
    out = []
    for c in range(k):
        held = pd.Series(reference[labels == c])
        out.append(str(held.mode().iloc[0]) if len(held) else str(reference[0]))
    return out


class PhaseClock:
    """Wall and CPU seconds of each phase of a training, and their totals.

    CPU seconds (every thread of this process) are reported beside wall seconds because the
    machines we measure on are shared: the wall time also counts the other jobs' turns, while on one
    thread (below SINGLE_THREAD_BELOW) the CPU time is what the wall time would be on an idle core.
    """

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._start = self._last = (time.perf_counter(), time.process_time())

    def lap(self, phase: str) -> None:
        """Close `phase`: the time since the previous lap (or the start) is its time."""
        now = (time.perf_counter(), time.process_time())
        self.wall[phase] = now[0] - self._last[0]
        self.cpu[phase] = now[1] - self._last[1]
        self.wall["total"], self.cpu["total"] = now[0] - self._start[0], now[1] - self._start[1]
        self._last = now

    @staticmethod
    def rounded(seconds: dict[str, float]) -> dict[str, float]:
        """`seconds` to the millisecond, the total last."""
        return {k: round(v, 3) for k, v in sorted(seconds.items(), key=lambda kv: kv[0] == "total")}


# Below this many wallets training runs scikit-learn's OpenMP loops (K-Means, GMM) on one thread.
# On small arrays the threads spend more time waiting for each other than computing, and far more
# when other processes share the cores: with another pipeline and two test workers on the 2-core
# machine, training took 89 s with two threads and 11 s with one at 2,773 wallets, and 217 s
# against 81 s at 100,000 (docs/personas.md). Large tables keep every core.
SINGLE_THREAD_BELOW = 250_000


def train_personas(
    features: pd.DataFrame, config: PersonaConfig | None = None, previous: PersonaModel | None = None
) -> tuple[PersonaModel, SelectionReport]:
    """Fit the persona model on a wallets-by-features table; see docs/personas.md."""
    if len(features) >= SINGLE_THREAD_BELOW:
        return _train_personas(features, config, previous)
    # Every pool, BLAS too: mixtures spend their time in BLAS (Cholesky, matrix products), and two
    # OpenBLAS threads on a loaded 2-core machine fitted a 6-component mixture on 2,000 rows in
    # 2.8 s against 0.26 s on one thread (K-Means: 6.4 s against 0.05 s).
    with threadpool_limits(limits=1):
        return _train_personas(features, config, previous)


def _train_personas(
    features: pd.DataFrame, config: PersonaConfig | None, previous: PersonaModel | None
) -> tuple[PersonaModel, SelectionReport]:
    config = config or PersonaConfig()
    if isinstance(features, pd.DataFrame) and len(features.columns):
        # Any user's table: `wallet_address`, `wallet`, a column of 0x addresses (preprocess.py).
        try:
            config = replace(config, id_column=detect_id_column(features, config.id_column))
        except ValueError as exc:
            raise PersonaInputError(str(exc)) from exc
    clock = PhaseClock()
    cols = _validate(features, config)
    config, dormant_how = _resolve_dormant_days(features, config)
    config, whale_how = _resolve_whale_trade_size(features, config)
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
    clock.lap("preprocess")

    # Held-out wallets for calibration; candidates are fitted on a sample of the rest.
    perm = rng.permutation(len(z))
    n_hold = int(min(config.max_holdout, max(2, config.holdout_share * len(z))))
    hold, pool = perm[:n_hold], perm[n_hold:]
    z_fit = z[pool[: config.selection_sample]]
    z_eval = z_fit[: config.eval_sample]
    numeric = [c for c in features.columns if c != config.id_column and _numeric(features[c])]
    raw = features.loc[active, numeric].astype(float).reset_index(drop=True)
    # A name a rule gives is never a cluster's: the rule has taken those wallets out of the model.
    skip = (DORMANT,) if config.dormant_days is not None else ()
    if config.operator_rules:
        skip += operator_rules_in_force(features.columns, config.spoofing_rule)
    # Selection sees at most `selection_sample` rows whatever the table's size: small arrays, on
    # which threads wait for each other (SINGLE_THREAD_BELOW), so one thread at every size.
    with threadpool_limits(limits=1):
        table, fitted = select(config, z_fit, z_eval, raw.iloc[pool[: config.selection_sample]], skip)
    clock.lap("selection")

    # The served model (docs/personas.md, section 5): the winner fitted again on every modelled
    # wallet outside the held-out set, and its bootstrap refits, each fitted again on its own
    # bootstrap of those wallets. Calibration refits of the same procedure, with other seeds, are
    # not in the ensemble: they measure how often a persona survives a refit, and whether the
    # refined winner still passes the stability test it was chosen under.
    ref_rows = pool[: config.refine_sample]
    z_ref = z[ref_rows]

    def refined(m: ClusterModel, seed: int) -> ClusterModel:
        """A refit refined on its own bootstrap of the refinement wallets."""
        if not config.refine:
            return m
        boot = np.random.default_rng(seed).integers(0, len(z_ref), min(len(z_ref), config.member_sample))
        return refine(m, z_ref[boot], seed, min_share=config.min_cluster_share)[0]

    refused: dict[str, float] = {}
    tried: list[dict] = []
    for _ in range(MAX_WINNERS_TRIED):
        winner, ranked = choose_winner(table, config, refused)
        candidate, model, refits = fitted[winner]
        final: dict = {"candidate": winner, "refined": False, "reason": "refine is off"}
        if config.refine:
            model, info = refine(model, z_ref, config.seed, min_share=config.min_cluster_share)
            final = {"candidate": winner, **info}
        seeds = refit_seeds(config)[: len(refits)]  # a winner of fewer than 2 clusters has no refits
        check_seeds = [s + 500 for s in seeds]
        checks = refit(candidate, z_fit, check_seeds, config.small_sample)
        checks = [refined(r, s) for r, s in zip(checks, check_seeds, strict=True) if r.n_clusters >= 1]
        if final["refined"]:
            final |= score_model(model, checks, z_ref, z_eval)
        # Without calibration refits (stability_refits=0) there is nothing to hold against.
        stability = final["stability"] if final["refined"] and checks else np.inf
        tried.append(
            {"winner": winner, "ranked": ranked, "model": model, "refits": refits, "seeds": seeds}
            | {"checks": checks, "final": final, "stability": stability}
        )
        if stability >= config.min_stability or not (ranked["eligible"] & ~ranked["winner"]).any():
            break
        refused[winner] = float(stability)
    # The winner that held is served; when none did, the most stable of those tried.
    held = [a for a in tried if a["stability"] >= config.min_stability]
    served = held[-1] if held else max(tried, key=lambda a: a["stability"])
    winner, model, refits, seeds, checks, final = (
        served[k] for k in ("winner", "model", "refits", "seeds", "checks", "final")
    )
    refused.pop(winner, None)
    table = served["ranked"].assign(
        refused_served_stability=served["ranked"]["candidate"].map(refused).astype(float),
        winner=served["ranked"]["candidate"] == winner,
    )
    final["held"] = bool(held)
    final["refused"] = refused
    fits = [refined(r, s) for r, s in zip(refits, seeds, strict=True)]
    clock.lap("refinement")

    # Names: the winner's from its profile over every modelled wallet (kept as the model's
    # profiles); every other fit's from its profile over the refinement wallets. With `previous`,
    # a cluster whose wallets mostly had one persona from it keeps that name (naming.py).
    prev, prev_how = _previous_personas(previous, features.loc[active])
    labels = model.predict(z)
    names, prof, matches = _name(model, labels, raw, skip, prev, config.min_name_overlap)
    name_info: dict = {"vocabulary": matches.pop("vocabulary"), "previous": prev_how}
    if prev is not None:
        name_info["matches"] = matches
    # The other fits are named on a sample of the refinement wallets (`member_sample`; the rows of
    # `pool` are in random order, so its first rows are one).
    name_rows = ref_rows[: config.member_sample]
    z_name, raw_name = z[name_rows], raw.iloc[name_rows]
    prev_name = None if prev is None else prev[name_rows]

    def named(m: ClusterModel) -> Member:
        return Member(m, _name(m, m.predict(z_name), raw_name, skip, prev_name, config.min_name_overlap)[0])

    if foreign_table(features):
        # A table of someone else's columns: the vocabulary's names where they are distinct, else
        # descriptive names (descriptive.py). Descriptive names differ between refits, so every
        # other fit takes, per cluster, the name most of its wallets get from the winner.
        names = foreign_names(names, raw, labels, model.n_clusters)
        name_info["final"] = list(names)
        winner_names = np.asarray(names, dtype=object)[model.predict(z_name)]

        def named(m: ClusterModel) -> Member:  # noqa: F811 (the foreign table's naming)
            return Member(m, majority_names(m.predict(z_name), winner_names, m.n_clusters))

    else:
        # Our mart: vocabulary names; a cluster none fits is named from its profile (naming.py),
        # and each other fit's unfit clusters vote for the winner's name of most of their wallets.
        names, name_info["unfit"] = describe_unfit(names, raw, labels, model.n_clusters, skip, config.seed)
        winner_names = np.asarray(names, dtype=object)[model.predict(z_name)]

        def named(m: ClusterModel) -> Member:  # noqa: F811 (unfit clusters named after the winner)
            labels_name = m.predict(z_name)
            own = _name(m, labels_name, raw_name, skip, prev_name, config.min_name_overlap)[0]
            return Member(m, fill_unfit(own, labels_name, winner_names))

    members = tuple(named(m) for m in fits if m.n_clusters >= 1) if config.ensemble else ()
    check_members = [named(m) for m in checks]
    name_info["final"] = list(names)
    name_info["members"] = [list(m.cluster_names) for m in members]
    clock.lap("naming")

    # Calibration (docs/personas.md, section 6). A mixture's (the refined winner's) cluster
    # probabilities are its posterior: T = 1. A centroid model's scores are distances, and T is
    # fitted on one half of the held-out wallets so that the winner's cluster confidence matches
    # how often the calibration refits (aligned by the Hungarian method) keep the wallet in its
    # cluster. Either way the persona confidence a user reads (the ensemble's mean probability) is
    # then checked, on the other half, against how often a calibration refit, named on its own,
    # gives the wallet the same persona. T is not fitted on personas: a T that flattens the
    # clusters before they are summed lets a persona made of many clusters outvote the nearest one.
    z_hold = z[hold]
    scores = model.scores(z_hold)
    check_labels = [m.clusterer.predict(z_hold) for m in check_members]
    check_k = [m.clusterer.n_clusters for m in check_members]
    agree = agreement(scores.argmax(1), check_labels, model.n_clusters, check_k)
    half = len(hold) // 2
    temperature = 1.0 if model.kind == "gmm" else fit_temperature(scores[:half], agree[:half])
    persona_model = PersonaModel(
        config=config,
        feature_columns=cols,
        preprocessor=pre,
        clusterer=model,
        temperature=temperature,
        cluster_names=names,
        profiles=prof,
        trained_rows=len(features),
        members=members,
        display_names=tuple(display_names(names, raw, labels, model.n_clusters)),
    )
    personas = np.asarray(persona_model.personas, dtype=object)
    served_all = personas[persona_model.served_probabilities(z, features.loc[active]).argmax(1)]
    persona_model.persona_prior = {p: float((served_all == p).mean()) for p in personas}
    p_hold = persona_model.persona_probabilities(z_hold)
    served_hold, p_conf = personas[p_hold.argmax(1)], p_hold.max(1)
    hits = np.zeros(len(hold))
    for m in check_members:
        hits += _personas_of(m, z_hold) == served_hold
    n_checks = len(check_members)
    p_agree, p_raw = share_of_refits(hits, n_checks), share_of_refits(hits, n_checks, smoothed=False)
    conf = confidence(scores, temperature)
    calibration = {
        "temperature": temperature,
        "temperature_from": "mixture posterior" if model.kind == "gmm" else "fitted on clusters",
        "ece_heldout": expected_calibration_error(p_conf[half:], p_agree[half:]),
        "ece_heldout_vs_raw_agreement": expected_calibration_error(p_conf[half:], p_raw[half:]),
        "mean_confidence": float(p_conf[half:].mean()),
        "mean_agreement": float(p_agree[half:].mean()),
        "mean_raw_agreement": float(p_raw[half:].mean()),
        "ece_heldout_clusters": expected_calibration_error(conf[half:], agree[half:]),
        "ece_fit_half_clusters": expected_calibration_error(conf[:half], agree[:half]),
        "confidence_quantiles": {q: float(np.quantile(p_conf, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)},
        "heldout_wallets": int(len(hold) - half),
        "calibration_refits": n_checks,
    }
    if final.get("refined"):
        # Beside the cluster scores (taken when the winner was tried): the share of evaluation
        # wallets whose persona a calibration refit keeps.
        served_eval = personas[persona_model.persona_probabilities(z_eval).argmax(1)]
        kept = [(_personas_of(m, z_eval) == served_eval).mean() for m in check_members]
        final["persona_agreement"] = float(np.mean(kept)) if kept else float("nan")
    final["ensemble_members"] = 1 + len(members)
    final["baseline"] = baseline_comparison(table, final, config)
    clock.lap("calibration")

    rule_text = WINNER_RULE.format(**config.__dict__)
    if config.refine:
        rule_text += REFINE_RULE.format(**config.__dict__, max_winners_tried=MAX_WINNERS_TRIED)
    if config.ensemble:
        rule_text += ENSEMBLE_RULE.format(members=1 + len(members))
    report = SelectionReport(
        table=table,
        winner=winner,
        rule=rule_text,
        calibration=calibration,
        timings=clock.rounded(clock.wall),
        cpu_timings=clock.rounded(clock.cpu),
        population={
            "dormant_days": config.dormant_days,
            "dormant_days_chosen": dormant_how,
            "dormant_gap_multiple": config.dormant_gap_multiple,
            "dormant_max_prior": config.dormant_max_prior,
            "dormant_release_days": config.dormant_release_days,
            "whale_trade_size": config.whale_trade_size,
            "whale_trade_size_chosen": whale_how,
            # Wallets quiet for the days but not for their own rhythm: the model scored them.
            "dormant_kept_by_rhythm": _kept_by_rhythm(features, rule, config),
            "features": list(cols),
            "dropped_features": dropped,
            "wallets": len(features),
            "modelled": int(active.sum()),
            **{p: int((rule == p).sum()) for p in RULE_PERSONAS},
        },
        names=name_info,
        final=final,
    )
    return persona_model, report
