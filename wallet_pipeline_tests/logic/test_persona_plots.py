"""Persona pictures on small synthetic blobs: projection coordinates, radar data, PNG output.

Cluster names come from the naming vocabulary, which needs the mart's columns; these blobs have
plain columns, so every cluster is "Mixed" (the single-persona case) until a test renames them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import KNeighborsClassifier

from wallet_pipeline.logic.personas import MIXED, PersonaConfig, plots, train_personas
from wallet_pipeline.logic.personas.plots import (
    persona_colors,
    projection_frame,
    projection_png,
    radar_frame,
    radar_png,
)

PNG = b"\x89PNG\r\n\x1a\n"
FEATURES = ("a", "b", "c")
FAST = PersonaConfig(
    feature_columns=FEATURES,
    methods=("kmeans",),
    k_range=(3, 4, 5),
    selection_sample=1_000,
    eval_sample=400,
    small_sample=400,
    stability_refits=2,
)


def _blobs(groups: int = 4, per_group: int = 120, seed: int = 0) -> pd.DataFrame:
    """Well-separated blobs in (a, b, c); `c` is NULL in the last blob and at random elsewhere.

    Ten contracts and ten wallets that never sent are added: rules name them, the model never sees them.
    """
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-40, 40, (groups, 3))
    frames = []
    for g, centre in enumerate(centres):
        values = centre + rng.normal(0, 1, (per_group, 3))
        frame = pd.DataFrame(values, columns=list(FEATURES)).assign(group=g, tx_count=5, is_contract=False)
        frame.loc[rng.random(per_group) < 0.1, "c"] = np.nan
        if g == groups - 1:
            frame["c"] = np.nan
        frames.append(frame)
    rules = pd.DataFrame(
        {
            "a": 0.0,
            "b": 0.0,
            "c": 0.0,
            "group": -1,
            "tx_count": [5] * 10 + [0] * 10,
            "is_contract": [True] * 10 + [False] * 10,
        }
    )
    out = pd.concat(frames + [rules], ignore_index=True)
    out.insert(0, "address", [f"0x{i:040x}" for i in range(len(out))])
    return out


def _named(model, prefix: str = "Persona"):
    """The model with one distinct name per cluster, its winner alone deciding (no other fits vote)."""
    names = [f"{prefix} {i}" for i in range(len(model.cluster_names))]
    return replace(model, cluster_names=names, members=())


@pytest.fixture(autouse=True)
def short_tsne(monkeypatch):
    """Fewer t-SNE iterations (sklearn's floor is 250; blobs separate early) and one thread (xdist runs 2)."""
    monkeypatch.setattr(plots, "TSNE_MAX_ITER", 300)
    monkeypatch.setattr(plots, "TSNE_JOBS", 1)


@pytest.fixture(scope="module")
def blobs():
    table = _blobs()
    model, _ = train_personas(table, FAST)
    return table, model


@pytest.fixture(scope="module")
def named(blobs):
    table, model = blobs
    return table, _named(model)


def test_the_projection_is_a_deterministic_sample_of_modelled_wallets_only(named) -> None:
    table, model = named
    frame = projection_frame(model, table, sample_size=150, seed=3)
    assert list(frame.columns) == ["address", "x", "y", "persona"]
    assert len(frame) == 150 and frame["address"].is_unique
    modelled = table.loc[model.config.rules(table).isna().to_numpy(), "address"]
    assert len(modelled) == len(table) - 20
    assert set(frame["address"]) <= set(modelled)
    assert set(frame["persona"]) <= set(model.cluster_names)
    assert np.isfinite(frame[["x", "y"]].to_numpy()).all()
    again = projection_frame(model, table, sample_size=150, seed=3)
    pd.testing.assert_frame_equal(frame, again)
    other = projection_frame(model, table, sample_size=150, seed=4, method="pca")
    assert set(other["address"]) != set(frame["address"])


def test_assign_clusters_agrees_that_rule_wallets_are_outside_the_model_space(named) -> None:
    table, model = named
    labels, _ = model.assign_clusters(table)
    frame = projection_frame(model, table, sample_size=10_000, method="pca")
    assert set(frame["address"]) == set(table.loc[labels >= 0, "address"])


def test_a_sample_larger_than_the_modelled_wallets_takes_them_all(named) -> None:
    table, model = named
    frame = projection_frame(model, table, sample_size=10_000, method="pca")
    assert len(frame) == len(table) - 20


def test_well_separated_blobs_stay_separated_in_the_tsne(named) -> None:
    table, model = named
    frame = projection_frame(model, table, sample_size=400, seed=0)
    xy, persona = frame[["x", "y"]].to_numpy(), frame["persona"].to_numpy()
    # Leave-one-out vote of the 5 nearest other points in 2-D.
    _, idx = KNeighborsClassifier(6).fit(xy, persona).kneighbors(xy)
    votes = pd.DataFrame(persona[idx[:, 1:]]).mode(axis=1)[0].to_numpy()
    assert (votes == persona).mean() > 0.9
    assert frame["persona"].nunique() >= 3


def test_the_radar_has_one_row_per_persona_and_percentiles_over_the_model_features(named) -> None:
    _, model = named
    radar = radar_frame(model)
    assert list(radar.index) == sorted(model.cluster_names)
    assert list(radar.columns) == list(FEATURES)
    values = radar.to_numpy()
    finite = values[np.isfinite(values)]
    assert ((finite >= 0) & (finite <= 100)).all()
    # Only clusters of the blob whose `c` is always NULL lack a median, and only in `c`.
    assert radar[["a", "b"]].notna().all().all()
    assert radar["c"].isna().any()


def test_clusters_sharing_a_name_are_one_persona_with_size_weighted_percentiles(named) -> None:
    _, model = named
    merged = replace(model, cluster_names=["Same"] * 2 + model.cluster_names[2:])
    radar = radar_frame(merged)
    assert list(radar.index) == sorted({"Same", *model.cluster_names[2:]})
    prof = model.profiles[(model.profiles["cluster"] < 2) & (model.profiles["column"] == "a")]
    expected = 100 * np.average(prof["percentile"], weights=prof["size"])
    assert radar.loc["Same", "a"] == pytest.approx(expected)


def test_a_model_with_a_single_persona_draws_both_pictures(blobs) -> None:
    table, model = blobs
    # A foreign table's clusters get distinct descriptive names (descriptive.py); one name for
    # every cluster of every fit is what a vocabulary that fits nothing used to give.
    assert len(set(model.cluster_names)) == model.clusterer.n_clusters
    model = replace(
        model,
        cluster_names=[MIXED] * model.clusterer.n_clusters,
        members=tuple(replace(m, cluster_names=[MIXED] * m.clusterer.n_clusters) for m in model.members),
        persona_prior={MIXED: 1.0},
    )
    assert radar_frame(model).index.tolist() == [MIXED]
    frame = projection_frame(model, table, sample_size=100, method="pca")
    assert set(frame["persona"]) == {MIXED}
    assert radar_png(model).startswith(PNG)
    assert projection_png(model, table, sample_size=100, method="pca").startswith(PNG)


def test_both_pictures_are_png(named) -> None:
    table, model = named
    assert projection_png(model, table, sample_size=80).startswith(PNG)
    assert radar_png(model).startswith(PNG)


def test_many_personas_get_distinct_cycled_colours_and_draw() -> None:
    colors = persona_colors([f"P{i:02d}" for i in range(25)])
    assert len(colors) == 25 and len(set(list(colors.values())[:20])) == 20
    assert colors["P00"] == colors["P20"]  # tab20, cycled
    assert len(set(persona_colors(["b", "a", "c"]).values())) == 3

    table = _blobs(groups=12, per_group=40, seed=1)
    config = replace(FAST, k_range=(12,), stability_refits=1, min_cluster_share=0.01)
    model = _named(train_personas(table, config)[0], "Persona number")
    assert len(set(model.cluster_names)) == 12
    assert len(radar_frame(model)) == 12
    assert radar_png(model).startswith(PNG)
    assert projection_png(model, table, method="pca").startswith(PNG)


def test_a_table_without_modelled_wallets_gives_an_empty_frame_and_a_picture(named) -> None:
    table, model = named
    rules_only = table[table["group"] == -1]
    frame = projection_frame(model, rules_only)
    assert frame.empty and list(frame.columns) == ["address", "x", "y", "persona"]
    assert projection_png(model, rules_only).startswith(PNG)


def test_an_unknown_method_is_an_error(named) -> None:
    table, model = named
    with pytest.raises(ValueError, match="umap"):
        projection_frame(model, table, method="umap")
