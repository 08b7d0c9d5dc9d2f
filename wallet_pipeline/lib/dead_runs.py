"""Runs left STARTED by a process that no longer exists, marked failed so the queue moves on.

A run whose process is killed (`kill -9`, out of memory, a reboot) never writes its end: Dagster
keeps it STARTED, and with `max_concurrent_runs: 1` the queue then holds every later run, and
sensors skip "because a run is in progress". Dagster's run monitoring asks the run launcher
whether the worker lives, but the default launcher (local processes) cannot tell, so only
`max_runtime_seconds` would end such a run, hours later.

Every Dagster event records the process id that logged it, so a STARTED run's RUN_START event
names its worker. When that process is gone the run cannot finish, and it is marked failed with
a message saying so. Run storage of a local DAGSTER_HOME is on this machine, as are its workers,
so a process id is checked where it was written (on POSIX; see `_alive`).
"""

from __future__ import annotations

import os

import dagster as dg


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed each STARTED run of `instance` whose worker process has gone; their run ids."""
    failed = []
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    for record in records:
        run = record.dagster_run
        pid = _worker_pid(instance, run.run_id)
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        instance.report_run_failed(
            run,
            f"The process {pid} that ran this run is gone (killed, out of memory, or the machine "
            "restarted), so the run cannot finish; marked failed so that later runs can start.",
        )
        failed.append(run.run_id)
    return failed


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    result = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1)
    for record in result.records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.pid:
            return int(event.pid)
    return None


def _alive(pid: int) -> bool:
    if os.name != "posix":
        # Windows' os.kill terminates the process whatever the signal; there run monitoring's
        # max_runtime_seconds is what ends a dead run.
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    return True
