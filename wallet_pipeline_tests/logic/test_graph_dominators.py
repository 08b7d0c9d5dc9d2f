"""The funding groups' dominator search over arrays, against NetworkX's on the same payment graphs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from wallet_pipeline.logic.graph.config import GraphConfig
from wallet_pipeline.logic.graph.group_rules import _csr, _dominator_groups


def _networkx_groups(
    src: np.ndarray, dst: np.ndarray, payees: np.ndarray, nbrs: list[set[int]], cfg: GraphConfig
) -> set[tuple[frozenset, frozenset]]:
    """The groups as the rule found them with NetworkX (its condensation and dominator tree)."""
    g = nx.DiGraph()
    g.add_edges_from(zip(src.tolist(), dst.tolist(), strict=True))
    cond = nx.condensation(g)
    unit, parts, entries = {}, [], set()
    for c in cond.nodes:
        mem = sorted(cond.nodes[c]["members"])
        for part in [mem] if len(mem) <= cfg.tree_max_cycle_members else [[m] for m in mem]:
            unit.update(dict.fromkeys(part, len(parts)))
            if cond.in_degree(c) == 0:
                entries.add(len(parts))
            parts.append(part)
    dag = nx.DiGraph()
    dag.add_nodes_from(range(len(parts)))
    dag.add_edges_from((unit[a], unit[b]) for a, b in g.edges if unit[a] != unit[b])
    entries |= {u for u in dag.nodes if dag.in_degree(u) == 0}
    dag.add_edges_from((-1, u) for u in entries)
    kids: dict[int, list[int]] = {}
    for v, d in nx.immediate_dominators(dag, -1).items():
        if v != -1:
            kids.setdefault(d, []).append(v)

    def below(top: int) -> set[int]:
        out, stack = set(), [top]
        while stack:
            v = stack.pop()
            out.update(parts[v])
            stack.extend(kids.get(v, []))
        return out

    found, tops = set(), list(kids.get(-1, []))
    while tops:
        top = tops.pop()
        source, members = set(parts[top]), below(top)
        if len(members) < 2:
            continue
        hits = sum(len(set(g.successors(m)) & members) for m in source)
        ok = hits >= cfg.tree_min_share * sum(int(payees[m]) for m in source)
        if ok and len(members) >= cfg.structure_strong_min_size:
            total = sum(len(nbrs[m]) for m in members)
            ok = sum(len(nbrs[m] & members) for m in members) / max(total, 1) >= cfg.tree_strong_min_closure
        if ok:
            found.add((frozenset(members), frozenset(source)))
        else:
            tops.extend(kids.get(top, []))
    return found


def _payments(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct payments among n wallets: stars, relay trees, chains, small and large cycles, noise."""
    rng = np.random.default_rng(seed)
    pairs: set[tuple[int, int]] = set()
    v = 0
    while v < n - 30:
        kind, size = rng.integers(5), int(rng.integers(3, 25))
        group = list(range(v, min(v + size, n)))
        v += len(group)
        if kind == 0:  # a star
            pairs.update((group[0], m) for m in group[1:])
        elif kind == 1:  # a relay tree
            pairs.update((group[int(rng.integers(i))], group[i]) for i in range(1, len(group)))
        elif kind == 2:  # a chain
            pairs.update(zip(group, group[1:], strict=False))
        else:  # a cycle (funder paid back), with members that also pay each other
            pairs.update(zip(group, group[1:] + group[:1], strict=True))
            pairs.update((int(rng.choice(group)), int(rng.choice(group))) for _ in range(len(group) // 2))
    # Payments between groups: an economy of people paying people joins some into large cycles.
    for _ in range(n // 4):
        pairs.add((int(rng.integers(n)), int(rng.integers(n))))
    pairs = {(a, b) for a, b in pairs if a != b}
    arr = np.array(sorted(pairs), dtype=np.int64)
    return arr[:, 0], arr[:, 1]


@pytest.mark.parametrize("seed", range(8))
def test_the_array_dominator_groups_are_networkx_groups(seed: int) -> None:
    n = 600
    src, dst = _payments(seed, n)
    rng = np.random.default_rng(100 + seed)
    # Payees as the rule counts them: at least the payments in the graph, sometimes more outside it.
    payees = np.bincount(src, minlength=n) + rng.integers(0, 3, n) * (rng.random(n) < 0.3)
    crowd = np.bincount(src, minlength=n) >= 6
    nbr_sets = [set() for _ in range(n)]
    for a, b in zip(np.concatenate([src, dst]), np.concatenate([dst, src]), strict=True):
        if not crowd[b]:
            nbr_sets[a].add(int(b))
    links = np.array([(a, b) for a in range(n) for b in sorted(nbr_sets[a])], dtype=np.int64)
    nbrs = _csr(n, links[:, 0], links[:, 1])
    # A small cycle bound and group size, so that large cycles are split and closure decides often.
    cfg = GraphConfig(tree_max_cycle_members=4, structure_strong_min_size=6)
    ours = {
        (frozenset(members.tolist()), frozenset(source.tolist()))
        for members, source in _dominator_groups(n, src, dst, payees, nbrs, cfg)
    }
    expected = _networkx_groups(src, dst, payees, nbr_sets, cfg)
    assert len(expected) > 10  # the graphs hold groups to find
    assert ours == expected
