"""Risk breakdowns written as JSON text column by column, byte for byte as `json.dumps` writes them.

Every score keeps its breakdown (`risk._breakdowns`): at 1,000,000 wallets that is 1.2M JSON
documents of about thirty figures each. Building a dict per row, rounding each figure through
a recursive helper and handing the dict to `json.dumps` cost about 67 microseconds a row on one
core (1.6 CPU s for the default world's 23,753 wallets). Here each column is encoded once by
its type, and each row is one `%` format of a template built from the keys: the text is the
same (the stored JSON is kept as written, so it has to be), only the order of work differs.

The rules are those of `figure` + `json.dumps`: a float is rounded with Python's `round` (not
NumPy's, which differs on some ties) to its places, -0.0 reads as 0.0, NaN and infinity are
null; ints and bools are written as JSON writes them; anything else goes through `figure`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa


def _plain(value):  # noqa: ANN001, ANN201 - numpy scalars to JSON-able Python values
    return value.item() if hasattr(value, "item") else value


def figure(value, places: int = 4):  # noqa: ANN001, ANN201 - any JSON-able evidence value
    """`value` with every float in it rounded to `places`, in nested lists and dicts too.

    Medians and sums in float64 carry noise (11.600000000000001) that reads as false precision;
    a NaN or infinity is no JSON number, so it is stored as null (unknown); -0.0 reads as 0.0.
    """
    value = _plain(value)
    if isinstance(value, float):
        return round(value, places) + 0.0 if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: figure(v, places) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [figure(v, places) for v in value]
    return value


_dumps = json.dumps
_float_repr = float.__repr__  # what json.dumps writes for a finite float
_isfinite = math.isfinite


def _object_texts(cells: list, places: int) -> list[str]:
    out: list[str] = []
    strings: dict[str, str] = {}
    for v in cells:
        # The common cells first: most wallets have no spread paths and no pattern figures, and a
        # text column holds a few distinct values (the factor's source, the pattern names).
        kind = type(v)
        if kind is str:
            t = strings.get(v)
            if t is None:
                t = strings[v] = _dumps(v)
        elif v is None:
            t = "null"
        elif kind is list and not v:
            t = "[]"
        elif kind is dict and not v:
            t = "{}"
        else:
            t = _dumps(figure(v, places))
        out.append(t)
    return out


def _float_text(v: float, places: int) -> str:
    return _float_repr(round(v, places) + 0.0) if _isfinite(v) else "null"


def json_texts(column: Sequence | np.ndarray | pd.Series, places: int = 4) -> list[str]:
    """Each cell of `column` as `json.dumps(figure(cell, places))` writes it.

    NumPy float, int and bool columns are encoded by type, each distinct value once (figures
    rounded to 4 places take at most 10,001 values in [0, 1], whatever the rows); any other
    column cell by cell.
    """
    s = column if isinstance(column, pd.Series) else pd.Series(column, dtype=_dtype_of(column))
    dtype = s.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        if dtype.kind == "b":
            return np.where(s.to_numpy(), "true", "false").astype(object).tolist()
        values = s.to_numpy(dtype=float if dtype.kind == "f" else None)
        # -0.0 and 0.0 fall together here; both read 0.0. NaNs fall together too (null).
        distinct, inverse = np.unique(values, return_inverse=True)
        if dtype.kind == "f":
            texts = [_float_text(v, places) for v in distinct.tolist()]
        else:
            texts = [str(v) for v in distinct.tolist()]
        return np.array(texts, dtype=object)[inverse.reshape(-1)].tolist()
    return _object_texts(s.tolist(), places)


def _dtype_of(column) -> object:  # noqa: ANN001
    # A plain list of mixed cells stays object: pandas would otherwise turn None into NaN.
    if isinstance(column, np.ndarray) and column.dtype.kind in "fiub":
        return column.dtype
    return object


def breakdown_texts(
    factors: Sequence[str],
    values: Mapping[str, Sequence[float]],
    weights: Mapping[str, float],
    points: Mapping[str, Sequence[float]],
    evidence: Mapping[str, Mapping[str, Sequence | np.ndarray | pd.Series]],
    rows: int,
) -> list[str]:
    """One JSON object per row: per factor its value (4 places), weight, points (2) and evidence.

    `evidence[f]` maps each evidence key to a column of `rows` cells (4 places). The text equals
    `json.dumps({f: {"value": ..., "weight": ..., "points": ..., "evidence": {...}} for f in factors})`
    with every figure passed through `figure`.
    """
    parts: list[str] = []
    columns: list[list[str]] = []

    def slot(texts: list[str], where: str) -> None:
        if len(texts) != rows:
            raise ValueError(f"breakdown column {where} has {len(texts)} cells, expected {rows}")
        parts.append("%s")
        columns.append(texts)

    def text(fixed: str) -> None:
        parts.append(fixed.replace("%", "%%"))

    text("{")
    for i, f in enumerate(factors):
        text(("" if i == 0 else ", ") + _dumps(f) + ': {"value": ')
        slot(json_texts(values[f], 4), f"{f}.value")
        text(', "weight": ' + _dumps(figure(weights[f])) + ', "points": ')
        slot(json_texts(points[f], 2), f"{f}.points")
        text(', "evidence": {')
        for j, (key, cells) in enumerate(evidence[f].items()):
            text(("" if j == 0 else ", ") + _dumps(key) + ": ")
            slot(json_texts(cells, 4), f"{f}.evidence.{key}")
        text("}}")
    text("}")
    template = "".join(parts)
    if not columns:
        return [template % () for _ in range(rows)]
    return [template % cells for cells in zip(*columns, strict=True)]


def arrow_texts(texts: list[str]) -> pd.api.extensions.ExtensionArray:
    """`texts` as a pandas column of Arrow strings (dtype `string[pyarrow]`), the same text.

    DuckDB reads an Arrow column as it is; a column of Python strings it inspects cell by cell
    (`store.replace_tables` samples every row to type it) and copies under the GIL: 7.3 against
    1.6 CPU s for 1.2M breakdown-sized texts in a scratch test.
    """
    return pd.arrays.ArrowExtensionArray(pa.array(texts, type=pa.large_string()))
