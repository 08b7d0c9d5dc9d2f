"""The investigator page driven in headless Chromium: the landing view, analyze, filter, open a
cluster (a large one too), export, flag; and the API docs at /docs with no other host reachable.

Screenshots go to the folder `WALLET_WEB_SCREENSHOTS` names, else to the test's temporary folder.

The app runs in a uvicorn thread on 127.0.0.1 over a small synthetic snapshot published the way
the pipeline publishes one. The browser is the system Chromium (Debian package), so Playwright
needs no browser download; every request the page makes must stay on the test server.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
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


# A cluster of 603 wallets in 9 sub-clusters of 67: wallet j < 9 is the hub of sub-cluster j and
# linked to every other wallet of it; each wallet also links to the wallets 9, 18, 27 and 36 places
# on in its sub-cluster (2,997 links inside sub-clusters in all), and every fifth wallet to the
# next one, in another sub-cluster (121 links between sub-clusters).
# And a star of 400 wallets in one sub-cluster, every one linked only to the first (a poisoning
# ring's victim and its spoofed senders, as the 872-wallet cluster of the default data is).
BIG_SIZE, BIG_SUBS = 603, 9
BIG_ID = "c_0x" + "b" * 40
STAR_SIZE = 400
STAR_ID = "c_0x" + "5" * 40
_BIG_SQL = f"""
create temp table big as
select j, '0x' || md5('big' || j) || lpad(lower(hex(j)), 8, '0') as address from range({BIG_SIZE}) t(j);
insert into entities.clusters
select * replace ('{BIG_ID}' as cluster_id, {BIG_SIZE}::bigint as size, 97.5 as risk_score,
                  'Critical' as risk_level, {BIG_SUBS}::bigint as sub_clusters)
from entities.clusters order by cluster_id limit 1;
insert into entities.wallet_clusters by name
select address, '{BIG_ID}' as cluster_id, 'big_s' || (j % {BIG_SUBS}) as sub_cluster_id,
       false as is_bridge, null as bridge_reason, {BIG_SIZE}::bigint as cluster_size from big;
insert into entities.wallet_risk by name
select address, '{BIG_ID}' as cluster_id, 90.0 - j / 100.0 as risk_score, 'Critical' as risk_level,
       10.0 as reputation, null as patterns, '{{}}'::json as risk_breakdown from big;
insert into personas.wallet_personas by name
select address, ['Whale', 'NFT Trader', 'Dormant Holder'][1 + j % 3] as persona, 0.7 as confidence,
       0.7 as p_whale, 0.2 as p_nft_trader, 0.1 as p_dormant_holder, '3' as model_version,
       timestamp '2024-11-01' as scored_at from big;
create temp table big_links as
select h.address as src, b.address as dst, 1.0 as weight
from big b join big h on h.j = b.j % {BIG_SUBS} where b.j >= {BIG_SUBS}
union all
select a.address, b.address, 0.3 + k / 10.0
from big a cross join range(1, 5) r(k) join big b on b.j = (a.j + {BIG_SUBS} * k) % {BIG_SIZE}
where not (a.j < {BIG_SUBS} or b.j < {BIG_SUBS})
union all
select a.address, b.address, 0.2 from big a join big b on b.j = (a.j + 1) % {BIG_SIZE} where a.j % 5 = 0;
insert into entities.cluster_edges by name
select '{BIG_ID}' as cluster_id, src, dst, 'direct_transfer' as edge_type, true as directed, weight,
       timestamp '2024-07-02' as first_time, timestamp '2024-07-03' as last_time, 1::hugeint as n,
       ['0x' || lpad('1', 64, 'a')] as evidence
from big_links;
create temp table star as
select j, '0x' || md5('star' || j) || lpad(lower(hex(j)), 8, '0') as address from range({STAR_SIZE}) t(j);
insert into entities.clusters
select * replace ('{STAR_ID}' as cluster_id, {STAR_SIZE}::bigint as size, 95.0 as risk_score,
                  'Critical' as risk_level, 1::bigint as sub_clusters)
from entities.clusters order by cluster_id limit 1;
insert into entities.wallet_clusters by name
select address, '{STAR_ID}' as cluster_id, 'star_s' as sub_cluster_id, false as is_bridge,
       null as bridge_reason, {STAR_SIZE}::bigint as cluster_size from star;
insert into entities.wallet_risk by name
select address, '{STAR_ID}' as cluster_id, 80.0 as risk_score, 'High' as risk_level,
       10.0 as reputation, null as patterns, '{{}}'::json as risk_breakdown from star;
insert into entities.cluster_edges by name
select '{STAR_ID}' as cluster_id, s.address as src, h.address as dst, 'poisoning' as edge_type,
       true as directed, 1.0 as weight, timestamp '2024-07-02' as first_time,
       timestamp '2024-07-03' as last_time, 1::hugeint as n, ['0x' || lpad('2', 64, 'a')] as evidence
from star s join star h on h.j = 0 where s.j > 0;
"""


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("WALLET_WEB_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def _serve(snapshots: Path, flags_path: Path) -> Iterator[str]:
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


@pytest.fixture
def served(tmp_path: Path, flags_path: Path) -> Iterator[str]:
    """The API with the page mounted, on 127.0.0.1 in a uvicorn thread; yields its base URL."""
    with _serve(build_snapshot(tmp_path / "snapshots", n_clusters=N_CLUSTERS), flags_path) as url:
        yield url


@pytest.fixture
def served_big(tmp_path: Path, flags_path: Path) -> Iterator[str]:
    """As `served`, with a cluster of 603 wallets (`BIG_ID`) added to the snapshot."""
    snapshots = build_snapshot(tmp_path / "snapshots", n_clusters=N_CLUSTERS, extra_sql=_BIG_SQL)
    with _serve(snapshots, flags_path) as url:
        yield url


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

            shot = _shots(tmp_path) / "investigator.png"
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


class _Watch:
    """Requests leaving the test server and console errors of a page, collected while it runs."""

    def __init__(self, page, base: str) -> None:  # noqa: ANN001
        self.offsite: list[str] = []
        self.problems: list[str] = []
        page.on("request", self._request)
        page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.base = base

    def _request(self, request) -> None:  # noqa: ANN001
        if not request.url.startswith((self.base + "/", "blob:", "data:")):
            self.offsite.append(request.url)

    def check(self) -> None:
        assert not self.offsite, f"the page reached beyond 127.0.0.1: {self.offsite}"
        assert not self.problems, "\n".join(self.problems)


@needs_chromium
def test_the_landing_view_shows_totals_the_riskiest_clusters_and_wallets_to_start_from(
    served: str, tmp_path: Path
):
    from playwright.sync_api import expect, sync_playwright

    overview = httpx.get(served + "/overview", headers={"X-API-Key": KEY}).json()
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            watch = _Watch(page, served)
            page.goto(served + "/")
            expect(page.locator("#overview")).to_be_hidden()  # nothing to show without a key
            page.get_by_label("API key").fill(KEY)
            page.get_by_role("button", name="Use key").click()
            expect(page.locator("#overview")).to_be_visible()
            tiles = page.locator("#overview-tiles .tile")
            expect(tiles.first).to_contain_text(f"{overview['wallets']}wallets")
            expect(tiles.nth(2)).to_contain_text(f"{N_CLUSTERS}clusters")
            levels = page.locator("#overview-levels tbody tr")
            expect(levels).to_have_count(5)
            critical = overview["clusters_by_risk_level"]["Critical"]
            expect(levels.first.locator("td").first).to_have_text(str(critical))
            expect(page.locator("#overview-personas li")).to_have_count(len(overview["wallets_by_persona"]))
            riskiest = page.locator("#riskiest tbody tr")
            expect(riskiest).to_have_count(N_CLUSTERS)  # fewer clusters than the top ten
            expect(riskiest.first).to_contain_text(cluster_id(5))  # 86.5, the riskiest
            examples = page.locator("#examples tbody tr")
            expect(examples).to_have_count(len(overview["example_wallets"]))
            page.screenshot(path=str(_shots(tmp_path) / "landing.png"), full_page=True)

            # An example wallet opens its analysis, named in the persona model's spelling.
            first = overview["example_wallets"][0]
            page.get_by_role("link", name=first["address"], exact=True).click()
            expect(page.locator("#analysis")).to_be_visible()
            expect(page.locator("#overview")).to_be_hidden()
            expect(page.locator("#persona-name")).to_have_text(first["persona"])
            names = page.locator("#persona-bars li > span:first-child").all_text_contents()
            assert set(names) <= set(overview["personas"]), names

            # Start leads back to the landing view; a riskiest cluster opens.
            page.get_by_role("link", name="Start").click()
            expect(page.locator("#overview")).to_be_visible()
            page.locator("#riskiest").get_by_role("link", name=cluster_id(5)).click()
            expect(page.locator("#cluster-title")).to_have_text(f"Cluster {cluster_id(5)}")
        finally:
            browser.close()
    watch.check()


@needs_chromium
def test_the_api_docs_render_every_operation_with_nothing_from_another_host(served: str, tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    schema = httpx.get(served + "/openapi.json").json()
    operations = sum(len(methods) for methods in schema["paths"].values())
    assert operations >= 10
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            watch = _Watch(page, served)
            page.goto(served + "/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("investigator API")
            expect(page.locator(".opblock")).to_have_count(operations)
            expect(page.locator(".opblock-summary-path", has_text="/overview")).to_have_count(1)
            # Operations open and can be tried: Swagger UI is working, not only drawn.
            page.locator(".opblock-summary", has_text="/overview").click()
            expect(page.locator(".opblock.is-open")).to_contain_text("Where to start")
            page.screenshot(path=str(_shots(tmp_path) / "docs.png"), full_page=False)
        finally:
            browser.close()
    watch.check()
    assert httpx.get(served + "/redoc").status_code == 404  # not served: it would need a CDN


@needs_chromium
def test_a_cluster_of_603_wallets_draws_by_sub_cluster_with_sampled_and_bundled_links(
    served_big: str, tmp_path: Path
):
    from playwright.sync_api import expect, sync_playwright

    graph = httpx.get(f"{served_big}/clusters/{BIG_ID}/graph", headers={"X-API-Key": KEY}).json()
    groups = {n["id"]: n["sub_cluster_id"] for n in graph["nodes"]}
    inside = sum(groups[e["source"]] == groups[e["target"]] for e in graph["edges"])
    between = len(graph["edges"]) - inside
    assert len(graph["nodes"]) == BIG_SIZE and inside > 1500 and between > 0
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            watch = _Watch(page, served_big)
            page.goto(served_big + "/")
            page.get_by_label("API key").fill(KEY)
            page.get_by_role("button", name="Use key").click()
            started = time.monotonic()
            page.goto(f"{served_big}/#/cluster/{BIG_ID}")
            network = page.locator("#network")
            expect(network).to_have_attribute("data-layout", "grouped", timeout=20_000)
            drawn = time.monotonic() - started
            expect(network).to_have_attribute("data-nodes", str(BIG_SIZE))
            expect(network).to_have_attribute("data-groups", str(BIG_SUBS))
            expect(network).to_have_attribute("data-edges", "1500")  # EDGE_LIMIT in app.js
            # One bundle per pair of sub-clusters with links between them: every fifth wallet
            # links to the next, in the next sub-cluster (and the last back to the first).
            pairs = {
                frozenset((groups[e["source"]], groups[e["target"]]))
                for e in graph["edges"]
                if groups[e["source"]] != groups[e["target"]]
            }
            expect(network).to_have_attribute("data-bundles", str(len(pairs)))
            note = page.locator("#graph-note")
            expect(note).to_contain_text(f"Showing 1,500 of {inside:,} links inside sub-clusters")
            expect(note).to_contain_text(f"{between:,} links between sub-clusters are drawn as {len(pairs)}")
            # Hubs in the middle: in each sub-cluster box the hub (wallet j < 9, linked to all 66
            # others) sits nearer the box's centre than any other wallet of it.
            nearest = page.evaluate(
                """() => {
                  const cy = window.__cy;
                  const out = {};
                  cy.nodes('[?isGroup]').forEach((g) => {
                    const c = g.position();
                    let best = null, bestD = Infinity;
                    g.children().forEach((n) => {
                      const d = Math.hypot(n.position('x') - c.x, n.position('y') - c.y);
                      if (d < bestD) { bestD = d; best = n; }
                    });
                    out[g.id()] = best.degree();
                  });
                  return out;
                }"""
            )
            assert len(nearest) == BIG_SUBS and min(nearest.values()) >= BIG_SIZE // BIG_SUBS - 1, nearest
            # Only the nine sub-cluster hubs are labelled as hubs, not the wallets of ten links.
            expect(page.locator("#network")).to_have_attribute("data-hubs", str(BIG_SUBS))
            page.screenshot(path=str(_shots(tmp_path) / "big_cluster.png"), full_page=False)
            page.locator("#network").screenshot(path=str(_shots(tmp_path) / "big_cluster_network.png"))

            # A star: no spokes; the hub is labelled with its links and the note says why.
            page.goto(f"{served_big}/#/cluster/{STAR_ID}")
            expect(network).to_have_attribute("data-fanned", str(STAR_SIZE - 1), timeout=20_000)
            expect(network).to_have_attribute("data-nodes", str(STAR_SIZE))
            expect(network).to_have_attribute("data-edges", "0")
            expect(note).to_contain_text(f"{STAR_SIZE - 1} wallets whose only link is to a hub")
            hubs = page.evaluate("() => window.__cy.nodes('[?hub]').map((n) => n.data('hubLabel'))")
            assert hubs == [f"{short(member_star(0))} · {STAR_SIZE - 1} links"], hubs
            page.locator("#network").screenshot(path=str(_shots(tmp_path) / "star_cluster_network.png"))
        finally:
            browser.close()
    watch.check()
    print(f"603-wallet cluster drawn in {drawn:.2f} s")  # noqa: T201 - the figure the report quotes


def member_star(j: int) -> str:
    """Address of wallet j of the star cluster, as `_BIG_SQL` makes it."""
    return "0x" + hashlib.md5(f"star{j}".encode()).hexdigest() + format(j, "08x")


def short(address: str) -> str:
    """The page's short form of an address (app.js `short`)."""
    return address[:8] + "\u2026" + address[-6:]
