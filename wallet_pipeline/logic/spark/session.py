"""A local SparkSession for the Spark engine's graph and scoring functions and their tests.

`local_session()` builds (or returns) the process's session: `local[2]` unless told otherwise,
bound to 127.0.0.1 (a laptop or CI runner has no cluster network to join, and a wildcard bind
would open ports to it), without the web UI (port 4040 collides when several sessions or test
workers start on one machine), with few shuffle partitions (Spark's 200 default turns each join of
a small graph into 200 tiny tasks) and with its warehouse and scratch under the data folder the
caller passes (`WALLET_DATA_DIR`), so a run never writes into the repository or another user's
folder. On a real cluster the master and
the sizes come from the caller (`spark-submit` or Databricks), not from here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_MASTER = "local[2]"
# Two cores here: a shuffle into more partitions than a few per core only adds task overhead.
DEFAULT_SHUFFLE_PARTITIONS = 4
# The heap of the local engine, as dbt's Spark profile gives it (WALLET_SPARK_DRIVER_MEMORY): the
# whole clustering of a 1M-edge graph with Spark's propagation failed twice with 2 GB (its
# aggregations ran out of memory) and finished with 4 GB (docs/spark_graph.md). The heap grows
# only as the work needs it.
DEFAULT_DRIVER_MEMORY = "4g"


def spark_dir(root: Path) -> Path:
    """The folder of Spark's warehouse, checkpoints and scratch under a data folder: `<root>/spark`."""
    return root / "spark"


def local_session(
    root: Path,
    master: str = DEFAULT_MASTER,
    shuffle_partitions: int = DEFAULT_SHUFFLE_PARTITIONS,
    driver_memory: str = DEFAULT_DRIVER_MEMORY,
    app_name: str = "wallet_pipeline",
    folder: Path | None = None,
):  # noqa: ANN201 - pyspark.sql.SparkSession, imported lazily
    """Start (or return the running) local SparkSession with the project's settings.

    Settings that change answers are fixed: the session time zone is UTC (timestamps from the
    chain are UTC; the JVM default would shift day boundaries), and adaptive query execution is
    off, because it re-plans joins and coalesces partitions from runtime sizes, so the same
    input could take different plans from one run to the next.

    Args:
        root: the data folder (`settings.data_dir()`, which logic/ may not import: callers pass it).
        master: Spark master URL; `local[2]` uses two cores of this machine.
        shuffle_partitions: `spark.sql.shuffle.partitions`.
        driver_memory: the JVM heap of the driver (in local mode, of the whole engine). Only
            takes effect when this call starts the JVM.
        app_name: the application name shown in logs.
        folder: Spark's own folder when it is not `spark_dir(root)` (`WALLET_SPARK_DIR`).

    Returns:
        The SparkSession.
    """
    from pyspark.sql import SparkSession

    # Python workers must run this interpreter (the venv with pandas, pyarrow and the model's
    # libraries), not the `python3` first on PATH; pyspark reads only the environment for it.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    base = folder or spark_dir(root)
    (base / "checkpoints").mkdir(parents=True, exist_ok=True)
    (base / "tmp").mkdir(parents=True, exist_ok=True)
    spark = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(base / "warehouse"))
        .config("spark.local.dir", str(base / "tmp"))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(str(base / "checkpoints"))
    return spark


def stop_session(spark) -> None:  # noqa: ANN001 - pyspark.sql.SparkSession
    """Stop the session (its executors and shuffle files); a later `local_session()` starts afresh.

    The JVM itself stays up until the Python process ends: pyspark reuses its gateway.
    """
    spark.stop()
