"""One writer per data folder, shown with real processes: a holder, a refused second writer,
a holder killed with SIGKILL whose lock is free at once, and a Dagster run refused while another
process writes the folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from wallet_pipeline.lib.data_lock import HOLDER_NAME, DataFolderBusy, hold_data_folder, holder_of
from wallet_pipeline.lib.duckdb_resource import DuckDBFile

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the holder is killed with SIGKILL")

_HOLDER = """
import sys, time
from wallet_pipeline.lib.data_lock import hold_data_folder
with hold_data_folder(sys.argv[1], "a test holder", run_id="run-of-the-holder"):
    print("held", flush=True)
    time.sleep(600)
"""


def _start_holder(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_a_second_writer_is_refused_naming_the_folder_pid_start_and_run(tmp_path: Path) -> None:
    holder = _start_holder(tmp_path)
    try:
        record = holder_of(tmp_path)
        assert record is not None and record["pid"] == holder.pid
        with pytest.raises(DataFolderBusy) as refused, hold_data_folder(tmp_path, "second"):
            pass
        message = str(refused.value)
        assert str(tmp_path.resolve()) in message
        assert f"process {holder.pid} " in message
        assert f"started {record['started']}" in message
        assert "a test holder, Dagster run run-of-the-holder" in message
    finally:
        _kill(holder)


def test_the_lock_of_a_killed_holder_is_free_at_once(tmp_path: Path) -> None:
    holder = _start_holder(tmp_path)
    _kill(holder)
    # Its record is still there, but the operating system released the lock with the process.
    assert holder_of(tmp_path)["pid"] == holder.pid
    with hold_data_folder(tmp_path, "after the kill") as info:
        assert info["pid"] == os.getpid()
        assert json.loads((tmp_path / HOLDER_NAME).read_text())["command"] == "after the kill"
    assert not (tmp_path / HOLDER_NAME).exists()


def test_the_lock_is_reentrant_in_one_process_and_records_the_run(tmp_path: Path) -> None:
    with hold_data_folder(tmp_path, "wallet-pipeline materialize"):
        with hold_data_folder(tmp_path, "a Dagster run", run_id="r1"):
            assert holder_of(tmp_path)["run_id"] == "r1"
            assert holder_of(tmp_path)["command"] == "wallet-pipeline materialize"
        # The outer hold goes on after the inner one ends.
        probe = subprocess.run(
            [sys.executable, "-c", _HOLDER, str(tmp_path)], capture_output=True, text=True, timeout=120
        )
        assert probe.returncode == 1 and "DataFolderBusy" in probe.stderr
    assert not (tmp_path / HOLDER_NAME).exists()


def test_a_dagster_run_on_a_folder_another_process_writes_fails_before_its_first_step(tmp_path: Path) -> None:
    steps: list[str] = []

    @dg.asset
    def writes(duckdb: DuckDBFile) -> None:
        steps.append("writes")
        with duckdb.get_connection() as con:
            con.execute("create table t as select 1 x")

    resources = {"duckdb": DuckDBFile(database=str(tmp_path / "wallet_pipeline.duckdb"))}
    holder = _start_holder(tmp_path)
    try:
        started = time.monotonic()
        result = dg.materialize([writes], resources=resources, raise_on_error=False)
        refused_in = time.monotonic() - started
    finally:
        _kill(holder)
    assert not result.success and steps == []
    failure = next(e for e in result.all_events if e.event_type_value == "RESOURCE_INIT_FAILURE")
    text = failure.event_specific_data.error.to_string()
    assert f"process {holder.pid} " in text and "being written by" in text
    assert refused_in < 60
    # With the holder gone the same run goes through, and holds the folder while it runs.
    assert dg.materialize([writes], resources=resources).success
    assert steps == ["writes"]
