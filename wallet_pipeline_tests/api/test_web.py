"""The investigator page driven in headless Chromium: analyze, filter, open a cluster, export, flag.

The app runs in a uvicorn thread on 127.0.0.1 over a small synthetic snapshot published the way
the pipeline publishes one. The browser is the system Chromium (Debian package), so Playwright
needs no browser download; every request the page makes must stay on the test server.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import anyio._core._fileio  # noqa: F401 - see below
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from wallet_pipeline.api.app import create_app
from wallet_pipeline.api.auth import hash_key
from wallet_pipeline.api.web import STATIC_DIR, mount_web
from wallet_pipeline_tests.api.conftest import KEYS, build_snapshot, cluster_id, member

# Serving a static file imports anyio's file module lazily, in the server's thread. CPython 3.11
# can fail an ast.parse running in two threads at once ("AST constructor recursion depth
# mismatch"), and pytest's assertion rewriting parses anyio (a pytest plugin) on import: so the
# module is imported here, on the main thread, before any server thread starts.

CHROMIUM = Path("/usr/bin/chromium")
KEY_NAME = "alice"
KEY = KEYS[KEY_NAME]
# Eight clusters: one of each size band; cluster 7 has 60 wallets, sub-clusters and a bridge wallet.
N_CLUSTERS = 8
BIG = 7

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs the system Chromium at /usr/bin/chromium (apt-get install chromium)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path: Path, flags_path: Path) -> Iterator[str]:
    """The API with the page mounted, on 127.0.0.1 in a uvicorn thread; yields its base URL."""
    snapshots = build_snapshot(tmp_path / "snapshots", n_clusters=N_CLUSTERS)
    app = create_app(snapshots, {name: hash_key(key) for name, key in KEYS.items()}, flags_path)
    mount_web(app)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start within 15 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.snapshot_pool.close()


def test_page_and_files_are_served_without_a_key_and_forbid_other_origins():
    app = FastAPI()
    mount_web(app)
    mount_web(app)
    assert [getattr(r, "path", None) for r in app.routes].count("/") == 1
    client = TestClient(app)
    page = client.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    library = client.get("/static/vendor/cytoscape/cytoscape.min.js")
    assert library.status_code == 200 and len(library.content) > 100_000
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/../web.py").status_code == 404


def test_nothing_the_page_loads_points_off_the_server():
    # The SVG namespace is an identifier, not a request; anything else with a scheme would be one.
    for name in ("index.html", "app.js", "app.css"):
        text = (STATIC_DIR / name).read_text(encoding="utf-8")
        urls = set(re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[a-z]{2,}[^\s\"')]*", text))
        assert urls <= {"http://www.w3.org/2000/svg"}, f"{name} refers to {urls}"
    assert (STATIC_DIR / "vendor" / "cytoscape" / "LICENSE").read_text().startswith("Copyright")


def _evidence_hash(i: int, j: int) -> str:
    """The transaction hash conftest's SQL gives the edge to member j of cluster i."""
    return "0x" + format(i * 100 + j, "X").rjust(64, "a")


def _launch(pw):  # noqa: ANN001, ANN202 - playwright's own types
    return pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])


@needs_chromium
def test_an_investigator_analyzes_filters_opens_exports_and_flags(served: str, tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    big, wallet, bridge = cluster_id(BIG), member(BIG, 2), member(BIG, 1)
    offsite: list[str] = []
    problems: list[str] = []

    def watch_request(request) -> None:  # noqa: ANN001
        if not request.url.startswith((served, "blob:", "data:")):
            offsite.append(request.url)

    def watch_console(message) -> None:  # noqa: ANN001
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page.on("request", watch_request)
            page.on("console", watch_console)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.goto(served + "/")

            page.get_by_label("API key").fill(KEY)
            page.get_by_role("button", name="Use key").click()
            expect(page.locator("#key-state")).to_have_text("Key set for this tab")

            # Analyze a wallet (typed in upper case, which is a valid form): persona, gauge, evidence.
            page.get_by_label("Wallet address").fill("0x" + wallet[2:].upper())
            page.get_by_role("button", name="Analyze", exact=True).click()
            expect(page.locator("#analysis")).to_be_visible()
            expect(page.locator("#persona-name")).to_have_text("Dormant Holder")
            expect(page.locator("#persona-bars li")).to_have_count(3)
            expect(page.locator("#persona-bars li.top-persona")).to_contain_text("80.0%")
            gauge = page.get_by_role("img", name=re.compile(r"^Wallet risk score: 60\.9 of 100, High$"))
            expect(gauge).to_be_visible()
            expect(page.locator("#breakdown tbody tr")).to_have_count(2)  # scam_rate and the total
            expect(page.locator("#evidence")).to_contain_text(_evidence_hash(BIG, 2))
            expect(page.locator("#wallet-cluster")).to_contain_text(big)

            # The cluster list and its filters.
            page.get_by_role("link", name="Clusters").click()
            rows = page.locator("#cluster-table tbody tr")
            expect(rows).to_have_count(N_CLUSTERS)
            expect(rows.first).to_contain_text(cluster_id(5))  # riskiest first: 86.5
            page.get_by_label("Risk level").select_option("High")
            page.get_by_role("button", name="Apply filters").click()
            expect(rows).to_have_count(2)
            expect(page.locator("#cluster-caption")).to_have_text("2 clusters")
            page.get_by_label("Size").select_option("50+")
            page.get_by_role("button", name="Apply filters").click()
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text(big)
            page.get_by_role("button", name="Clear").click()
            expect(rows).to_have_count(N_CLUSTERS)
            page.get_by_label("Minimum risk (0-100)").fill("60")
            page.get_by_label("Size").select_option("50+")
            page.get_by_role("button", name="Apply filters").click()
            expect(rows).to_have_count(1)

            # Open the cluster: gauge, network with its bridge wallet, members.
            page.get_by_role("link", name=big).click()
            expect(page.locator("#cluster-title")).to_have_text(f"Cluster {big}")
            expect(page.locator("#cluster-gauge")).to_have_attribute("data-level", "High")
            expect(page.locator("#network")).to_have_attribute("data-nodes", "60")
            expect(page.locator("#network")).to_have_attribute("data-edges", "59")
            expect(page.locator("#network canvas").first).to_be_attached()
            expect(page.locator("#members tbody tr")).to_have_count(60)
            bridge_row = page.locator("#members tbody tr", has_text=bridge)
            expect(bridge_row.locator("td").nth(4)).to_have_text("yes")
            assert page.evaluate("() => window.cytoscape !== undefined")

            # Export all three formats.
            for fmt, marker in (("CSV", wallet), ("JSON", big), ("GraphML", "<graphml")):
                with page.expect_download() as download:
                    page.get_by_role("button", name=f"Export {fmt}").click()
                body = Path(download.value.path()).read_text(encoding="utf-8")
                assert marker in body, f"the {fmt} export lacks {marker}"
                assert download.value.suggested_filename.endswith("." + fmt.lower())

            # Flag it.
            page.get_by_label("Reason").select_option("wash_trading")
            page.get_by_label("Note").fill("Same funder, same minute, sixty wallets")
            page.get_by_role("button", name="Submit flag").click()
            expect(page.locator("#flag-result")).to_have_text(f"Flag recorded: wash trading by {KEY_NAME}")
            expect(page.locator("#cluster-flags tbody")).to_contain_text("sixty wallets")

            page.get_by_role("link", name="Flags").click()
            expect(page.locator("#all-flags tbody tr")).to_have_count(1)
            expect(page.locator("#all-flags tbody")).to_contain_text(big)
            page.go_back()
            expect(page.locator("#cluster-flags tbody")).to_contain_text("sixty wallets")

            shot = tmp_path / "investigator.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.exists() and shot.stat().st_size > 0
    assert not offsite, f"the page reached beyond its server: {offsite}"
    assert not problems, "\n".join(problems)
    flags = httpx.get(served + "/flags", headers={"X-API-Key": KEY}).json()
    assert [(f["cluster_id"], f["reason"], f["flagged_by"]) for f in flags] == [
        (big, "wash_trading", KEY_NAME)
    ]


@needs_chromium
def test_a_wrong_key_shows_no_data_and_says_so(served: str):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(served + "/#/clusters")
            expect(page.locator("#status")).to_contain_text("needs an API key")
            page.get_by_label("API key").fill("not-the-key")
            page.get_by_role("button", name="Use key").click()
            expect(page.locator("#key-state")).to_have_text("Key refused")
            expect(page.locator("#status")).to_contain_text("API key was refused")
            expect(page.locator("#cluster-table tbody")).not_to_contain_text("c_0x")
            assert urlsplit(page.url).fragment == "/clusters"
        finally:
            browser.close()
