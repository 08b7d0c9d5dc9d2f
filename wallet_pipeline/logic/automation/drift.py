"""Feature drift between the data a persona model was trained on and the data of today.

A *reference* is computed once, on the training features, and stored with the model (a JSON
artifact of its MLflow run); `compare` measures today's features against it:

- **PSI** (population stability index) per feature over the reference's bins:
  ``PSI = sum_i (a_i - e_i) * ln(a_i / e_i)`` where ``e_i`` and ``a_i`` are the reference and current
  shares of bin ``i``, each floored at ``EPSILON`` (1e-4) so an empty bin counts as a rare one
  instead of dividing by zero. Bins: the reference's deciles (``bins`` quantiles, duplicates
  removed, so a point mass such as "0 for most wallets" is one bin of its own), right-closed, open at
  both ends, plus one bin for NULL: a feature turning NULL (its source table gone) is drift too.
- **KS**: scipy's two-sample Kolmogorov-Smirnov test between a stored sample of the reference's
  non-null values and a sample of today's. With thousands of rows KS rejects differences too small
  to matter, and PSI on a small table is noisy; a feature counts as drifted only when both agree
  (PSI at or above its threshold and the KS p-value below its threshold).
- **Null share** of each feature, then and now.
- **Persona change share**: of the wallets whose persona the model gave at training (a stored
  sample, addresses and personas) that are still in the table, the share the same model now puts in
  another persona. It is the part of the drift users see: a wallet changes persona only when its
  features crossed a boundary. Cluster names and the dormancy threshold are learned from the
  population (percentiles, a mixture over recency), so when many wallets cross, the model describes a
  population that is gone and a retrain is due. The shift of the persona mix (total variation
  distance between the stored personas and today's predictions on a sample of today's wallets, that
  is the least share of wallets that would have to change persona to turn one mix into the other)
  is reported beside it, because new wallets have no stored persona.

Plain functions, no Dagster and no MLflow; `DriftReport.should_retrain` decides with
`DriftThresholds`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

REFERENCE_FORMAT = 1
EPSILON = 1e-4
DEFAULT_BINS = 10
DEFAULT_SAMPLE = 5_000
ID_COLUMN = "address"

# Environment variables of the thresholds, read by settings.py through `thresholds_from_env`.
ENV_PSI = "WALLET_DRIFT_PSI"
ENV_KS_PVALUE = "WALLET_DRIFT_KS_PVALUE"
ENV_PERSONA_CHANGE = "WALLET_DRIFT_PERSONA_CHANGE"
ENV_MIN_FEATURES = "WALLET_DRIFT_MIN_FEATURES"


class DriftInputError(ValueError):
    """A reference or a features table that drift cannot be measured on."""


class Predictor(Protocol):
    """What persona change needs of a model: `predict` giving `address` and `persona` columns."""

    def predict(self, features: pd.DataFrame) -> pd.DataFrame: ...  # noqa: D102


@dataclass(frozen=True)
class DriftThresholds:
    """When drift calls for a retrain.

    A feature drifted when its PSI >= `psi` and its KS p-value < `ks_pvalue`; a retrain is due when
    at least `min_features` features drifted or the persona change share is >= `persona_change`.
    PSI 0.1-0.25 is the usual "moderate shift" band; 0.2 is in it.
    """

    psi: float = 0.2
    ks_pvalue: float = 0.01
    persona_change: float = 0.1
    min_features: int = 1

    def __post_init__(self) -> None:
        """Refuse values out of range, naming the field."""
        _check_range("psi", self.psi, 0.0, math.inf, low_open=True, high_open=True)
        _check_range("ks_pvalue", self.ks_pvalue, 0.0, 1.0, low_open=True, high_open=False)
        _check_range("persona_change", self.persona_change, 0.0, 1.0, low_open=True, high_open=False)
        if (
            isinstance(self.min_features, bool)
            or not isinstance(self.min_features, int)
            or self.min_features < 1
        ):
            raise ValueError(
                f"DriftThresholds.min_features must be a whole number >= 1, not {self.min_features!r}"
            )


def _check_range(
    name: str, value: object, low: float, high: float, *, low_open: bool, high_open: bool
) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(
            f"DriftThresholds.{name} must be a number in {left}{low:g}, {high:g}{right}, not {value!r}"
        )


def thresholds_from_env(env: Mapping[str, str]) -> DriftThresholds:
    """Thresholds from `WALLET_DRIFT_PSI`, `_KS_PVALUE`, `_PERSONA_CHANGE`, `_MIN_FEATURES`.

    Unset or empty variables keep the defaults. A value that is not a number, or out of range,
    raises ValueError naming the variable.
    """
    values: dict[str, Any] = {}
    variables: dict[str, str] = {}
    for var, name, kind in (
        (ENV_PSI, "psi", float),
        (ENV_KS_PVALUE, "ks_pvalue", float),
        (ENV_PERSONA_CHANGE, "persona_change", float),
        (ENV_MIN_FEATURES, "min_features", int),
    ):
        text = (env.get(var) or "").strip()
        if not text:
            continue
        variables[name] = f"{var}={text!r}"
        try:
            values[name] = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise ValueError(f"{var}={text!r} is not {what}") from None
    try:
        return DriftThresholds(**values)
    except ValueError as exc:
        # Name the variable the user set, not only the field it feeds.
        culprit = next((v for n, v in variables.items() if f".{n} " in str(exc)), "drift thresholds")
        raise ValueError(f"{culprit}: {exc}") from None


def _values(features: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float (booleans 0/1), NaN for NULL and for values that are not numbers."""
    s = features[column]
    if s.dtype == object or pd.api.types.is_bool_dtype(s):
        # DuckDB hands nullable booleans over as pandas "boolean"; to_numeric takes them as objects.
        s = pd.to_numeric(s.astype(object), errors="coerce")
    return pd.to_numeric(s, errors="coerce").astype("Float64").to_numpy(dtype="float64", na_value=np.nan)


def _sample(values: np.ndarray, size: int, seed: int) -> np.ndarray:
    if len(values) <= size:
        return values
    return np.random.default_rng(seed).choice(values, size=size, replace=False)


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of the value bins (right-closed on `edges`, open at both ends), then of NULL."""
    nulls = np.isnan(values)
    counts = np.bincount(np.searchsorted(edges, values[~nulls], side="left"), minlength=len(edges) + 1)
    counts = np.append(counts, nulls.sum()).astype(float)
    return counts / max(len(values), 1)


def data_fingerprint(features: pd.DataFrame, columns: Sequence[str]) -> str:
    """SHA-256 of the addresses and `columns`, independent of row order and of integer vs float.

    Two tables with the same wallets and the same values of these columns give the same fingerprint,
    so a drift evaluation (which reads nothing else) is the same for both.
    """
    missing = [c for c in (ID_COLUMN, *columns) if c not in features.columns]
    if missing:
        raise DriftInputError(f"features lack columns {missing}")
    frame = pd.DataFrame({c: _values(features, c) for c in sorted(columns)})
    frame.insert(0, ID_COLUMN, features[ID_COLUMN].astype(str).to_numpy())
    frame = frame.sort_values(ID_COLUMN, kind="stable")
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    digest = hashlib.sha256(",".join(sorted(columns)).encode())
    digest.update(rows.tobytes())
    return digest.hexdigest()


def feature_reference(
    features: pd.DataFrame,
    columns: Sequence[str],
    bins: int = DEFAULT_BINS,
    sample_size: int = DEFAULT_SAMPLE,
    seed: int = 0,
) -> dict[str, Any]:
    """What `compare` needs of the training features, as a JSON-ready dict.

    Per column: bin edges (the `bins`-quantiles of the non-null values, duplicates removed), the
    share of each bin and of NULL, the null share and a sample of at most `sample_size` non-null
    values for the KS test. Also the row count and `data_fingerprint`.
    """
    if bins < 2:
        raise DriftInputError(f"bins must be at least 2, not {bins}")
    if features.empty:
        raise DriftInputError("the features table is empty: there is no reference to take")
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise DriftInputError(f"features lack columns {missing}")
    per_column: dict[str, Any] = {}
    for i, column in enumerate(columns):
        values = _values(features, column)
        present = values[~np.isnan(values)]
        quantiles = np.linspace(0, 1, bins + 1)[1:-1]
        edges = np.unique(np.quantile(present, quantiles)) if len(present) else np.array([])
        per_column[column] = {
            "edges": edges.tolist(),
            "shares": _shares(values, edges).tolist(),
            "null_share": float(np.isnan(values).mean()),
            "sample": _sample(present, sample_size, seed + i).tolist(),
        }
    return {
        "format": REFERENCE_FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": len(features),
        "fingerprint": data_fingerprint(features, columns),
        "bins": bins,
        "epsilon": EPSILON,
        "columns": per_column,
    }


def persona_reference(
    model: Predictor, features: pd.DataFrame, sample_size: int = DEFAULT_SAMPLE, seed: int = 0
) -> dict[str, list[str]]:
    """The personas `model` gives a sample of the wallets it was trained on: addresses and personas."""
    rows = features if len(features) <= sample_size else features.sample(sample_size, random_state=seed)
    predicted = model.predict(rows)
    return {"addresses": predicted[ID_COLUMN].astype(str).tolist(), "personas": predicted["persona"].tolist()}


def psi(
    reference_shares: Sequence[float], current_shares: Sequence[float], epsilon: float = EPSILON
) -> float:
    """Population stability index of two share vectors over the same bins (see the module doc)."""
    e = np.maximum(np.asarray(reference_shares, dtype=float), epsilon)
    a = np.maximum(np.asarray(current_shares, dtype=float), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class PersonaChange:
    """How the model's personas moved: per wallet (matched by address) and as a mix."""

    share: float | None  # of compared wallets, those whose persona changed; None when none compared
    compared: int  # reference wallets still in the table
    missing: int  # reference wallets no longer in the table
    mix_shift: float | None  # total variation distance of the persona mix, reference vs current
    moves: dict[str, int] = field(default_factory=dict)  # "old -> new": wallets, largest first


def persona_change_share(
    model: Predictor,
    reference_personas: Mapping[str, Sequence[str]],
    current: pd.DataFrame,
    sample_size: int = DEFAULT_SAMPLE,
    seed: int = 0,
) -> PersonaChange:
    """Share of the reference wallets whose persona `model` now gives differs from the stored one.

    `reference_personas` is `persona_reference`'s output. The mix shift compares the stored
    personas' distribution with `model`'s predictions on a sample of `current` (new wallets included).
    """
    stored = pd.Series(list(reference_personas["personas"]), index=list(reference_personas["addresses"]))
    if stored.empty:
        return PersonaChange(share=None, compared=0, missing=0, mix_shift=None)
    matched = current[current[ID_COLUMN].astype(str).isin(stored.index)]
    now = model.predict(matched).set_index(ID_COLUMN)["persona"] if len(matched) else pd.Series(dtype=object)
    changed = now != stored.reindex(now.index)
    moves = (
        pd.DataFrame({"old": stored.reindex(now.index)[changed], "new": now[changed]}).value_counts().head(10)
    )
    mix_shift = None
    if len(current):
        sample = current if len(current) <= sample_size else current.sample(sample_size, random_state=seed)
        mix_now = model.predict(sample)["persona"].value_counts(normalize=True)
        mix_then = stored.value_counts(normalize=True)
        mix_shift = float(0.5 * mix_now.sub(mix_then, fill_value=0.0).abs().sum())
    return PersonaChange(
        share=float(changed.mean()) if len(now) else None,
        compared=len(now),
        missing=len(stored) - len(now),
        mix_shift=mix_shift,
        moves={f"{old} -> {new}": int(n) for (old, new), n in moves.items()},
    )


@dataclass(frozen=True)
class DriftReport:
    """Drift of today's features against a reference; `features` has one row per column.

    `features` columns: feature, psi, ks_statistic, ks_pvalue, null_share_reference,
    null_share_current, null_share_change.
    """

    features: pd.DataFrame
    rows_reference: int
    rows_current: int
    fingerprint_reference: str
    fingerprint_current: str
    persona: PersonaChange | None = None

    @property
    def same_data(self) -> bool:
        """Today's features are the ones the reference was taken on."""
        return self.fingerprint_reference == self.fingerprint_current

    @property
    def persona_change_share(self) -> float | None:
        """Share of reference wallets whose persona changed (None without a model or a match)."""
        return self.persona.share if self.persona else None

    def drifted_features(self, thresholds: DriftThresholds) -> pd.DataFrame:
        """Rows of `features` that drifted: PSI >= thresholds.psi and KS p-value < thresholds.ks_pvalue."""
        f = self.features
        # No non-null values now: KS cannot run, the NULL bin of the PSI carries the evidence alone.
        ks_rejects = (f["ks_pvalue"] < thresholds.ks_pvalue) | f["ks_pvalue"].isna()
        return f[(f["psi"] >= thresholds.psi) & ks_rejects].sort_values("psi", ascending=False)

    def should_retrain(self, thresholds: DriftThresholds) -> tuple[bool, str]:
        """Whether drift passed the thresholds, and a one-line reason either way."""
        if self.same_data:
            return False, "features are the ones the model was trained on"
        drifted = self.drifted_features(thresholds)
        parts = []
        if len(drifted) >= thresholds.min_features:
            listed = ", ".join(
                f"{r.feature} {r.psi:.3f}"
                + (f" (KS p={r.ks_pvalue:.1e})" if pd.notna(r.ks_pvalue) else " (all NULL)")
                for r in drifted.head(5).itertuples()
            )
            more = f" and {len(drifted) - 5} more" if len(drifted) > 5 else ""
            parts.append(f"PSI >= {thresholds.psi:g} on {len(drifted)} feature(s): {listed}{more}")
        share = self.persona_change_share
        if share is not None and share >= thresholds.persona_change:
            parts.append(
                f"persona changed for {share:.1%} of {self.persona.compared:,} reference wallets "
                f"(>= {thresholds.persona_change:.1%})"
            )
        if parts:
            return True, "; ".join(parts)
        worst = self.features.sort_values("psi", ascending=False).head(1)
        top = (
            f"largest PSI {worst['feature'].iloc[0]} {worst['psi'].iloc[0]:.3f}"
            if len(worst)
            else "no features"
        )
        persona = f", persona change {share:.1%}" if share is not None else ""
        return False, f"below thresholds: {top}{persona}"

    def metrics(self) -> dict[str, float]:
        """Figures for MLflow: psi_<f>, ks_<f> (statistic), ks_pvalue_<f>, null_share_<f>, persona_*."""
        out: dict[str, float] = {"rows_reference": self.rows_reference, "rows_current": self.rows_current}
        for r in self.features.itertuples():
            for name, value in (
                ("psi", r.psi),
                ("ks", r.ks_statistic),
                ("ks_pvalue", r.ks_pvalue),
                ("null_share", r.null_share_current),
            ):
                if pd.notna(value):
                    out[f"{name}_{r.feature}"] = float(value)
        if self.persona is not None:
            if self.persona.share is not None:
                out["persona_change_share"] = self.persona.share
            if self.persona.mix_shift is not None:
                out["persona_mix_shift"] = self.persona.mix_shift
            out["persona_compared"] = self.persona.compared
        return out

    def to_dict(self) -> dict[str, Any]:
        """The whole report, JSON-ready (NaN as None)."""
        table = self.features.astype(object).where(self.features.notna(), None)
        return {
            "rows_reference": self.rows_reference,
            "rows_current": self.rows_current,
            "fingerprint_reference": self.fingerprint_reference,
            "fingerprint_current": self.fingerprint_current,
            "features": table.to_dict(orient="records"),
            "persona": None if self.persona is None else self.persona.__dict__,
        }


def compare(
    reference: Mapping[str, Any],
    current_features: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    model: Predictor | None = None,
    sample_size: int = DEFAULT_SAMPLE,
    seed: int = 0,
) -> DriftReport:
    """Drift of `current_features` against `reference` (`feature_reference`'s output).

    `columns` defaults to every column of the reference. With `model` and the reference's
    `personas` (`persona_reference`), the report has the persona change share too.
    """
    from scipy.stats import ks_2samp

    if reference.get("format") != REFERENCE_FORMAT:
        raise DriftInputError(f"unknown drift reference format {reference.get('format')!r}")
    stored = reference["columns"]
    columns = list(stored) if columns is None else list(columns)
    unknown = [c for c in columns if c not in stored]
    if unknown:
        raise DriftInputError(f"the reference does not cover columns {unknown}")
    missing = [c for c in (ID_COLUMN, *stored) if c not in current_features.columns]
    if missing:
        raise DriftInputError(f"the current features lack columns {missing} that the reference monitors")
    if current_features.empty:
        raise DriftInputError("the current features table is empty")
    rows = []
    for i, column in enumerate(columns):
        ref = stored[column]
        values = _values(current_features, column)
        present = values[~np.isnan(values)]
        ks_stat = ks_p = math.nan
        if len(present) and len(ref["sample"]):
            ours = _sample(present, sample_size, seed + i)
            # Exact p-values are for small samples; at thousands of values scipy's exact calculation
            # gives up (with a warning) and the asymptotic one is accurate.
            method = "asymp" if min(len(ours), len(ref["sample"])) >= 1_000 else "auto"
            test = ks_2samp(np.asarray(ref["sample"]), ours, method=method)
            ks_stat, ks_p = float(test.statistic), float(test.pvalue)
        null_now = float(np.isnan(values).mean())
        rows.append(
            {
                "feature": column,
                "psi": psi(ref["shares"], _shares(values, np.asarray(ref["edges"], dtype=float))),
                "ks_statistic": ks_stat,
                "ks_pvalue": ks_p,
                "null_share_reference": ref["null_share"],
                "null_share_current": null_now,
                "null_share_change": null_now - ref["null_share"],
            }
        )
    persona = None
    if model is not None and reference.get("personas"):
        persona = persona_change_share(model, reference["personas"], current_features, sample_size, seed)
    return DriftReport(
        features=pd.DataFrame(rows),
        rows_reference=int(reference["rows"]),
        rows_current=len(current_features),
        fingerprint_reference=str(reference["fingerprint"]),
        fingerprint_current=data_fingerprint(current_features, list(stored)),
        persona=persona,
    )


def drift_columns(model: Any, features_columns: Sequence[str]) -> list[str]:  # noqa: ANN401 - PersonaModel
    """The columns a persona model reads: its features, then the rule columns the table has.

    Monitoring exactly what prediction reads means the data fingerprint changes when, and only
    when, the model's output could change.
    """
    from wallet_pipeline.logic.personas.population import (
        DEPOSIT_COLUMNS,
        OPERATOR_COLUMNS,
        PRIOR_COLUMN,
        RECEIVED_COLUMNS,
        RHYTHM_COLUMNS,
        SPOOFED_OUT_COLUMN,
        SPOOFING_COLUMN,
        SWAP_COLUMNS,
        TRADE_SIZE_COLUMN,
        VALUE_COLUMNS,
    )

    config = model.config
    rule = [config.activity_column, config.recency_column, config.contract_column]
    if config.activity_column:
        rule += [*RECEIVED_COLUMNS, SPOOFED_OUT_COLUMN]
    if config.operator_rules:
        rule += list(OPERATOR_COLUMNS)
        # The forged-transfer test of round 8 (docs/personas.md); models pickled before lack it.
        if getattr(config, "spoofing_rule", False):
            rule.append(SPOOFING_COLUMN)
    # Models pickled before the per-wallet deposit test have no such setting.
    if getattr(config, "deposit_by_wallet", False):
        rule += list(DEPOSIT_COLUMNS)
        if getattr(config, "deposit_max_value_gap", None) is not None:
            rule += list(VALUE_COLUMNS)
    # The per-wallet serving tests of round 7 (docs/personas.md); models pickled before lack them.
    if getattr(config, "nft_over_swaps", False):
        rule += list(SWAP_COLUMNS)
    if getattr(config, "whale_trade_size", None) is not None:
        rule.append(TRADE_SIZE_COLUMN)
    # The history test (a wallet long in use before the window is not Dormant Holder); older models lack it.
    if getattr(config, "dormant_max_prior", None) is not None:
        rule += [PRIOR_COLUMN, *RHYTHM_COLUMNS]
    present = set(features_columns)
    out = list(model.feature_columns)
    out += [c for c in dict.fromkeys(rule) if c and c in present and c not in out]  # each column once
    return out
