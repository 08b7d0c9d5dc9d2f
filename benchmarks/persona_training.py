"""Persona model: training time and peak memory by size, and quality against the simulator's truth.

Reads `marts.wallet_features` from a pipeline DuckDB file (read-only). At the file's own size it
also scores the personas against `ground_truth.wallets` (evaluation only; the model never reads it)
and retrains with another seed to measure how many wallets keep their persona name. Larger sizes
resample the feature rows with multiplicative noise; each size runs in a child process so that its
peak RSS is its own.

    .venv/bin/python benchmarks/persona_training.py --db PATH.duckdb --rows 100000 1000000

Targets (issue): ARI >= 0.8 vs truth, silhouette > 0.38, >= 95% names stable across a retrain,
under 2 minutes at 1M rows on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wallet_pipeline.logic.personas import PersonaConfig, train_personas  # noqa: E402


def _features(db: str) -> pd.DataFrame:
    with duckdb.connect(db, read_only=True) as con:
        return con.sql("select * from marts.wallet_features order by address").df()


def _resample(features: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = features.iloc[rng.integers(0, len(features), rows)].reset_index(drop=True)
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c] * rng.lognormal(0, 0.05, rows)
    out["address"] = [f"0x{i:040x}" for i in range(rows)]
    return out


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def one_size(db: str, rows: int) -> dict:
    """Train at `rows` rows (0: the file's own rows) and time fit and predict."""
    features = _features(db)
    if rows:
        features = _resample(features, rows)
    t0 = time.perf_counter()
    model, report = train_personas(features, PersonaConfig())
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    model.predict(features)
    predict_s = time.perf_counter() - t1
    win = report.table[report.table.winner].iloc[0]
    return {
        "rows": len(features),
        "train_seconds": round(train_s, 1),
        "predict_seconds": round(predict_s, 1),
        "peak_rss_gb": round(_peak_gb(), 2),
        "winner": report.winner,
        "silhouette": round(float(win.silhouette), 3),
        "timings": report.timings,
    }


def quality(db: str, seeds: list[int]) -> None:
    """ARI vs truth, confusion, calibration, and names kept across retrains with other seeds."""
    from wallet_pipeline.logic.personas.evaluation import evaluate_personas

    features = _features(db)
    with duckdb.connect(db, read_only=True) as con:
        truth = con.sql("select address, persona from ground_truth.wallets").df()
    pd.set_option("display.width", 250)
    first = None
    for seed in seeds:
        t0 = time.perf_counter()
        model, report = train_personas(features, PersonaConfig(seed=seed), previous=first and first[0])
        seconds = time.perf_counter() - t0
        pred = model.predict(features)
        result = evaluate_personas(pred, truth)
        win = report.table[report.table.winner].iloc[0]
        kept = (
            ""
            if first is None
            else f", persona kept vs seed {seeds[0]}: {(pred.persona == first[1].persona).mean():.2%}"
        )
        print(
            f"seed {seed}: winner {report.winner}, silhouette {win.silhouette:.3f}, stability "
            f"{win.stability:.3f}, ARI {result.ari:.3f}, "
            f"ECE held-out {report.calibration['ece_heldout']:.3f}, "
            f"dormant_days {report.population['dormant_days']}, {seconds:.0f} s{kept}"
        )
        if first is None:
            first = (model, pred)
            print(report.table.round(3).to_string())
            print("calibration:", json.dumps(report.calibration, indent=1))
            print(result.per_class.round(3).to_string())
            print(result.confusion.to_string())


def main() -> None:
    """Quality at the file's size, then time and memory at each size in a child process."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="/tmp/wp/feat/wallet_pipeline.duckdb")
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2], help="retrain seeds (quality)")
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one_size(args.db, args.one)))
        return
    if not args.no_quality:
        quality(args.db, args.seeds)
    for rows in [0, *args.rows]:
        cmd = [sys.executable, __file__, "--db", args.db, "--one", str(rows)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        print(out.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
