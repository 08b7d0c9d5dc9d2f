"""Screenshots of the Dagster UI for the README: a dbt asset page, the persona model's page, the asset graph.

Needs a data folder a whole run has filled (`wallet-pipeline materialize`) and the system Chromium
(`/usr/bin/chromium`, as the browser tests use). Starts the UI the way `python3 dev.py ui` does
(`wallet-pipeline ui`: `dg dev` on 127.0.0.1) in a process session of its own, takes the pictures
with Playwright, and stops that session by its id. Not part of the test suite or CI.

    WALLET_DATA_DIR=/tmp/me/data .venv/bin/python benchmarks/dagster_screenshots.py [--port 3391] \
        [--out docs/img]
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
# Two cores shared with other work: the code location and the daemon take a minute or two to load.
START_TIMEOUT_SECONDS = 300
# Palette PNGs of UI pages are a fifth of the size of true-colour ones and read the same.
COLOURS = 256


def _wait_for_ui(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the UI stopped (exit {proc.returncode}); see {log}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(2)
    raise SystemExit(f"the UI did not answer at {url} within {START_TIMEOUT_SECONDS} s; see {log}")


def _stop(proc: subprocess.Popen) -> None:
    """End the UI's session: dg dev, its webserver, daemon and code servers (all in the one group)."""
    for sig, wait in ((signal.SIGINT, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # dg dev has ended; its children may still be winding down in the group.
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.5)


def _save(png: bytes, path: Path) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=COLOURS)
    image.save(path, optimize=True)
    return path.stat().st_size


def _settle(page, wait_ms: int = 4000) -> None:  # noqa: ANN001 - playwright's Page
    page.wait_for_load_state("networkidle", timeout=120_000)
    page.wait_for_timeout(wait_ms)


def take(url: str, out: Path) -> dict[str, int]:
    """The four pictures; returns bytes per file.

    The asset graph is the collapsed view of every group: the UI fits a graph to the window only
    down to a legible scale, so opened groups would not fit in one picture.
    """
    from playwright.sync_api import sync_playwright

    sizes: dict[str, int] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 1000})

        def shot(name: str) -> None:
            sizes[name] = _save(page.screenshot(), out / name)

        page.goto(f"{url}/overview", timeout=120_000)
        _settle(page, 1500)
        # A first visit shows a newsletter dialog over every page; the choice is kept for the session.
        skip = page.get_by_role("button", name="Skip")
        if skip.count():
            skip.first.click()
        hide = page.get_by_text("Hide navigation")
        if hide.count():
            hide.first.click()

        page.goto(f"{url}/assets/marts/wallet_features", timeout=120_000)
        page.get_by_text("Row count").first.wait_for(timeout=120_000)
        _settle(page)
        # Folded, so the column table (names and DuckDB types) shows below the row count.
        page.get_by_text("Description", exact=True).first.click()
        page.wait_for_timeout(1000)
        shot("dbt_asset_wallet_features.png")

        page.goto(f"{url}/assets/personas/persona_model", timeout=120_000)
        page.locator("tr", has_text="mlflow_run").first.wait_for(timeout=120_000)
        _settle(page)
        shot("persona_model_mlflow_link.png")
        # Wider, so the value column holds the whole picture beside the definition panel.
        page.set_viewport_size({"width": 1920, "height": 1080})
        page.locator("tr", has_text="projection").first.scroll_into_view_if_needed()
        _settle(page, 2000)
        shot("persona_model_pictures.png")

        page.set_viewport_size({"width": 1440, "height": 800})
        page.goto(f"{url}/asset-groups", timeout=120_000)
        _settle(page)
        shot("asset_graph.png")
        browser.close()
    return sizes


def main() -> int:
    """Start the UI, take the pictures, stop the UI."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=3391, help="a free port on 127.0.0.1")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    data = Path(os.environ.get("WALLET_DATA_DIR") or ROOT / "data").resolve()
    if not (data / "wallet_pipeline.duckdb").exists() or not (data / "dagster_home").is_dir():
        print(f"error: {data} holds no run; run `WALLET_DATA_DIR={data} wallet-pipeline materialize` first")
        return 2
    if not CHROMIUM.exists():
        print(f"error: needs the system Chromium at {CHROMIUM} (apt-get install chromium)")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    log = data / "logs" / "screenshots_ui.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{args.port}"
    with open(log, "w") as handle:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("wallet-pipeline")), "ui", "--port", str(args.port)],
            env={**os.environ, "WALLET_DATA_DIR": str(data)},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started = time.monotonic()
    try:
        _wait_for_ui(url, proc, log)
        print(f"UI up at {url} after {time.monotonic() - started:.0f} s (process group {proc.pid})")
        sizes = take(url, args.out)
    finally:
        _stop(proc)
    for name, size in sizes.items():
        print(f"  {args.out / name}: {size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
