"""`wallet-pipeline api`: the command that serves the API, with one process or several."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from wallet_pipeline.api.auth import hash_key
from wallet_pipeline.cli import main
from wallet_pipeline_tests.api.conftest import KEYS, build_snapshot
from wallet_pipeline_tests.processes import stop_process_group


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_several_workers_need_configured_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WALLET_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("WALLET_API_KEYS", raising=False)
    assert main(["api", "--workers", "2"]) == 2
    assert "needs WALLET_API_KEYS" in capsys.readouterr().err


def test_two_workers_serve_the_snapshot_from_its_index_on_127_0_0_1(tmp_path: Path) -> None:
    folder = build_snapshot(tmp_path / "snapshots", n_clusters=40)
    port = _free_port()
    env = {
        **os.environ,
        "WALLET_DATA_DIR": str(tmp_path),
        "WALLET_SNAPSHOT_DIR": str(folder),
        "WALLET_API_KEYS": f"alice:{hash_key(KEYS['alice'])}",
    }
    cmd = [sys.executable, "-m", "wallet_pipeline.cli", "api", "--workers", "2", "--port", str(port)]
    server = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        health = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and health.get("index") != "ready":
            assert server.poll() is None, server.stdout.read().decode()
            try:
                health = httpx.get(f"{base}/health", timeout=2).json()
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        assert health.get("index") == "ready", health
        with httpx.Client(base_url=base, headers={"X-API-Key": KEYS["alice"]}, timeout=10) as http:
            # Enough requests that both processes answer some; each one reads the shared index.
            pages = [http.get("/clusters", params={"page_size": 5, "page": p}) for p in range(1, 9)]
        assert all(r.status_code == 200 for r in pages)
        assert [r.json()["total"] for r in pages] == [40] * 8
        assert httpx.get(f"{base}/clusters", timeout=5).status_code == 401
        builds = [p for p in (folder / ".api_index").iterdir() if p.is_dir()]
        assert len(builds) == 1  # built once, by whichever worker took the lock first
    finally:
        stop_process_group(server)
    assert server.returncode is not None
