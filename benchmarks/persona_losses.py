"""Where the persona ARI of kept random worlds is lost, and how much of it the data could give back.

Reads, from each kept world's DuckDB file (read-only), the served personas
(`personas.wallet_personas`), the features they were served from (`marts.wallet_features`) and the
planted truth (`ground_truth.wallets`), and prints:

- the ARI per world and the truth class x persona table summed over the worlds;
- the ARI (median, worst decile, worst) if one error cell were right, for the largest cells;
- the ceiling: the ARI if every wallet were right except those whose behaviour left nothing in
  the features to be right with (`UNREADABLE`): NFT traders with no NFT transfer in the window,
  wallets whose one active day lies in the window's first fifth (a slow wallet and a stopped one
  leave the same row), and wallets that never sent (every behaviour feature is empty).

    .venv/bin/python benchmarks/persona_losses.py /tmp/final/kept
    .venv/bin/python benchmarks/persona_losses.py /tmp/final/kept --seeds 1009 1012

The worlds are what `benchmarks/quality.py --keep` leaves (world_<seed>/data/wallet_pipeline.duckdb).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wallet_pipeline.logic.personas.evaluation import TRUTH_OF  # noqa: E402
from wallet_pipeline.logic.personas.population import DORMANT_WINDOW_SHARE  # noqa: E402

PERSONA_OF = {truth: persona for persona, truth in TRUTH_OF.items()}
UNREADABLE = ("no NFT transfer in the window", "one active day, in the window's first fifth", "never sent")


def load_world(database: Path) -> pd.DataFrame:
    """One row per scored wallet with a truth: features, truth class and served persona."""
    with duckdb.connect(str(database), read_only=True) as con:
        df = con.sql(
            """
            select f.address, f.tx_count, f.active_days, f.nft_transfers, f.nft_trade_share,
                f.days_since_last_active,
                t.persona as truth, p.persona as served
            from personas.wallet_personas as p
            join ground_truth.wallets as t using (address)
            join marts.wallet_features as f using (address)
            """
        ).df()
    # The window as the dormancy rule measures it: the longest time since a wallet's last sent.
    df["silence_share"] = df["days_since_last_active"] / df["days_since_last_active"].max()
    return df


def unreadable(df: pd.DataFrame) -> pd.Series:
    """Which of UNREADABLE each wallet is, or None."""
    sent = pd.to_numeric(df["tx_count"], errors="coerce").fillna(0)
    nft = pd.to_numeric(df["nft_transfers"], errors="coerce").fillna(0)
    out = np.full(len(df), None, dtype=object)
    out[((df["truth"] == "nft_trader") & (nft == 0)).to_numpy()] = UNREADABLE[0]
    early_once = (df["active_days"] == 1) & (df["silence_share"] >= DORMANT_WINDOW_SHARE)
    ordinary = df["truth"].isin(["retail_trader", "dormant", "nft_trader", "whale"])
    out[(early_once & ordinary).to_numpy()] = UNREADABLE[1]
    out[(sent == 0).to_numpy()] = UNREADABLE[2]
    return pd.Series(out, index=df.index, dtype=object)


def ari_if_right(world: pd.DataFrame, right: pd.Series) -> float:
    """ARI of the world with the wallets of `right` given their truth's persona."""
    served = world["served"].where(~right, world["truth"].map(PERSONA_OF))
    return float(adjusted_rand_score(world["truth"], served))


def nft_line_errors(pooled: pd.DataFrame, shares: tuple[float, ...]) -> dict[str, int]:
    """Errors among wallets of truth retail or NFT trader served one of the two, by who draws the line.

    "served": the personas as served; "share >= s": NFT Trader exactly when the wallet made an NFT
    transfer and its NFT trade share is at least s (what naming.nft_by_wallet does at 0.25).
    """
    pair = pooled["truth"].isin(["retail_trader", "nft_trader"]) & pooled["served"].isin(
        [PERSONA_OF["retail_trader"], PERSONA_OF["nft_trader"]]
    )
    df = pooled[pair]
    is_nft = (df["truth"] == "nft_trader").to_numpy()
    share = pd.to_numeric(df["nft_trade_share"], errors="coerce").fillna(0).to_numpy()
    made = pd.to_numeric(df["nft_transfers"], errors="coerce").fillna(0).to_numpy() > 0
    out = {"served": int(((df["served"] == PERSONA_OF["nft_trader"]).to_numpy() != is_nft).sum())}
    for s in shares:
        out[f"share >= {s:g}"] = int((((share >= s) & made) != is_nft).sum())
    return out


def spread(values: list[float]) -> str:
    """Median, worst decile and worst of a figure over the worlds."""
    v = np.asarray(values, dtype=float)
    return f"median {np.median(v):.3f}, worst decile {np.percentile(v, 10):.3f}, worst {v.min():.3f}"


def main(argv: list[str] | None = None) -> int:
    """Print the losses of the kept worlds under the given folders; 1 when there are none."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kept", nargs="+", help="folders of kept worlds (world_<seed>/data/...)")
    parser.add_argument("--seeds", type=int, nargs="*", help="only these seeds")
    parser.add_argument("--cells", type=int, default=10, help="error cells to try one at a time (default 10)")
    args = parser.parse_args(argv)
    files = sorted(
        f / "data" / "wallet_pipeline.duckdb"
        for d in args.kept
        for f in Path(d).glob("world_*")
        if (f / "data" / "wallet_pipeline.duckdb").is_file()
        and (not args.seeds or int(f.name.removeprefix("world_")) in args.seeds)
    )
    if not files:
        print(f"no kept worlds under {' '.join(args.kept)}", file=sys.stderr)
        return 1
    worlds = {int(f.parent.parent.name.removeprefix("world_")): load_world(f) for f in files}
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)

    print("ARI per world:")
    served = [float(adjusted_rand_score(w["truth"], w["served"])) for w in worlds.values()]
    print("  " + ", ".join(f"{s} {a:.3f}" for s, a in zip(worlds, served, strict=True)))
    print(f"  {spread(served)}\n")

    pooled = pd.concat(worlds.values(), ignore_index=True)
    table = pd.crosstab(pooled["truth"], pooled["served"])
    print(f"Truth class x served persona, summed over {len(worlds)} worlds:\n{table}\n")

    errors = pooled[pooled["served"] != pooled["truth"].map(PERSONA_OF)]
    cells = errors.groupby(["truth", "served"]).size().sort_values(ascending=False).head(args.cells)
    print("ARI if one error cell were right (wallets over the worlds; of them with nothing to read):")
    for (truth, persona), n in cells.items():
        gains, blind = [], 0
        for w in worlds.values():
            cell = (w["truth"] == truth) & (w["served"] == persona)
            blind += int((cell & unreadable(w).notna()).sum())
            gains.append(ari_if_right(w, cell))
        print(f"  {truth:>20} as {persona:<22} {n:6,} ({blind:,})  {spread(gains)}")

    print("\nWallets whose behaviour left nothing in the features to tell (wrongly served / all):")
    for kind in UNREADABLE:
        inside = unreadable(pooled) == kind
        wrong = inside & (pooled["served"] != pooled["truth"].map(PERSONA_OF))
        print(f"  {kind:<45} {int(wrong.sum()):6,} / {int(inside.sum()):,}")
    lines = nft_line_errors(pooled, (0.2, 0.25, 0.3))
    wallets = int((pooled["truth"].isin(["retail_trader", "nft_trader"]) & pooled["served"].isin(
        [PERSONA_OF["retail_trader"], PERSONA_OF["nft_trader"]])).sum())  # fmt: skip
    print(f"\nRetail / NFT errors among the {wallets:,} wallets of either truth served either persona:")
    print("  " + ", ".join(f"{k} {v:,}" for k, v in lines.items()))
    ceiling = [ari_if_right(w, unreadable(w).isna()) for w in worlds.values()]
    print(f"\nCeiling (every other wallet right): {spread(ceiling)}")
    print("  " + ", ".join(f"{s} {a:.3f}" for s, a in zip(worlds, ceiling, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
