"""Load benchmark of the investigator API: p50 / p99 latency and requests per second.

Builds a synthetic snapshot with 100,000 clusters (the tables and columns the pipeline publishes,
from `wallet_pipeline_tests/api/conftest.py`), starts uvicorn on 127.0.0.1 in its own session,
then runs 50 concurrent httpx clients against `/clusters` (filters and pages varied) and against
`/analyze/{address}` for stored wallets, one endpoint after the other. The server is stopped by
its process id at the end, whatever happens.

    .venv/bin/python -m benchmarks.api_load                      # 100,000 clusters, 50 clients, 15 s each
    .venv/bin/python -m benchmarks.api_load --workers 2 --seconds 30

The clients run on the same machine, so on 2 cores they take CPU from the server: the figures are
a lower bound of what the server alone would do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from wallet_pipeline.api.auth import hash_key
from wallet_pipeline_tests.api.conftest import SIZES, build_snapshot, member

KEY = "bench-key-" + "x" * 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cluster_urls(rng: random.Random) -> str:
    choices = [
        "/clusters",
        "/clusters?risk_min=80",
        "/clusters?risk_level=High&sort=size",
        "/clusters?size=6-20&active_within=7d",
        "/clusters?persona=whale&sort=last_active",
        "/clusters?size=2-5&page=" + str(rng.randint(1, 50)),
    ]
    return rng.choice(choices)


def _address_url(rng: random.Random, n_clusters: int) -> str:
    i = rng.randrange(n_clusters)
    j = rng.randrange(SIZES[i % len(SIZES)])
    return "/analyze/" + member(i, j)


async def _hammer(base: str, make_url, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers={"X-API-Key": KEY}, limits=limits, timeout=30
    ) as http:

        async def one(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                url = make_url(rng)
                start = time.perf_counter()
                response = await http.get(url)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(one(k) for k in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "rps": len(latencies) / elapsed,
    }


def _wait_ready(base: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {proc.returncode}")
        try:
            if httpx.get(base + "/health", timeout=1).json().get("status") == "ok":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("the API did not answer /health in time")


def main() -> None:
    """Build or reuse a snapshot, start the server, measure, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--snapshot-dir", type=Path, help="reuse a snapshot built by an earlier run")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="api_load_"))
    folder = args.snapshot_dir or tmp / "snapshots"
    if not (folder / "CURRENT").exists():
        started = time.perf_counter()
        build_snapshot(folder, n_clusters=args.clusters)
        print(f"built {args.clusters:,} clusters in {time.perf_counter() - started:.1f} s: {folder}")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "WALLET_SNAPSHOT_DIR": str(folder),
        "WALLET_FLAGS_PATH": str(tmp / "flags.sqlite"),
        "WALLET_API_KEYS": f"bench:{hash_key(KEY)}",
    }
    cmd = [
        sys.executable, "-m", "uvicorn", "--factory", "wallet_pipeline.api.app:create_app_from_environment",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        _wait_ready(base, proc)
        for name, make_url in (
            ("/clusters", _cluster_urls),
            ("/analyze/{stored address}", lambda rng: _address_url(rng, args.clusters)),
        ):
            asyncio.run(_hammer(base, make_url, args.clients, 2.0))  # warm up
            result = asyncio.run(_hammer(base, make_url, args.clients, args.seconds))
            print(
                f"{name:<28} {args.clients} clients, {args.workers} worker(s): "
                f"p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  "
                f"{result['rps']:.0f} req/s  ({result['requests']:,} requests, {result['errors']} not 200)"
            )
    finally:
        # Its own session: the process group id is the server's pid, which also ends its workers.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


if __name__ == "__main__":
    main()
