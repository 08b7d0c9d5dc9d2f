"""One local SparkSession for every Spark test: starting one costs about 10 s, so tests share it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wallet_pipeline.logic.spark.session import local_session, stop_session


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A `local[2]` session whose warehouse and checkpoints live in a temporary data folder."""
    # Two shuffle partitions for two cores: the test graphs are tiny, and every extra partition is
    # one more task per stage of every round.
    session = local_session(tmp_path_factory.mktemp("spark_data"), shuffle_partitions=2)
    yield session
    stop_session(session)
