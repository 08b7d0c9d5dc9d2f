"""The output comparison that guards rewrites of the dbt models (benchmarks/feature_build.py).

A faster model must give the same mart and decoded tables; these tests show the comparison sees
each kind of difference a rewrite could bring and lets through only float noise. model_cpu, which
says where a build's CPU goes, times every table model and leaves nothing behind in the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from benchmarks.feature_build import compare_outputs, model_cpu

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


def _target(
    tmp_path: Path,
    models: dict[str, tuple[str, str | None]],
    hooks: dict[str, dict[str, list[str]]] | None = None,
) -> Path:
    """A dbt target folder: manifest.json and compiled SQL for {name: (materialized, sql or None)}.

    `hooks` gives a model's {"pre-hook": [sql], "post-hook": [sql]} as dbt's manifest holds them.
    """
    target = tmp_path / "target"
    nodes = {}
    for name, (materialized, sql) in models.items():
        original = f"models/{name}.sql"
        config: dict = {"materialized": materialized}
        for key, statements in (hooks or {}).get(name, {}).items():
            config[key] = [{"sql": statement, "transaction": True, "index": None} for statement in statements]
        nodes[f"model.wallet_pipeline.{name}"] = {
            "resource_type": "model",
            "name": name,
            "package_name": "wallet_pipeline",
            "original_file_path": original,
            "config": config,
        }
        if sql is not None:
            compiled = target / "compiled" / "wallet_pipeline" / original
            compiled.parent.mkdir(parents=True, exist_ok=True)
            compiled.write_text(sql)
    target.mkdir(exist_ok=True)
    (target / "manifest.json").write_text(json.dumps({"nodes": nodes}))
    return target


def test_model_cpu_times_each_table_model_and_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    target = _target(
        tmp_path,
        {
            "wide": ("table", "select range as k, range % 7 as g from range(200000)"),
            "grouped": ("table", "select range % 7 as g, count(*) as n from range(200000) group by 1"),
            "a_view": ("view", "select 1 as x"),
        },
    )
    with duckdb.connect(str(tmp_path / "built.duckdb")) as con:
        timings = model_cpu(con, target)
        left = con.execute("select count(*) from duckdb_tables() where not temporary").fetchone()[0]
        schemas = con.execute("select schema_name from duckdb_schemas() where schema_name like 'feature%'")
        assert schemas.fetchall() == []
    assert sorted(name for name, _, _ in timings) == ["grouped", "wide"]
    assert all(in_memory >= 0 and in_file >= 0 for _, in_memory, in_file in timings)
    assert [t[2] for t in timings] == sorted((t[2] for t in timings), reverse=True)
    assert left == 0


def test_model_cpu_names_the_model_whose_compiled_sql_is_missing(tmp_path: Path) -> None:
    target = _target(tmp_path, {"int_gone": ("table", None)})
    with duckdb.connect() as con, pytest.raises(FileNotFoundError, match="model int_gone: no compiled SQL"):
        model_cpu(con, target)
    with duckdb.connect() as con, pytest.raises(FileNotFoundError, match="no dbt manifest"):
        model_cpu(con, tmp_path / "nowhere")


def test_model_cpu_runs_a_models_hooks_around_each_write_into_the_file_only(tmp_path: Path) -> None:
    count = "set variable {0} = coalesce(getvariable('{0}'), 0) + 1"
    target = _target(
        tmp_path,
        {"hooked": ("table", "select range as k from range(1000)")},
        {"hooked": {"pre-hook": [count.format("pre")], "post-hook": [count.format("post")]}},
    )
    with duckdb.connect(str(tmp_path / "built.duckdb")) as con:
        model_cpu(con, target, tries=2)
        assert con.execute("select getvariable('pre'), getvariable('post')").fetchone() == (2, 2)


def test_model_cpu_refuses_a_hook_that_dbt_would_have_to_render(tmp_path: Path) -> None:
    target = _target(
        tmp_path,
        {"templated": ("table", "select 1 as x")},
        {"templated": {"post-hook": ["analyze {{ this }}"]}},
    )
    with duckdb.connect() as con, pytest.raises(ValueError, match="model templated: its post-hook"):
        model_cpu(con, target)
