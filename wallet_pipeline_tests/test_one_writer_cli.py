"""Two `wallet-pipeline materialize` processes on one data folder, and a run killed with SIGKILL.

Real processes throughout: the first writer is the CLI itself; the second is refused at once
naming the holder; after `kill -9` the folder is free and the run the dead process left STARTED
is marked failed, so the queue and the sensors move on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from wallet_pipeline.lib.data_lock import hold_data_folder, holder_of
from wallet_pipeline.lib.dead_runs import fail_dead_runs
from wallet_pipeline_tests.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="kill -9 is POSIX")]

# Generous: importing the definitions and starting a run take from seconds to minutes on a
# loaded machine, and the test waits for the run to be STARTED before killing it.
_WAIT_SECONDS = 600


def _materialize(env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "wallet_pipeline.cli", "materialize", "--wallets", "1500"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(what: str, found) -> object:  # noqa: ANN001 - a callable returning a value or None
    return wait_for(what, found, _WAIT_SECONDS)


def test_a_second_materialize_is_refused_and_a_killed_run_is_marked_failed(
    data_dir: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    first = _materialize(env, tmp_path)
    try:
        _wait_for(
            "the first run to hold the folder", lambda: (holder_of(data_dir) or {}).get("pid") == first.pid
        )
        started = time.monotonic()
        second = subprocess.run(
            [sys.executable, "-m", "wallet_pipeline.cli", "materialize", "--wallets", "1500"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        refused_in = time.monotonic() - started
        holder = holder_of(data_dir)
        assert second.returncode == 2, second.stderr
        message = second.stderr.strip()
        assert message.startswith(
            f"error: the data folder {data_dir} is being written by process {first.pid} "
        )
        assert "(wallet-pipeline materialize" in message and f"started {holder['started']}" in message
        assert "Materializing" not in second.stdout
        print(f"second writer refused in {refused_in:.1f} s")

        home = data_dir / "dagster_home"
        instance = _wait_for(
            "the instance",
            lambda: (home / "dagster.yaml").exists() and dg.DagsterInstance.from_config(str(home)),
        )
        run = _wait_for(
            "the first run to start",
            lambda: next(
                iter(instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))), None
            ),
        )
        # The holder's record names the Dagster run once it is running.
        _wait_for(
            "the run id in the holder's record",
            lambda: (holder_of(data_dir) or {}).get("run_id") == run.run_id,
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)

    # The dead process left its run STARTED; the folder's lock went with it.
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    with hold_data_folder(data_dir, "the test, after the kill"):
        assert fail_dead_runs(instance) == [run.run_id]
    failed = instance.get_run_by_id(run.run_id)
    assert failed.status == dg.DagsterRunStatus.FAILURE
    assert fail_dead_runs(instance) == []
    # Run monitoring is on in the instance the CLI wrote: the backstop for runs of other launchers.
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_max_runtime_seconds == 6 * 3600
