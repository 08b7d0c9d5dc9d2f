"""Asynchronous weighted label propagation (`label_propagation`, compiled by numba in `lpa_kernel`)."""

from __future__ import annotations

import itertools
from collections import defaultdict

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from wallet_pipeline.logic.graph import bcubed, label_propagation


def planted(n: int = 2_000, k: int = 20, n_edges: int = 12_000, p_in: float = 0.9, seed: int = 0):
    """A simple weighted graph with communities of `k` nodes (node i in i // k)."""
    rng = np.random.default_rng(seed)
    n_in = int(n_edges * p_in)
    a = rng.integers(0, n, n_edges)
    b = np.concatenate([(a[:n_in] // k) * k + rng.integers(0, k, n_in), rng.integers(0, n, n_edges - n_in)])
    pairs = pd.DataFrame({"r": np.minimum(a, b), "c": np.maximum(a, b)})
    pairs = pairs[pairs["r"] != pairs["c"]].drop_duplicates()
    w = rng.uniform(0.5, 1.0, len(pairs))
    return pairs["r"].to_numpy(), pairs["c"].to_numpy(), w


def f1(labels, k: int = 20) -> float:
    score = bcubed(pd.Series(np.arange(len(labels)) // k), pd.Series(labels))
    p, r = score["precision"].mean(), score["recall"].mean()
    return 2 * p * r / (p + r)


def cliques(*sizes: int, start: int = 0) -> list[tuple[int, int, float]]:
    """Edges of weight 1 inside consecutive cliques of the given sizes."""
    edges, first = [], start
    for s in sizes:
        edges += [(a, b, 1.0) for a, b in itertools.combinations(range(first, first + s), 2)]
        first += s
    return edges


def run(n: int, edges: list[tuple[int, int, float]], **kw) -> tuple[np.ndarray, int]:
    r, c, w = (np.array(x) for x in zip(*edges, strict=True))
    return label_propagation(n, r, c, w.astype(float), **kw)


def test_one_seed_gives_one_result_and_another_seed_may_differ() -> None:
    r, c, w = planted()
    first, _ = label_propagation(2_000, r, c, w, seed=7)
    again, _ = label_propagation(2_000, r, c, w, seed=7)
    other, _ = label_propagation(2_000, r, c, w, seed=8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_every_node_ends_with_one_of_its_heaviest_neighbour_labels() -> None:
    r, c, w = planted(p_in=0.7)
    labels, _ = label_propagation(2_000, r, c, w, seed=0)
    around: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for a, b, x in zip(r.tolist(), c.tolist(), w.tolist(), strict=True):
        around[a][labels[b]] += x
        around[b][labels[a]] += x
    assert all(lab[labels[i]] >= max(lab.values()) * (1 - 1e-9) for i, lab in around.items())


def test_planted_communities_are_found_as_well_as_by_networkx_asyn_lpa() -> None:
    r, c, w = planted()
    g = nx.Graph()
    g.add_nodes_from(range(2_000))
    g.add_weighted_edges_from(zip(r.tolist(), c.tolist(), w.tolist(), strict=True))
    theirs = np.empty(2_000, dtype=np.int64)
    for i, comm in enumerate(nx.community.asyn_lpa_communities(g, weight="weight", seed=0)):
        theirs[list(comm)] = i
    ours = [f1(label_propagation(2_000, r, c, w, seed=s)[0]) for s in range(3)]
    assert min(ours) > 0.95 and np.mean(ours) >= f1(theirs) - 0.02


def test_one_heavy_edge_outweighs_two_light_ones() -> None:
    # Node 10 has one edge of 0.9 into clique 0..4 and two of 0.4 into clique 5..9.
    edges = cliques(5, 5) + [(10, 0, 0.9), (10, 5, 0.4), (10, 6, 0.4)]
    for seed in range(10):
        labels, _ = run(11, edges, seed=seed)
        assert labels[10] == labels[0] != labels[5]


def test_parallel_edges_add_up() -> None:
    # Node 10: two parallel edges of 0.3 into clique 0..4 (0.6 in all) against three edges of 0.15
    # into clique 5..9 (0.45): the sum wins, not the number of edges nor one of the parallel ones.
    edges = cliques(5, 5) + [(10, 0, 0.3), (0, 10, 0.3), (10, 5, 0.15), (10, 6, 0.15), (10, 7, 0.15)]
    for seed in range(10):
        labels, _ = run(11, edges, seed=seed)
        assert labels[10] == labels[0] != labels[5]


def test_a_ring_of_equal_weights_settles_in_a_few_passes() -> None:
    # Every boundary node on the ring is tied between its two neighbours' labels: the propagation
    # must still end long before max_iter, with the ring cut into pieces (as on any path).
    n = 1_000
    labels, passes = run(n, [(i, (i + 1) % n, 1.0) for i in range(n)], seed=0, max_iter=50)
    assert passes < 10 and len(set(labels.tolist())) > 1


def test_nodes_without_positive_edges_keep_their_own_label() -> None:
    edges = [*cliques(3), (3, 4, 0.0), (5, 5, 1.0)]  # a zero-weight edge and a self-loop link nobody
    labels, _ = run(7, edges, seed=0)
    assert len(set(labels[:3].tolist())) == 1
    assert labels[3:].tolist() == [3, 4, 5, 6]


@pytest.mark.parametrize(("kw", "passes"), [({"max_iter": 1}, 1), ({"tol": 1.0}, 0)])
def test_max_iter_and_tol_cut_the_propagation_short(kw: dict, passes: int) -> None:
    r, c, w = planted()
    labels, done = label_propagation(2_000, r, c, w, seed=0, **kw)
    assert done == passes
    if passes == 0:
        np.testing.assert_array_equal(labels, np.arange(2_000))


def test_an_empty_graph_and_a_graph_without_edges_are_handled() -> None:
    labels, passes = label_propagation(0, np.array([], int), np.array([], int), np.array([]))
    assert len(labels) == 0 and passes == 0
    labels, _ = label_propagation(3, np.array([], int), np.array([], int), np.array([]))
    assert labels.tolist() == [0, 1, 2]
