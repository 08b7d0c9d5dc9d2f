"""A webhook receiver for tests: records every POST and can be told to fail the first N.

Run as its own process (tests start it with `start_new_session=True` and stop it by PID)::

    python -m wallet_pipeline_tests.webhook_receiver --out posts.jsonl --fail 2 --status 500

It binds 127.0.0.1 on a free port (or `--port`), prints the port on the first line of stdout, and
appends one JSON line per request to `--out`: `n, path, query, headers, body, status` (the status
it answered). The first `--fail` requests get `--status`; the rest get 200.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def make_handler(out: Path, fail: int, status: int) -> type[BaseHTTPRequestHandler]:
    """A handler class that writes to `out` and answers `status` to the first `fail` requests."""
    lock = threading.Lock()
    count = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace")
            with lock:
                count["n"] += 1
                n = count["n"]
                code = status if n <= fail else 200
                path, _, query = self.path.partition("?")
                line = {
                    "n": n,
                    "path": path,
                    "query": query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                    "status": code,
                }
                with out.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(line) + "\n")
            reply = b'{"ok": true}' if code < 300 else b'{"ok": false}'
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args) -> None:  # noqa: A002
            return  # keep the test output clean

    return Handler


def read_posts(out: Path) -> list[dict]:
    """The requests recorded so far, in arrival order."""
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fail", type=int, default=0, help="answer --status to this many first requests")
    parser.add_argument("--status", type=int, default=500)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.out, args.fail, args.status))
    sys.stdout.write(f"{server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
