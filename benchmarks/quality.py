"""Quality on worlds we did not tune to: personas, entity clusters and risk over many random worlds.

Each world is drawn by `random_world_config(seed)` (domain randomization: window length, activity,
persona shares, peer-to-peer payments, families, shared deposit addresses, farm topologies, short-lived
bots, secondary hot wallets, unlabelled rings, contracts older than the window, noisy label feeds; see
docs/simulator.md). It is written as a plain ethereum-etl export (no decoded trade tables) and run
through the pipeline's files path exactly as a user runs it (`wallet-pipeline materialize
--files-dir`, in a child process with its own data folder). Only then is the world's ground truth
written beside the outputs, and the outputs are scored against it:

- persona ARI over every scored address, and precision / recall per truth class;
- entity B-cubed precision / recall / F1, overall and per entity kind;
- individual wallets (in no planted entity) that share a cluster with another wallet;
- malicious groups found at High or above (most of their wallets at High+), benign wallets at High+;
- ROC AUC of the wallet risk score, malicious against benign wallets, next to plain degree
  (distinct counterparties) as a baseline;
- NFT traders found, and the scam rings' tokens found rugged (from decoded trades and liquidity);
- wall time of the run.

It prints one line per world, then the distribution over worlds: median, worst decile (the 10th
percentile of a figure where higher is better, the 90th where lower is better), and the worst world
described. A figure from one default-seed world is a smoke test; this distribution is the figure to
quote.

    .venv/bin/python benchmarks/quality.py                     # 20 worlds, seeds 1000-1019
    .venv/bin/python benchmarks/quality.py --worlds 5 --first-seed 7 --json quality.json
    .venv/bin/python benchmarks/quality.py --seeds 1003 1011 --keep /tmp/quality   # rerun two, keep files

To try a change to one stage without drawing and loading the worlds again, replay kept worlds: each
kept world's data folder is copied, only the selected assets are materialized again on the copy (the
real Dagster assets, through `dagster asset materialize`), and the copy is scored. The kept worlds
are not touched.

    .venv/bin/python benchmarks/quality.py --replay /tmp/quality --keep /tmp/replay  # graph and entities
    .venv/bin/python benchmarks/quality.py --replay /tmp/quality --keep /tmp/replay --select 'group:personas'
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.dagster_runs import files_env, materialize, python  # noqa: E402

# (key, label, higher is better). The order is the print order.
HEADLINE = (
    ("persona_ari", "persona ARI", True),
    ("bcubed_f1", "entity B-cubed F1", True),
    ("bcubed_precision", "entity B-cubed precision", True),
    ("bcubed_recall", "entity B-cubed recall", True),
    ("individuals_glued", "individuals sharing a cluster", False),
    ("malicious_groups_high", "malicious groups at High+", True),
    ("benign_wallets_high", "benign wallets at High+", False),
    ("risk_auc", "wallet risk ROC AUC", True),
    ("degree_auc", "degree ROC AUC (baseline)", True),
    ("nft_trader_recall", "NFT traders found (recall)", True),
    ("rugs_found", "scam-ring tokens found rugged", True),
    ("rugs_wrong", "tokens wrongly called rugged", False),
    ("run_s", "run time (s)", False),
)


LEVEL_ORDER = {"none": 0, "Minimal": 1, "Low": 2, "Medium": 3, "High": 4, "Critical": 5}


@dataclass
class WorldResult:
    """What one world gave: its description, the run's outcome and the figures."""

    seed: int
    description: str
    ok: bool
    figures: dict = field(default_factory=dict)
    per_entity_type: dict = field(default_factory=dict)
    per_persona: dict = field(default_factory=dict)
    error: str = ""


def run_files_pipeline(export: Path, data_dir: Path, log: Path) -> tuple[int, float]:
    """The user's command on one export folder, in a child process; (exit code, seconds)."""
    env = {**os.environ, "WALLET_DATA_DIR": str(data_dir), "WALLET_SOURCE": "files"}
    for inherited in ("WALLET_FILES_DIR", "DAGSTER_HOME", "WALLET_DUCKDB_PATH"):
        env.pop(inherited, None)
    started = time.monotonic()
    with open(log, "w") as out:
        code = subprocess.run(
            [python(), "-m", "wallet_pipeline.cli", "materialize", "--files-dir", str(export)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        ).returncode
    return code, time.monotonic() - started


def replay_world(source: Path, workdir: Path, select: str) -> WorldResult:
    """Materialize `select` again on a copy of a kept world's data folder and score the copy."""
    seed = int(source.name.removeprefix("world_"))
    data_dir = workdir / "data"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    # Without the kept world's MLflow store a persona replay trains as a first run does: with the kept
    # champion in place the promotion check would judge the new model against the old one instead.
    shutil.copytree(source / "data", data_dir, ignore=shutil.ignore_patterns("mlflow"))
    # The kept outputs are a different code's, not an earlier load of this one: a stage that now
    # makes far fewer rows (clusters, say) must be scored, not stopped by the row-drop gate.
    env = files_env(source / "export", data_dir, WALLET_GATE_MAX_ROW_DROP="1.0")
    log = workdir / "run.log"
    cost = materialize(select, env, log)
    code = cost.code
    seconds = cost.wall_s
    description = f"replay of {source} ({select})"
    if code != 0:
        tail = [
            line
            for line in log.read_text(errors="replace").splitlines()
            if "ERROR" in line or "Error" in line
        ]
        return WorldResult(
            seed, description, ok=False, figures={"run_s": seconds}, error="\n".join(tail[-12:])
        )
    # The kept world's truth is already in its DuckDB file (written when it was first scored).
    result = score_finished(seed, description, data_dir, None, seconds)
    (workdir / "result.json").write_text(json.dumps(result.__dict__, default=float))
    return result


def _auc(positive, negative) -> float:  # noqa: ANN001 - numpy arrays
    """ROC AUC of positives against negatives (ties count half); NaN when a side is empty."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    if len(positive) == 0 or len(negative) == 0:
        return math.nan
    labels = np.r_[np.ones(len(positive)), np.zeros(len(negative))]
    return float(roc_auc_score(labels, np.concatenate([positive, negative])))


def score_world(con) -> tuple[dict, dict, dict]:  # noqa: ANN001 - duckdb connection
    """Figures of one finished run against `ground_truth` in the same DuckDB file."""
    from wallet_pipeline.logic.graph.evaluation import evaluate_clusters
    from wallet_pipeline.logic.graph.risk import rugged_tokens
    from wallet_pipeline.logic.graph.risk_evaluation import evaluate_risk
    from wallet_pipeline.logic.personas.evaluation import evaluate_personas

    figures: dict = {}
    truth = con.sql("select address, persona from ground_truth.wallets").df()
    scored = con.sql("select address, persona, confidence from personas.wallet_personas").df()
    known = scored["address"].isin(truth["address"])
    # Addresses the export names but the world's truth does not (the zero or burn address) are not scored.
    figures["persona_unscored"] = int((~known).sum())
    personas = evaluate_personas(scored[known], truth)
    figures["persona_ari"] = personas.ari
    nft = personas.per_class[personas.per_class["truth_class"] == "nft_trader"]
    figures["nft_trader_recall"] = float(nft["recall"].iloc[0]) if len(nft) else math.nan
    per_persona = {
        row.truth_class: {"precision": row.precision, "recall": row.recall, "wallets": row.wallets}
        for row in personas.per_class.itertuples()
    }

    wallet_clusters = con.sql("select address, cluster_id from entities.wallet_clusters").df()
    clusters = con.sql("select * from entities.clusters").df()
    wallet_risk = con.sql("select address, risk_score, risk_level from entities.wallet_risk").df()
    bc = evaluate_clusters(con, wallet_clusters)
    figures["bcubed_f1"] = bc["overall"]["f1"]
    figures["bcubed_precision"] = bc["overall"]["precision"]
    figures["bcubed_recall"] = bc["overall"]["recall"]
    per_entity_type = {
        k: {m: v[m] for m in ("n", "precision", "recall", "f1")} for k, v in bc["per_entity_type"].items()
    }

    # Individuals: EOAs in no planted entity. Glued: their cluster holds another wallet.
    glued = con.sql(
        """
        with sizes as (select cluster_id, count(*) n from entities.wallet_clusters group by 1)
        select count(*) filter (where s.n > 1)::double / nullif(count(*), 0)
        from ground_truth.wallets w
        left join entities.wallet_clusters c using (address)
        left join sizes s using (cluster_id)
        where w.entity_id is null and not coalesce(w.is_contract, false)
        """
    ).fetchone()[0]
    figures["individuals_glued"] = float(glued or 0.0)

    risk = evaluate_risk(con, wallet_clusters, clusters, wallet_risk)
    figures["malicious_groups"] = risk["malicious_entities"]
    figures["malicious_groups_high"] = risk["recall"] if risk["malicious_entities"] else math.nan
    scores = con.sql(
        """
        with deg as (
            select a address, count(distinct b) degree from (
                select from_address a, to_address b from raw.transactions
                union all select to_address, from_address from raw.transactions
                union all select from_address, to_address from raw.token_transfers
                union all select to_address, from_address from raw.token_transfers
            ) where a is not null and b is not null group by 1
        )
        select coalesce(w.is_malicious, false) malicious, coalesce(r.risk_score, 0) risk_score,
               coalesce(r.risk_level in ('High', 'Critical'), false) high, coalesce(d.degree, 0) degree
        from ground_truth.wallets w
        left join entities.wallet_risk r using (address)
        left join deg d using (address)
        where not coalesce(w.is_contract, false)
        """
    ).df()
    mal, ben = scores[scores["malicious"]], scores[~scores["malicious"]]
    figures["benign_wallets_high"] = float(ben["high"].mean()) if len(ben) else math.nan
    # Calibration: what share of the wallets at each level are malicious (the planted truth).
    levels = con.sql(
        """
        select coalesce(r.risk_level, 'none') risk_level, count(*) wallets,
               avg(coalesce(w.is_malicious, false)::int) malicious_share
        from ground_truth.wallets w left join entities.wallet_risk r using (address)
        where not coalesce(w.is_contract, false) group by 1
        """
    ).fetchall()
    figures["level_wallets"] = {level: int(n) for level, n, _ in levels}
    figures["level_malicious_share"] = {level: float(share) for level, _, share in levels}
    figures["risk_auc"] = _auc(mal["risk_score"].to_numpy(), ben["risk_score"].to_numpy())
    figures["degree_auc"] = _auc(mal["degree"].to_numpy(), ben["degree"].to_numpy())
    # Rug pulls from the decoded trades and liquidity events (the export has no trade tables):
    # the planted scam rings' tokens found, and tokens called rugged that no ring launched.
    rugged = set(rugged_tokens(con)["token"].str.lower())
    ring_tokens = {
        r[0]
        for r in con.execute(
            "select lower(t.address) from ground_truth.tokens t "
            "join ground_truth.entities e using (entity_id) where e.entity_type = 'scam_ring'"
        ).fetchall()
    }
    figures["ring_tokens"] = len(ring_tokens)
    figures["rugs_found"] = len(rugged & ring_tokens) / len(ring_tokens) if ring_tokens else math.nan
    figures["rugs_wrong"] = len(rugged - ring_tokens)
    figures["wallets"] = int(len(scores))
    figures["clusters"] = bc["clusters"]["n_clusters"]
    figures["largest_cluster"] = bc["clusters"]["largest"]
    return figures, per_entity_type, per_persona


def run_world(seed: int | None, workdir: Path, fmt: str, wallets: tuple[int, int]) -> WorldResult:
    """Draw (seed None: the default simulator world), export, run and score one world."""
    from wallet_pipeline.logic.ingestion.simulator import (
        SimulatorConfig,
        random_world_config,
        write_etl_files,
    )

    config = SimulatorConfig() if seed is None else random_world_config(seed, n_wallets_range=wallets)
    description = config.describe() if seed is not None else "the default world: " + config.describe()
    export, data_dir = workdir / "export", workdir / "data"
    for folder in (export, data_dir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    write_etl_files(config, export, fmt=fmt, trade_tables=False)
    log = workdir / "run.log"
    code, seconds = run_files_pipeline(export, data_dir, log)
    if code != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-12:]
        return WorldResult(seed, description, ok=False, figures={"run_s": seconds}, error="\n".join(tail))
    result = score_finished(seed, description, data_dir, config, seconds)
    (workdir / "result.json").write_text(json.dumps(result.__dict__, default=float))
    return result


def score_finished(seed: int | None, description: str, data_dir: Path, config, seconds: float) -> WorldResult:  # noqa: ANN001
    """Score a finished run's DuckDB file; `config` (or None) writes the truth first."""
    import duckdb

    from wallet_pipeline.logic.ingestion.simulator import load_truth

    con = duckdb.connect(str(data_dir / "wallet_pipeline.duckdb"))
    try:
        if config is not None:
            load_truth(con, config)
        figures, per_type, per_persona = score_world(con)
        figures["raw_rows"] = int(
            con.sql(
                "select (select count(*) from raw.transactions) + (select count(*) from raw.token_transfers)"
            ).fetchone()[0]
        )
    finally:
        con.close()
    figures["run_s"] = seconds
    return WorldResult(
        seed, description, ok=True, figures=figures, per_entity_type=per_type, per_persona=per_persona
    )


def load_kept(base: Path, wallets: tuple[int, int], time_logs: list[str]) -> list[WorldResult]:
    """Results of the worlds kept under `base` (`--keep`): saved ones, else scored again from their files.

    A world scored again takes its run time from a benchmark log line `world N ok in S s`.
    """
    from wallet_pipeline.logic.ingestion.simulator import random_world_config

    times: dict[int, float] = {}
    for log in time_logs:
        for m in re.finditer(r"^world (\d+) ok in (\d+) s", Path(log).read_text(), re.M):
            times[int(m.group(1))] = float(m.group(2))
    results = []
    for folder in sorted(base.glob("world_*")):
        if not folder.name.removeprefix("world_").isdigit():
            continue
        seed = int(folder.name.removeprefix("world_"))
        saved = folder / "result.json"
        if saved.exists():
            results.append(WorldResult(**json.loads(saved.read_text())))
        elif (folder / "data" / "wallet_pipeline.duckdb").exists() and seed in times:
            description = random_world_config(seed, n_wallets_range=wallets).describe()
            results.append(score_finished(seed, description, folder / "data", None, times[seed]))
    return results


def _quantile(values: list[float], q: float) -> float:
    import numpy as np

    clean = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    return float(np.quantile(clean, q)) if clean else math.nan


def _per_group(done: list[WorldResult], attribute: str, measures: tuple[str, ...]) -> dict:
    """Median and 10th percentile of each measure per group (entity kind, persona class)."""
    out = {}
    for group in sorted({g for r in done for g in getattr(r, attribute)}):
        rows = [getattr(r, attribute)[group] for r in done if group in getattr(r, attribute)]
        out[group] = {
            "worlds": len(rows),
            **{
                f"{m}_{stat}": _quantile([row[m] for row in rows], q)
                for m in measures
                for stat, q in (("median", 0.5), ("p10", 0.1))
            },
        }
    return out


def summarize(results: list[WorldResult]) -> dict:
    """Median and worst decile of every headline figure, per entity kind and per persona class."""
    done = [r for r in results if r.ok]
    out: dict = {"worlds": len(results), "failed": [r.seed for r in results if not r.ok], "figures": {}}
    for key, _, higher in HEADLINE:
        values = [r.figures.get(key, math.nan) for r in done]
        out["figures"][key] = {
            "median": _quantile(values, 0.5),
            "worst_decile": _quantile(values, 0.1 if higher else 0.9),
            "worst": _quantile(values, 0.0 if higher else 1.0),
        }
    out["per_entity_type"] = _per_group(done, "per_entity_type", ("precision", "recall", "f1"))
    out["per_persona"] = _per_group(done, "per_persona", ("precision", "recall"))
    # Risk calibration, pooled over the worlds: wallets per level and the share of them that are malicious.
    pooled: dict[str, list[float]] = {}
    for r in done:
        for level, n in r.figures.get("level_wallets", {}).items():
            share = r.figures["level_malicious_share"][level]
            pooled.setdefault(level, [0.0, 0.0])
            pooled[level][0] += n
            pooled[level][1] += n * share
    out["risk_levels"] = {
        level: {"wallets": int(n), "malicious_share": m / n if n else math.nan}
        for level, (n, m) in sorted(pooled.items(), key=lambda kv: LEVEL_ORDER.get(kv[0], 9))
    }
    return out


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.0f}"


def print_report(results: list[WorldResult], summary: dict) -> None:
    """One line per world, then the distribution and the worst worlds."""
    keys = [k for k, _, _ in HEADLINE]
    print("\nPer world:")
    print("seed  " + "  ".join(f"{k[:12]:>12}" for k in keys) + "  world")
    for r in results:
        cells = "  ".join(f"{_fmt(r.figures.get(k, math.nan)):>12}" for k in keys)
        status = r.description if r.ok else f"FAILED: {r.description}"
        print(f"{r.seed:<5} {cells}  {status}")
    done = [r for r in results if r.ok]
    print(f"\nOver {len(done)} worlds ({len(summary['failed'])} failed: {summary['failed']}):")
    print(f"{'figure':<32} {'median':>8} {'worst 10%':>10} {'worst':>8}")
    for key, label, _ in HEADLINE:
        f = summary["figures"][key]
        print(f"{label:<32} {_fmt(f['median']):>8} {_fmt(f['worst_decile']):>10} {_fmt(f['worst']):>8}")
    print("\nEntity B-cubed by kind (median / 10th percentile over the worlds that have the kind):")
    print(f"{'kind':<22} {'worlds':>6} {'P':>13} {'R':>13} {'F1':>13}")
    for kind, v in summary["per_entity_type"].items():
        cells = " ".join(
            f"{_fmt(v[m + '_median']):>6}/{_fmt(v[m + '_p10']):<6}" for m in ("precision", "recall", "f1")
        )
        print(f"{kind:<22} {v['worlds']:>6} {cells}")
    print("\nPersonas by truth class (median / 10th percentile):")
    print(f"{'class':<22} {'worlds':>6} {'precision':>15} {'recall':>15}")
    for cls, v in summary["per_persona"].items():
        cells = " ".join(
            f"{_fmt(v[m + '_median']):>7}/{_fmt(v[m + '_p10']):<7}" for m in ("precision", "recall")
        )
        print(f"{cls:<22} {v['worlds']:>6} {cells}")
    if summary.get("risk_levels"):
        print(
            "\nWallet risk levels, pooled over the worlds (share of the level's wallets that are malicious):"
        )
        for level, v in summary["risk_levels"].items():
            print(f"  {level:<10} {v['wallets']:>9,} wallets  {_fmt(v['malicious_share']):>6} malicious")
    worst_of: dict[int, list[str]] = {}
    for key, label, higher in HEADLINE:
        ranked = [r for r in done if not math.isnan(r.figures.get(key, math.nan))]
        # A figure every world shares has no worst world.
        if len({r.figures[key] for r in ranked}) > 1:
            worst = min(ranked, key=lambda r: r.figures[key] if higher else -r.figures[key])
            worst_of.setdefault(worst.seed, []).append(f"{label} {_fmt(worst.figures[key])}")
    for r in done:
        if r.seed in worst_of:
            print(f"\nWorst world for {', '.join(worst_of[r.seed])}:\n  {r.description}")
    for r in results:
        if not r.ok:
            print(f"\nWorld {r.seed} failed ({r.description}):\n{r.error}")


def _figures_line(result: WorldResult) -> str:
    return ", ".join(f"{k} {_fmt(result.figures.get(k, math.nan))}" for k, _, _ in HEADLINE if k != "run_s")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, default=20, help="number of worlds (default 20)")
    parser.add_argument("--first-seed", type=int, default=1000, help="seed of the first world (default 1000)")
    parser.add_argument("--seeds", type=int, nargs="*", help="exact seeds to run (instead of --worlds)")
    parser.add_argument("--wallets", type=int, nargs=2, default=(2_000, 6_000), metavar=("MIN", "MAX"))
    parser.add_argument("--format", default="csv.gz", choices=["csv", "csv.gz", "parquet"])
    parser.add_argument(
        "--keep", help="folder to keep each world's export, data and log in (default: temporary)"
    )
    parser.add_argument("--json", help="also write every figure to this JSON file")
    parser.add_argument(
        "--summarize",
        nargs="+",
        metavar="DIR",
        help="run nothing: report the worlds kept in these folders by earlier --keep runs",
    )
    parser.add_argument(
        "--times-from",
        nargs="*",
        default=[],
        metavar="LOG",
        help="with --summarize: benchmark logs giving the run time of kept worlds without a result.json",
    )
    parser.add_argument(
        "--replay",
        nargs="+",
        metavar="DIR",
        help="materialize --select again on copies of the worlds kept in these folders, then score them",
    )
    parser.add_argument(
        "--select",
        default="group:graph or group:entities",
        help="with --replay: Dagster asset selection to materialize again (default: graph and entities)",
    )
    parser.add_argument(
        "--default-world",
        action="store_true",
        help="first run the default simulator world (seed 42, 20,000 wallets) the same way, printed apart",
    )
    args = parser.parse_args(argv)
    if args.summarize:
        kept = [r for d in args.summarize for r in load_kept(Path(d), tuple(args.wallets), args.times_from)]
        summary = summarize(kept)
        print_report(kept, summary)
        if args.json:
            Path(args.json).write_text(
                json.dumps({"summary": summary, "worlds": [r.__dict__ for r in kept]}, default=float)
            )
        return 1 if summary["failed"] else 0
    seeds = args.seeds or list(range(args.first_seed, args.first_seed + args.worlds))
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="wallet_quality_"))
    results: list[WorldResult] = []
    started = time.monotonic()
    try:
        if args.replay:
            kept = sorted(
                (f for d in args.replay for f in Path(d).glob("world_*") if (f / "data").is_dir()),
                key=lambda f: f.name,
            )
            kept = [f for f in kept if not args.seeds or int(f.name.removeprefix("world_")) in args.seeds]
            if not kept:
                print(f"no kept worlds (world_N/data) under {' '.join(args.replay)}", file=sys.stderr)
                return 2
            seeds = []
            for source in kept:
                result = replay_world(source, base / source.name, args.select)
                results.append(result)
                state = "ok" if result.ok else "FAILED"
                took = result.figures["run_s"]
                print(f"world {result.seed} {state} in {took:.0f} s: {_figures_line(result)}", flush=True)
        if args.default_world:
            default = run_world(None, base / "world_default", args.format, tuple(args.wallets))
            print(f"default world {'ok' if default.ok else 'FAILED'}: " + _figures_line(default), flush=True)
        for seed in seeds:
            result = run_world(seed, base / f"world_{seed}", args.format, tuple(args.wallets))
            results.append(result)
            state = "ok" if result.ok else "FAILED"
            figures = ", ".join(
                f"{k} {_fmt(result.figures.get(k, math.nan))}" for k, _, _ in HEADLINE if k != "run_s"
            )
            print(f"world {seed} {state} in {result.figures.get('run_s', 0):.0f} s: {figures}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    summary = summarize(results)
    print_report(results, summary)
    if args.default_world:
        print(f"\nDefault world, for comparison (one world: a smoke test): {_figures_line(default)}")
    print(f"\nTotal {time.monotonic() - started:.0f} s.")
    if args.json:
        payload = {"summary": summary, "worlds": [r.__dict__ for r in results]}
        Path(args.json).write_text(json.dumps(payload, indent=2, default=float))
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
