"""The real Dagster assets of a selection, on one export folder and data folder, in a child process.

The quality, phishing and airdrop benchmarks all run the pipeline this way: the files source, a data
folder and DAGSTER_HOME of the world's own, and `dagster asset materialize --select`, so that each
world's figures come from the same code path a user's `materialize` takes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def python() -> str:
    """The project's virtualenv interpreter, else the running one."""
    venv = ROOT / ".venv" / ("Scripts" if os.name == "nt" else "bin") / "python"
    return str(venv) if venv.exists() else sys.executable


def files_env(export: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a files-source run writing to `data_dir` (its own DAGSTER_HOME inside)."""
    env = {
        **os.environ,
        "WALLET_DATA_DIR": str(data_dir),
        "WALLET_SOURCE": "files",
        "WALLET_FILES_DIR": str(export),
        "DAGSTER_HOME": str(data_dir / "dagster_home"),
        **extra,
    }
    env.pop("WALLET_DUCKDB_PATH", None)
    return env


@dataclass(frozen=True)
class RunCost:
    """Exit code, wall seconds and CPU seconds (user + system) of the child process."""

    code: int
    wall_s: float
    cpu_s: float


def materialize(select: str, env: dict[str, str], log: Path) -> RunCost:
    """`dagster asset materialize --select <select>` in a child process, its output in `log`."""
    Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    dagster = Path(python()).with_name("dagster")
    before = os.times()
    started = time.monotonic()
    with open(log, "w") as out:
        code = subprocess.run(
            [str(dagster), "asset", "materialize", "-m", "wallet_pipeline.definitions", "--select", select],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        ).returncode
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return RunCost(code, time.monotonic() - started, cpu)
