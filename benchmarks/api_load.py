"""Load benchmark of the investigator API: p50 / p99 latency and requests per second.

Builds a synthetic snapshot with 100,000 clusters (the tables and columns the pipeline publishes,
from `wallet_pipeline_tests/api/conftest.py`) and the API's index of it (timed), starts uvicorn on
127.0.0.1 in its own session, then runs 50 concurrent keep-alive clients against `/clusters`
(random filters, sorts and pages) and against `/analyze/{address}` for stored wallets, one
endpoint after the other. The server is stopped by its process id at the end, whatever happens.

    .venv/bin/python -m benchmarks.api_load                      # 100,000 clusters, 50 clients, 15 s each
    .venv/bin/python -m benchmarks.api_load --workers 2 --snapshot-dir /tmp/snap  # reuse a snapshot

The clients run on the same machine, so on 2 cores they take CPU from the server: the figures are
a lower bound of what the server alone would do.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
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
    """A filter, sort and page drawn at random: few requests repeat one another exactly."""
    query = [f"risk_min={rng.randint(0, 90)}", f"sort={rng.choice(['risk', 'size', 'last_active'])}"]
    if rng.random() < 0.3:
        query.append("risk_level=" + rng.choice(["Critical", "High", "Medium", "Low", "Minimal"]))
    if rng.random() < 0.4:
        query.append("size=" + rng.choice(["2-5", "6-20", "21-50", "50%2B"]))
    if rng.random() < 0.3:
        query.append("active_within=" + rng.choice(["24h", "7d", "30d"]))
    if rng.random() < 0.3:
        query.append("persona=" + rng.choice(["whale", "retail", "nft", "dormant"]))
    query.append(f"page={rng.randint(1, 20)}")
    return "/clusters?" + "&".join(query)


def _address_url(rng: random.Random, n_clusters: int) -> str:
    i = rng.randrange(n_clusters)
    j = rng.randrange(SIZES[i % len(SIZES)])
    return "/analyze/" + member(i, j)


async def _client(host: str, port: int, make_url, seed: int, deadline: float, out: list, bad: list) -> None:
    """One keep-alive connection sending requests back to back until the deadline.

    Plain asyncio streams and hand-built HTTP/1.1: an HTTP library in the same process costs
    more CPU per request than the server under test does, on the same 2 cores.
    """
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            request = f"GET {make_url(rng)} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {KEY}\r\n\r\n"
            start = time.perf_counter()
            writer.write(request.encode())
            head = await reader.readuntil(b"\r\n\r\n")
            lower = head.lower()
            at = lower.index(b"content-length:") + len(b"content-length:")
            length = int(lower[at : lower.index(b"\r\n", at)])
            await reader.readexactly(length)
            out.append(time.perf_counter() - start)
            if head[9:12] != b"200":
                bad.append(head[9:12])
    finally:
        writer.close()


def _hammer_process(port: int, which: str, n_clusters: int, clients: int, seconds: float, seed: int) -> tuple:
    """Run `clients` connections in this process; latencies and errors back to the parent."""
    import uvloop

    make_url = _cluster_urls if which == "clusters" else (lambda rng: _address_url(rng, n_clusters))
    out: list[float] = []
    bad: list[bytes] = []

    async def run() -> float:
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        await asyncio.gather(
            *(
                _client("127.0.0.1", port, make_url, seed * 1000 + k, deadline, out, bad)
                for k in range(clients)
            )
        )
        return time.perf_counter() - started

    elapsed = uvloop.run(run())
    return out, len(bad), elapsed


def _hammer(port: int, which: str, n_clusters: int, clients: int, seconds: float, procs: int) -> dict:
    per = [clients // procs + (1 if k < clients % procs else 0) for k in range(procs)]
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        results = pool.starmap(
            _hammer_process, [(port, which, n_clusters, n, seconds, k) for k, n in enumerate(per)]
        )
    latencies = sorted(x for r in results for x in r[0])
    elapsed = max(r[2] for r in results)
    return {
        "requests": len(latencies),
        "errors": sum(r[1] for r in results),
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
            health = httpx.get(base + "/health", timeout=1).json()
            if health.get("status") == "ok" and health.get("index") in ("ready", "failed"):
                print(f"serving {health['snapshot']}, index {health['index']}")
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("the API did not answer /health in time")


def _build_index(folder: Path) -> None:
    """Build the API's index of the snapshot here, timed, so the server starts with it ready."""
    import resource

    from wallet_pipeline.api import index, queries
    from wallet_pipeline.logic.publish.snapshot import connect_snapshot

    con = connect_snapshot(folder)
    name = Path(
        con.execute(
            "select path from duckdb_databases() where database_name = current_database()"
        ).fetchone()[0]
    ).name
    where = index.index_folder(folder, name)
    if not (where / "meta.json").exists():
        started = time.perf_counter()
        built = index.load_or_build(con, queries.read_meta(con, name), folder)
        size = sum(f.stat().st_size for f in where.iterdir()) / 1e6
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print(
            f"index of {len(built.wallet_keys):,} wallets and {built.n_clusters:,} clusters built in "
            f"{time.perf_counter() - started:.1f} s: {size:,.0f} MB on disk, {peak:.2f} GB peak RSS so far"
        )
    con.close()


def main() -> None:
    """Build or reuse a snapshot, start the server, measure, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--client-processes", type=int, default=1, help="processes the clients run in")
    parser.add_argument("--snapshot-dir", type=Path, help="reuse a snapshot built by an earlier run")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="api_load_"))
    folder = args.snapshot_dir or tmp / "snapshots"
    if not (folder / "CURRENT").exists():
        started = time.perf_counter()
        build_snapshot(folder, n_clusters=args.clusters)
        print(f"built {args.clusters:,} clusters in {time.perf_counter() - started:.1f} s: {folder}")
    _build_index(folder)
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
        for name, which in (("/clusters", "clusters"), ("/analyze/{stored address}", "analyze")):
            _hammer(port, which, args.clusters, args.clients, 2.0, args.client_processes)  # warm up
            result = _hammer(port, which, args.clusters, args.clients, args.seconds, args.client_processes)
            print(
                f"{name:<28} {args.clients} clients in {args.client_processes} process(es), "
                f"{args.workers} worker(s): "
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
