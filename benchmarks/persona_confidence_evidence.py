"""Would persona confidence be better if it knew how few transactions a share rests on?

An experiment, not part of the model (docs/personas.md, "Confidence against the truth"). The
model's features are shares (NFT trades, DEX trades and large transfers per transaction sent;
inflows forwarded within 6 hours per inflow), and a share of 1 in 3 is taken as firmly as one of
100 in 300. Here each share is instead drawn from its posterior given the counts behind it: a rate
from Beta(k + m * s, n - k + (1 - m) * s), where m is the population's mean share and s the prior
strength, then a share of Binomial(n, rate) / n, a new sample of the same number of transactions.
The persona stays the model's; its confidence becomes the ensemble's probability of that persona
averaged over the draws. Both confidences are then set against the simulator's truth on the
wallets the model decides.

    .venv/bin/python benchmarks/persona_confidence_evidence.py --db data/wallet_pipeline.duckdb

`--worlds /tmp/worlds --strengths 0 1 3 10` instead sets the model's own evidence shrinkage
(`PersonaConfig.evidence_strength`) against the truth of every kept random world, per band.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wallet_pipeline.logic.personas import PersonaConfig, train_personas  # noqa: E402
from wallet_pipeline.logic.personas.evaluation import TRUTH_OF, reliability  # noqa: E402
from wallet_pipeline.logic.personas.model import persona_column  # noqa: E402
from wallet_pipeline.logic.personas.population import RULE_PERSONAS  # noqa: E402

# The count each model feature is a share of (marts.wallet_features and its forwarding model).
DENOMINATOR = {
    "forwarded_to_eoa_6h_share": "inflow_count",
    "nft_trade_share": "tx_count",
    "dex_trade_share": "tx_count",
    "large_transfer_share": "tx_count",
}


def load(db: str) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """The features, each wallet's inflow count (not a mart column) and the truth."""
    with duckdb.connect(db, read_only=True) as con:
        features = con.sql("select * from marts.wallet_features order by address").df()
        inflows = con.sql(
            """
            select k.address, coalesce(f.inflow_count, 0) as inflow_count
            from intermediate.int_wallet_keys as k
            left join intermediate.int_forwarding_aggregated_to_wallets as f using (wallet_key)
            """
        ).df()
        truth = con.sql("select address, persona as truth from ground_truth.wallets").df()
    inflow = features[["address"]].merge(inflows, on="address", how="left")["inflow_count"].fillna(0)
    return features, inflow, truth


def evidence_confidence(
    model, features: pd.DataFrame, counts: pd.DataFrame, strength: float, draws: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001 - PersonaModel
    """Mask of modelled rows and, for them, the served persona's probability averaged over draws."""
    rule, active, z = model._space(features)
    personas = list(model.personas)
    served = np.asarray(personas, dtype=object)[model.persona_probabilities(z).argmax(1)]
    index = np.array([personas.index(p) for p in served])
    x = features.loc[active, list(model.feature_columns)].astype(float).to_numpy()
    # Per feature: the rows it can be drawn for, their counts k of n, and the population's mean share.
    # A seller's NFT share can pass 1 (buyers send the sale): not a proportion, kept as it is.
    columns = []
    for j, col in enumerate(model.feature_columns):
        n, share = counts.loc[active, DENOMINATOR[col]].astype(float).to_numpy(), x[:, j]
        ok = ~np.isnan(share) & (share <= 1) & (n > 0)
        mean = float(np.clip(np.nanmean(np.clip(share, 0, 1)), 1e-3, 1 - 1e-3))
        columns.append((j, ok, share[ok] * n[ok], n[ok], mean))
    rng = np.random.default_rng(seed)
    total = np.zeros(len(x))
    for _ in range(draws):
        drawn = x.copy()
        for j, ok, k, n, mean in columns:
            rate = rng.beta(k + mean * strength, n - k + (1 - mean) * strength)
            drawn[ok, j] = rng.binomial(n.astype(int), rate) / n
        frame = pd.DataFrame(drawn, columns=list(model.feature_columns))
        probs = model.persona_probabilities(np.asarray(model.preprocessor.transform(frame)))
        total += probs[np.arange(len(x)), index]
    return active, total / draws


def worlds(root: str, strengths: list[float], seed: int) -> None:
    """Per kept world: train, then confidence against the truth with each evidence strength.

    The model's own shrinkage (`PersonaConfig.evidence_strength`, calibration.shrink_by_evidence)
    is applied here for every strength to one training's raw probabilities, so the strengths are
    compared on the same model. Pooled over the worlds: per band, wallets and the share right.
    """
    import shutil
    import tempfile

    from wallet_pipeline.logic.personas.calibration import shrink_by_evidence

    pooled: dict[float, list[tuple[np.ndarray, np.ndarray]]] = {s: [] for s in strengths}
    for world in sorted(Path(root).glob("world_*")):
        with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
            db = Path(tmp) / "w.duckdb"  # a copy: the kept worlds are read, never opened in place
            shutil.copy(world / "data" / "wallet_pipeline.duckdb", db)
            with duckdb.connect(str(db), read_only=True) as con:
                features = con.sql("select * from marts.wallet_features order by address").df()
                truth = con.sql("select address, persona as truth from ground_truth.wallets").df()
        model, _ = train_personas(features, PersonaConfig(seed=seed, evidence_strength=0.0))
        pred = model.predict(features)
        joined = pred.merge(truth, on="address", how="left")
        decided = ~pred["persona"].isin(RULE_PERSONAS).to_numpy()
        right = (joined["persona"].map(TRUTH_OF) == joined["truth"]).to_numpy()[decided]
        personas = list(model.personas)
        p = pred[[persona_column(n) for n in personas]].to_numpy()[decided]
        top = p.argmax(1)
        prior = np.array([model.persona_prior.get(n, 0.0) for n in personas])
        n = features[model.config.activity_column].to_numpy(dtype=float)[decided]
        line = [f"{world.name}: {decided.sum()} decided, right {right.mean():.3f}"]
        for s in strengths:
            conf = shrink_by_evidence(p, n, prior, s)[np.arange(len(p)), top]
            pooled[s].append((conf, right))
            _, c = reliability(conf, right)
            line.append(f"s={s:g} ece {c['ece_vs_truth']:.3f} auroc {c['auroc']:.3f}")
        print("; ".join(line), flush=True)
    for s in strengths:
        conf = np.concatenate([c for c, _ in pooled[s]])
        right = np.concatenate([r for _, r in pooled[s]])
        table, c = reliability(conf, right)
        print(
            f"\nevidence strength {s:g}, pooled over {len(pooled[s])} worlds: {c['wallets']} wallets, "
            f"accuracy {c['accuracy']:.3f}, mean confidence {c['mean_confidence']:.3f}, ECE vs truth "
            f"{c['ece_vs_truth']:.3f}, AUROC {c['auroc']:.3f}, >= 0.99: {c['share_at_0_99']:.1%}"
        )
        print(table.round(3).to_string(index=False))


def main() -> None:
    """Train once, then print both confidences against the truth, per prior strength."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=str(ROOT / "data" / "wallet_pipeline.duckdb"), help="a run's file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=16)
    parser.add_argument("--strengths", type=float, nargs="*", default=[1.0, 2.0, 5.0])
    parser.add_argument("--worlds", help="kept worlds' folder: the model's evidence shrinkage per band")
    args = parser.parse_args()
    if args.worlds:
        worlds(args.worlds, args.strengths, args.seed)
        return
    features, inflow, truth = load(args.db)
    model, _ = train_personas(features, PersonaConfig(seed=args.seed))
    pred = model.predict(features).merge(truth, on="address")
    right = (pred["persona"].map(TRUTH_OF) == pred["truth"]).to_numpy()
    decided = ~pred["persona"].isin(RULE_PERSONAS).to_numpy()

    def show(name: str, confidence: np.ndarray) -> None:
        table, c = reliability(confidence, right[decided])
        print(
            f"{name}: {c['wallets']} wallets, accuracy {c['accuracy']:.3f}, mean confidence "
            f"{c['mean_confidence']:.3f}, ECE vs truth {c['ece_vs_truth']:.3f}, AUROC {c['auroc']:.3f}, "
            f">= 0.99: {c['share_at_0_99']:.1%}, >= 0.9: {c['share_at_0_9']:.1%}"
        )
        print(table.round(4).to_string(index=False))

    show("model confidence", pred["confidence"].to_numpy()[decided])
    counts = features[["tx_count"]].assign(inflow_count=inflow.to_numpy())
    for strength in args.strengths:
        active, conf = evidence_confidence(model, features, counts, strength, args.draws, args.seed)
        # predict() keeps the features' order and the truth merge keeps predict's: rows line up.
        assert (active == decided).all()
        show(f"evidence draws, prior strength {strength:g}", conf)


if __name__ == "__main__":
    main()
