"""The persona pictures: a 2-D projection of modelled wallets and a radar of persona profiles."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from wallet_pipeline.logic.personas import train_personas
from wallet_pipeline.logic.personas.plots import projection_frame, projection_png, radar_frame, radar_png
from wallet_pipeline_tests.logic.test_personas import FAST, _table

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained():
    table = _table()
    return table, train_personas(table, FAST)[0]


def test_the_projection_holds_a_seeded_sample_of_modelled_wallets_only(trained) -> None:
    table, model = trained
    frame = projection_frame(model, table, sample_size=150, seed=4)
    modelled = set(table.loc[model.config.rules(table).isna().to_numpy(), "address"])
    assert len(frame) == 150 and set(frame["address"]) <= modelled
    assert set(frame["persona"]) <= set(model.cluster_names)
    again = projection_frame(model, table, sample_size=150, seed=4)
    assert np.allclose(frame[["x", "y"]], again[["x", "y"]])


def test_well_separated_personas_stay_apart_in_the_projection(trained) -> None:
    table, model = trained
    frame = projection_frame(model, table, sample_size=400, seed=0)
    knn = KNeighborsClassifier(5).fit(frame[["x", "y"]], frame["persona"])
    assert knn.score(frame[["x", "y"]], frame["persona"]) > 0.9


def test_the_radar_has_every_modelled_persona_as_percentiles(trained) -> None:
    _, model = trained
    radar = radar_frame(model)
    assert list(radar.index) == sorted(set(model.cluster_names))
    assert list(radar.columns) == list(model.feature_columns)
    assert ((radar >= 0) & (radar <= 100)).all().all()


def test_both_pictures_are_png(trained) -> None:
    table, model = trained
    assert projection_png(model, table, sample_size=120).startswith(PNG)
    assert radar_png(model).startswith(PNG)
