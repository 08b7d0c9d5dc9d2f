"""The README's API examples, run as written (bash and curl) against a test server."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from wallet_pipeline.api.app import create_app
from wallet_pipeline.api.auth import hash_key
from wallet_pipeline_tests.api.conftest import KEYS

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Investigator page and API"
README_BASE = "http://127.0.0.1:8800"

pytestmark = pytest.mark.skipif(
    not (shutil.which("curl") and shutil.which("jq") and shutil.which("bash")),
    reason="the README's examples use bash, curl and jq",
)


def readme_api_examples() -> list[str]:
    """The bash blocks of the README's API section that call the API."""
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end > 0 else None]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    return [b for b in blocks if README_BASE in b and "curl" in b]


@pytest.fixture
def server(snapshot_dir: Path, tmp_path: Path) -> Iterator[str]:
    """The API on the synthetic snapshot, served by uvicorn on a free port; its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(snapshot_dir, {"alice": hash_key(KEYS["alice"])}, tmp_path / "flags.sqlite")
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        app.state.snapshot_pool.close()


def test_the_readme_has_api_examples_with_every_endpoint() -> None:
    [block] = readme_api_examples()
    calls = re.findall(r"http://127\.0\.0\.1:8800(/[a-z]+)", block)
    assert {"/health", "/overview", "/clusters", "/analyze"} <= set(calls)


def test_every_readme_api_example_works_as_written(server: str, tmp_path: Path) -> None:
    [block] = readme_api_examples()
    commands = [c for c in block.replace("\\\n", " ").splitlines() if c.strip()]
    assert len(commands) >= 8
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "KEY": KEYS["alice"], "no_proxy": "*", "NO_PROXY": "*"}
    script = "set -euo pipefail\n"
    for i, command in enumerate(commands, start=1):
        # Each command runs after the ones before it (they set CLUSTER and WALLET); -f in every
        # curl makes an HTTP error fail the command.
        script += command.replace(README_BASE, server) + "\n"
        done = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"README example {i} failed: {command}\n{done.stderr[-500:]}"
    assert (tmp_path / "cluster.graphml").read_text().startswith("<?xml")
    found = subprocess.run(
        ["bash", "-c", script + 'echo; echo "$CLUSTER $WALLET"'],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    ).stdout.splitlines()[-1]
    assert re.fullmatch(r"c_0x[0-9a-f]{40} 0x[0-9a-f]{40}", found), found
