"""Servers that tests start: stopped by their PID, whatever state they are in."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable


def stop_process_group(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process group (its own session), then SIGKILL if it lingers past `timeout`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue
    process.wait(timeout=timeout)


def wait_for(what: str, found: Callable[[], object], timeout: float, poll: float = 0.5) -> object:
    """The first truthy value `found()` returns; fails naming `what` when `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"waited {timeout:.0f} s for {what}")
