"""Spark clustering gives the DuckDB path's clusters: planted structures whole, a world member for member."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from wallet_pipeline.logic.graph import build_edges, cluster_edges
from wallet_pipeline.logic.graph.config import GraphConfig
from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, load_simulation
from wallet_pipeline.logic.spark.clustering import (
    cluster_edges_spark,
    connected_components,
    edges_frame,
    spark_clusterer,
)

pytestmark = pytest.mark.spark


def addr(i: int) -> str:
    """An address whose order is unrelated to `i`, so planted ids follow no numbering."""
    return "0x" + format((i * 2654435761) % 2**40, "040x")


def planted_edges() -> tuple[pd.DataFrame, list[set[str]]]:
    """A star, a relay tree and chains of 2 to 30 hops (strong links), in weak background noise.

    The background is weak pairs (0.5 to 0.8, under `strong_weight`) among other wallets, so label
    propagation has communities to find next to the planted groups.
    """
    rows: list[tuple[str, str, float]] = []
    groups: list[set[str]] = []
    star = [(0, i) for i in range(1, 15)]
    tree = [(100, r) for r in range(101, 105)] + [
        (r, 200 + 10 * r + j) for r in range(101, 105) for j in range(5)
    ]
    chains = [[(s + h, s + h + 1) for h in range(length)] for s, length in ((3000, 2), (4000, 9), (5000, 30))]
    for links in [star, tree, *chains]:
        rows += [(addr(a), addr(b), 1.0) for a, b in links]
        groups.append({addr(x) for link in links for x in link})
    rng = np.random.default_rng(3)
    for g in range(8):  # eight weak cliques of five, with a few weak pairs between them
        clique = range(10_000 + 5 * g, 10_005 + 5 * g)
        rows += [(addr(a), addr(b), float(rng.uniform(0.5, 0.8))) for a in clique for b in clique if a < b]
        rows.append((addr(10_000 + 5 * g), addr(10_000 + (5 * g + 7) % 40), 0.5))
    return pd.DataFrame(rows, columns=["src", "dst", "weight"]), groups


def members(clusters: pd.DataFrame) -> set[frozenset[str]]:
    """The clusters as sets of addresses, whatever their ids."""
    return set(clusters.groupby("cluster_id")["address"].apply(frozenset))


def test_stars_relay_trees_and_chains_of_any_depth_come_out_whole(spark) -> None:
    # What joins them is Spark's: the strong join's connected components. The driver's
    # propagation keeps the test short (Spark's took 288 s here at load 20, against the world's
    # 93 s, both modes of which are compared below).
    edges, groups = planted_edges()
    found = members(cluster_edges_spark(edges_frame(spark, edges), propagation="driver").to_result().clusters)
    for group in groups:
        assert frozenset(group) in found


def test_connected_components_of_a_long_chain_and_a_cycle_find_each_whole(spark) -> None:
    chain = [(addr(i), addr(i + 1)) for i in range(100)]
    cycle = [(addr(1000 + i), addr(1000 + (i + 1) % 50)) for i in range(50)]
    pairs = spark.createDataFrame(chain + cycle, "a string, b string")
    comps = connected_components(pairs, seed=7).members.toPandas()
    sizes = sorted(comps.groupby("root").size().tolist())
    assert sizes == [50, 101]
    assert comps["node"].is_unique


@pytest.fixture(scope="module")
def world_edges() -> pd.DataFrame:
    """The edge table of a small simulated world (1,500 wallets, 30 days), built on DuckDB."""
    con = duckdb.connect()
    load_simulation(con, SimulatorConfig(seed=8, n_wallets=1_500, days=30))
    edges = build_edges(con).edges
    con.close()
    return edges


@pytest.mark.parametrize("propagation", ["driver", "spark"])
def test_a_worlds_clusters_equal_the_duckdb_paths_member_for_member(spark, world_edges, propagation) -> None:
    expected = cluster_edges(world_edges).clusters.sort_values("address", ignore_index=True)
    got = cluster_edges_spark(edges_frame(spark, world_edges), propagation=propagation).to_result()
    assert len(expected) > 100
    # Same members and sizes, and the same ids: both name a cluster after its smallest address.
    pd.testing.assert_frame_equal(got.clusters, expected)


def _two_groups_glued() -> tuple[str, pd.DataFrame, GraphConfig]:
    """Two chains of 12 glued by one wallet linking strongly into both, and a size cap of 20."""
    hub = addr(999)
    rows = [(hub, addr(g * 100 + i), 1.0) for g in (1, 2) for i in range(12)]
    rows += [(addr(g * 100 + i), addr(g * 100 + i + 1), 1.0) for g in (1, 2) for i in range(11)]
    edges = pd.DataFrame(rows, columns=["src", "dst", "weight"])
    return hub, edges, GraphConfig(max_cluster_size=20, max_cluster_share=1.0)


def test_super_clusters_lose_their_hubs_as_on_duckdb(spark) -> None:
    # Two groups of 12 glued by one wallet that links strongly into both: past a cap of 20, its
    # removal splits them; the report names it.
    hub, edges, cfg = _two_groups_glued()
    expected = cluster_edges(edges, cfg)
    got = cluster_edges_spark(edges_frame(spark, edges), cfg, propagation="driver")
    result = got.to_result()
    assert members(result.clusters) == members(expected.clusters)
    assert got.super_clusters == expected.super_clusters == [{"size": 25, "hubs": [hub], "split_into": 2}]


def test_an_edge_table_without_weights_is_refused_by_name(spark) -> None:
    edges = spark.createDataFrame([("a", "b")], "src string, dst string")
    with pytest.raises(ValueError, match=r"\['weight'\]"):
        cluster_edges_spark(edges)


def test_the_clusterer_answers_as_cluster_edges_does_for_an_entity_step(spark) -> None:
    # What `build_entities` gets in place of `cluster_edges`: pandas in, a ClusterResult out.
    _, edges, cfg = _two_groups_glued()
    cluster = spark_clusterer(spark)
    got, expected = cluster(edges, cfg), cluster_edges(edges, cfg)
    pd.testing.assert_frame_equal(got.clusters, expected.clusters.sort_values("address", ignore_index=True))
    assert got.super_clusters == expected.super_clusters
    pd.testing.assert_frame_equal(cluster(edges.iloc[:0]).clusters, cluster_edges(edges.iloc[:0]).clusters)


def test_an_unknown_propagation_is_refused_by_name(spark) -> None:
    with pytest.raises(ValueError, match="'pregel'"):
        spark_clusterer(spark, "pregel")
