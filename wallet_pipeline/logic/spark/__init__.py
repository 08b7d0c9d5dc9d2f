"""The Spark engine (`WALLET_ENGINE=spark`, docs/spark.md): plain functions, no Dagster imports."""
