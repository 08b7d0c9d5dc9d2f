"""Embedded, seeded Ethereum chain simulator: the project's default data source.

`simulate` yields raw-table chunks and ground truth; `load_simulation` writes them to DuckDB;
`write_etl_files` writes the same data as an ethereum-etl export folder. See docs/simulator.md.
"""

from wallet_pipeline.logic.ingestion.simulator.config import DEFAULT_PERSONA_SHARES, PERSONAS, SimulatorConfig
from wallet_pipeline.logic.ingestion.simulator.output import (
    ETL_FORMATS,
    ETL_TABLES,
    SimulationReport,
    load_simulation,
    load_truth,
    write_etl_files,
)
from wallet_pipeline.logic.ingestion.simulator.randomize import random_world_config
from wallet_pipeline.logic.ingestion.simulator.stream import simulate, simulate_arrow

__all__ = [
    "DEFAULT_PERSONA_SHARES",
    "ETL_FORMATS",
    "ETL_TABLES",
    "PERSONAS",
    "SimulationReport",
    "SimulatorConfig",
    "load_simulation",
    "load_truth",
    "random_world_config",
    "simulate",
    "simulate_arrow",
    "write_etl_files",
]
