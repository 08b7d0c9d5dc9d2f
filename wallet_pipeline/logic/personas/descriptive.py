"""Descriptive names for clusters the persona vocabulary does not fit, from any feature table.

A cluster is described by the features that stand out most against the population, in robust z
units: (cluster median - population median) / population scale, where the scale is the
interquartile range / 1.349 (the standard deviation of a normal distribution with that IQR), or
1.4826 x the median absolute deviation when the IQR is 0, or the standard deviation when both are
0 (a column that is 0 for most wallets, like NFT trades, has IQR and MAD 0). Medians, not means:
one exchange in a cluster of a thousand wallets moves its mean volume by orders of magnitude.

The name is the `top` features whose |z| is at least `min_z`, strongest first: "High eth sent,
high unique counterparties". `min_z` = 0.5: half a (robust) standard deviation, the usual "medium"
effect size; below it on every feature a cluster is "Typical" (near the population median
everywhere). Two clusters never share a name: the second and later get " (2)", " (3)", larger
clusters first.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

MIN_Z = 0.5
TOP = 2
TYPICAL = "Typical"
_IQR_TO_SD = 1.349
_MAD_TO_SD = 1.4826


def _scale(values: np.ndarray) -> float:
    """Robust standard deviation of a column (IQR, then MAD, then SD); 0 for a constant column."""
    q1, q3 = np.nanquantile(values, [0.25, 0.75])
    if q3 > q1:
        return float((q3 - q1) / _IQR_TO_SD)
    mad = float(np.nanmedian(np.abs(values - np.nanmedian(values))))
    if mad > 0:
        return mad * _MAD_TO_SD
    sd = float(np.nanstd(values))
    return sd if sd > 0 else 0.0


def robust_z(raw: pd.DataFrame, labels: np.ndarray, k: int) -> pd.DataFrame:
    """Clusters x numeric columns: each cluster's median against the population, in robust z units.

    Constant or all-NULL columns are left out; a cluster without wallets gets NaN.
    """
    frame = raw.select_dtypes("number").astype(float)
    labels = np.asarray(labels)
    out: dict[str, list[float]] = {}
    for col in frame.columns:
        values = frame[col].to_numpy()
        if np.isnan(values).all():
            continue
        scale = _scale(values)
        if scale == 0:
            continue
        centre = float(np.nanmedian(values))
        z = []
        for c in range(k):
            v = values[labels == c]
            v = v[~np.isnan(v)]
            z.append((float(np.median(v)) - centre) / scale if len(v) else np.nan)
        out[col] = z
    return pd.DataFrame(out, index=range(k))


def label(column: str) -> str:
    """A column name read as words: "unique_counterparties" -> "unique counterparties", "nTxs" -> "n txs"."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", column).replace("_", " ").replace("-", " ")
    return re.sub(r"\s+", " ", words).strip().lower()


def describe(z_row: pd.Series, top: int = TOP, min_z: float = MIN_Z) -> str:
    """The name ("High x, low y") of one cluster's robust z row; "Typical" when nothing reaches `min_z`."""
    z = z_row.dropna()
    z = z[z.abs() >= min_z]
    if z.empty:
        return TYPICAL
    strongest = z.reindex(z.abs().sort_values(ascending=False).index)[:top]
    words = [("high " if v > 0 else "low ") + label(col) for col, v in strongest.items()]
    text = ", ".join(words)
    return text[0].upper() + text[1:]


def unique_names(names: list[str], sizes: list[int] | np.ndarray) -> list[str]:
    """The same names, the second and later holder of a name suffixed " (2)", " (3)" by size."""
    out = list(names)
    order = sorted(range(len(names)), key=lambda i: -int(sizes[i]))
    seen: dict[str, int] = {}
    for i in order:
        seen[names[i]] = seen.get(names[i], 0) + 1
        if seen[names[i]] > 1:
            out[i] = f"{names[i]} ({seen[names[i]]})"
    return out


def descriptive_names(
    raw: pd.DataFrame, labels: np.ndarray, k: int, top: int = TOP, min_z: float = MIN_Z
) -> list[str]:
    """A distinct descriptive name per cluster of `labels` (0..k-1) over the rows of `raw`."""
    z = robust_z(raw, labels, k)
    sizes = np.bincount(np.asarray(labels)[np.asarray(labels) >= 0], minlength=k)[:k]
    return unique_names([describe(z.loc[c], top, min_z) for c in range(k)], sizes)
