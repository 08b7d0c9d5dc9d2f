"""Clustering of the wallet graph on Spark: the design of `logic.graph.clustering` as DataFrame iterations.

The steps are those of `cluster_edges`: parallel edges of a pair add up; pairs lighter than
`min_cluster_weight` drop out; a propagation step finds communities over the remaining pairs; pairs
of at least `strong_weight` then join transitively with the communities (connected components of
strong pairs and community links); a label's pieces that are not connected split apart; clusters
past `max_cluster_size` / `max_cluster_share` lose their in-cluster hubs. Wallets without a pair
stay singletons and are not in the result; a cluster is named after its smallest address.

Connected components use the large-star / small-star iterations of Kiveris, Lattanzi, Mirrokni,
Rastogi and Vassilvitskii, "Connected Components in MapReduce and Beyond" (SoCC 2014). Nodes are
first numbered in a seeded random order (by a seeded hash of the address, then the address): the
paper's random relabelling, which bounds the rounds on adversarial orders such as a chain
numbered along its length; numbers are unique, so a seed gives one result, and every round then
compares and shuffles 64-bit integers, not addresses. The edge set after each round is
checkpointed: a round's plan starts from stored rows instead of re-deriving every round before.

The propagation step comes in two forms (`propagation=`):

- `"driver"`: the pairs are collected and the compiled asynchronous label propagation of
  `logic.graph.clustering` runs on them with the same node order and seed, so the clusters equal
  the DuckDB path's member for member. Everything around it runs on Spark; it needs the pairs
  (not the raw edges) to fit in the driver's memory.
- `"spark"`: a label propagation as DataFrame rounds. Asynchronous propagation (one node at a time,
  each seeing its neighbours' latest labels) has no data-parallel form, so each round updates a
  seeded random half of the nodes at once; a node keeps its label while it is among the heaviest
  around it (the rule of the compiled kernel) and otherwise takes the heaviest label, ties broken
  by a seeded hash. Updating every node in the same round would let two neighbours swap labels
  forever; the random half breaks such swaps. It ends when no node would change (at most
  `lpa_tol` of them), or after `max_iter` rounds. Its communities need not be the compiled
  kernel's, whose own result moves with its seed (docs/spark_graph.md: both, measured).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wallet_pipeline.logic.graph.clustering import ClusterResult, label_propagation
from wallet_pipeline.logic.graph.config import GraphConfig

PROPAGATIONS = ("driver", "spark")


def _f():  # noqa: ANN202 - pyspark.sql.functions, imported lazily like pyspark everywhere here
    from pyspark.sql import functions

    return functions


def _cut(df):  # noqa: ANN001, ANN202 - DataFrame in and out
    """Store the rows and drop the plan that made them, so the next round's plan stays short."""
    return df.localCheckpoint(eager=True)


@dataclass
class Components:
    """Connected components: `members` has one row per node (`node`, `root`); `rounds` ran."""

    members: object  # pyspark.sql.DataFrame
    rounds: int


def number_nodes(nodes, seed: int):  # noqa: ANN001, ANN201 - DataFrame (node) in, (node, id) out
    """Number the nodes (column `node`) in a seeded random order: (node, id), ids unique longs.

    `monotonically_increasing_id` after a sort follows the sort across partitions, so the ids
    keep the seeded order without gathering every node into one partition.
    """
    F = _f()
    ordered = nodes.select("node").distinct().orderBy(F.xxhash64(F.lit(seed), "node"), "node")
    return _cut(ordered.withColumn("id", F.monotonically_increasing_id()))


def _large_star(e):  # noqa: ANN001, ANN202 - DataFrame (lo, hi) in and out
    """Each node links its larger neighbours to the smallest node of its neighbourhood (itself included)."""
    F = _f()
    adj = e.select(F.col("lo").alias("u"), F.col("hi").alias("v")).unionByName(
        e.select(F.col("hi").alias("u"), F.col("lo").alias("v"))
    )
    m = adj.groupBy("u").agg(F.min("v").alias("m")).select("u", F.least("u", "m").alias("m"))
    return (
        adj.where(F.col("v") > F.col("u"))
        .join(m, "u")
        .select(F.col("m").alias("lo"), F.col("v").alias("hi"))
        .distinct()
    )


def _small_star(e):  # noqa: ANN001, ANN202 - DataFrame (lo, hi) in and out
    """Each node links itself and its smaller neighbours to the smallest of them."""
    F = _f()
    m = e.groupBy("hi").agg(F.min("lo").alias("m"))
    moved = e.join(m, "hi").select(F.col("m").alias("lo"), F.col("lo").alias("hi"))
    own = m.select(F.col("m").alias("lo"), F.col("hi"))
    return moved.unionByName(own).where(F.col("lo") != F.col("hi")).distinct()


def _is_star_forest(e) -> bool:  # noqa: ANN001 - DataFrame (lo, hi)
    """Done when every node has one parent and no parent has one: each component is one star."""
    F = _f()
    two_parents = e.groupBy("hi").count().where(F.col("count") > 1).select("hi")
    parent_with_parent = e.select("hi").join(e.select(F.col("lo").alias("hi")), "hi", "left_semi")
    return two_parents.unionByName(parent_with_parent).limit(1).count() == 0


def components_of_ids(pairs, max_rounds: int = 100) -> Components:  # noqa: ANN001
    """Connected components of pairs (`a`, `b`) of numbered nodes; the root is the smallest number.

    Only nodes of at least one pair (self-loops aside) are in the result.

    Raises:
        RuntimeError: past `max_rounds` rounds (the paper bounds them by O(log^2 n)), a graph is
            not converging, which is an error, not a partial answer.
    """
    F = _f()
    e = pairs.where(F.col("a") != F.col("b")).select(
        F.least("a", "b").alias("lo"), F.greatest("a", "b").alias("hi")
    )
    e = _cut(e.distinct())
    rounds = 0
    while not _is_star_forest(e):
        if rounds >= max_rounds:
            raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
        e = _cut(_small_star(_large_star(e)))
        rounds += 1
    members = e.select(F.col("hi").alias("node"), F.col("lo").alias("root")).unionByName(
        e.select(F.col("lo").alias("node"), F.col("lo").alias("root")).distinct()
    )
    return Components(members=members, rounds=rounds)


def connected_components(pairs, seed: int = 0, max_rounds: int = 100) -> Components:  # noqa: ANN001
    """Connected components of an undirected graph given as a DataFrame of pairs (`a`, `b`).

    Args:
        pairs: DataFrame with columns `a`, `b` of one orderable type (addresses or integers);
            self-loops and repeated pairs are allowed.
        seed: fixes the numbering, hence the rounds (not the components, which are the graph's).
        max_rounds: see `components_of_ids`.

    Returns:
        Components: `members` (node, root) for every node of a pair; root is one node of the
        component, the same for all its members.
    """
    F = _f()
    ids = number_nodes(
        pairs.select(F.col("a").alias("node")).unionByName(pairs.select(F.col("b").alias("node"))), seed
    )
    numbered = _renumber(pairs, ids, ("a", "b"))
    comps = components_of_ids(numbered, max_rounds)
    back = ids.select(F.col("id").alias("root"), F.col("node").alias("root_node"))
    members = (
        comps.members.join(ids.withColumnRenamed("node", "name").withColumnRenamed("id", "node"), "node")
        .join(back, "root")
        .select(F.col("name").alias("node"), F.col("root_node").alias("root"))
    )
    return Components(members=members, rounds=comps.rounds)


def _renumber(df, ids, cols: tuple[str, ...]):  # noqa: ANN001, ANN202 - DataFrames
    """Replace each column of `cols` (node names) by the node's number from `ids` (node, id)."""
    F = _f()
    for c in cols:
        df = df.join(ids.select(F.col("node").alias(c), F.col("id").alias("_id")), c).drop(c)
        df = df.withColumnRenamed("_id", c)
    return df


def _propagate_spark(adj, cfg: GraphConfig):  # noqa: ANN001, ANN202 - DataFrames
    """Label propagation as DataFrame rounds over `adj` (u, v, w), both directions of each pair.

    See the module docstring; returns (node, lab) and the rounds.
    """
    F = _f()
    from pyspark.sql import Window

    labels = _cut(adj.select(F.col("u").alias("node")).distinct().withColumn("lab", F.col("node")))
    limit = int(cfg.lpa_tol * labels.count())
    rounds = 0
    while rounds < cfg.max_iter:
        around = (
            adj.join(labels.select(F.col("node").alias("v"), "lab"), "v")
            .groupBy("u", "lab")
            .agg(F.sum("w").alias("s"))
            .withColumn("best", F.max("s").over(Window.partitionBy("u")))
        )
        # A label as heavy as the best up to 1e-9 counts as the best, as in the compiled kernel.
        heaviest = F.col("s") >= F.col("best") * (1.0 - 1e-9)
        tie = F.struct(F.xxhash64(F.lit(cfg.seed), F.lit(rounds), "u", "lab").alias("h"), "lab")
        active = F.xxhash64(F.lit(cfg.seed + 1), F.lit(rounds), "u") % 2 == 0
        step = _cut(
            around.join(labels.select(F.col("node").alias("u"), F.col("lab").alias("own")), "u")
            .groupBy("u", "own")
            .agg(
                F.coalesce(F.max(F.when(F.col("lab") == F.col("own"), heaviest)), F.lit(False)).alias("keep"),
                F.min(F.when(heaviest, tie)).alias("pick"),
            )
            .select(
                F.col("u").alias("node"),
                F.when(~F.col("keep") & active, F.col("pick.lab")).otherwise(F.col("own")).alias("lab"),
                F.col("keep"),
            )
        )
        rounds += 1
        # `lpa_tol` as in the compiled kernel: stop when at most that share of nodes would move.
        if step.where(~F.col("keep")).limit(limit + 1).count() <= limit:
            break
        labels = step.drop("keep")
    return labels.select("node", "lab"), rounds


def _propagate_driver(pairs, ids, cfg: GraphConfig):  # noqa: ANN001, ANN202 - DataFrames
    """The compiled label propagation on the collected pairs, with `cluster_edges`' node codes.

    `ids` (node, id) holds every endpoint of the edge table, as `cluster_edges` counts its nodes:
    the kernel's seeded visiting order is a shuffle of that many codes.
    """
    names = ids.toPandas()
    order = np.argsort(names["node"].to_numpy(dtype=str), kind="stable")
    by_code = names["id"].to_numpy()[order]  # code -> id
    code = pd.Series(np.arange(len(order)), index=by_code)  # id -> code
    p = pairs.toPandas()
    a, b = code[p["a"]].to_numpy(), code[p["b"]].to_numpy()
    rows, cols = np.minimum(a, b), np.maximum(a, b)
    # `cluster_edges` hands the kernel its pairs sorted; each node's neighbour order decides the
    # order of tie draws, so it must be the same.
    o = np.lexsort((cols, rows))
    w = p["w"].to_numpy(dtype=float)[o]
    labels, passes = label_propagation(len(order), rows[o], cols[o], w, cfg.seed, cfg.max_iter, cfg.lpa_tol)
    out = pd.DataFrame({"node": by_code, "lab": by_code[labels]})
    return pairs.sparkSession.createDataFrame(out, schema="node long, lab long"), passes


@dataclass
class SparkClusters:
    """The clustering of `cluster_edges_spark`.

    `clusters` is a DataFrame (address, cluster_id, cluster_size) of wallets in clusters of two or
    more; `iterations` counts propagation passes (driver) or rounds (spark); `cc_rounds` the
    large-star / small-star rounds of each connected-components run.
    """

    clusters: object  # pyspark.sql.DataFrame
    iterations: int
    cc_rounds: dict[str, int]
    super_clusters: list[dict]

    def to_result(self) -> ClusterResult:
        """Collect to the driver as the DuckDB path's `ClusterResult`, sorted by address."""
        out = self.clusters.toPandas().sort_values("address", ignore_index=True)
        out["cluster_size"] = out["cluster_size"].astype("int64")
        return ClusterResult(clusters=out, iterations=self.iterations, super_clusters=self.super_clusters)


def _roots(nodes, comps: Components):  # noqa: ANN001, ANN202 - DataFrames
    """Every node's component root; a node of no pair is its own root."""
    F = _f()
    return nodes.join(comps.members, "node", "left").select("node", F.coalesce("root", "node").alias("root"))


def _split_super(assign, pairs, ids, label: str, fresh: int):  # noqa: ANN001, ANN202
    """Split one super-cluster by removing its in-cluster hubs, as `clustering._split_super` does.

    Hubs are the top 1% of members (at least one) by weighted degree inside the cluster, ties to
    the smaller address. Returns (new assignment or None when it stays whole, report row, rounds).
    """
    F = _f()
    members = _cut(assign.where(F.col("label") == label).select("node"))
    size = members.count()
    inside = pairs.join(members.withColumnRenamed("node", "a"), "a", "left_semi").join(
        members.withColumnRenamed("node", "b"), "b", "left_semi"
    )
    inside = _cut(inside)
    ends = inside.select(F.col("a").alias("node"), "w").unionByName(
        inside.select(F.col("b").alias("node"), "w")
    )
    deg = (
        members.join(ends.groupBy("node").agg(F.sum("w").alias("deg")), "node", "left")
        .fillna(0.0, subset=["deg"])
        .join(ids, "node")
    )
    k = max(1, math.ceil(0.01 * size))
    top = deg.orderBy(F.desc("deg"), F.asc("name")).limit(k).collect()
    hubs, names = [r["node"] for r in top], [r["name"] for r in top]
    rest = inside.where(~F.col("a").isin(hubs) & ~F.col("b").isin(hubs))
    comps = components_of_ids(rest.select("a", "b"))
    pieces = _cut(comps.members)
    n_pieces = pieces.select("root").distinct().count()
    report = {"size": int(size), "hubs": [str(h) for h in names][:20], "split_into": n_pieces}
    if n_pieces < 2:
        report["split_into"] = 0
        return None, report, comps.rounds
    tag = F.lit(f"s{fresh}:")
    new = assign.join(pieces, "node", "left").select(
        "node",
        F.when(F.col("node").isin(hubs), F.concat(tag, F.col("node").cast("string")))
        .when(F.col("root").isNotNull(), F.concat(tag, F.lit("p"), F.col("root").cast("string")))
        .otherwise(F.col("label"))
        .alias("label"),
    )
    return _cut(new), report, comps.rounds


def cluster_edges_spark(edges, cfg: GraphConfig | None = None, propagation: str = "spark") -> SparkClusters:  # noqa: ANN001
    """Cluster the wallets of an edge DataFrame (src, dst, weight), as `clustering.cluster_edges`.

    Args:
        edges: Spark DataFrame with columns `src`, `dst` (addresses, or any orderable ids) and
            `weight`; the table `edges.build_edges` makes (`graph.wallet_edges`).
        cfg: the clustering settings (`min_cluster_weight`, `strong_weight`, `seed`, `max_iter`,
            `lpa_tol`, `max_cluster_size`, `max_cluster_share`); `method` must be "lpa".
        propagation: "driver" (the compiled kernel: the DuckDB path's clusters) or "spark".

    Returns:
        SparkClusters; `to_result()` collects them.

    Raises:
        ValueError: a missing column, an unknown propagation, or a method other than "lpa".
    """
    F = _f()
    cfg = cfg or GraphConfig()
    missing = [c for c in ("src", "dst", "weight") if c not in edges.columns]
    if missing:
        raise ValueError(f"edge table lacks column(s) {missing}; it has {edges.columns}")
    if propagation not in PROPAGATIONS:
        raise ValueError(f"unknown propagation {propagation!r}; choose one of {PROPAGATIONS}")
    if cfg.method != "lpa":
        raise ValueError(f"Spark clusters by label propagation only, not {cfg.method!r}")
    kind = edges.schema["src"].dataType.simpleString()
    spark = edges.sparkSession
    empty = SparkClusters(
        spark.createDataFrame([], f"address {kind}, cluster_id string, cluster_size long"), 0, {}, []
    )
    e = edges.where(F.col("src").isNotNull() & F.col("dst").isNotNull() & (F.col("src") != F.col("dst")))
    ids = number_nodes(
        e.select(F.col("src").alias("node")).unionByName(e.select(F.col("dst").alias("node"))), cfg.seed
    )
    n = ids.count()
    # Parallel edges of a pair (rules, directions) add up before the weight threshold, as on DuckDB.
    by_name = (
        e.select(
            F.least("src", "dst").alias("a"),
            F.greatest("src", "dst").alias("b"),
            F.col("weight").cast("double").alias("w"),
        )
        .groupBy("a", "b")
        .agg(F.sum("w").alias("w"))
        .where(F.col("w") >= cfg.min_cluster_weight)
    )
    pairs = _cut(_renumber(by_name, ids, ("a", "b")))
    if n == 0 or pairs.limit(1).count() == 0:
        return empty
    adj = _cut(
        pairs.select(F.col("a").alias("u"), F.col("b").alias("v"), "w").unionByName(
            pairs.select(F.col("b").alias("u"), F.col("a").alias("v"), "w")
        )
    )
    in_pairs = _cut(adj.select(F.col("u").alias("node")).distinct())
    if propagation == "driver":
        labels, iters = _propagate_driver(pairs, ids, cfg)
        labels = in_pairs.join(labels, "node")
    else:
        labels, iters = _propagate_spark(adj, cfg)
    # Strong pairs join transitively with the communities: every wallet links to its label's
    # smallest member, so one component holds each community and everything strongly tied to it.
    rep = labels.groupBy("lab").agg(F.min("node").alias("b"))
    links = labels.join(rep, "lab").select(F.col("node").alias("a"), "b")
    strong = pairs.where(F.col("w") >= cfg.strong_weight).select("a", "b")
    joined = components_of_ids(strong.unionByName(links))
    # A label's pieces that no pair connects split apart (the label may span several components).
    comp = components_of_ids(pairs.select("a", "b"))
    assign = _cut(
        _roots(in_pairs, joined)
        .withColumnRenamed("root", "j")
        .join(_roots(in_pairs, comp), "node")
        .select(
            "node", F.concat_ws("|", F.col("j").cast("string"), F.col("root").cast("string")).alias("label")
        )
    )
    rounds = {"strong_join": joined.rounds, "pieces": comp.rounds, "guards": 0}
    limit = min(cfg.max_cluster_size, max(2, int(cfg.max_cluster_share * n)))
    supers: list[dict] = []
    done: set[str] = set()
    fresh = 0
    names = ids.withColumnRenamed("node", "name").withColumnRenamed("id", "node")
    while True:
        big = assign.groupBy("label").count().where(F.col("count") > limit).collect()
        big = sorted(r["label"] for r in big if r["label"] not in done)
        if not big:
            break
        for label in big:
            new, report, r = _split_super(assign, pairs, names, label, fresh)
            supers.append(report)
            rounds["guards"] += r
            fresh += 1
            if new is None:
                done.add(label)
            else:
                assign = new
    named = assign.join(names, "node")
    first = named.groupBy("label").agg(F.min("name").alias("first"), F.count("*").alias("cluster_size"))
    out = named.join(first.where(F.col("cluster_size") >= 2), "label").select(
        F.col("name").alias("address"),
        F.concat(F.lit("c_"), F.col("first").cast("string")).alias("cluster_id"),
        "cluster_size",
    )
    return SparkClusters(clusters=out, iterations=iters, cc_rounds=rounds, super_clusters=supers)


def edges_frame(spark, edges: pd.DataFrame):  # noqa: ANN001, ANN201 - SparkSession, DataFrame
    """A pandas edge table (src, dst, weight) as a Spark DataFrame with the types Spark clusters."""
    missing = [c for c in ("src", "dst", "weight") if c not in edges.columns]
    if missing:
        raise ValueError(f"edge table lacks column(s) {missing}; it has {list(edges.columns)}")
    frame = edges[["src", "dst", "weight"]].astype({"src": object, "dst": object, "weight": float})
    return spark.createDataFrame(frame, schema="src string, dst string, weight double")


def spark_clusterer(spark, propagation: str = "driver") -> Callable[..., ClusterResult]:  # noqa: ANN001
    """`cluster_edges` on Spark: a function of the same arguments and result, to hand to a caller of it.

    The entity step clusters an edge table it derived in pandas (the customer edges of
    `graph.entities.build_entities`); this ships it to Spark, clusters it there and collects the
    assignment, so the step around it does not change. `"driver"` propagation (the default) gives
    `cluster_edges`' clusters exactly (docs/spark_graph.md).

    Raises:
        ValueError: an unknown propagation, named, before any edge is read.
    """
    if propagation not in PROPAGATIONS:
        raise ValueError(f"unknown propagation {propagation!r}; choose one of {PROPAGATIONS}")

    def cluster(edges: pd.DataFrame, cfg: GraphConfig | None = None) -> ClusterResult:
        return cluster_edges_spark(edges_frame(spark, edges), cfg, propagation).to_result()

    return cluster
