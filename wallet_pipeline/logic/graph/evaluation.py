"""Scoring clusters against planted entities (the simulator's `ground_truth`), never used to cluster.

Scored wallets: every EOA of `ground_truth.wallets` (`is_contract` false). A wallet's true group is
its `entity_id` when it has one, else itself alone (a singleton); its predicted group is its cluster,
else itself alone. B-cubed, per wallet w: precision = |pred(w) & true(w)| / |pred(w)|, recall =
|pred(w) & true(w)| / |true(w)|; both restricted to scored wallets and averaged over them (overall,
per `entity_type` with `none` for wallets in no entity, and over entity members only). F1 is the
harmonic mean of the averaged precision and recall.

A benign wallet is glued when its cluster also holds a wallet of another true group. Benign means in
no entity or in a non-malicious one (exchange users, airdrop); it is counted by kind: exchange user,
popular-token holder, dust or poisoning recipient, other.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd


def bcubed(truth: pd.Series, pred: pd.Series) -> pd.DataFrame:
    """Per-item B-cubed precision and recall of two labelings over the same index."""
    df = pd.DataFrame({"t": truth.to_numpy(), "p": pred.to_numpy()}, index=truth.index)
    both = df.groupby(["t", "p"])["t"].transform("size")
    p_size = df.groupby("p")["p"].transform("size")
    t_size = df.groupby("t")["t"].transform("size")
    return pd.DataFrame({"precision": both / p_size, "recall": both / t_size}, index=truth.index)


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def evaluate_clusters(
    con: duckdb.DuckDBPyConnection, clusters: pd.DataFrame, schema: str = "ground_truth"
) -> dict:
    """Score `clusters` (address, cluster_id) against `schema.wallets`; see the module docstring."""
    w = con.sql(
        f"select address, entity_id, coalesce(entity_type, 'none') entity_type, "
        f"coalesce(is_malicious, false) is_malicious from {schema}.wallets "
        "where not coalesce(is_contract, false)"
    ).df()
    w = w.merge(clusters[["address", "cluster_id"]], on="address", how="left")
    w["truth"] = w["entity_id"].fillna("w_" + w["address"])
    w["pred"] = w["cluster_id"].fillna("w_" + w["address"])
    s = bcubed(w["truth"], w["pred"])
    w = pd.concat([w, s], axis=1)

    def summary(frame: pd.DataFrame) -> dict:
        p, r = float(frame["precision"].mean()), float(frame["recall"].mean())
        return {"n": int(len(frame)), "precision": p, "recall": r, "f1": _f1(p, r)}

    per_type = {k: summary(g) for k, g in w.groupby("entity_type")}
    out = {
        "overall": summary(w),
        "entity_members": summary(w[w["entity_id"].notna()]),
        "per_entity_type": per_type,
    }
    # Benign wallets glued to another true group.
    n_truth = w.groupby("pred")["truth"].transform("nunique")
    benign = ~w["is_malicious"]
    glued = w[benign & (n_truth > 1) & w["cluster_id"].notna()]
    kinds = con.sql(
        f"""
        with pop as (select address from {schema}.tokens where is_popular),
        hold as (select distinct to_address address from raw.token_transfers where token_address in
                 (select address from pop)),
        dust as (select distinct t.to_address address from raw.token_transfers t
                 join raw.transactions x on x.hash = t.transaction_hash where x.from_address <> t.from_address
                 union select to_address from raw.transactions where value > 0 and value < 1e14)
        select w.address,
               case when w.entity_type = 'exchange_user' then 'exchange_user'
                    when w.address in (select address from dust) then 'dust_or_poison_recipient'
                    when w.address in (select address from hold) then 'popular_token_holder'
                    else 'other' end kind
        from {schema}.wallets w
        """
    ).df()
    g = glued.merge(kinds, on="address", how="left")
    out["benign_glued"] = {"total": int(len(g)), **g["kind"].value_counts().to_dict()}
    sizes = clusters.groupby("cluster_id").size() if len(clusters) else pd.Series(dtype=int)
    out["clusters"] = {
        "n_clusters": int(len(sizes)),
        "clustered_wallets": int(sizes.sum()) if len(sizes) else 0,
        "largest": int(sizes.max()) if len(sizes) else 0,
        "median_size": float(np.median(sizes)) if len(sizes) else 0.0,
    }
    return out
