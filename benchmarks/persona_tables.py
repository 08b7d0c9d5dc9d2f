"""Train the persona model on any per-wallet table and show what selection chose and why.

Prints the chosen model, its silhouette and stability next to plain K-Means k=4 fitted on the same
preprocessed table and scored on the same wallets (selection.baseline_comparison), the names with
their sizes, and the time. The table is a CSV or Parquet file, or `DB.duckdb:schema.table`:

    .venv/bin/python benchmarks/persona_tables.py data/wallet_pipeline.duckdb:marts.wallet_features
    .venv/bin/python benchmarks/persona_tables.py wallets.csv --id-column wallet_address

`--dune-from` builds the table first, the way a Dune query of per-wallet aggregates would return it
(`wallet_address`, `n_txs`, `eth_sent`, `unique_counterparties`, ...; none of our column names),
from ethereum-etl transactions: a DuckDB file's `raw.transactions` or a transactions CSV(.gz):

    .venv/bin/python benchmarks/persona_tables.py --dune-from world.duckdb --write /tmp/dune.csv
    .venv/bin/python benchmarks/persona_tables.py --dune-from transactions.csv.gz

`--truth DB.duckdb` adds the names against `ground_truth.wallets.persona` (simulator worlds).
`--save-model FILE` pickles the model: `wallet-pipeline persona --model-file FILE --csv ...` then
scores new wallets of the same table.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wallet_pipeline.logic.personas import PersonaConfig, train_personas  # noqa: E402

# A per-wallet aggregate query as an analyst would write it on Dune: counts, ETH volumes, distinct
# counterparties, how often a transaction calls a contract, gas price and activity span.
DUNE_STYLE_SQL = """
with sent as (
    select from_address as wallet_address, count(*) as n_txs, sum(eth) as eth_sent,
           count(distinct to_address) as unique_recipients, avg(gwei) as avg_gas_price_gwei,
           avg(case when is_call then 1.0 else 0.0 end) as contract_call_share,
           count(distinct cast(ts as date)) as active_days,
           count(distinct date_trunc('hour', ts)) as active_hours
    from tx group by 1
), received as (
    select to_address as wallet_address, count(*) as n_txs_in, sum(eth) as eth_received,
           count(distinct from_address) as unique_senders
    from tx where to_address is not null group by 1
), peers as (
    select wallet_address, count(distinct peer) as unique_counterparties from (
        select from_address as wallet_address, to_address as peer from tx where to_address is not null
        union all
        select to_address, from_address from tx where to_address is not null
    ) group by 1
)
select wallet_address,
       coalesce(s.n_txs, 0) as n_txs, coalesce(r.n_txs_in, 0) as n_txs_in,
       coalesce(s.eth_sent, 0) as eth_sent, coalesce(r.eth_received, 0) as eth_received,
       coalesce(s.unique_recipients, 0) as unique_recipients, coalesce(r.unique_senders, 0) as unique_senders,
       p.unique_counterparties, s.avg_gas_price_gwei, s.contract_call_share,
       coalesce(s.active_days, 0) as active_days, coalesce(s.active_hours, 0) as active_hours
from peers as p
left join sent as s using (wallet_address)
left join received as r using (wallet_address)
order by wallet_address
"""


def dune_style_table(source: str) -> pd.DataFrame:
    """The per-wallet aggregate of `source`'s transactions (DuckDB file or ethereum-etl CSV)."""
    con = duckdb.connect()
    if source.endswith(".duckdb"):
        con.execute(f"attach '{source}' as src (read_only)")
        raw = "src.raw.transactions"
        ts = "block_timestamp"
    else:
        raw = f"read_csv_auto('{source}', all_varchar=true)"
        ts = "to_timestamp(cast(block_timestamp as bigint))"
    con.execute(
        f"""
        create view tx as select lower(from_address) as from_address, lower(to_address) as to_address,
            cast(value as double) / 1e18 as eth, cast(gas_price as double) / 1e9 as gwei,
            coalesce(input, '0x') not in ('0x', '') as is_call, {ts} as ts
        from {raw}
        """
    )
    return con.sql(DUNE_STYLE_SQL).df()


def read_table(spec: str) -> pd.DataFrame:
    """A CSV or Parquet file, or `file.duckdb:schema.table`."""
    if ".duckdb:" in spec:
        db, table = spec.split(".duckdb:", 1)
        with duckdb.connect(db + ".duckdb", read_only=True) as con:
            return con.sql(f"select * from {table}").df()
    if spec.endswith(".parquet"):
        return pd.read_parquet(spec)
    return pd.read_csv(spec)


def main() -> None:
    """Read or build the table, train, print the comparison, the names and the time."""
    parser = argparse.ArgumentParser()
    parser.add_argument("table", nargs="?", help="CSV, Parquet or DB.duckdb:schema.table")
    parser.add_argument("--dune-from", help="build a Dune-style per-wallet table from these transactions")
    parser.add_argument("--write", help="write the table trained on to this CSV")
    parser.add_argument("--id-column", default="address", help="id column (detected when absent)")
    parser.add_argument("--features", nargs="*", help="columns to cluster on (default: every numeric one)")
    parser.add_argument(
        "--activity-column", default="tx_count", help="transactions sent: rules and confidence evidence"
    )
    parser.add_argument("--truth", help="a world's DuckDB file: names against ground_truth.wallets")
    parser.add_argument("--save-model", help="pickle the trained model to this file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (args.table or args.dune_from):
        parser.error("give a table or --dune-from")
    t0 = time.perf_counter()
    table = dune_style_table(args.dune_from) if args.dune_from else read_table(args.table)
    table = table.sort_values(table.columns[0]).reset_index(drop=True)
    if args.write:
        table.to_csv(args.write, index=False)
    load_s = time.perf_counter() - t0
    config = PersonaConfig(
        id_column=args.id_column,
        feature_columns=tuple(args.features) if args.features else None,
        activity_column=args.activity_column,
        seed=args.seed,
    )
    t1, c1 = time.perf_counter(), time.process_time()
    model, report = train_personas(table, config)
    # CPU seconds beside the wall time: on a shared machine the wall time measures the other jobs
    # too, and below 250,000 rows training runs on one thread.
    train_s, train_cpu = time.perf_counter() - t1, time.process_time() - c1
    predictions = model.predict(table)
    base = report.final.get("baseline", {})
    winner = report.table[report.table["winner"]].iloc[0]
    source = args.table or "Dune-style from " + args.dune_from
    print(f"table: {source}, {len(table):,} rows (read in {load_s:.1f} s)")
    print(f"id column: {model.config.id_column}; features: {', '.join(model.feature_columns)}")
    pop = report.population
    print(f"modelled wallets: {pop['modelled']:,}; dropped features: {pop['dropped_features']}")
    screened = len(report.table)
    shortlisted = int((report.table["stage"] == "shortlist").sum()) if "stage" in report.table else screened
    print(f"candidates: {screened} screened, {shortlisted} fitted in full")
    print(
        f"chosen: {report.winner} (k={int(winner['k'])}), served {report.final.get('k', '?')} clusters, "
        f"ensemble of {report.final.get('ensemble_members', 1)}"
    )
    nan = float("nan")
    print(
        f"silhouette: served {base.get('served_silhouette', nan):.3f} vs K-Means k=4 "
        f"{base.get('baseline_silhouette', nan):.3f} (same space, same wallets); stability "
        f"{base.get('served_stability', nan):.3f} vs {base.get('baseline_stability', nan):.3f}; "
        f"personas {base.get('served_personas', '-')} vs {base.get('baseline_personas', '-')}"
    )
    print(f"verdict: {base.get('verdict', '-')}")
    cols = [
        c
        for c in ("candidate", "stage", "k", "screen_silhouette", "silhouette", "stability", "refits")
        if c in report.table
    ]
    cols += [c for c in ("n_personas", "eligible", "winner", "seconds") if c in report.table]
    shown = report.table[report.table["stage"] == "shortlist"] if "stage" in report.table else report.table
    print(shown[cols].round(3).to_string(index=False))
    steps = ", ".join(f"{k} {v:.1f}" for k, v in report.timings.items())
    print(f"training time: {train_s:.1f} s wall, {train_cpu:.1f} s CPU ({steps})")
    print("\nnames (all wallets, rules included):")
    sizes = predictions["persona"].value_counts()
    for name, n in sizes.items():
        print(f"  {name:<48} {n:>8,}  {n / len(predictions):6.1%}")
    q = predictions["confidence"].quantile([0.05, 0.25, 0.5]).round(3).tolist()
    print(f"confidence quantiles 5/25/50%: {q}")
    if args.truth:
        with duckdb.connect(args.truth, read_only=True) as con:
            truth = con.sql("select address, persona as truth from ground_truth.wallets").df()
        joined = predictions.assign(address=predictions["address"].str.lower()).merge(truth, on="address")
        print(f"\nnames against the truth ({len(joined):,} wallets matched):")
        print(pd.crosstab(joined["persona"], joined["truth"]).to_string())
    if args.save_model:
        Path(args.save_model).write_bytes(pickle.dumps(model))
        print(f"\nmodel written to {args.save_model}")


if __name__ == "__main__":
    main()
