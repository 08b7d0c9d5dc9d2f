"""The investigator web page: static files served by the API app, nothing loaded from elsewhere.

The page (`static/index.html`, `app.js`, `app.css`) is plain JavaScript with no build step; its one
library, Cytoscape.js, is vendored under `static/vendor/` with its licence, so the page works on a
machine with no internet. The page itself holds no data and needs no key: every call it makes goes
to the JSON API with the `X-API-Key` the user typed, which the page keeps in `sessionStorage`.

    app = create_app(...)
    mount_web(app)   # GET / is the page, GET /static/... its files
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().with_name("static")

# Only this origin: a script or style from a CDN would fail offline, and the page must not quietly
# depend on one. Cytoscape draws on canvas and sets styles through the CSSOM, which 'self' allows.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The page is tiny; revalidating it means a new release's app.js is picked up at once.
    "Cache-Control": "no-cache",
}


def mount_web(app: FastAPI) -> None:
    """Serve the investigator page at `/` and its files at `/static/...` on `app`.

    Neither needs an API key: they hold no data. Call it after the API routes are added; `/` is
    left out of the OpenAPI schema. Mounting twice is a no-op, so tests can call it on an app
    whether or not `create_app` already did.
    """
    if any(getattr(route, "name", None) == "static" for route in app.routes):
        return
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def investigator_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=PAGE_HEADERS)
