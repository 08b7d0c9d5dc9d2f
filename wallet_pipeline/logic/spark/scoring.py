"""Persona scoring on Spark: every wallet scored by the champion model, batch by batch on the executors.

Training stays on the driver (the same scikit-learn code and MLflow registry); scoring is the part
that grows with the wallets. The model object the driver loads (`persona_registry.
load_persona_model`) is broadcast once, and `mapInPandas` hands each task Arrow batches of feature
rows that `PersonaModel.predict` scores exactly as on the driver: prediction reads each row alone
(the thresholds were fixed at training), so how rows are split into batches does not change a
wallet's answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from wallet_pipeline.logic.personas.model import PersonaInputError, PersonaModel, persona_column


def prediction_schema(model: PersonaModel) -> str:
    """The DDL schema of `PersonaModel.predict`'s output: address, persona, confidence, p_<persona>."""
    probs = ", ".join(f"{persona_column(p)} double" for p in model.personas)
    return f"address string, persona string, confidence double, {probs}"


def score_wallets(features, model: PersonaModel, batch_rows: int = 10_000):  # noqa: ANN001, ANN201
    """Score a Spark DataFrame of wallet features with `model`: one output row per input row.

    Args:
        features: the wallet features (`marts.wallet_features` or any table with the model's id
            and feature columns); columns the rules read (`tx_count`, `is_contract`, ...) are used
            when present, as on the driver.
        model: the persona model, e.g. the champion from `persona_registry.load_persona_model`.
        batch_rows: rows per Arrow batch handed to `predict` (memory per task, not answers).

    Returns:
        A DataFrame with `prediction_schema(model)`.

    Raises:
        PersonaInputError: a feature column the model was trained on is missing, named.
    """
    missing = [c for c in model.feature_columns if c not in features.columns]
    if missing:
        raise PersonaInputError(
            f"features lack columns the model was trained on: {missing}; "
            f"trained on {list(model.feature_columns)}"
        )
    spark = features.sparkSession
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
    shipped = spark.sparkContext.broadcast(model)
    schema = prediction_schema(model)

    def predict(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        served = shipped.value
        for batch in batches:
            if len(batch):
                out = served.predict(batch)
                out["address"] = out["address"].astype(str)
                yield out

    return features.mapInPandas(predict, schema)


def score_parquet(
    spark,  # noqa: ANN001 - pyspark.sql.SparkSession, imported lazily
    features_dir: Path,
    model: PersonaModel,
    out_dir: Path,
    batch_rows: int = 10_000,
) -> None:
    """Score the wallet features Spark built (a Parquet folder); the predictions go to `out_dir`.

    Decimal columns (money) are read as doubles, as DuckDB hands them to `predict` on the driver:
    a rule comparing an amount with a threshold must see the same kind of number on both engines.
    The predictions replace whatever `out_dir` held, as Parquet.

    Args:
        spark: the SparkSession.
        features_dir: the `marts.wallet_features` table Spark built (`<warehouse>/marts.db/wallet_features`).
        model: the persona model to score with (the champion).
        out_dir: the folder the predictions are written to.
        batch_rows: see `score_wallets`.

    Raises:
        FileNotFoundError: `features_dir` holds no Parquet file, named.
    """
    if not any(features_dir.glob("*.parquet")):
        raise FileNotFoundError(f"no Parquet files in {features_dir}: has Spark built the features?")
    from pyspark.sql import functions as F
    from pyspark.sql.types import DecimalType

    features = spark.read.parquet(str(features_dir))
    money = {f.name for f in features.schema.fields if isinstance(f.dataType, DecimalType)}
    features = features.select(
        *(F.col(c).cast("double").alias(c) if c in money else F.col(c) for c in features.columns)
    )
    score_wallets(features, model, batch_rows).write.mode("overwrite").parquet(str(out_dir))
