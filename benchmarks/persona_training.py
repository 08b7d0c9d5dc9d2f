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


def _truth(db: str) -> pd.DataFrame | None:
    """The simulator's persona of each address, None when the file has no ground truth."""
    with duckdb.connect(db, read_only=True) as con:
        try:
            return con.sql("select address, persona from ground_truth.wallets").df()
        except duckdb.CatalogException:
            return None


def _resample(
    features: pd.DataFrame, rows: int, seed: int = 0, truth: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """`rows` rows drawn with replacement, numeric columns times lognormal noise, new addresses.

    Float columns stay within the range they have in `features`. Counts get the same 5% noise,
    rounded up or down at random in proportion (so their mean is kept), a zero stays zero and a
    count of at least one stays at least one. Copied exactly, the
    ~42 copies of each wallet at 1,000,000 rows shared every activity count and the lockstep-fleet
    rule (population.py) named 323,083 of them Airdrop Farmer; ten wallets with equal counts in
    every column are a fleet, forty copies of one wallet are not what a million wallets look like.
    With `truth`, each new address keeps the persona of the row it was drawn from.
    """
    rng = np.random.default_rng(seed)
    out = features.iloc[rng.integers(0, len(features), rows)].reset_index(drop=True)
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            # Within the column's own range: a share stays at most 1, and the longest recency (the
            # window the dormancy rule measures) stays the window.
            low, high = features[c].min(), features[c].max()
            out[c] = (out[c] * rng.lognormal(0, 0.05, rows)).clip(low, high)
        elif pd.api.types.is_integer_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c]):
            count = out[c].to_numpy(dtype=float, na_value=np.nan)
            noisy = np.floor(count * rng.lognormal(0, 0.05, rows) + rng.uniform(0, 1, rows))
            noisy = np.where(count >= 1, np.maximum(noisy, 1), count)
            out[c] = pd.array(noisy, dtype=out[c].dtype) if out[c].hasnans else noisy.astype(out[c].dtype)
    drawn_from = out["address"]
    out["address"] = [f"0x{i:040x}" for i in range(rows)]
    if truth is not None:
        persona = drawn_from.map(truth.set_index("address")["persona"])
        truth = pd.DataFrame({"address": out["address"], "persona": persona.to_numpy()})
    return out, truth


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _timed(fn, *args, **kwargs) -> tuple[object, float, float]:  # noqa: ANN001
    """`fn(*args, **kwargs)`, its wall seconds and its CPU seconds (every thread of this process)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0, time.process_time() - c0


def asset_steps(model, report, features: pd.DataFrame) -> dict[str, dict[str, float]]:  # noqa: ANN001
    """Wall and CPU seconds of what `persona_model` does after training, as the asset does it.

    The pictures, the drift reference and the MLflow run (params, metrics, tables, pictures, the
    pickled model, its registration) are logged into a file store in a temporary folder.
    """
    import tempfile

    from wallet_pipeline.lib.mlflow_session import MlflowSession
    from wallet_pipeline.lib.persona_registry import log_drift_reference, log_persona_model
    from wallet_pipeline.logic.automation.drift import drift_columns, feature_reference, persona_reference
    from wallet_pipeline.logic.personas.plots import projection_png, radar_png
    from wallet_pipeline.settings import default_tracking_uri

    steps: dict[str, dict[str, float]] = {}

    def step(name: str, fn, *args, **kwargs):  # noqa: ANN001, ANN202
        out, wall, cpu = _timed(fn, *args, **kwargs)
        steps[name] = {"wall": round(wall, 2), "cpu": round(cpu, 2)}
        return out

    plots = {
        "projection.png": step("projection", projection_png, model, features, seed=0),
        "persona_radar.png": step("radar", radar_png, model),
    }

    def drift() -> dict:
        reference = feature_reference(features, drift_columns(model, features.columns), seed=0)
        reference["personas"] = persona_reference(model, features, seed=0)
        return reference

    reference = step("drift_reference", drift)
    with tempfile.TemporaryDirectory() as tmp:
        session = MlflowSession(tracking_uri=default_tracking_uri(Path(tmp)))

        def log() -> None:
            with session.run("personas/persona_model", "benchmark"):
                log_persona_model(model, report, plots, example=features.head(20), training_data=features)
                log_drift_reference(reference)

        step("mlflow", log)
    return steps


def one_size(db: str, rows: int) -> dict:
    """Train at `rows` rows (0: the file's own rows), time each phase, the asset's steps and predict."""
    from wallet_pipeline.logic.personas.evaluation import evaluate_personas

    features, truth = _features(db), _truth(db)
    if rows:
        features, truth = _resample(features, rows, truth=truth)
    (model, report), train_s, train_cpu = _timed(train_personas, features, PersonaConfig())
    steps = asset_steps(model, report, features)
    predicted, predict_s, _ = _timed(model.predict, features)
    # Against the simulator's truth (resampled rows keep their original's): evaluation only.
    ari = evaluate_personas(predicted, truth).ari if truth is not None else None
    from wallet_pipeline.logic.personas.promotion import scorecard

    card = scorecard(report)
    return {
        "rows": len(features),
        "train_seconds": round(train_s, 1),
        # CPU seconds of this process: on a shared machine the wall time measures the other jobs
        # too; below 250,000 rows training runs on one thread, so CPU time is its idle wall time.
        "train_cpu_seconds": round(train_cpu, 1),
        "predict_seconds": round(predict_s, 1),
        "peak_rss_gb": round(_peak_gb(), 2),
        "winner": report.winner,
        "ari": None if ari is None else round(ari, 4),
        "silhouette": round(card["silhouette"], 3),
        "clusters": report.final.get("k"),
        "fits": report.final.get("ensemble_members"),
        "timings": report.timings,
        "cpu_timings": report.cpu_timings,
        "asset_steps": steps,
        "asset_cpu_seconds": round(train_cpu + sum(v["cpu"] for v in steps.values()), 1),
    }


def _line(seed: int, report, result, seconds: float) -> str:  # noqa: ANN001 - SelectionReport, PersonaEvaluation
    from wallet_pipeline.logic.personas.promotion import scorecard

    card = scorecard(report)
    recall = result.per_class.set_index("truth_class")["recall"]
    rare = ", ".join(
        f"{c} {recall.get(c, float('nan')):.2f}" for c in ("hf_bot", "exchange", "airdrop_farmer")
    )
    return (
        f"seed {seed}: winner {report.winner} ({report.final.get('k', '?')} clusters served, "
        f"{report.final.get('ensemble_members', 1)} fits), silhouette {card['silhouette']:.3f}, stability "
        f"{card['stability']:.3f}, min share {card['min_share']:.4f}, ARI {result.ari:.4f}, "
        f"ECE held-out {card['ece_heldout']:.3f} (vs raw agreement "
        f"{report.calibration['ece_heldout_vs_raw_agreement']:.3f}), recall {rare}, "
        f"dormant_days {report.population['dormant_days']}, {seconds:.0f} s{_truth_confidence(result)}"
    )


def _truth_confidence(result) -> str:  # noqa: ANN001 - PersonaEvaluation
    c = result.confidence
    if not c:
        return ""
    return (
        f", confidence vs truth on {c['wallets']} modelled wallets: accuracy {c['accuracy']:.3f}, mean "
        f"confidence {c['mean_confidence']:.3f}, ECE {c['ece_vs_truth']:.3f}, AUROC {c['auroc']:.3f}, "
        f">= 0.99: {c['share_at_0_99']:.1%}, >= 0.9: {c['share_at_0_9']:.1%}"
    )


def quality(db: str, seeds: list[int], independent: bool = False) -> None:
    """ARI vs truth, confusion, calibration, and names kept across retrains with other seeds.

    Seeds after the first retrain with the first seed's model as `previous` (as the pipeline does
    with its champion); with `independent`, each is also trained without it.
    """
    from wallet_pipeline.logic.personas.evaluation import evaluate_personas

    features = _features(db)
    with duckdb.connect(db, read_only=True) as con:
        truth = con.sql("select address, persona from ground_truth.wallets").df()
    pd.set_option("display.width", 250)
    first = None
    aris: dict[str, list[float]] = {"with previous": [], "independent": []}
    for seed in seeds:
        runs = [("with previous", first and first[0])] if first is not None else [("independent", None)]
        if first is not None and independent:
            runs.append(("independent", None))
        for how, previous in runs:
            t0 = time.perf_counter()
            model, report = train_personas(features, PersonaConfig(seed=seed), previous=previous)
            seconds = time.perf_counter() - t0
            pred = model.predict(features)
            result = evaluate_personas(pred, truth)
            aris[how].append(result.ari)
            kept = (
                ""
                if first is None
                else f", persona kept vs seed {seeds[0]}: {(pred.persona == first[1].persona).mean():.2%}"
            )
            print(f"[{how}] " + _line(seed, report, result, seconds) + kept, flush=True)
            if first is None:
                aris["with previous"].append(result.ari)
                first = (model, pred)
                print(report.table.round(3).to_string())
                print("served model:", json.dumps(report.final, default=str))
                print("calibration:", json.dumps(report.calibration, indent=1))
                print(result.per_class.round(3).to_string())
                print(result.confusion.to_string())
                print(result.reliability.round(4).to_string())
    for how, values in aris.items():
        if values:
            print(
                f"ARI {how} ({len(values)} seeds): min {min(values):.4f}, "
                f"median {float(np.median(values)):.4f}, max {max(values):.4f}"
            )


def main() -> None:
    """Quality at the file's size, then time and memory at each size in a child process."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=str(ROOT / "data" / "wallet_pipeline.duckdb"), help="a run's file")
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2], help="retrain seeds (quality)")
    parser.add_argument("--independent", action="store_true", help="also train each seed without previous")
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one_size(args.db, args.one)))
        return
    if not args.no_quality:
        quality(args.db, args.seeds, args.independent)
    for rows in [0, *args.rows]:
        cmd = [sys.executable, __file__, "--db", args.db, "--one", str(rows)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        print(out.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
