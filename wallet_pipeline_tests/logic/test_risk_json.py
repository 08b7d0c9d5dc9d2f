"""Breakdowns written column by column (`risk_json`) must be the text `json.dumps` wrote row by row."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from wallet_pipeline.logic.graph.risk_json import breakdown_texts, figure, json_texts

FACTORS = ("scam_rate", "reputation")
WEIGHTS = {"scam_rate": 0.4, "reputation": 0.3}


def row_by_row(values, points, evidence, rows: int) -> list[str]:  # noqa: ANN001
    """The encoding risk.py used before (a dict per row through `figure` and `json.dumps`)."""
    records = {
        f: evidence[f].to_dict("records") if len(evidence[f].columns) else [{}] * rows for f in FACTORS
    }
    return [
        json.dumps(
            {
                f: {
                    "value": figure(values[f].tolist()[i]),
                    "weight": figure(WEIGHTS[f]),
                    "points": figure(points[f].tolist()[i], 2),
                    "evidence": figure(records[f][i]),
                }
                for f in FACTORS
            }
        )
        for i in range(rows)
    ]


def awkward_floats(rng: np.random.Generator, n: int) -> np.ndarray:
    """Floats where the encodings could part: ties at the 5th place, -0.0, NaN, infinities, 1e-05."""
    x = rng.normal(0, 50, n)
    ties = rng.random(n) < 0.2
    x[ties] = np.round(rng.normal(0, 5, ties.sum()), 5)
    special = np.array([-0.0, 0.0, np.nan, np.inf, -np.inf, 1e-05, 0.00005, 2.675, 0.12345, -0.00004, 1e20])
    x[: len(special)] = special
    return x


def test_each_cell_is_written_as_json_dumps_of_figure_writes_it() -> None:
    rng = np.random.default_rng(7)
    floats = awkward_floats(rng, 5000)
    for places in (2, 4):
        assert json_texts(pd.Series(floats), places) == [
            json.dumps(figure(v, places)) for v in floats.tolist()
        ]
    ints = rng.integers(-(10**12), 10**12, 100)
    assert json_texts(ints) == [json.dumps(int(v)) for v in ints]
    flags = np.array([True, False, True])
    assert json_texts(pd.Series(flags)) == ["true", "false", "true"]
    cells = [
        None,
        "",
        'a "quoted" \u00e9 name',
        [],
        {},
        [{"via": "funds", "value": 0.123456}],
        {"k": [1.000049, None]},
    ]
    assert json_texts(cells) == [json.dumps(figure(c)) for c in cells]
    assert json_texts(cells)[-1] == '{"k": [1.0, null]}'


def test_breakdowns_equal_the_row_by_row_json_on_random_frames() -> None:
    rng = np.random.default_rng(11)
    n = 3000
    values = {f: pd.Series(np.clip(rng.random(n), 0, 1)).round(4) for f in FACTORS}
    values["scam_rate"].iloc[:3] = [np.nan, -0.0, 1.0]
    points = {f: (100 * WEIGHTS[f] * values[f]).round(2) for f in FACTORS}
    paths = [
        [] if rng.random() < 0.8 else [{"via": "proceeds", "source": "0xab", "value": rng.random()}]
        for _ in range(n)
    ]
    evidence = {
        "scam_rate": pd.DataFrame(
            {
                "source": np.where(rng.random(n) < 0.5, "cluster", "own (victim side)"),
                "share": awkward_floats(rng, n),
                "count": rng.integers(0, 50, n),
                "labelled": rng.random(n) < 0.1,
                "incriminates": 'one actor\'s 100% "share"',
                "paths": paths,
            }
        ),
        "reputation": pd.DataFrame(index=range(n)),
    }
    got = breakdown_texts(
        FACTORS, values, WEIGHTS, points, {f: dict(evidence[f].items()) for f in FACTORS}, n
    )
    assert got == row_by_row(values, points, evidence, n)
    assert json.loads(got[0])["scam_rate"]["value"] is None


def test_no_rows_give_no_breakdowns_and_a_short_column_is_refused_by_name() -> None:
    empty = {f: pd.Series([], dtype=float) for f in FACTORS}
    assert breakdown_texts(FACTORS, empty, WEIGHTS, empty, {f: {} for f in FACTORS}, 0) == []
    one = {f: pd.Series([0.5]) for f in FACTORS}
    with pytest.raises(ValueError, match=r"scam_rate\.evidence\.count has 2 cells, expected 1"):
        breakdown_texts(FACTORS, one, WEIGHTS, one, {"scam_rate": {"count": [1, 2]}, "reputation": {}}, 1)
