"""Compiled (numba) kernels of asynchronous weighted label propagation over CSR arrays.

`kernels()` compiles on first use and returns the two functions; numba is imported there, not at
module import, so importing `wallet_pipeline` stays fast and pays nothing when nobody clusters.
Compiled code is cached on disk (`cache=True`): next to this file in `__pycache__/` when that is
writable, else in the user cache (`~/.cache/numba`), or wherever `NUMBA_CACHE_DIR` points. Numba
writes its cache whatever `PYTHONDONTWRITEBYTECODE` says.

- `build_csr(n, rows, cols, weights)` -> (indptr, neighbours, weights): the symmetric adjacency of
  an undirected edge list (each edge once) by counting sort, O(edges); self-loops are dropped.
- `propagate(indptr, nbr, w, labels, seed, max_iter, max_changes)` -> passes: updates `labels` in
  place, one node at a time (Gauss-Seidel: a node sees the labels its neighbours already got). The
  nodes are first visited in a seeded random order; after that only the neighbours of a node that
  changed are queued again (the "fast label propagation" of Traag & Subelj, 2023), so the work
  after the first pass shrinks with the number of changes. Ends when the queue holds at most
  `max_changes` nodes or after `max_iter * n` visits; returns the visits in passes, rounded up.
"""

from __future__ import annotations

from functools import cache


@cache
def kernels():
    """Compile (or load from the cache) and return `(build_csr, propagate)`."""
    import numba
    import numpy as np

    jit = numba.njit(cache=True, nogil=True)

    @jit
    def build_csr(n, rows, cols, weights):
        idx_t = rows.dtype.type
        indptr = np.zeros(n + 1, dtype=np.int64)
        for e in range(rows.shape[0]):
            if rows[e] != cols[e]:
                indptr[rows[e] + 1] += 1
                indptr[cols[e] + 1] += 1
        for i in range(n):
            indptr[i + 1] += indptr[i]
        nbr = np.empty(indptr[n], dtype=rows.dtype)
        w = np.empty(indptr[n], dtype=np.float64)
        pos = indptr[:-1].copy()
        for e in range(rows.shape[0]):
            a, b = rows[e], cols[e]
            if a == b:
                continue
            nbr[pos[a]] = idx_t(b)
            w[pos[a]] = weights[e]
            pos[a] += 1
            nbr[pos[b]] = idx_t(a)
            w[pos[b]] = weights[e]
            pos[b] += 1
        return indptr, nbr, w

    @jit
    def propagate(indptr, nbr, w, labels, seed, max_iter, max_changes):
        n = labels.shape[0]
        np.random.seed(seed)  # numba's own generator: the seed fixes the order and the tie-breaks
        # FIFO ring of nodes to visit: all nodes in a seeded random order first, then only the
        # neighbours of a node that changed (a node whose neighbourhood did not change cannot).
        queue = np.arange(n).astype(labels.dtype)
        np.random.shuffle(queue)
        queued = np.ones(n, dtype=np.bool_)
        head, size = 0, n
        acc = np.zeros(n, dtype=np.float64)  # weight per label around the current node
        max_deg = 0
        for i in range(n):
            max_deg = max(max_deg, indptr[i + 1] - indptr[i])
        touched = np.empty(max_deg + 1, dtype=labels.dtype)
        visits = 0
        limit = max_iter * n
        while size > max_changes and visits < limit:
            i = queue[head]
            head = head + 1 if head + 1 < n else 0
            size -= 1
            queued[i] = False
            visits += 1
            lo, hi = indptr[i], indptr[i + 1]
            if lo == hi:
                continue
            m = 0
            for p in range(lo, hi):
                lab = labels[nbr[p]]
                if acc[lab] == 0.0:  # weights are > 0: zero means not seen yet around this node
                    touched[m] = lab
                    m += 1
                acc[lab] += w[p]
            own = labels[i]
            best = 0.0
            for j in range(m):
                best = max(best, acc[touched[j]])
            # A node keeps its label while it is among the heaviest (up to rounding), as in
            # NetworkX's asyn_lpa: only a strictly heavier label moves it, so settled groups stay
            # put. Otherwise one tied label is drawn uniformly (reservoir sampling, seeded).
            cut = best * (1.0 - 1e-9)
            keep = acc[own] >= cut
            chosen = own
            ties = 0
            for j in range(m):
                lab = touched[j]
                if not keep and acc[lab] >= cut:
                    ties += 1
                    if ties == 1 or np.random.random() * ties < 1.0:
                        chosen = lab
                acc[lab] = 0.0
            if chosen == own:
                continue
            labels[i] = chosen
            for p in range(lo, hi):
                v = nbr[p]
                if not queued[v] and labels[v] != chosen:
                    queued[v] = True
                    tail = head + size
                    queue[tail if tail < n else tail - n] = v
                    size += 1
        # Node visits in units of full passes, rounded up.
        return (visits + n - 1) // n

    return build_csr, propagate
