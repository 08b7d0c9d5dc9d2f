"""One writer per data folder: an operating-system lock held for the whole of a run.

DuckDB's own lock covers one connection at a time, and a run opens and closes many (each asset,
then dbt in a process of its own). Two runs on one folder therefore interleave: each takes the
file between the other's steps, and one ends up publishing a snapshot of the other's raw data.
This lock is held from before a run's first write to after its last, so a second writer is
refused at once, told who holds the folder.

The lock is `fcntl.flock` on POSIX and `msvcrt.locking` on Windows, on `<folder>/.writer.lock`.
The operating system releases it when the holding process ends, however it ends (`kill -9`
included), so a lock of a dead process never blocks anyone: there is nothing stale to clear.
Who holds it (process id, start time, command, run id) is written beside it in
`<folder>/.writer.json` for the refusal message; that file is only information.

Within one process the lock is re-entrant: the CLI takes it for its runs, and the runs it
executes in its own process take it again without blocking themselves.

    with hold_data_folder(folder, "wallet-pipeline materialize"):
        ...  # every write to the folder's DuckDB file, dbt, the snapshot
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

LOCK_NAME = ".writer.lock"
HOLDER_NAME = ".writer.json"


class DataFolderBusy(RuntimeError):
    """Another process holds the data folder's writer lock."""


@dataclass
class _Held:
    fd: int
    depth: int
    info: dict[str, object]


_HELD: dict[Path, _Held] = {}
_GUARD = threading.Lock()


def holder_of(folder: str | os.PathLike[str]) -> dict[str, object] | None:
    """What the holder wrote about itself (pid, started, command, run_id, host), if anything."""
    try:
        text = (Path(folder) / HOLDER_NAME).read_text(encoding="utf-8")
        found = json.loads(text)
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


@contextlib.contextmanager
def hold_data_folder(
    folder: str | os.PathLike[str], command: str, run_id: str | None = None
) -> Iterator[dict[str, object]]:
    """Hold the folder's writer lock for the block; `DataFolderBusy` at once if another process has it.

    Args:
        folder: The data folder (created if missing).
        command: What holds it, for the message another writer gets.
        run_id: The Dagster run, when known; a re-entrant hold adds it to the holder's record.

    Yields:
        The holder's record as written to `.writer.json`.
    """
    path = Path(folder).resolve()
    info = _acquire(path, command, run_id)
    try:
        yield info
    finally:
        _release(path)


def _acquire(path: Path, command: str, run_id: str | None) -> dict[str, object]:
    with _GUARD:
        held = _HELD.get(path)
        if held is not None:
            held.depth += 1
            if run_id and held.info.get("run_id") != run_id:
                held.info["run_id"] = run_id
                _write_holder(path, held.info)
            return held.info
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(fd)
        except OSError:
            os.close(fd)
            raise DataFolderBusy(_busy_message(path)) from None
        info: dict[str, object] = {
            "pid": os.getpid(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": command,
            "run_id": run_id,
            "host": socket.gethostname(),
        }
        _write_holder(path, info)
        _HELD[path] = _Held(fd, 1, info)
        return info


def _release(path: Path) -> None:
    with _GUARD:
        held = _HELD[path]
        held.depth -= 1
        if held.depth:
            return
        del _HELD[path]
        # The record goes first: once unlocked, the next holder writes its own.
        with contextlib.suppress(OSError):
            (path / HOLDER_NAME).unlink()
        _unlock(held.fd)
        os.close(held.fd)


def _busy_message(path: Path) -> str:
    holder = holder_of(path)
    if not holder:
        # Taken a moment ago: the holder has not written its record yet.
        who = "another process (it has not recorded itself yet)"
    else:
        run = f", Dagster run {holder['run_id']}" if holder.get("run_id") else ""
        who = (
            f"process {holder.get('pid')} on {holder.get('host')} ({holder.get('command')}{run}), "
            f"started {holder.get('started')}"
        )
    return (
        f"the data folder {path} is being written by {who}; one run writes a data folder at a time: "
        "wait for that run to finish (or stop it), or use another WALLET_DATA_DIR"
    )


def _write_holder(path: Path, info: dict[str, object]) -> None:
    tmp = path / f".{HOLDER_NAME}.{os.getpid()}"
    tmp.write_text(json.dumps(info) + "\n", encoding="utf-8")
    os.replace(tmp, path / HOLDER_NAME)


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> None:
        # Byte 0 of the lock file; LK_NBLCK fails at once instead of retrying for 10 s.
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
