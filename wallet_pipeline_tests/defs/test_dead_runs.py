"""A run whose process is killed with SIGKILL stays STARTED until dead_run_sensor fails it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from wallet_pipeline.defs.publish.runs import dead_run_sensor

pytestmark = pytest.mark.skipif(os.name != "posix", reason="kill -9 is POSIX")

# A run of one asset that sleeps, in a process of its own, on the instance at argv[1].
_RUNNER = """
import sys, time
import dagster as dg

@dg.asset
def slow() -> None:
    print("running", flush=True)
    time.sleep(600)

with dg.DagsterInstance.from_config(sys.argv[1]) as instance:
    dg.materialize([slow], instance=instance)
"""


def _started_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])))


def test_the_run_of_a_killed_process_is_marked_failed_and_a_live_one_is_left_alone(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    instance = dg.DagsterInstance.from_config(str(home))
    runner = subprocess.Popen(
        [sys.executable, "-c", _RUNNER, str(home)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert runner.stdout is not None and runner.stdout.readline().strip() == "running"
        (run,) = _started_runs(instance)
        # While its process lives, the run is left as it is.
        live = dead_run_sensor(dg.build_sensor_context(instance=instance))
        assert live.skip_message == "every STARTED run has a live process"
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=60)

    time.sleep(0.2)
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    swept = dead_run_sensor(dg.build_sensor_context(instance=instance))
    assert swept.skip_message == f"marked failed the runs of dead processes: {run.run_id}"
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    failure = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    assert (
        f"The process {runner.pid} that ran this run is gone"
        in failure[0].event_log_entry.dagster_event.message
    )
    assert _started_runs(instance) == []
