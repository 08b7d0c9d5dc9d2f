"""With the real daemon: a run killed with SIGKILL is marked failed and the queued run then starts.

The instance is configured as the CLI writes it (one run at a time, run monitoring on). Run 1 is
launched through the queue and killed mid-step; run 2, queued behind it, can only start once
run 1 is failed. Who fails it depends on what died: a run worker alone is failed by the code
server that launched it (Dagster's own watch over its child processes); a worker whose code
server died with it (the out-of-memory killer, a `kill -9` of the tree) has no one left to
report it but dead_run_sensor. Each case takes one to two minutes (the daemon and its code server
loading, the sensor's one-minute interval), hence `slow`.
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

from wallet_pipeline.defs.publish import RUN_MONITORING_YAML, RUN_QUEUE_YAML
from wallet_pipeline_tests.processes import stop_process_group, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="kill -9 is POSIX")]

# The code location the daemon serves: one sleeping asset that records its process, run in the
# run worker's own process (as the project's runs are), and the project's dead_run_sensor.
LOCATION = """
import os, sys, time
from pathlib import Path
import dagster as dg
from wallet_pipeline.defs.publish.runs import dead_run_sensor

PIDS = Path(__file__).parent / "pids"

@dg.asset
def slow(context: dg.AssetExecutionContext) -> None:
    PIDS.mkdir(exist_ok=True)
    (PIDS / context.run_id).write_text(str(os.getpid()))
    time.sleep(900)

slow_job = dg.define_asset_job("slow_job", selection=[slow], executor_def=dg.in_process_executor)
defs = dg.Definitions(assets=[slow], jobs=[slow_job], sensors=[dead_run_sensor])
"""
# Under load the daemon and its code server take a minute to come up; the sensor ticks each minute.
WAIT_SECONDS = 420


def _wait_for(what: str, check, timeout: float = WAIT_SECONDS):  # noqa: ANN001, ANN202
    return wait_for(what, check, timeout, poll=1.0)


def _status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    return instance.get_run_by_id(run_id).status


def _parent(pid: int) -> int:
    # /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ")".
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads parent processes from /proc")
@pytest.mark.parametrize(
    ("killed", "failed_by"),
    [
        ("worker", "Run execution process for {run_id} was terminated by signal 9 (SIGKILL)"),
        ("worker_and_code_server", "The process {pid} that ran this run is gone"),
    ],
)
def test_the_daemon_fails_a_killed_run_and_starts_the_queued_one(
    tmp_path: Path, killed: str, failed_by: str
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        RUN_QUEUE_YAML + RUN_MONITORING_YAML + "telemetry:\n  enabled: false\n"
    )
    (tmp_path / "location.py").write_text(LOCATION)
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - python_file: {tmp_path / 'location.py'}\n")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    bin_dir = Path(sys.executable).parent
    # The SQLite storages are created here, once: processes creating them at the same moment
    # (the daemon, the launch command) can leave the schema's version table with two heads.
    instance = dg.DagsterInstance.from_config(str(home))
    instance.get_runs()
    instance.all_instigator_state()
    daemon = subprocess.Popen(
        [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)],
        env=env,
        cwd=tmp_path,
        stdout=open(tmp_path / "daemon.log", "w"),  # noqa: SIM115 - the child holds it
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    pids: list[int] = []
    try:
        launch = [str(bin_dir / "dagster"), "job", "launch", "-w", str(workspace), "-j", "slow_job"]
        for _ in range(2):
            subprocess.run(launch, env=env, cwd=tmp_path, check=True, capture_output=True, timeout=300)
        records = sorted(instance.get_run_records(), key=lambda r: r.create_timestamp)
        first, second = (r.dagster_run for r in records)
        pid_file = tmp_path / "pids" / first.run_id
        pids.append(
            int(_wait_for("run 1 to start its step", lambda: pid_file.exists() and pid_file.read_text()))
        )
        # One run at a time: the second waits in the queue behind the first.
        assert _status(instance, first.run_id) == dg.DagsterRunStatus.STARTED
        assert _status(instance, second.run_id) == dg.DagsterRunStatus.QUEUED

        victims = [pids[0]] if killed == "worker" else [_parent(pids[0]), pids[0]]
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        _wait_for(
            "run 1 to be marked failed",
            lambda: _status(instance, first.run_id) == dg.DagsterRunStatus.FAILURE,
        )
        failed_after = time.monotonic() - killed_at
        second_pid = tmp_path / "pids" / second.run_id
        pids.append(int(_wait_for("run 2 to start", lambda: second_pid.exists() and second_pid.read_text())))
        started_after = time.monotonic() - killed_at

        texts = [
            f"{e.user_message} {e.dagster_event.message if e.dagster_event else ''}"
            for e in instance.all_logs(first.run_id)
        ]
        expected = failed_by.format(run_id=first.run_id, pid=pids[0])
        assert any(expected in text for text in texts), texts[-4:]
        assert _status(instance, second.run_id) == dg.DagsterRunStatus.STARTED
        print(f"{killed}: run 1 failed {failed_after:.0f} s after the kill, run 2 ran {started_after:.0f} s")
    finally:
        for pid in pids[1:]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        stop_process_group(daemon, timeout=30)
