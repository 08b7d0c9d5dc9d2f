"""Run the Dune emulator: `python -m wallet_pipeline_tests.dune_emulator --port 0 --api-key KEY ...`.

Simulates the chain, binds 127.0.0.1, then prints exactly one line to stdout,
`listening on http://127.0.0.1:<port>`, and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
from types import FrameType

from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig
from wallet_pipeline.logic.ingestion.simulator.config import SYBIL_TOPOLOGIES
from wallet_pipeline_tests.dune_emulator.data import ALL_QUERIES, EmulatorData, default_query_ids
from wallet_pipeline_tests.dune_emulator.server import LOOPBACK, EmulatorState, make_server


def _query_id(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    if not sep or name not in ALL_QUERIES:
        raise argparse.ArgumentTypeError(
            f"expected NAME=ID with NAME one of {sorted(ALL_QUERIES)}, not {text!r}"
        )
    try:
        query_id = int(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"query id must be an integer, not {value!r}") from err
    if query_id < 1:
        raise argparse.ArgumentTypeError(f"query id must be positive, not {query_id}")
    return name, query_id


def _topologies(text: str) -> tuple[tuple[str, float], ...]:
    out = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, weight = item.partition("=")
        if not sep or name not in SYBIL_TOPOLOGIES:
            raise argparse.ArgumentTypeError(
                f"expected NAME=WEIGHT with NAME one of {SYBIL_TOPOLOGIES}, not {item!r}"
            )
        try:
            out.append((name, float(weight)))
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"weight must be a number, not {weight!r}") from err
    if not out:
        raise argparse.ArgumentTypeError("give at least one NAME=WEIGHT")
    return tuple(out)


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m wallet_pipeline_tests.dune_emulator",
        description="A local Dune Analytics API that serves the seeded chain simulator's data.",
    )
    parser.add_argument("--host", default=LOOPBACK, help="only 127.0.0.1 is accepted")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", required=True, help="the one API key the emulator accepts")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--wallets", type=int, default=2000, help="simulator n_wallets (at least 200)")
    parser.add_argument("--days", type=int, default=10, help="days served from --start-date")
    parser.add_argument("--start-date", type=dt.date.fromisoformat, default=dt.date(2024, 7, 1))
    parser.add_argument("--activity", type=float, default=1.0, help="simulator activity multiplier")
    parser.add_argument(
        "--sybil-topologies",
        type=_topologies,
        default=SimulatorConfig.sybil_topologies,
        metavar="NAME=WEIGHT,...",
        help="how sybil farms are funded, e.g. star=1,disperse=1 (disperse farms give traces)",
    )
    parser.add_argument(
        "--query-id",
        type=_query_id,
        action="append",
        default=[],
        metavar="NAME=ID",
        help="Dune query id of one of our queries (default 9000001 + its position)",
    )
    parser.add_argument(
        "--pending-polls", type=_non_negative, default=1, help="polls an execution stays pending"
    )
    parser.add_argument(
        "--executing-polls", type=_non_negative, default=1, help="polls an execution stays executing"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    if args.host != LOOPBACK:
        parser.error(f"refusing to bind {args.host!r}: the Dune emulator listens on {LOOPBACK} only")
    query_ids = default_query_ids()
    query_ids.update(dict(args.query_id))
    if len(set(query_ids.values())) != len(query_ids):
        parser.error(f"two queries share an id: {query_ids}")
    args.query_ids = query_ids
    return args


def _stop(signum: int, frame: FrameType | None) -> None:
    # Turned into an exception so serve_forever returns and the socket is closed.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Simulate, serve, and print the readiness line."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    data = EmulatorData(
        seed=args.seed,
        wallets=args.wallets,
        days=args.days,
        start_date=args.start_date,
        activity=args.activity,
        sybil_topologies=args.sybil_topologies,
    )
    state = EmulatorState(
        data,
        api_key=args.api_key,
        query_ids=args.query_ids,
        pending_polls=args.pending_polls,
        executing_polls=args.executing_polls,
    )
    server = make_server(args.host, args.port, state, verbose=args.verbose)
    try:
        print(f"listening on http://{LOOPBACK}:{server.port}", flush=True)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        data.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
