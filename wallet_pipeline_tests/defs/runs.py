"""A pipeline run in a test's own data folder, and SQL on what it wrote."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb


@dataclass
class Run:
    folder: Path
    result: dg.ExecuteInProcessResult

    @property
    def db(self) -> Path:
        return self.folder / "wallet_pipeline.duckdb"

    def sql(self, query: str):  # noqa: ANN201 - a pandas frame
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.sql(query).df()


def simulator_config(wallets: int, seed: int) -> dict:
    """Run config of the simulator asset: a small chain for a test."""
    return {"ops": {"simulated_chain": {"config": {"n_wallets": wallets, "seed": seed}}}}


def execute(
    folder: Path,
    run_config: dict,
    selection: dg.AssetSelection | list[dg.AssetKey] | None = None,
    *,
    instance: dg.DagsterInstance | None = None,
    env: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """The full job, on the simulator, writing to `folder`; `selection` narrows it (None: all).

    The environment is set the way a user would set it, for the run only.
    """
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WALLET_DATA_DIR", str(folder))
        mp.setenv("WALLET_DUCKDB_PATH", str(folder / "wallet_pipeline.duckdb"))
        mp.setenv("WALLET_DUCKDB_MEMORY_LIMIT", "2GB")
        mp.setenv("WALLET_SOURCE", "simulator")
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        for name, value in (env or {}).items():
            mp.setenv(name, value)
        from wallet_pipeline.definitions import defs

        definitions = defs()
        if isinstance(selection, dg.AssetSelection):
            selection = list(selection.resolve(definitions.resolve_asset_graph()))
        return definitions.resolve_job_def("full_pipeline_job").execute_in_process(
            instance=instance or dg.DagsterInstance.ephemeral(),
            run_config=run_config,
            asset_selection=selection,
            raise_on_error=False,
        )
