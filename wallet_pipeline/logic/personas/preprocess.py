"""One scikit-learn Pipeline from raw numeric features to the space the clusterers see.

Steps, all fitted on training wallets only:

1. `NullHandler`: a NULL feature means "not applicable" in the wallet feature mart (no swaps, so
   no average trade size; fewer than 3 transactions, so no inter-arrival CV). It becomes 0, and a
   `<column>__missing` 0/1 indicator is added for every column that had NULLs in training
   (`fill="median"` fills with the training median instead).
2. `QuantileClipper`: each column is clipped to its training quantiles (default 0.1% and 99.9%),
   so a handful of hot wallets cannot own a whole axis.
3. `PowerTransformer(method="yeo-johnson")`: counts and volumes are heavy-tailed and zero-inflated;
   Yeo-Johnson takes zeros and negative values (balance deltas), unlike Box-Cox or log.
4. `StandardScaler`, then an optional `PCA`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PowerTransformer, StandardScaler


class NullHandler(TransformerMixin, BaseEstimator):
    """Fill NULLs (0 or training median) and add a missing indicator per column that had NULLs."""

    def __init__(self, fill: str = "zero") -> None:
        self.fill = fill

    def fit(self, X: pd.DataFrame, y: object = None) -> NullHandler:  # noqa: N803
        frame = pd.DataFrame(X).astype(float)
        if self.fill not in ("zero", "median"):
            raise ValueError(f"fill must be 'zero' or 'median', not {self.fill!r}")
        self.columns_ = list(frame.columns)
        self.with_nulls_ = [c for c in frame.columns if frame[c].isna().any()]
        medians = frame.median()
        self.fill_values_ = {c: (0.0 if self.fill == "zero" else float(medians[c])) for c in frame}
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        frame = pd.DataFrame(X, columns=self.columns_).astype(float)
        out = frame.fillna(self.fill_values_)
        for c in self.with_nulls_:
            out[f"{c}__missing"] = frame[c].isna().astype(float)
        return out

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.array(self.columns_ + [f"{c}__missing" for c in self.with_nulls_], dtype=object)


class QuantileClipper(TransformerMixin, BaseEstimator):
    """Clip each column to quantiles fitted on the training data."""

    def __init__(self, lower: float = 0.001, upper: float = 0.999) -> None:
        self.lower = lower
        self.upper = upper

    def fit(self, X: pd.DataFrame, y: object = None) -> QuantileClipper:  # noqa: N803
        values = np.asarray(X, dtype=float)
        self.low_ = np.quantile(values, self.lower, axis=0)
        self.high_ = np.quantile(values, self.upper, axis=0)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return np.clip(np.asarray(X, dtype=float), self.low_, self.high_)


def build_preprocessor(
    null_fill: str = "zero",
    clip: tuple[float, float] = (0.001, 0.999),
    pca_components: int | float | None = None,
    seed: int = 0,
) -> Pipeline:
    """The preprocessing Pipeline described in the module docstring (unfitted)."""
    steps: list[tuple[str, object]] = [
        ("nulls", NullHandler(fill=null_fill)),
        ("clip", QuantileClipper(*clip)),
        ("yeo_johnson", PowerTransformer(method="yeo-johnson", standardize=False)),
        ("scale", StandardScaler()),
    ]
    if pca_components is not None:
        steps.append(("pca", PCA(n_components=pca_components, random_state=seed)))
    return Pipeline(steps)


# Names a per-wallet table gives its id column, in order of preference (lower case): ours, then
# what Dune queries (`wallet_address`, `address`), BigQuery's public crypto tables (`address`,
# `from_address`) and hand-made sheets (`wallet`, `addr`, `account`) use.
ID_NAMES = ("address", "wallet_address", "wallet", "addr", "account", "account_address", "from_address")
_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def detect_id_column(table: pd.DataFrame, configured: str | None = "address") -> str:
    """The table's wallet id column: `configured` when present, else a known name, else addresses.

    The last resort is the first text column whose values (up to the first 200 non-null) are all
    0x followed by 40 hex digits. A table with none of these is refused with its column names.
    """
    if configured and configured in table.columns:
        return configured
    by_lower = {str(c).lower(): c for c in table.columns}
    for name in ID_NAMES:
        if name in by_lower:
            return str(by_lower[name])
    for col in table.columns:
        if pd.api.types.is_numeric_dtype(table[col]):
            continue
        values = table[col].dropna().head(200).astype(str).str.strip()
        if len(values) and values.map(lambda v: bool(_HEX_ADDRESS.match(v))).all():
            return str(col)
    raise ValueError(
        f"no wallet id column: expected {configured!r}, one of {', '.join(ID_NAMES)}, or a column of "
        f"0x + 40-hex addresses; columns are {list(table.columns)[:20]} (name it with "
        "PersonaConfig(id_column=...) or --id-column)"
    )
