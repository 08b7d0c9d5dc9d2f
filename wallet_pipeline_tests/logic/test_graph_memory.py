"""What the wallet graph step keeps in memory: work tables, the edge frame, the fingerprint buckets."""

from __future__ import annotations

import pandas as pd
import pytest

from wallet_pipeline.logic.graph import build_edges, edges
from wallet_pipeline_tests.logic.test_graph import CFG, A, db, tx


def _scripted_callers() -> list[dict]:
    """Three scripted pairs calling a quest together, a trio, and people meeting it once by chance."""
    quest, rows = A(90), []
    groups = {1: (A(91), A(92)), 40: (A(101), A(102)), 70: (A(111), A(112), A(113))}
    for k in range(4):
        for offset, group in groups.items():  # each group in its own half-hour window
            rows += [tx(w, quest, 0, minutes=120 * k + offset, input="0x12345678") for w in group]
        rows.append(tx(A(200 + k), quest, 0, minutes=120 * k + 2, input="0x12345678"))
    return rows


def _sorted_evidence(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.assign(evidence=frame["evidence"].map(lambda e: tuple(sorted(e))))
    return out.sort_values(["edge_type", "src", "dst"]).reset_index(drop=True)


def test_the_fingerprint_join_in_buckets_finds_the_same_edges_as_in_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = _scripted_callers()
    whole = build_edges(db(rows), CFG).edges
    assert (whole["edge_type"] == "fingerprint").sum() == 1 + 1 + 3  # two pairs and a trio's three
    monkeypatch.setattr(edges, "FINGERPRINT_PAIRS_PER_BUCKET", 1)
    buckets = {}
    original = edges.fingerprint_edges

    def counting(con, cfg):  # noqa: ANN001, ANN202
        out = original(con, cfg)
        buckets["n"] = con.execute("select count(*) from g_fp_x").fetchone()[0]
        return out

    monkeypatch.setitem(edges.RULES, "fingerprint", (counting, edges.RULES["fingerprint"][1]))
    split = build_edges(db(rows), CFG).edges
    assert buckets["n"] > 1  # one bucket per pair row: the wallets were split
    pd.testing.assert_frame_equal(_sorted_evidence(split), _sorted_evidence(whole))


def test_the_graph_step_leaves_only_the_edges_and_hubs_and_may_skip_the_edge_frame() -> None:
    rows = _scripted_callers()
    con = db(rows)
    lean = build_edges(con, CFG, with_edges=False)
    temp = {r[0] for r in con.execute("select table_name from duckdb_tables() where temporary").fetchall()}
    assert temp == {"g_edges", "g_hubs"}
    assert lean.edges is None
    full = build_edges(db(rows), CFG)
    assert lean.counts == full.counts and lean.counts_before_guard == full.counts_before_guard
    assert lean.counts["fingerprint"] == 5
    assert con.execute("select count(*) from g_edges").fetchone()[0] == len(full.edges)
