"""The entity tables at scale: queries whose plan, not their result, decides their memory."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd

from wallet_pipeline.logic.graph.clustering import sorted_codes
from wallet_pipeline.logic.graph.entities import (
    CLUSTER_EDGES_SQL,
    EDGES_WITHOUT_EVIDENCE_SQL,
    evidence_reader,
)
from wallet_pipeline.logic.graph.evidence import evidence_chains
from wallet_pipeline.logic.graph.store import replace_tables
from wallet_pipeline.logic.graph.structure import StructureConfig, cluster_links
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


def test_evidence_read_back_for_hops_and_links_equals_the_edge_tables_own_column() -> None:
    # Many edges, each with its own hash, stored in an order unlike the hops': a reader that
    # returned hashes out of order or for other rows would give other chains and links.
    rows = [edge(a, b, minutes=a * 10 + b) for a in range(1, 8) for b in range(a + 1, 9) if (a + b) % 3]
    rows += [edge(8, 21), edge(21, 22, edge_type="common_funder"), edge(22, 23), edge(23, 21)]
    full = edges(*reversed(rows))
    wc = clusters({"c_a": list(range(1, 9)), "c_b": [21, 22, 23]})
    con = duckdb.connect()
    con.execute("create schema graph")
    con.register("_e", full)
    con.execute("create table graph.wallet_edges as select * from _e")
    con.unregister("_e")
    stored = con.sql("select * from graph.wallet_edges").df()
    lean = con.sql(EDGES_WITHOUT_EVIDENCE_SQL).df()
    assert "evidence" not in lean.columns
    read = evidence_reader(con)
    cfg = StructureConfig()
    chains = evidence_chains(lean, wc, cfg, read_evidence=read)
    assert chains["evidence"].dropna().map(len).min() >= 1
    pd.testing.assert_frame_equal(chains, evidence_chains(stored, wc, cfg))
    links = cluster_links(con, lean, wc, cfg, read_evidence=read)
    assert (links["link_type"] == "transfer").sum() == 1
    pd.testing.assert_frame_equal(links, cluster_links(con, stored, wc, cfg))


def test_sorted_codes_number_addresses_as_np_unique_does() -> None:
    rng = np.random.default_rng(3)
    # Repeats, shared prefixes and lengths that differ: the cases where a string order could slip.
    pool = np.array([A(i) for i in rng.integers(0, 400, 50)] + ["0x1", "0x10", "0x0f", "0xff"], dtype=object)
    addresses = pool[rng.integers(0, len(pool), 2_000)]
    nodes, codes = sorted_codes(addresses)
    want_nodes, want_codes = np.unique(addresses.astype(str), return_inverse=True)
    assert nodes.tolist() == want_nodes.tolist()
    assert codes.tolist() == want_codes.ravel().tolist()
