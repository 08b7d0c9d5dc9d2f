"""The output comparison that guards rewrites of the dbt models (benchmarks/feature_build.py).

A faster model must give the same mart and decoded tables; these tests show the comparison sees
each kind of difference a rewrite could bring and lets through only float noise.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from benchmarks.feature_build import compare_outputs

TABLES = ("marts.wallet_features",)


def _file(path: Path, rows: list[tuple[str, int, float | None]]) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.wallet_features (address varchar, tx_count bigint, share double)")
        con.executemany("insert into marts.wallet_features values (?, ?, ?)", rows)
    return path


REFERENCE = [("0xa", 3, 0.25), ("0xb", 0, None), ("0xc", 7, 1 / 3), ("0xc", 7, 1 / 3)]


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    return _file(tmp_path / "reference.duckdb", REFERENCE)


def _compare(tmp_path: Path, reference: Path, rows: list[tuple[str, int, float | None]]) -> list[str]:
    with duckdb.connect(str(_file(tmp_path / "new.duckdb", rows)), read_only=True) as con:
        return compare_outputs(con, reference, TABLES)


def test_the_same_rows_in_another_order_with_float_noise_are_the_same_outputs(
    tmp_path: Path, reference: Path
) -> None:
    rows = [("0xc", 7, 1 / 3 * (1 + 1e-12)), ("0xb", 0, None), ("0xa", 3, 0.25), ("0xc", 7, 1 / 3)]
    assert _compare(tmp_path, reference, rows) == []


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [("0xa", 4, 0.25), ("0xb", 0, None), ("0xc", 7, 1 / 3), ("0xc", 7, 1 / 3)],
            "1 rows only in the new build, 1 only in the reference",
            id="a count changed",
        ),
        pytest.param(
            [("0xa", 3, 0.25), ("0xb", 0, None), ("0xc", 7, 1 / 3)],
            "0 rows only in the new build, 1 only in the reference",
            id="a duplicate row lost",
        ),
        pytest.param(
            [("0xa", 3, 0.25), ("0xb", 0, 0.0), ("0xc", 7, 1 / 3), ("0xc", 7, 1 / 3)],
            "1 rows with a float off",
            id="unknown became zero",
        ),
        pytest.param(
            [("0xa", 3, 0.25 * (1 + 1e-6)), ("0xb", 0, None), ("0xc", 7, 1 / 3), ("0xc", 7, 1 / 3)],
            "1 rows with a float off",
            id="a float moved beyond the tolerance",
        ),
    ],
)
def test_every_kind_of_difference_is_reported(
    tmp_path: Path, reference: Path, rows: list[tuple[str, int, float | None]], expected: str
) -> None:
    problems = _compare(tmp_path, reference, rows)
    assert len(problems) == 1
    assert problems[0].startswith("marts.wallet_features: ")
    assert expected in problems[0]


def test_a_changed_column_type_or_a_missing_table_is_reported(tmp_path: Path, reference: Path) -> None:
    path = tmp_path / "retyped.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.wallet_features (address varchar, tx_count integer, share double)")
    with duckdb.connect(str(path), read_only=True) as con:
        assert "columns differ" in compare_outputs(con, reference, TABLES)[0]
        assert "not in the reference file" in compare_outputs(con, reference, ("marts.other",))[0]
