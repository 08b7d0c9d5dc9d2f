"""Start the Dune emulator in its own process for a test, and stop it by its PID afterwards."""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from wallet_pipeline_tests.processes import stop_process_group

READY_PREFIX = "listening on "
DEFAULT_API_KEY = "test-dune-key"
STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
# The repository root, so the child finds `wallet_pipeline_tests` whatever the caller's cwd.
_REPO_ROOT = Path(__file__).resolve().parents[2]


class EmulatorError(RuntimeError):
    """The emulator did not start, or a control request failed."""


@dataclass
class DuneEmulator:
    """A running emulator.

    Attributes:
        base_url: e.g. `http://127.0.0.1:PORT`, for `DuneClient(base_url=...)`.
        api_key: the key it accepts.
        pid: its process id (also its process group id).
        query_ids: query name → Dune query id it answers to.
        log_path: where its stderr goes.
    """

    base_url: str
    api_key: str
    pid: int
    query_ids: dict[str, int]
    log_path: Path | None = None
    _process: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    def _control(self, method: str, path: str, payload: Any = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.base_url}/_emulator{path}",
            data=body,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            raise EmulatorError(
                f"{method} /_emulator{path} failed: {err.code} {err.read().decode()}"
            ) from err

    def set_fault(self, fault: dict[str, Any]) -> None:
        """Inject a fault (see `Faults.add` in server.py for the shapes); it lasts until reset."""
        self._control("POST", "/faults", fault)

    def reset(self) -> None:
        """Remove every fault and clear the request log."""
        self._control("POST", "/reset", {})

    def requests(self) -> list[dict[str, Any]]:
        """Every API request so far: method, path, query, key_valid, status, time."""
        return self._control("GET", "/requests")["requests"]

    def rows(self, query: str, day: dt.date | str | None = None) -> int:
        """How many rows a query has for a day (all rows for a non-daily query), before max_rows."""
        params = {"query": query}
        if day is not None:
            params["day"] = day.isoformat() if isinstance(day, dt.date) else day
        return int(self._control("GET", "/rows?" + urllib.parse.urlencode(params))["rows"])

    def info(self) -> dict[str, Any]:
        """Seed, wallets, start date, days, query ids and poll defaults of the running emulator."""
        return self._control("GET", "/info")


def _read_ready_line(stdout: IO[str], timeout: float) -> str:
    """The first line the emulator prints ("" when it exits first).

    Raises:
        TimeoutError: nothing within `timeout` seconds.
    """
    lines: queue.Queue[str] = queue.Queue()
    # A thread, because a pipe read cannot time out; it ends with the first line or at EOF.
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise TimeoutError from None


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the emulator's process group, then SIGKILL if it lingers."""
    stop_process_group(process, STOP_TIMEOUT_SECONDS)


@contextmanager
def start_emulator(
    tmp_path: Path | None = None,
    *,
    seed: int = 42,
    wallets: int = 2000,
    days: int = 10,
    api_key: str = DEFAULT_API_KEY,
    extra_args: Sequence[str] = (),
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> Iterator[DuneEmulator]:
    """Run the emulator in its own process session for the duration of a `with` block.

    Args:
        tmp_path: folder for the emulator's stderr log (`dune_emulator.log`); a temporary folder
            when None.
        seed: simulator seed.
        wallets: simulator wallets.
        days: days served, from 2024-07-01 unless `extra_args` has `--start-date`.
        api_key: the key the emulator accepts.
        extra_args: further command-line options, e.g. `("--query-id", "transactions=123")`.
        startup_timeout: seconds to wait for the readiness line.

    Yields:
        The running emulator.

    Raises:
        EmulatorError: it exited or stayed silent before printing its readiness line; the
            message holds its stderr.
    """
    with tempfile.TemporaryDirectory(prefix="dune_emulator_") as fallback:
        folder = Path(tmp_path) if tmp_path is not None else Path(fallback)
        folder.mkdir(parents=True, exist_ok=True)
        log_path = folder / "dune_emulator.log"
        command = [
            sys.executable,
            "-m",
            "wallet_pipeline_tests.dune_emulator",
            "--port",
            "0",
            "--api-key",
            api_key,
            "--seed",
            str(seed),
            "--wallets",
            str(wallets),
            "--days",
            str(days),
            *extra_args,
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO_ROOT), env.get("PYTHONPATH")) if p)
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                text=True,
                cwd=_REPO_ROOT,
                env=env,
                start_new_session=True,
            )
        try:
            assert process.stdout is not None
            try:
                line = _read_ready_line(process.stdout, startup_timeout)
            except TimeoutError:
                raise EmulatorError(
                    f"Dune emulator printed nothing in {startup_timeout:.0f} s; "
                    f"stderr:\n{log_path.read_text()}"
                ) from None
            if not line.startswith(READY_PREFIX):
                try:
                    process.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
                raise EmulatorError(
                    f"Dune emulator exited with {process.returncode} before it was ready; stdout: {line!r}; "
                    f"stderr:\n{log_path.read_text()}"
                )
            base_url = line[len(READY_PREFIX) :].strip()
            emulator = DuneEmulator(
                base_url=base_url,
                api_key=api_key,
                pid=process.pid,
                query_ids={},
                log_path=log_path if tmp_path is not None else None,
                _process=process,
            )
            emulator.query_ids = {k: int(v) for k, v in emulator.info()["query_ids"].items()}
            yield emulator
        finally:
            _stop(process)
            if process.stdout is not None:
                process.stdout.close()


@pytest.fixture(scope="module")
def dune_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuneEmulator]:
    """A Dune emulator shared by the tests of a module: seed 42, 2,000 wallets, 10 days from 2024-07-01."""
    with start_emulator(tmp_path_factory.mktemp("dune_emulator")) as emulator:
        yield emulator
