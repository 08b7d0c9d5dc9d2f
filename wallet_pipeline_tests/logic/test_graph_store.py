"""The entity tables as stored: risk breakdowns typed JSON with rounded figures, and re-added by the check."""

from __future__ import annotations

import json
import re

import duckdb
import pandas as pd
import pytest

from wallet_pipeline.logic.graph.entities import BREAKDOWN_TOLERANCE, breakdown_mismatches
from wallet_pipeline.logic.graph.reputation import wallet_reputation
from wallet_pipeline.logic.graph.risk import score_wallets
from wallet_pipeline.logic.graph.store import ENTITIES_SCHEMA, replace_tables
from wallet_pipeline_tests.logic.test_graph import A
from wallet_pipeline_tests.logic.test_graph_risk import CFG, clusters_df, edge, edges_df, pair_db, scores_of


def _numbers(value: object) -> list[float]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return [value] if isinstance(value, float) else []


@pytest.fixture
def scored() -> duckdb.DuckDBPyConnection:
    """The two-wallet rug pair scored as a cluster and as wallets, written as the pipeline writes them."""
    con = pair_db(rug=True)
    members = {"c1": [A(1), A(2)]}
    edges = edges_df(edge(A(1), A(2)), edge(A(2), A(1)), edge(A(10), A(1), weight=0.3))
    clusters, _, _ = scores_of(con, members, edges)
    reputation = wallet_reputation(con, features_table=None)
    wallets = score_wallets(con, edges, clusters_df(members), reputation, clusters.reset_index(), CFG)
    replace_tables(con, ENTITIES_SCHEMA, {"clusters": clusters.reset_index(), "wallet_risk": wallets})
    return con


def test_breakdowns_are_stored_as_json_with_points_to_a_cent_and_other_figures_to_four_places(
    scored: duckdb.DuckDBPyConnection,
) -> None:
    types = scored.execute(
        "select table_name, data_type from information_schema.columns "
        "where table_schema = 'entities' and column_name = 'risk_breakdown' order by 1"
    ).fetchall()
    assert types == [("clusters", "JSON"), ("wallet_risk", "JSON")]
    for table in ("clusters", "wallet_risk"):
        rows = scored.execute(f"select risk_score, risk_breakdown from entities.{table}").fetchall()
        assert len(rows) >= 1
        for score, text in rows:
            assert not re.search(r"\d\.\d{5,}", text), text
            breakdown = json.loads(text)
            for factor in breakdown.values():
                assert round(factor["points"], 2) == factor["points"]
                assert all(round(n, 4) == n for n in _numbers(factor))
            assert abs(sum(f["points"] for f in breakdown.values()) - score) <= BREAKDOWN_TOLERANCE
    # Typed JSON: SQL reaches into it without a cast.
    points = scored.execute(
        "select (risk_breakdown->'scam_rate'->>'points')::double from entities.clusters"
    ).fetchone()[0]
    assert (
        points
        == json.loads(scored.execute("select risk_breakdown from entities.clusters").fetchone()[0])[
            "scam_rate"
        ]["points"]
    )


def test_a_breakdown_that_is_not_json_fails_the_write_naming_the_column_and_keeps_the_old_table(
    scored: duckdb.DuckDBPyConnection,
) -> None:
    before = scored.execute("select count(*) from entities.clusters").fetchone()[0]
    bad = pd.DataFrame({"cluster_id": ["c9"], "risk_score": [1.0], "risk_breakdown": ["{points: 1"]})
    with pytest.raises(duckdb.ConversionException, match="risk_breakdown"):
        replace_tables(scored, ENTITIES_SCHEMA, {"clusters": bad})
    assert scored.execute("select count(*) from entities.clusters").fetchone()[0] == before


@pytest.mark.parametrize(("off_by", "mismatched"), [(0.0, False), (0.05, False), (0.06, True), (-0.2, True)])
def test_the_check_accepts_rounding_up_to_five_hundredths_and_no_more(
    scored: duckdb.DuckDBPyConnection, off_by: float, mismatched: bool
) -> None:
    breakdown = json.loads(scored.execute("select risk_breakdown from entities.clusters").fetchone()[0])
    points = sum(f["points"] for f in breakdown.values())
    scored.execute("update entities.clusters set risk_score = ?", [points + off_by])
    assert breakdown_mismatches(scored) == (["c1"] if mismatched else [])


@pytest.mark.parametrize("breakdown", ['{"scam_rate": {"value": 1.0}}', "[1, 2]", '{"scam_rate": 3}'])
def test_the_check_counts_a_breakdown_without_points_as_a_mismatch(
    scored: duckdb.DuckDBPyConnection, breakdown: str
) -> None:
    scored.execute("update entities.clusters set risk_breakdown = ?", [breakdown])
    assert breakdown_mismatches(scored) == ["c1"]


def test_an_appended_list_column_empty_in_its_first_thousand_rows_keeps_its_later_values() -> None:
    # DuckDB types a DataFrame's object column from a sample of its first rows: a cluster history
    # whose first rows all had empty related_ids failed the entity write on the first real id.
    con = duckdb.connect()
    con.execute("create schema h")
    con.execute("create table h.history (cluster_id varchar, related_ids varchar[])")
    history = pd.DataFrame(
        {"cluster_id": [f"c_{i}" for i in range(3_000)], "related_ids": [[]] * 2_999 + [["c_merged"]]}
    )
    assert replace_tables(con, "h", {}, append={"history": history}) == {"history": 3_000}
    assert con.execute("select related_ids from h.history where cluster_id = 'c_2999'").fetchone()[0] == [
        "c_merged"
    ]
    assert con.execute("select current_setting('pandas_analyze_sample')").fetchone()[0] == 1_000
