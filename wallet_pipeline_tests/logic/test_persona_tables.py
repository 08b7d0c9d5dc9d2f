"""Any user's table: id columns detected, descriptive names, evidence-aware confidence, the CLI."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wallet_pipeline.cli import main
from wallet_pipeline.logic.personas import PersonaConfig, PersonaInputError, train_personas
from wallet_pipeline.logic.personas.calibration import shrink_by_evidence
from wallet_pipeline.logic.personas.descriptive import TYPICAL, descriptive_names, robust_z, unique_names
from wallet_pipeline.logic.personas.plots import projection_frame, projection_png, radar_png
from wallet_pipeline.logic.personas.preprocess import detect_id_column

FAST_FOREIGN = PersonaConfig(
    k_range=(2, 3, 4, 5),
    gmm_covariance_types=("diag",),
    selection_sample=1_200,
    screen_sample=600,
    eval_sample=500,
    small_sample=500,
    stability_refits=3,
)


def _address(i: int) -> str:
    return "0x" + f"{i:040x}"


def _dune_table(n_per_group: int = 200, seed: int = 0) -> pd.DataFrame:
    """A Dune-style per-wallet aggregate: none of our column names, three planted behaviours."""
    rng = np.random.default_rng(seed)
    groups = {
        # busy traders: many transactions, many counterparties
        "busy": dict(n_txs=(300, 60), eth_sent=(20, 5), unique_counterparties=(150, 30)),
        # whales: few transactions, huge volume
        "whale": dict(n_txs=(8, 2), eth_sent=(5_000, 800), unique_counterparties=(5, 1)),
        # casual: few of everything
        "casual": dict(n_txs=(6, 2), eth_sent=(0.5, 0.2), unique_counterparties=(4, 1)),
    }
    frames = []
    for g, spec in groups.items():
        cols = {c: np.abs(rng.normal(m, s, n_per_group)) for c, (m, s) in spec.items()}
        frames.append(pd.DataFrame(cols).assign(group=g))
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "wallet_address", [_address(i + 1) for i in range(len(table))])
    return table


def test_the_id_column_is_found_by_name_or_by_its_addresses_and_refused_with_the_columns() -> None:
    assert detect_id_column(pd.DataFrame({"wallet_address": ["0x1"], "n": [1]})) == "wallet_address"
    assert detect_id_column(pd.DataFrame({"Wallet": ["0x1"], "n": [1]})) == "Wallet"
    assert detect_id_column(pd.DataFrame({"who": [_address(1), _address(2)], "n": [1, 2]})) == "who"
    # A configured name wins over a known one.
    assert detect_id_column(pd.DataFrame({"address": ["a"], "holder": ["b"]}), "holder") == "holder"
    with pytest.raises(ValueError, match=r"no wallet id column.*columns are \['label', 'n'\]"):
        detect_id_column(pd.DataFrame({"label": ["exchange"], "n": [1]}))


def test_descriptive_names_say_which_features_stand_out_and_never_repeat() -> None:
    raw = pd.DataFrame(
        {
            "eth_sent": [1.0] * 80 + [500.0] * 20,
            "n_txs": list(np.linspace(1, 20, 80)) + [10.0] * 20,
            "flag": [0.0] * 100,  # constant: never a reason
        }
    )
    labels = np.array([0] * 80 + [1] * 20)
    z = robust_z(raw, labels, 2)
    # IQR and MAD of eth_sent are 0 (80% of the wallets sent 1): the standard deviation scales it.
    assert "flag" not in z.columns
    assert z.loc[1, "eth_sent"] == pytest.approx(499 / raw["eth_sent"].std(ddof=0))
    names = descriptive_names(raw, labels, 2)
    assert names[1].startswith("High eth sent")
    assert names[0] == TYPICAL  # the bulk sits on the population's medians
    assert unique_names(["A", "A", "B", "A"], [5, 50, 9, 1]) == ["A (2)", "A", "B", "A (3)"]


def test_a_foreign_table_trains_with_distinct_names_and_scores_a_new_wallet(tmp_path: Path) -> None:
    table = _dune_table()
    model, report = train_personas(table.drop(columns="group"), FAST_FOREIGN)
    assert model.config.id_column == "wallet_address"
    assert set(model.feature_columns) == {"n_txs", "eth_sent", "unique_counterparties"}
    names = model.cluster_names
    assert len(set(names)) == len(names) and "Mixed" not in names
    pred = model.predict(table)
    # Each planted behaviour lands, for the most part, under one name of its own.
    by_group = pd.crosstab(table["group"], pred["persona"])
    assert (by_group.max(axis=1) / by_group.sum(axis=1) >= 0.9).all()
    assert by_group.idxmax(axis=1).nunique() == 3
    # The ensemble's fits carry the winner's names, so no persona appears that no cluster has.
    assert set(model.cluster_personas) == set(names)
    # Selection was compared with K-Means k=4 on the same wallets.
    base = report.final["baseline"]
    assert {"baseline_silhouette", "served_silhouette", "beats_baseline", "verdict"} <= set(base)
    assert (report.table["stage"] == "pruned").any() and "kmeans(k=4)" in set(
        report.table.loc[report.table["stage"] == "shortlist", "candidate"]
    )
    # A new wallet, under the table's own id column or as `address`.
    new = pd.DataFrame({"wallet_address": [_address(999)], "n_txs": [320.0], "eth_sent": [18.0]})
    new["unique_counterparties"] = 160.0
    one = model.predict(new)
    assert one["address"].item() == _address(999)
    assert one["persona"].item() == pred.loc[table["group"] == "busy", "persona"].mode().item()
    assert (
        model.predict(new.rename(columns={"wallet_address": "address"}))["persona"].item()
        == one["persona"].item()
    )
    with pytest.raises(PersonaInputError, match="no wallet id column"):
        model.predict(new.rename(columns={"wallet_address": "label"}).assign(label="x"))

    # The pictures work for any table: t-SNE of the modelled wallets and the radar of the clusters.
    frame = projection_frame(model, table, sample_size=300)
    assert len(frame) == 300 and set(frame["persona"]) <= set(names)
    for png in (projection_png(model, table, sample_size=300), radar_png(model)):
        assert png[:8] == b"\x89PNG\r\n\x1a\n"

    # The command line scores the same wallet from the pickled model.
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    row = json.dumps(new.iloc[0].to_dict())
    assert main(["persona", "--model-file", str(path), "--row", row]) == 0
    csv = tmp_path / "new.csv"
    new.to_csv(csv, index=False)
    assert main(["persona", "--model-file", str(path), "--csv", str(csv), "--json"]) == 0


def test_confidence_shrinks_toward_the_population_when_a_wallet_did_little() -> None:
    p = np.array([[1.0, 0.0], [1.0, 0.0]])
    prior = np.array([0.3, 0.7])
    out = shrink_by_evidence(p, np.array([3.0, 300.0]), prior, strength=3.0)
    assert out[0, 0] == pytest.approx((3 + 3 * 0.3) / 6) and out[1, 0] > 0.99
    assert np.allclose(out.sum(1), 1.0)
    assert shrink_by_evidence(p, np.array([3.0, 3.0]), prior, strength=0.0) is p


def test_a_wallet_with_three_transactions_is_not_certain_of_its_persona() -> None:
    from wallet_pipeline_tests.logic.test_personas import FAST, _table

    table = _table()
    model, _ = train_personas(table, FAST)
    modelled = model.config.rules(table).isna().to_numpy()
    row = table[modelled].iloc[[0]]
    few, many = row.assign(tx_count=3), row.assign(tx_count=3_000)
    p_few, p_many = model.predict(few).iloc[0], model.predict(many).iloc[0]
    assert p_few["persona"] == p_many["persona"]  # the persona is the model's either way
    strength = model.config.evidence_strength
    prior = model.persona_prior[p_few["persona"]]
    assert p_few["confidence"] <= (3 + strength * prior) / (3 + strength) + 1e-9
    assert p_few["confidence"] < p_many["confidence"]
    # Rule personas are stated facts, not estimates: they keep confidence 1.
    ruled = model.predict(table[~modelled])
    assert (ruled["confidence"] == 1.0).all()
