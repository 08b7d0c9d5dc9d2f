"""Stable cluster ids across runs, and the history table that records how each cluster changed.

Clustering names a cluster `"c_" + smallest member address`, so the id changes whenever that
wallet joins or leaves. `assign_stable_ids` matches this run's clusters to the previous run's by
shared members and lets a matched cluster keep its old id.

Matching rule (deterministic, one-to-one):

1. A pair (previous P, current C) is a *candidate* when the members they share are at least
   `min_overlap` of P or at least `min_overlap` of C (most of P lives on in C, or C is mostly P).
2. Candidates are taken greedily in the order: shared members descending, then previous id, then
   current id (both ascending). A pair is accepted when neither P nor C is matched yet. So every
   previous id goes to at most one current cluster and every current cluster inherits at most one
   id: the contributor of most members, unless that contributor went to a cluster it shares more
   members with.
3. A current cluster without a match gets a new id: its fresh id (`"c_" + smallest address`) unless
   that id was ever issued (`used_ids`, the previous run's ids, this run's inherited ids); then
   `"_2"`, `"_3"`, ... is appended. A dead id is never given to another group.

Events, one history row per cluster id per run:

- `new`: a current cluster with a new id and no candidate. related_ids [].
- `split` (piece): a current cluster with a new id that is a candidate of previous clusters whose
  id went to a cluster sharing more with them. related_ids: the ids it split from.
- `split` (parent): a matched cluster whose previous cluster also gave a piece. related_ids: the
  ids split into.
- `merged`: a matched cluster that absorbed unmatched previous clusters. related_ids: merged from.
- `merged_into`: an unmatched previous cluster with candidates, absorbed by its first candidate in
  the order above. related_ids: [surviving id]. Size 0.
- `dissolved`: an unmatched previous cluster without candidates. related_ids []. Size 0.
- `unchanged` / `grew` / `shrank` / `changed`: any other matched cluster: no wallet added or
  departed / added only / departed only / both. related_ids [].

`merged` wins over `split` when a cluster does both (related_ids then lists the merged ids; the
split piece still names its parent). An unmatched previous cluster can only have matched
candidates (the greedy pass would otherwise have paired them), so `merged_into` always names a
living id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

# DuckDB types of the history table. Create the table with these before inserting: inferred from a
# frame, an all-empty `related_ids` column would become INTEGER[].
HISTORY_SQL_TYPES = {
    "run_id": "varchar",
    "as_of": "timestamp",
    "cluster_id": "varchar",
    "event": "varchar",
    "size": "bigint",
    "previous_size": "bigint",
    "wallets_added": "bigint",
    "wallets_departed": "bigint",
    "related_ids": "varchar[]",
    "first_activity": "timestamp",
    "last_activity": "timestamp",
}
HISTORY_COLUMNS = list(HISTORY_SQL_TYPES)
EVENTS = ("new", "unchanged", "grew", "shrank", "changed", "merged", "split", "merged_into", "dissolved")

# Mutual-best rounds settle almost every pair at once; long candidate chains are finished by a plain
# greedy loop, which gives the same result (the mutual-best pairs are exactly the greedy picks).
_MAX_VECTOR_ROUNDS = 20


@dataclass
class StableIds:
    """Result of `assign_stable_ids`.

    Attributes:
        clusters: `current` with `cluster_id` replaced by the stable id (other columns kept).
        history: one row per cluster id touched in this run (`HISTORY_COLUMNS`).
        changes: wallets whose stable cluster changed: `address, previous_id, cluster_id`
            (`None` for not clustered in that run).
        rounds: vectorized matching rounds used (diagnostic).
    """

    clusters: pd.DataFrame
    history: pd.DataFrame
    changes: pd.DataFrame
    rounds: int = 0


def _check_membership(df: pd.DataFrame, name: str) -> None:
    missing = {"address", "cluster_id"} - set(df.columns)
    if missing:
        raise ValueError(f"{name} lacks columns {sorted(missing)}; expected address, cluster_id")
    if df["address"].isna().any() or df["cluster_id"].isna().any():
        raise ValueError(f"{name} has null addresses or cluster ids")


def _label_of_address(codes: np.ndarray, labels: np.ndarray, n: int, name: str, uniques) -> np.ndarray:
    """Array over all addresses: the label of each address, -1 when absent; refuses duplicates."""
    counts = np.bincount(codes, minlength=n)
    if len(counts) and counts.max() > 1:
        dup = np.flatnonzero(counts > 1)
        raise ValueError(
            f"{name} puts {len(dup)} wallets in more than one cluster (or lists them twice), "
            f"e.g. {uniques[dup[0]]}"
        )
    out = np.full(n, -1, dtype=np.int64)
    out[codes] = labels
    return out


def _take(values: np.ndarray, idx: np.ndarray, fill):
    """`values[idx]` where idx >= 0, else `fill` (also when `values` is empty)."""
    out = np.full(len(idx), fill, dtype=values.dtype if fill is not None else object)
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return out


def _overlaps(cur_of: np.ndarray, prev_of: np.ndarray, n_cur: int) -> tuple[np.ndarray, ...]:
    """Shared members per (previous code p, current code c) pair: arrays p, c, overlap."""
    both = (cur_of >= 0) & (prev_of >= 0)
    width = max(n_cur, 1)
    keys, counts = np.unique(prev_of[both] * width + cur_of[both], return_counts=True)
    return keys // width, keys % width, counts.astype(np.int64)


def _greedy_match(p: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, int]:
    """One-to-one greedy matching of candidate pairs already sorted best first.

    Returns (positions of the accepted pairs, vectorized rounds). Each round accepts every pair that
    is the first remaining pair of both its p and its c; greedy accepts exactly those too.
    """
    keep = np.ones(len(p), dtype=bool)
    accepted: list[np.ndarray] = []
    rounds = 0
    while keep.any() and rounds < _MAX_VECTOR_ROUNDS:
        rounds += 1
        idx = np.flatnonzero(keep)
        _, first_p = np.unique(p[idx], return_index=True)
        _, first_c = np.unique(c[idx], return_index=True)
        mutual = idx[np.intersect1d(first_p, first_c)]
        accepted.append(mutual)
        keep &= ~np.isin(p, p[mutual]) & ~np.isin(c, c[mutual])
    if keep.any():
        done = np.concatenate(accepted)
        taken_p, taken_c = set(p[done].tolist()), set(c[done].tolist())
        rest = []
        for i in np.flatnonzero(keep).tolist():
            if p[i] not in taken_p and c[i] not in taken_c:
                taken_p.add(p[i])
                taken_c.add(c[i])
                rest.append(i)
        accepted.append(np.asarray(rest, dtype=np.int64))
    if not accepted:
        return np.zeros(0, np.int64), rounds
    return np.sort(np.concatenate(accepted)), rounds


def _new_id(base: str, taken: set[str]) -> str:
    """`base + "_k"` with the smallest k >= 2 not in `taken`; adds it to `taken`."""
    k = 2
    while f"{base}_{k}" in taken:
        k += 1
    taken.add(f"{base}_{k}")
    return f"{base}_{k}"


def _activity_by_label(
    label_of: np.ndarray, activity: pd.DataFrame | None, pos: np.ndarray, ids: np.ndarray
) -> pd.DataFrame:
    """first_activity / last_activity per cluster id.

    `label_of` gives each address code's label (-1 = none); `pos` each activity row's address code.
    """
    cols = ["cluster_id", "first_activity", "last_activity"]
    if activity is None or activity.empty or not len(label_of):
        return pd.DataFrame(columns=cols)
    lab = _take(label_of, pos, -1)
    keep = lab >= 0
    m = pd.DataFrame(
        {
            "label": lab[keep],
            "first_activity": activity["first_time"].to_numpy()[keep],
            "last_activity": activity["last_time"].to_numpy()[keep],
        }
    )
    out = m.groupby("label").agg(
        first_activity=("first_activity", "min"), last_activity=("last_activity", "max")
    )
    return out.reset_index().assign(cluster_id=lambda d: ids[d["label"].to_numpy()])[cols]


def _lists_by(df: pd.DataFrame, key: str, value: str) -> pd.Series:
    """Sorted list of `value` per `key` (index = key)."""
    if df.empty:
        return pd.Series(dtype=object)
    return df.sort_values([key, value]).groupby(key, sort=False)[value].agg(list)


def assign_stable_ids(
    current: pd.DataFrame,
    previous: pd.DataFrame | None = None,
    *,
    run_id: str,
    as_of,
    used_ids: Iterable[str] = (),
    activity: pd.DataFrame | None = None,
    min_overlap: float = 0.5,
) -> StableIds:
    """Give this run's clusters stable ids by matching them to the previous run's, and log history.

    See the module docstring for the matching rule and the events.

    Args:
        current: fresh clustering, one row per wallet: `address`, `cluster_id` (any id unique per
            cluster, normally `"c_" + smallest address`); other columns are kept.
        previous: last run's `address`, `cluster_id` with stable ids; None on the first run.
        run_id: written to every history row.
        as_of: time of the run, written to every history row.
        used_ids: every id ever issued (e.g. the `cluster_id` column of the history table), so a
            dead id is never reused for another group.
        activity: optional `address, first_time, last_time`; gives first/last activity per cluster
            (over the current members, or the previous members for ended ids).
        min_overlap: share of either side the shared members must reach for a pair to match.

    Returns:
        StableIds with the relabelled clusters, the history rows and the moved wallets.
    """
    if not 0 < min_overlap <= 1:
        raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap}")
    _check_membership(current, "current")
    if previous is None:
        previous = pd.DataFrame({"address": pd.Series(dtype=str), "cluster_id": pd.Series(dtype=str)})
    _check_membership(previous, "previous")

    # Integer codes in id order: every sort and tie-break below then works on int arrays. Addresses
    # are factorized once for both runs, so no string join is needed afterwards.
    cur_code, cur_ids = pd.factorize(current["cluster_id"], sort=True)
    prev_code, prev_ids = pd.factorize(previous["cluster_id"], sort=True)
    cur_ids = np.asarray(cur_ids, dtype=object)
    prev_ids = np.asarray(prev_ids, dtype=object)
    cur_size = np.bincount(cur_code, minlength=len(cur_ids)).astype(np.int64)
    prev_size = np.bincount(prev_code, minlength=len(prev_ids)).astype(np.int64)
    addr_code, addresses = pd.factorize(
        pd.concat([current["address"], previous["address"]], ignore_index=True)
    )
    n_addr = len(addresses)
    cur_of = _label_of_address(addr_code[: len(current)], cur_code, n_addr, "current", addresses)
    prev_of = _label_of_address(addr_code[len(current) :], prev_code, n_addr, "previous", addresses)

    p, c, o = _overlaps(cur_of, prev_of, len(cur_ids))
    cand = (o >= min_overlap * prev_size[p]) | (o >= min_overlap * cur_size[c])
    p, c, o = p[cand], c[cand], o[cand]
    order = np.lexsort((c, p, -o))  # last key is primary: overlap desc, then p, then c
    p, c, o = p[order], c[order], o[order]
    acc, rounds = _greedy_match(p, c)
    mp, mc = p[acc], c[acc]

    match_of_c = np.full(len(cur_ids), -1, dtype=np.int64)  # previous code inherited by each c
    match_of_c[mc] = mp
    match_of_p = np.full(len(prev_ids), -1, dtype=np.int64)
    match_of_p[mp] = mc
    pair_overlap = np.zeros(len(cur_ids), dtype=np.int64)  # members shared with the matched P
    pair_overlap[mc] = o[acc]

    stable = np.empty(len(cur_ids), dtype=object)
    stable[mc] = prev_ids[mp]
    unmatched_c = np.flatnonzero(match_of_c < 0)
    issued = set(used_ids) | set(prev_ids.tolist())
    bases = cur_ids[unmatched_c].tolist()
    # Suffixes must also avoid the other unmatched clusters' fresh ids.
    taken = issued | set(bases)
    stable[unmatched_c] = [_new_id(b, taken) if b in issued else b for b in bases]

    # Split pieces: unmatched current clusters and their candidates (all matched, see docstring).
    is_piece = match_of_c[c] < 0
    pieces = pd.DataFrame({"c": c[is_piece], "p": p[is_piece]})
    pieces["piece_id"] = stable[pieces["c"].to_numpy()]
    pieces["parent_c"] = match_of_p[pieces["p"].to_numpy()]
    pieces["parent_id"] = prev_ids[pieces["p"].to_numpy()]
    split_from = _lists_by(pieces[["c", "parent_id"]], "c", "parent_id")
    split_into = _lists_by(pieces[["parent_c", "piece_id"]].drop_duplicates(), "parent_c", "piece_id")

    # Absorbed previous clusters: unmatched with candidates, going to their first candidate.
    dead_with_cand = match_of_p[p] < 0
    absorbed = pd.DataFrame({"p": p[dead_with_cand], "c": c[dead_with_cand]}).drop_duplicates("p")
    absorbed["p_id"] = prev_ids[absorbed["p"].to_numpy()]
    absorbed["c_id"] = stable[absorbed["c"].to_numpy()]
    merged_from = _lists_by(absorbed[["c", "p_id"]], "c", "p_id")

    # Rows of living clusters.
    n_cur = len(cur_ids)
    matched = match_of_c >= 0
    prev_sz = np.zeros(n_cur, dtype=np.int64)
    prev_sz[matched] = prev_size[match_of_c[matched]]
    added = cur_size - np.where(matched, pair_overlap, 0)
    departed = prev_sz - np.where(matched, pair_overlap, 0)
    cidx = np.arange(n_cur)
    has_split_from = np.isin(cidx, split_from.index.to_numpy())
    has_merged = np.isin(cidx, merged_from.index.to_numpy())
    has_split_into = np.isin(cidx, split_into.index.to_numpy())
    event = np.select(
        [
            ~matched & has_split_from,
            ~matched,
            has_merged,
            has_split_into,
            (added == 0) & (departed == 0),
            departed == 0,
            added == 0,
        ],
        ["split", "new", "merged", "split", "unchanged", "grew", "shrank"],
        "changed",
    )
    related = pd.Series([[] for _ in range(n_cur)], dtype=object)
    for mask, lists in (
        (~matched & has_split_from, split_from),
        (matched & has_merged, merged_from),
        (matched & ~has_merged & has_split_into, split_into),
    ):
        rows = np.flatnonzero(mask)
        if len(rows):
            related.iloc[rows] = lists.reindex(rows).to_numpy()
    alive = pd.DataFrame(
        {
            "cluster_id": stable,
            "event": event,
            "size": cur_size,
            "previous_size": prev_sz.astype(np.int64),
            "wallets_added": added.astype(np.int64),
            "wallets_departed": departed.astype(np.int64),
            "related_ids": related.to_numpy(),
        }
    )

    # Rows of ended ids.
    dead_p = np.flatnonzero(match_of_p < 0)
    target = absorbed.set_index("p")["c_id"].reindex(dead_p)
    has_target = target.notna().to_numpy()
    dead = pd.DataFrame(
        {
            "cluster_id": prev_ids[dead_p],
            "event": np.where(has_target, "merged_into", "dissolved"),
            "size": np.zeros(len(dead_p), dtype=np.int64),
            "previous_size": prev_size[dead_p],
            "wallets_added": np.zeros(len(dead_p), dtype=np.int64),
            "wallets_departed": prev_size[dead_p],
            "related_ids": [[t] if h else [] for t, h in zip(target.to_numpy(), has_target, strict=True)],
        }
    )

    clusters = current.copy()
    clusters["cluster_id"] = stable[cur_code] if len(cur_code) else pd.Series(dtype=str)

    pos = pd.Index(addresses).get_indexer(activity["address"]) if activity is not None else np.zeros(0, int)
    dead_of = _take(match_of_p, prev_of, 0) < 0  # wallets of previous clusters that ended
    parts = [
        _activity_by_label(cur_of, activity, pos, stable),
        _activity_by_label(np.where(dead_of, prev_of, -1), activity, pos, prev_ids),
    ]
    parts = [part for part in parts if len(part)]  # concat of empty frames would blur the time dtypes
    history = pd.concat([f for f in (alive, dead) if len(f)] or [alive], ignore_index=True)
    if parts:
        history = history.merge(pd.concat(parts, ignore_index=True), on="cluster_id", how="left")
    else:
        history = history.assign(first_activity=pd.NaT, last_activity=pd.NaT)
    history.insert(0, "as_of", pd.Timestamp(as_of).as_unit("ns"))
    history.insert(0, "run_id", run_id)
    history = history[HISTORY_COLUMNS].sort_values("cluster_id", kind="stable").reset_index(drop=True)

    # A wallet moved when its previous cluster's id did not come with it (new ids never equal an old id).
    moved = ((cur_of >= 0) != (prev_of >= 0)) | (_take(match_of_c, cur_of, -1) != prev_of)
    idx = np.flatnonzero(moved)
    idx = idx[np.argsort(np.asarray(addresses)[idx], kind="stable")]
    changes = pd.DataFrame(
        {
            "address": np.asarray(addresses, dtype=object)[idx],
            "previous_id": _take(prev_ids, prev_of[idx], None),
            "cluster_id": _take(stable, cur_of[idx], None),
        }
    )
    return StableIds(clusters=clusters, history=history, changes=changes, rounds=rounds)


def history_table_sql(table: str = "graph.cluster_history") -> str:
    """`create table if not exists` statement for the history table (types of HISTORY_SQL_TYPES)."""
    cols = ", ".join(f"{name} {typ}" for name, typ in HISTORY_SQL_TYPES.items())
    return f"create table if not exists {table} ({cols})"


def issued_ids(history: pd.DataFrame | None) -> set[str]:
    """Every cluster id the history table has ever recorded: pass it as `used_ids`."""
    if history is None or history.empty:
        return set()
    return set(history["cluster_id"].dropna().astype(str))
