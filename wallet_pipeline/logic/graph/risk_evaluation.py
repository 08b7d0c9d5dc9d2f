"""Risk scores against the simulator's planted entities (`ground_truth`), never used to score.

Per malicious entity: its main cluster (the cluster holding most of its wallets; None when most
are unclustered), that cluster's level, and the share of its wallets at High or above (wallet
scores). An entity is found when the majority (> 50%) of its wallets are at High or above; recall =
found / malicious entities. Benign entities (not malicious) with any wallet at High or above are
counted by `entity_type`; benign wallets in no entity at High or above are counted by kind, the
first that matches: dust or poisoning recipient, scam-token buyer (a victim), popular-token holder,
other. Contracts are not scored. Also the level distribution of clusters and wallets.
"""

from __future__ import annotations

import duckdb
import pandas as pd

HIGH_LEVELS = ("High", "Critical")
LEVELS = ("Critical", "High", "Medium", "Low", "Minimal")


def _kinds(con: duckdb.DuckDBPyConnection, schema: str) -> pd.DataFrame:
    """Kind of every ground-truth wallet in no entity (same sources as `evaluation.py`)."""
    return con.sql(
        f"""
        with pop as (select address from {schema}.tokens where is_popular),
        scam as (select address from {schema}.tokens where is_scam),
        hold as (select distinct to_address address from raw.token_transfers where token_address in
                 (select address from pop)),
        victim as (select distinct to_address address from raw.token_transfers where token_address in
                   (select address from scam)),
        dust as (select distinct t.to_address address from raw.token_transfers t
                 join raw.transactions x on x.hash = t.transaction_hash where x.from_address <> t.from_address
                 union select to_address from raw.transactions where value > 0 and value < 1e14)
        select w.address,
               case when w.address in (select address from dust) then 'dust_or_poison_recipient'
                    when w.address in (select address from victim) then 'scam_token_buyer'
                    when w.address in (select address from hold) then 'popular_token_holder'
                    else 'other' end kind
        from {schema}.wallets w where w.entity_id is null and not coalesce(w.is_contract, false)
        """
    ).df()


def evaluate_risk(
    con: duckdb.DuckDBPyConnection,
    wallet_clusters: pd.DataFrame,
    cluster_scores: pd.DataFrame,
    wallet_scores: pd.DataFrame,
    schema: str = "ground_truth",
) -> dict:
    """Recall of malicious entities at High+, benign entities and wallets at High+ (module docstring)."""
    w = con.sql(
        f"select address, entity_id, entity_type, coalesce(is_malicious, false) is_malicious "
        f"from {schema}.wallets where not coalesce(is_contract, false)"
    ).df()
    w = w.merge(wallet_clusters[["address", "cluster_id"]], on="address", how="left")
    w = w.merge(wallet_scores[["address", "risk_score", "risk_level"]], on="address", how="left")
    w["high"] = w["risk_level"].isin(HIGH_LEVELS)
    cl_level = cluster_scores.set_index("cluster_id")["risk_level"]
    cl_score = cluster_scores.set_index("cluster_id")["risk_score"]
    per_entity = {}
    mal = w[w["is_malicious"] & w["entity_id"].notna()]
    for eid, g in mal.groupby("entity_id"):
        counts = g["cluster_id"].value_counts(dropna=False)
        main = counts.index[0] if len(counts) else None
        main = main if isinstance(main, str) else None
        share = float(g["high"].mean())
        per_entity[eid] = {
            "entity_type": g["entity_type"].iloc[0],
            "wallets": int(len(g)),
            "main_cluster": main,
            "main_cluster_wallets": int(counts.iloc[0]) if len(counts) else 0,
            "main_cluster_level": cl_level.get(main) if main else None,
            "main_cluster_score": float(cl_score.get(main)) if main else None,
            "share_high_or_above": round(share, 4),
            "found": share > 0.5,
        }
    n_found = sum(1 for v in per_entity.values() if v["found"])
    benign_ent = w[~w["is_malicious"] & w["entity_id"].notna()]
    hit = benign_ent[benign_ent["high"]].groupby("entity_type")["entity_id"].nunique()
    none = w[w["entity_id"].isna()].merge(_kinds(con, schema), on="address", how="left")
    none_high = none[none["high"]]
    return {
        "malicious_entities": len(per_entity),
        "found": n_found,
        "recall": n_found / len(per_entity) if per_entity else 0.0,
        "per_entity": per_entity,
        "benign_entities_high": {"total": int(hit.sum()), **{k: int(v) for k, v in hit.items()}},
        "benign_entity_wallets_high": int(benign_ent["high"].sum()),
        "benign_wallets_high_by_kind": {
            "total": int(len(none_high)),
            **{k: int(v) for k, v in none_high["kind"].value_counts().items()},
        },
        "cluster_levels": {lv: int((cluster_scores["risk_level"] == lv).sum()) for lv in LEVELS},
        "wallet_levels": {lv: int((wallet_scores["risk_level"] == lv).sum()) for lv in LEVELS},
    }
