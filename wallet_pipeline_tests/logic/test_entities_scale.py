"""The entity tables at scale: queries whose plan, not their result, decides their memory."""

from __future__ import annotations

import json

import duckdb
import pandas as pd

from wallet_pipeline.logic.graph.entities import CLUSTER_EDGES_SQL
from wallet_pipeline.logic.graph.store import replace_tables
from wallet_pipeline_tests.logic.test_graph import A
from wallet_pipeline_tests.logic.test_graph_structure import clusters, edge, edges


def _graph(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    e = edges(
        edge(1, 2),
        edge(2, 3),
        edge(3, 1, edge_type="common_funder"),  # inside c_a
        edge(4, 5),  # inside c_b
        edge(3, 4),  # across the two clusters
        edge(5, 9),  # to a wallet in no cluster
    )
    con.execute("create schema graph")
    con.register("_e", e)
    con.execute("create table graph.wallet_edges as select * from _e")
    con.unregister("_e")
    return clusters({"c_a": [1, 2, 3], "c_b": [4, 5]})


def _joins(node: dict) -> list[dict]:
    found = [node] if "JOIN" in node.get("name", "") else []
    return found + [j for child in node.get("children", []) for j in _joins(child)]


def test_cluster_edges_written_with_the_clusters_are_the_edges_inside_one_cluster() -> None:
    con = duckdb.connect()
    wc = _graph(con)
    replace_tables(con, "entities", {"wallet_clusters": wc, "cluster_edges": CLUSTER_EDGES_SQL})
    got = con.sql("select cluster_id, src, dst, edge_type from entities.cluster_edges").fetchall()
    assert sorted(got) == sorted(
        [
            ("c_a", A(1), A(2), "direct_transfer"),
            ("c_a", A(2), A(3), "direct_transfer"),
            ("c_a", A(3), A(1), "common_funder"),
            ("c_b", A(4), A(5), "direct_transfer"),
        ]
    )


def test_cluster_edges_never_pairs_the_members_of_a_cluster_with_each_other() -> None:
    # In the write transaction wallet_clusters has no statistics; a plan that joins it with itself
    # on cluster_id alone builds every cluster's size squared rows (gigabytes at 200,000 wallets).
    con = duckdb.connect()
    wc = _graph(con)
    con.execute("create schema entities")
    con.execute("begin transaction")
    con.register("_wc", wc)
    con.execute("create table entities.wallet_clusters as select * from _wc")
    plan = json.loads(con.execute(f"explain (format json) {CLUSTER_EDGES_SQL}").fetchall()[0][1])
    con.execute("rollback")
    joins = [j for root in plan for j in _joins(root)]
    assert joins
    for join in joins:
        conditions = join.get("extra_info", {}).get("Conditions", [])
        conditions = [conditions] if isinstance(conditions, str) else conditions
        # Some condition must name a wallet (address, src or dst), not only the cluster.
        assert any("cluster_id" not in c for c in conditions), join
