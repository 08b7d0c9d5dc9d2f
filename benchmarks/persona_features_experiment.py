# ruff: noqa: E501
"""Candidate persona features, prototyped in SQL over a pipeline DuckDB file, scored against the truth.

Builds `marts.wallet_features` plus the candidate columns of `docs/personas_features.md` (one SQL
query over the staging and intermediate models, read-only), trains `train_personas` on a chosen
feature set and scores the result against `ground_truth.wallets` (evaluation only; the model never
reads it): ARI of the persona names and of the raw clusters, silhouette, confusion, under two truth
treatments (the simulator's labels, and the look-alike poisoning addresses as their own class).

    .venv/bin/python benchmarks/persona_features_experiment.py /tmp/wp/feat/wallet_pipeline.duckdb
    .venv/bin/python benchmarks/persona_features_experiment.py DB --set all_new --fast
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wallet_pipeline.logic.personas import PersonaConfig, train_personas  # noqa: E402

ZERO = "'0x0000000000000000000000000000000000000000'"

# Every candidate is a column of this query; each is one dbt-able expression over staging /
# intermediate models (see docs/personas_features.md for the dbt form).
FEATURE_SQL = f"""
with
tx as (select * from staging.stg_ethereum__transactions),
tt as (
    select t.*, k.token_standard
    from staging.stg_ethereum__token_transfers t
    join intermediate.int_tokens_classified k using (token_key)
),
window_start as (select min(block_time) as t0 from tx),
sent as (
    select from_key as wallet_key,
        count(*) filter (where method_id is null or method_id = '0x') as n_plain,
        count(*) filter (where method_id = '0xa9059cbb') as n_token_transfer_calls,
        count(*) filter (where method_id = '0x095ea7b3') as n_approvals,
        count(distinct to_key) filter (where value_eth > 0) as n_eth_recipients,
        median(value_eth) filter (where value_eth > 0) as median_eth_sent,
        min(block_time) as first_sent, max(block_time) as last_sent,
    from tx group by 1
),
recv as (
    select to_key as wallet_key, count(distinct from_key) filter (where value_eth > 0) as n_eth_senders
    from tx where to_key is not null group by 1
),
inflow as (
    select to_key as wallet_key, 'ETH' as asset, block_time from tx where value_eth > 0 and to_key is not null
    union all
    select to_key, cast(token_key as varchar), block_time from tt where to_address <> {ZERO}
),
outflow as (
    select from_key as wallet_key, 'ETH' as asset, block_time from tx where value_eth > 0
    union all
    select from_key, cast(token_key as varchar), block_time from tt where from_address <> {ZERO}
),
fwd as (
    -- share of inbound ETH / token events followed by an outbound event of the same asset within 24 h
    select i.wallet_key, count(*) as n_inflows,
        count(*) filter (where exists (
            select 1 from outflow o
            where o.wallet_key = i.wallet_key and o.asset = i.asset
              and o.block_time >= i.block_time and o.block_time < i.block_time + interval 24 hour
        )) as n_forwarded_24h
    from inflow i group by 1
),
tok_out as (
    -- token transfers out of an address inside a transaction someone else sent (transferFrom)
    select tt.from_key as wallet_key, count(*) as n_token_out,
        count(*) filter (where tx.from_key <> tt.from_key) as n_token_out_not_own_tx
    from tt join tx using (tx_hash) where tt.from_address <> {ZERO} group by 1
),
tok_in as (select to_key as wallet_key, count(distinct from_key) as n_token_senders from tt group by 1),
hot as (select distinct address from staging.stg_ethereum__address_labels where label_type = 'exchange'),
to_hot as (select tx.from_key as wallet_key, count(*) as n from tx join hot on tx.to_address = hot.address group by 1),
from_hot as (select tx.to_key as wallet_key, count(*) as n from tx join hot on tx.from_address = hot.address group by 1)
select f.*,
    date_diff('second', s.first_sent, s.last_sent) / 86400.0 as active_span_days,
    date_diff('second', w.t0, s.first_sent) / 86400.0 as first_sent_day,
    date_diff('second', w.t0, s.last_sent) / 86400.0 as last_sent_day,
    coalesce(s.n_plain, 0) / nullif(f.tx_count, 0) as plain_transfer_share,
    coalesce(s.n_token_transfer_calls, 0) / nullif(f.tx_count, 0) as token_call_share,
    coalesce(s.n_approvals, 0) / nullif(f.tx_count, 0) as approval_share,
    coalesce(f.dex_trades, 0) / nullif(f.tx_count, 0) as swap_share,
    (coalesce(f.nft_buys, 0) + coalesce(f.nft_sells, 0)) / nullif(f.tx_count, 0) as nft_trade_share,
    s.median_eth_sent,
    coalesce(s.n_eth_recipients, 0) as n_eth_recipients,
    coalesce(r.n_eth_senders, 0) as n_eth_senders,
    coalesce(fw.n_inflows, 0) as n_inflows,
    fw.n_forwarded_24h / nullif(fw.n_inflows, 0) as forwarded_24h_share,
    f.eth_sent / nullif(f.eth_received, 0) as eth_out_in_ratio,
    coalesce(o.n_token_out, 0) as n_token_out,
    coalesce(o.n_token_out_not_own_tx, 0) as n_token_out_not_own_tx,
    o.n_token_out_not_own_tx / nullif(o.n_token_out, 0) as token_out_not_own_share,
    coalesce(ti.n_token_senders, 0) as n_token_senders,
    coalesce(th.n, 0) / nullif(f.tx_count, 0) as to_exchange_share,
    coalesce(fh.n, 0) as n_recv_from_exchange,
from marts.wallet_features f
join intermediate.int_wallet_keys k using (address)
cross join window_start w
left join sent s on s.wallet_key = k.wallet_key
left join recv r on r.wallet_key = k.wallet_key
left join fwd fw on fw.wallet_key = k.wallet_key
left join tok_out o on o.wallet_key = k.wallet_key
left join tok_in ti on ti.wallet_key = k.wallet_key
left join to_hot th on th.wallet_key = k.wallet_key
left join from_hot fh on fh.wallet_key = k.wallet_key
"""

# Forwarding to externally owned addresses (contracts excluded: swaps, NFT buys, bridge deposits).
FORWARD_SQL = f"""
with
tx as (select * from staging.stg_ethereum__transactions),
tt as (select * from staging.stg_ethereum__token_transfers),
contracts as (select wallet_key from intermediate.int_contracts_identified),
inflow as (
  select to_key as wallet_key, 'ETH' as asset, block_time, value_eth as amount from tx where value_eth > 0 and to_key is not null
  union all
  select to_key, cast(token_key as varchar), block_time, value_double from tt where to_address <> {ZERO}),
-- outflows to an externally owned address (not a contract: swaps, NFT buys, bridge/mixer deposits excluded)
outflow as (
  select from_key as wallet_key, 'ETH' as asset, block_time, value_eth as amount, to_key from tx
  where value_eth > 0 and to_key not in (select wallet_key from contracts)
  union all
  select from_key, cast(token_key as varchar), block_time, value_double, to_key from tt
  where from_address <> {ZERO} and to_address <> {ZERO}
    and to_key not in (select wallet_key from contracts)),
fwd as (
  select i.wallet_key, count(*) as n_in,
    count(*) filter (where exists (select 1 from outflow o where o.wallet_key = i.wallet_key and o.asset = i.asset
        and o.block_time >= i.block_time and o.block_time < i.block_time + interval 6 hour)) as n_fwd6,
    count(*) filter (where exists (select 1 from outflow o where o.wallet_key = i.wallet_key and o.asset = i.asset
        and o.block_time >= i.block_time and o.block_time < i.block_time + interval 24 hour)) as n_fwd24
  from inflow i group by 1),
outs as (select wallet_key, count(*) as n_out_eoa, count(distinct to_key) as n_out_eoa_recipients from outflow group by 1),
per_asset as (
  select wallet_key, asset, sum(amount) as amt from inflow group by all),
per_asset_out as (
  select wallet_key, asset, sum(amount) as amt from outflow group by all),
ret as (
  select i.wallet_key, avg(least(coalesce(o.amt, 0) / i.amt, 1)) as eoa_out_in_value_ratio
  from per_asset i left join per_asset_out o using (wallet_key, asset) where i.amt > 0 group by 1),
all_out as (  -- every value-moving event the wallet originates or is debited
  select from_key as wallet_key, to_key from tx where value_eth > 0 or method_id <> '0x'
  union all select from_key, to_key from tt),
sent_all as (select wallet_key, count(*) as n_out_all from all_out group by 1)
select k.address,
  coalesce(fw.n_in, 0) - coalesce(fw.n_fwd6, 0) as n_unforwarded_inflows_6h,
  fw.n_fwd6 / nullif(fw.n_in, 0) as forwarded_eoa_6h_share,
  fw.n_fwd24 / nullif(fw.n_in, 0) as forwarded_eoa_24h_share,
  coalesce(o.n_out_eoa_recipients, 0) as n_eoa_recipients,
  coalesce(o.n_out_eoa, 0) / nullif(sa.n_out_all, 0) as eoa_outflow_share,
  r.eoa_out_in_value_ratio,
from intermediate.int_wallet_keys k
left join fwd fw using (wallet_key)
left join outs o using (wallet_key)
left join ret r using (wallet_key)
left join sent_all sa using (wallet_key)
"""

FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "baseline": ("days_since_last_active", "unique_nfts", "dex_volume_usd"),
    "recency_forward_nft": ("last_sent_day", "n_unforwarded_inflows_6h", "nft_sells"),
    "recency_forward_nftshare": ("last_sent_day", "n_unforwarded_inflows_6h", "nft_trade_share"),
    "recency_fwdshare_nfts": ("last_sent_day", "forwarded_eoa_6h_share", "unique_nfts"),
    "recency_fwd_both_nfts": (
        "last_sent_day",
        "forwarded_eoa_6h_share",
        "n_unforwarded_inflows_6h",
        "unique_nfts",
    ),
    "recency_fwd_both_nftshare": (
        "last_sent_day",
        "forwarded_eoa_6h_share",
        "n_unforwarded_inflows_6h",
        "nft_trade_share",
    ),
    "recency_forward_nft_dex": ("last_sent_day", "n_unforwarded_inflows_6h", "nft_sells", "dex_volume_usd"),
}


def load(db: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mart plus candidate columns, and the truth aligned to its rows."""
    with duckdb.connect(db, read_only=True) as con:
        features = con.sql(FEATURE_SQL).df().merge(con.sql(FORWARD_SQL).df(), on="address", how="left")
        truth = con.sql("select address, persona, role from ground_truth.wallets").df()
    truth = truth.set_index("address").reindex(features.address)
    return features, truth


def truth_labels(truth: pd.DataFrame, treatment: str) -> np.ndarray:
    """'simulator': the persona as simulated; 'lookalike': look-alike addresses as their own class."""
    labels = truth.persona.to_numpy(dtype=object).copy()
    if treatment == "lookalike":
        labels[(truth.role == "lookalike").to_numpy()] = "poisoning_lookalike"
    return labels


def evaluate(
    features: pd.DataFrame, truth: pd.DataFrame, columns: tuple[str, ...], config: PersonaConfig
) -> dict:
    """Train on `columns` (the whole table is passed, so naming sees every column) and score."""
    from sklearn.metrics import adjusted_rand_score

    cfg = PersonaConfig(**{**config.__dict__, "feature_columns": columns})
    t0 = time.perf_counter()
    model, report = train_personas(features, cfg)
    seconds = time.perf_counter() - t0
    pred = model.predict(features)
    clusters, _ = model.assign_clusters(features)
    rule = pred.persona.where(clusters < 0, "")
    cluster_ids = np.where(clusters < 0, rule.to_numpy(), clusters.astype(str))
    win = report.table[report.table.winner].iloc[0]
    out = {
        "winner": report.winner,
        "silhouette": float(win.silhouette),
        "seconds": seconds,
        "model": model,
        "pred": pred,
    }
    for t in ("simulator", "lookalike"):
        y = truth_labels(truth, t)
        out[f"ari_{t}"] = adjusted_rand_score(y, pred.persona)
        out[f"ari_clusters_{t}"] = adjusted_rand_score(y, cluster_ids)
    return out


def main() -> None:
    """Run the chosen feature sets and print ARI / silhouette (and confusion)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("db", nargs="?", default="/tmp/wp/feat/wallet_pipeline.duckdb")
    parser.add_argument("--set", nargs="*", default=None, help="feature sets to run (default: best)")
    parser.add_argument("--fast", action="store_true", help="kmeans + gmm only")
    parser.add_argument("--confusion", action="store_true")
    parser.add_argument("--selection", default="silhouette", help="PersonaConfig.selection")
    parser.add_argument("--retrain-seed", type=int, default=None, help="also retrain with this seed")
    args = parser.parse_args()
    features, truth = load(args.db)
    config = PersonaConfig(methods=("kmeans", "gmm")) if args.fast else PersonaConfig()
    config = PersonaConfig(**{**config.__dict__, "selection": args.selection})
    pd.set_option("display.width", 250)
    for name in args.set or [BEST]:
        r = evaluate(features, truth, FEATURE_SETS[name], config)
        kept = ""
        if args.retrain_seed is not None:  # stability: same personas after a retrain with another seed
            cfg = PersonaConfig(**{**config.__dict__, "seed": args.retrain_seed})
            r2 = evaluate(features, truth, FEATURE_SETS[name], cfg)
            same = (r["pred"].persona.to_numpy() == r2["pred"].persona.to_numpy()).mean()
            kept = f"  seed {args.retrain_seed}: {r2['winner']}, ARI look {r2['ari_lookalike']:.3f}, kept {same:.1%}"
        print(
            f"{name:>24} [{args.selection}]: winner {r['winner']:<18} silhouette {r['silhouette']:.3f}  "
            f"ARI names sim {r['ari_simulator']:.3f} / lookalike {r['ari_lookalike']:.3f}  "
            f"ARI clusters sim {r['ari_clusters_simulator']:.3f} / lookalike {r['ari_clusters_lookalike']:.3f}"
            f"  ({r['seconds']:.0f} s){kept}",
            flush=True,
        )
        if args.confusion:
            y = truth_labels(truth, "lookalike")
            print(pd.crosstab(pd.Series(y, name="truth"), r["pred"].persona.to_numpy()).to_string())


BEST = "recency_fwd_both_nftshare"

if __name__ == "__main__":
    main()
