"""The whole pipeline at growing numbers of simulated wallets: each step's time, CPU and peak memory.

    .venv/bin/python benchmarks/scale.py --wallets 20000 200000 [1000000] [--json]

For each size, every asset of the simulator source (`dagster asset materialize --select '*'`, the
way `benchmarks/dagster_runs.py` runs it for the other benchmarks: a child process with its own data
folder and DAGSTER_HOME) runs from an empty folder. Sizes run one after another, never together.

Per-step figures, and how they are measured. The project's executor is in-process, so every step
runs in the one child process (dbt in a grandchild), one after another. While the run goes, a
thread of this process reads, every `--sample-s` seconds, each descendant process's peak RSS since
the previous sample (Linux `VmHWM` in /proc/<pid>/status, reset after each read by writing 5 to
/proc/<pid>/clear_refs) and its CPU seconds (utime + stime, and cutime + cstime for children it
has reaped). A spike between two reads is therefore caught, not missed as it would be by sampling
VmRSS. After the run, the step windows come from the run's own event log (STEP_START to
STEP_SUCCESS / STEP_FAILURE in the child's DAGSTER_HOME), and a step's peak RSS is the largest
tree total (the Dagster process plus dbt's, if running) in the intervals that overlap its window;
its CPU is the tree's CPU spent in its window. The peak is the process's, so it includes what
earlier steps left allocated; `start_rss_gb` is the RSS at the step's start, so the step's own
growth is `peak_rss_gb - start_rss_gb`. A step shorter than one sample shares its interval's peak
with the step beside it.

CPU seconds are printed beside wall seconds because the machine is shared: load stretches wall
time far more than CPU time. Between consecutive sizes each step gets growth exponents
log(x2/x1) / log(n2/n1) for wall, CPU and peak RSS (1.0 is linear in wallets). `--load` reads
sizes run earlier (their --json output) and reports them with the new ones, so that sizes can run
at different times.

A size whose run fails, or that is stopped with SIGTERM (`kill <pid of scale.py>`), is reported
with the steps it finished and the one it was in (marked FAILED), and no larger size runs.

The kernel's ru_maxrss of the child is no cross-check here: resetting VmHWM resets it too.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.dagster_runs import materialize  # noqa: E402

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    """One interval: when it ended, the tree's peak RSS in it (bytes) and the tree's CPU seconds so far."""

    at: float
    peak_bytes: int
    rss_bytes: int
    cpu_s: float


@dataclass
class TreeSampler:
    """Samples the peak RSS and CPU of every descendant of this process in a background thread."""

    interval_s: float
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    # CPU of descendants that have exited, at their last reading: a process reaped by its parent
    # moves into the parent's cutime, one that is not yet reaped would otherwise vanish for a sample.
    _cpu_seen: dict[int, float] = field(default_factory=dict)

    def __enter__(self) -> TreeSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.samples.append(self._read())

    def _read(self) -> Sample:
        peak = rss = 0
        cpu = 0.0
        for pid in descendants(os.getpid()):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                stat = Path(f"/proc/{pid}/stat").read_text()
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue  # exited between the listing and the read
            fields = {k: v for k, _, v in (line.partition(":") for line in status.splitlines())}
            peak += _kib(fields.get("VmHWM", "0 kB"))
            rss += _kib(fields.get("VmRSS", "0 kB"))
            # Fields after the command name, which may hold spaces: utime is field 14 (index 11 here).
            times = stat.rpartition(")")[2].split()
            cpu += sum(int(x) for x in times[11:15]) / _TICK
        return Sample(time.time(), peak, rss, cpu)


def _kib(text: str) -> int:
    return int(text.split()[0]) * 1024


def own_memory(reset: bool = False) -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process in bytes; `reset` then restarts VmHWM from the current RSS."""
    fields = {
        k: v
        for k, _, v in (line.partition(":") for line in Path("/proc/self/status").read_text().splitlines())
    }
    if reset:
        Path("/proc/self/clear_refs").write_text("5")
    return _kib(fields["VmRSS"]), _kib(fields["VmHWM"])


def descendants(root: int) -> list[int]:
    """Every live process whose chain of parents reaches `root` (root itself excluded)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        parent[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        kids = [child for child, ppid in parent.items() if ppid == pid]
        found += kids
        frontier += kids
    return found


def step_windows(dagster_home: Path, now: float | None = None) -> list[tuple[str, float, float, bool]]:
    """(step key, start, end, succeeded) of the latest run in `dagster_home`, from its event log.

    A step still running when the run was stopped ends at `now` (when given), as not succeeded.
    """
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(limit=1)
        if not runs:  # stopped before the run began
            return []
        run = runs[0]
        starts: dict[str, float] = {}
        windows = []
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None or not entry.step_key:
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                starts[entry.step_key] = entry.timestamp
            elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                ok = event.event_type == dg.DagsterEventType.STEP_SUCCESS
                windows.append((entry.step_key, starts.pop(entry.step_key), entry.timestamp, ok))
        if now is not None:
            windows += [(key, start, now, False) for key, start in starts.items()]
    return windows


def per_step(samples: list[Sample], windows: list[tuple[str, float, float, bool]]) -> list[dict]:
    """Each step's wall and CPU seconds, its start RSS and the peak RSS of the intervals it overlaps."""
    steps = []
    for key, start, end, ok in windows:
        # Interval i runs from samples[i-1].at to samples[i].at; it overlaps the window if it ends
        # after the start and begins before the end.
        inside = [
            s
            for prev, s in zip([None, *samples], samples, strict=False)
            if s.at >= start and (prev is None or prev.at <= end)
        ]
        before = [s for s in samples if s.at <= start]
        after = [s for s in samples if s.at >= end]
        cpu_start = before[-1].cpu_s if before else 0.0
        cpu_end = after[0].cpu_s if after else (samples[-1].cpu_s if samples else 0.0)
        steps.append(
            {
                "step": key,
                "ok": ok,
                "wall_s": round(end - start, 1),
                "cpu_s": round(max(cpu_end - cpu_start, 0.0), 1),
                "start_rss_gb": round((before[-1].rss_bytes if before else 0) / 1e9, 2),
                "peak_rss_gb": round(max((s.peak_bytes for s in inside), default=0) / 1e9, 2),
            }
        )
    return steps


def one_size(wallets: int, work: Path, sample_s: float) -> dict:
    """Every asset on `wallets` simulated wallets from an empty data folder; totals and per-step figures."""
    data = work / f"w{wallets}"
    env = {
        **os.environ,
        "WALLET_DATA_DIR": str(data),
        "WALLET_SOURCE": "simulator",
        "WALLET_SIM_WALLETS": str(wallets),
        "DAGSTER_HOME": str(data / "dagster_home"),
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    for name in ("WALLET_DUCKDB_PATH", "WALLET_FILES_DIR", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    data.mkdir(parents=True, exist_ok=True)
    log = data / "materialize.log"
    started = time.monotonic()
    stopped = None
    with TreeSampler(sample_s) as sampler:
        try:
            cost = materialize("*", env, log)
        except Stopped:
            # subprocess.run has killed the run; the steps it finished (and the one it was in) are
            # still in its event log and the samples.
            stopped, cost = "stopped (SIGTERM)", None
    if cost is not None and cost.code != 0:
        stopped = f"failed (exit {cost.code}); see {log}"
    steps = per_step(sampler.samples, step_windows(data / "dagster_home", now=time.time()))
    return {
        "wallets": wallets,
        "raw_rows": raw_rows(data / "wallet_pipeline.duckdb") if stopped is None else None,
        "wall_s": round(cost.wall_s if cost else time.monotonic() - started, 1),
        # Stopped: the tree's CPU at the last sample (the killed run is never reaped into ours).
        "cpu_s": round(cost.cpu_s if cost else (sampler.samples[-1].cpu_s if sampler.samples else 0.0), 1),
        "peak_rss_gb": round(max((s.peak_bytes for s in sampler.samples), default=0) / 1e9, 2),
        "steps": steps,
        "stopped": stopped,
    }


class Stopped(Exception):
    """SIGTERM arrived: end the size being run and report what it did so far."""


def _stop(signum: int, frame: object) -> None:
    raise Stopped


def raw_rows(db_path: Path) -> int:
    """Transactions plus token transfers of the run's raw tables."""
    import duckdb

    with duckdb.connect(str(db_path), read_only=True) as con:
        return int(
            con.sql(
                "select (select count(*) from raw.transactions) + (select count(*) from raw.token_transfers)"
            ).fetchone()[0]
        )


def exponent(x1: float, x2: float, n1: int, n2: int) -> float | None:
    """log(x2/x1) / log(n2/n1), or None when a figure is zero (too short to measure) or the sizes equal."""
    if x1 <= 0 or x2 <= 0 or n1 == n2:
        return None
    return round(math.log(x2 / x1) / math.log(n2 / n1), 2)


def growth(results: list[dict]) -> list[dict]:
    """Per step and whole run, the exponents of wall, CPU and peak RSS between consecutive sizes."""
    rows = []
    for a, b in zip(results, results[1:], strict=False):
        n1, n2 = a["wallets"], b["wallets"]
        by_step = {s["step"]: s for s in a["steps"]}
        pairs = [("(whole run)", a, b)] + [
            (s["step"], by_step[s["step"]], s) for s in b["steps"] if s["step"] in by_step
        ]
        for name, x, y in pairs:
            rows.append(
                {
                    "step": name,
                    "from": n1,
                    "to": n2,
                    **{f"{k}_exp": exponent(x[k], y[k], n1, n2) for k in ("wall_s", "cpu_s", "peak_rss_gb")},
                }
            )
    return rows


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_report(results: list[dict], rows: list[dict]) -> None:  # noqa: D103
    for r in results:
        counted = f"{r['raw_rows']:,} raw rows" if r.get("raw_rows") is not None else "raw rows not counted"
        print(
            f"\n{r['wallets']:,} wallets, {counted}: {r['wall_s']} s wall, "
            f"{r['cpu_s']} s CPU, peak RSS {r['peak_rss_gb']} GB"
            + (f"; the run {r['stopped']}" if r.get("stopped") else "")
        )
        print(f"  {'step':<50} {'wall s':>7} {'CPU s':>7} {'start GB':>9} {'peak GB':>8}")
        for s in sorted(r["steps"], key=lambda s: -s["peak_rss_gb"]):
            print(
                f"  {s['step']:<50} {s['wall_s']:>7} {s['cpu_s']:>7} {s['start_rss_gb']:>9} "
                f"{s['peak_rss_gb']:>8}{'' if s['ok'] else '  FAILED'}"
            )
    if rows:
        print("\ngrowth exponents log(x2/x1)/log(n2/n1)")
        print(f"  {'step':<50} {'sizes':>16} {'wall':>6} {'CPU':>6} {'RSS':>6}")
        for g in rows:
            sizes = f"{g['from']:,}->{g['to']:,}"
            print(
                f"  {g['step']:<50} {sizes:>16} {_fmt(g['wall_s_exp']):>6} "
                f"{_fmt(g['cpu_s_exp']):>6} {_fmt(g['peak_rss_gb_exp']):>6}"
            )


def main() -> None:  # noqa: D103
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--wallets", type=int, nargs="*", help="sizes to run (default 20,000 and 200,000; none with --load)"
    )
    parser.add_argument("--sample-s", type=float, default=0.5, help="seconds between memory readings")
    parser.add_argument("--work-dir", type=Path, help="keep the data folders here (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--load", type=Path, nargs="*", default=[], help="--json outputs of earlier runs")
    args = parser.parse_args()
    if not Path("/proc/self/clear_refs").exists():
        raise SystemExit("scale.py reads per-interval peak RSS from Linux /proc; this system has none")
    results = [size for path in args.load for size in json.loads(path.read_text())["sizes"]]
    # `kill <pid>` ends a long size early and still prints what it measured until then.
    signal.signal(signal.SIGTERM, _stop)
    with tempfile.TemporaryDirectory(prefix="scale_") as tmp:
        work = args.work_dir or Path(tmp)
        # `--load` alone reports earlier runs: it must not start the default sizes' hour of work.
        sizes = args.wallets if args.wallets is not None else ([] if args.load else [20_000, 200_000])
        for n in sorted(sizes):
            results.append(one_size(n, work, args.sample_s))
            done = results[-1]
            print(
                f"{n:,} wallets {done['stopped'] or 'done'} in {done['wall_s']} s",
                file=sys.stderr,
                flush=True,
            )
            if done["stopped"]:
                break  # a larger size would not fare better
    results.sort(key=lambda r: r["wallets"])
    rows = growth(results)
    if args.json:
        print(json.dumps({"sizes": results, "growth": rows}, indent=2))
    else:
        print_report(results, rows)


if __name__ == "__main__":
    main()
