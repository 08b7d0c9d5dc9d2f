"""How much each edge rule of the wallet graph is worth: precision and recall against planted entities.

Reads `graph.wallet_edges` and `ground_truth.wallets` of kept simulator worlds (the folders
`benchmarks/quality.py --keep` writes, or its replays) and prints, per edge type and strength
bucket:

- edges: how many edges the rule made (summed over the worlds);
- precision: the share of those edges whose two wallets belong to one planted entity;
- glue: the share whose wallets are in different true groups and at least one is an individual
  (in no planted entity): the links that glue a person to a stranger;
- recall: the share of planted-entity wallets (EOAs) that this bucket links to another wallet of
  their own entity. A rule with high precision but tiny recall adds little; one with low precision
  and high volume is what makes clusters glue.

Precision is pooled over the worlds (edges of all worlds together) and also given as the worst
decile of the per-world figures, so one big world does not hide a bad one. The weights in
`wallet_pipeline/logic/graph/config.py` are set from this table (see docs/graph.md).

    .venv/bin/python benchmarks/edge_evidence.py /tmp/worlds            # every world_* folder
    .venv/bin/python benchmarks/edge_evidence.py /tmp/replay --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

# Strength buckets: a rule whose weight depends on how strong the pattern is gets one row per level,
# named from the columns of the edge row (n transfers, weight).
BUCKET_SQL = """
case
  when e.edge_type = 'direct_transfer' then
    case when hs.address is not null and hd.address is not null then 'hub-hub'
         when e.reciprocal then 'reciprocal'
         when e.n >= 3 then 'one-way x3+'
         else 'one-way single' end
  when e.edge_type = 'token_cohold' then case when e.weight >= 0.25 then 'w>=0.25' else 'w<0.25' end
  when e.edge_type = 'funding_tree' then case when e.weight >= 1.0 then 'source' else 'hand-off' end
  when e.edge_type in ('deposit_address', 'sweep') then
    case when e.senders = 1 then 'senders 1' when e.senders = 2 then 'senders 2'
         when e.senders <= 4 then 'senders 3-4' else 'senders 5+' end
  else coalesce(e.bucket, '')
end
"""


def world_dirs(root: Path) -> list[Path]:
    """The world folders under `root` holding a DuckDB file (root itself when it is one)."""
    if (root / "data" / "wallet_pipeline.duckdb").exists():
        return [root]
    return sorted(p for p in root.iterdir() if (p / "data" / "wallet_pipeline.duckdb").exists())


def world_rows(db: Path) -> tuple[pd.DataFrame, pd.Series]:
    """Per bucket of one world: edges, same-entity edges, glue edges; and members linked per bucket."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        cols = {r[0] for r in con.execute("describe graph.wallet_edges").fetchall()}
        bucket_col = "e.bucket" if "bucket" in cols else "null"
        con.execute(
            f"""
            create temp table ev as
            select e.edge_type, {BUCKET_SQL.replace("e.bucket", bucket_col)} bucket, e.src, e.dst,
                   ws.entity_id es, wd.entity_id ed,
                   ws.address is not null and wd.address is not null scored
            from (
                select w.*, count(*) over (partition by w.edge_type, w.dst) senders,
                       r.src is not null reciprocal
                from graph.wallet_edges w
                left join (select src, dst from graph.wallet_edges where edge_type = 'direct_transfer') r
                       on w.edge_type = 'direct_transfer' and r.src = w.dst and r.dst = w.src
            ) e
            left join graph.hubs hs on hs.address = e.src
            left join graph.hubs hd on hd.address = e.dst
            left join (select * from ground_truth.wallets where not coalesce(is_contract, false)) ws
                   on ws.address = e.src
            left join (select * from ground_truth.wallets where not coalesce(is_contract, false)) wd
                   on wd.address = e.dst
            """
        )
        rows = con.sql(
            """
            select edge_type, bucket, count(*) edges,
                   count(*) filter (where es is not null and es = ed) same,
                   count(*) filter (where (es is null or ed is null) and scored) glue
            from ev group by 1, 2
            """
        ).df()
        members = con.execute(
            "select count(*) from ground_truth.wallets where entity_id is not null "
            "and not coalesce(is_contract, false)"
        ).fetchone()[0]
        linked = con.sql(
            """
            select edge_type, bucket, count(distinct a) linked from (
                select edge_type, bucket, src a from ev where es = ed
                union all select edge_type, bucket, dst a from ev where es = ed
            ) group by 1, 2
            """
        ).df()
    finally:
        con.close()
    rows = rows.merge(linked, on=["edge_type", "bucket"], how="left").fillna({"linked": 0})
    rows["members"] = members
    return rows, pd.Series({"members": members})


def summarize(per_world: list[pd.DataFrame]) -> pd.DataFrame:
    """Pooled precision, glue and recall per bucket, with the worst decile of per-world precision."""
    allw = pd.concat(per_world, keys=range(len(per_world)), names=["world", "i"]).reset_index(level=0)
    allw["precision"] = allw["same"] / allw["edges"]
    worst = allw.groupby(["edge_type", "bucket"])["precision"].quantile(0.1).rename("precision_p10")
    members = sum(int(w["members"].iloc[0]) for w in per_world if len(w))
    pooled = allw.groupby(["edge_type", "bucket"])[["edges", "same", "glue", "linked"]].sum()
    pooled["worlds"] = allw.groupby(["edge_type", "bucket"]).size()
    pooled["precision"] = pooled["same"] / pooled["edges"]
    pooled["glue_share"] = pooled["glue"] / pooled["edges"]
    pooled["recall"] = pooled["linked"] / max(members, 1)
    out = pooled.join(worst).reset_index()
    return out.sort_values(["precision", "edges"], ascending=[False, False]).reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    """Print the evidence table of the worlds under the given folder; 2 when there are none."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path, help="folder of kept worlds (world_*/data/wallet_pipeline.duckdb)")
    ap.add_argument("--json", type=Path, help="also write the table as JSON records")
    args = ap.parse_args(argv)
    dirs = world_dirs(args.root)
    if not dirs:
        print(f"no world folders with data/wallet_pipeline.duckdb under {args.root}", file=sys.stderr)
        return 2
    per_world = [world_rows(d / "data" / "wallet_pipeline.duckdb")[0] for d in dirs]
    table = summarize(per_world)
    print(f"Edge evidence over {len(dirs)} worlds ({args.root}):")
    print(
        f"{'edge type':<18} {'bucket':<16} {'worlds':>6} {'edges':>8} {'precision':>9} {'p10':>6} "
        f"{'glue':>6} {'recall':>7}"
    )
    for r in table.itertuples():
        p10 = "" if np.isnan(r.precision_p10) else f"{r.precision_p10:.3f}"
        print(
            f"{r.edge_type:<18} {r.bucket:<16} {r.worlds:>6} {int(r.edges):>8} {r.precision:>9.3f} {p10:>6} "
            f"{r.glue_share:>6.3f} {r.recall:>7.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(table.to_dict(orient="records"), indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
