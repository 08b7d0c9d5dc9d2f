"""Persona scoring on Spark: every wallet gets the driver's persona and probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wallet_pipeline.logic.personas import PersonaInputError, train_personas
from wallet_pipeline.logic.spark.scoring import score_parquet, score_wallets
from wallet_pipeline_tests.logic.test_personas import FAST, _table

pytestmark = pytest.mark.spark

# Probabilities may differ by rounding: BLAS may sum a batch's matrix products in an order that
# depends on the batch's size. Measured on this table: 0.0 at 50 and at 10,000 rows per batch.
TOLERANCE = 1e-12


@pytest.fixture(scope="module")
def wallets() -> pd.DataFrame:
    return _table().drop(columns=["group"])


@pytest.fixture(scope="module")
def model(wallets):  # noqa: ANN001, ANN201 - DataFrame in, PersonaModel out
    return train_personas(wallets, FAST)[0]


def test_every_wallet_gets_the_drivers_persona_and_probabilities(spark, wallets, model) -> None:
    expected = model.predict(wallets).sort_values("address", ignore_index=True)
    # Three partitions cut into batches of 50 rows: answers must not depend on the batching.
    frame = spark.createDataFrame(wallets).repartition(3)
    got = score_wallets(frame, model, batch_rows=50).toPandas().sort_values("address", ignore_index=True)
    assert len(got) == len(wallets) > 500
    assert (got["persona"] == expected["persona"]).all()
    assert got["persona"].nunique() >= 3
    probs = [c for c in expected.columns if c.startswith("p_")] + ["confidence"]
    np.testing.assert_allclose(got[probs].to_numpy(), expected[probs].to_numpy(), rtol=0, atol=TOLERANCE)


def test_a_missing_feature_column_is_named(spark, wallets, model) -> None:
    frame = spark.createDataFrame(wallets.drop(columns=["dex_trades"]))
    with pytest.raises(PersonaInputError, match="dex_trades"):
        score_wallets(frame, model)


def test_the_features_spark_built_are_scored_with_money_read_as_doubles(
    spark, wallets, model, tmp_path
) -> None:
    # The mart keeps money as DECIMAL(38, 18); DuckDB hands the driver doubles, so must Spark.
    features, scored = tmp_path / "wallet_features", tmp_path / "scored"
    frame = spark.createDataFrame(wallets)
    money = frame.withColumn("eth_sent", frame["eth_sent"].cast("decimal(38,18)"))
    money.write.parquet(str(features))
    score_parquet(spark, features, model, scored)
    got = pd.read_parquet(scored).sort_values("address", ignore_index=True)
    # The driver's answer for the same stored numbers, read the way DuckDB reads a decimal.
    stored = pd.read_parquet(features).astype({"eth_sent": float})
    expected = model.predict(stored).sort_values("address", ignore_index=True)
    assert len(got) == len(wallets)
    assert (got["persona"] == expected["persona"]).all()
    probs = [c for c in expected.columns if c.startswith("p_")]
    np.testing.assert_allclose(got[probs].to_numpy(), expected[probs].to_numpy(), rtol=0, atol=TOLERANCE)


def test_features_spark_has_not_built_are_named(spark, model, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="wallet_features"):
        score_parquet(spark, tmp_path / "wallet_features", model, tmp_path / "scored")
