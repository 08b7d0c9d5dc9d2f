"""The investigator web page and the API docs, served by the API app with nothing from elsewhere.

The page (`static/index.html`, `app.js`, `app.css`) is plain JavaScript with no build step; its one
library, Cytoscape.js, is vendored under `static/vendor/` with its licence, so the page works on a
machine with no internet. The page itself holds no data and needs no key: every call it makes goes
to the JSON API with the `X-API-Key` the user typed, which the page keeps in `sessionStorage`.

`/docs` is FastAPI's Swagger UI page pointed at the Swagger UI files vendored under
`static/vendor/swagger-ui/` (FastAPI's default takes them, and its favicon, from CDNs: offline the
page stayed blank with `SwaggerUIBundle is not defined`). ReDoc is not served: it would be a second
1 MB bundle for the same schema.

    app = create_app(...)   # FastAPI(docs_url=None, redoc_url=None)
    mount_web(app)          # GET / is the page, GET /static/... its files, GET /docs the API docs
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, swagger_ui_default_parameters
from fastapi.responses import FileResponse, HTMLResponse
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
SWAGGER = "/static/vendor/swagger-ui"
# FastAPI's Swagger page starts Swagger UI from an inline script; everything it loads is from here.
DOCS_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def mount_web(app: FastAPI) -> None:
    """Serve the investigator page at `/` and its files at `/static/...` on `app`.

    Neither needs an API key: they hold no data. Call it after the API routes are added; `/` is
    left out of the OpenAPI schema. Mounting twice is a no-op, so tests can call it on an app
    whether or not `create_app` already did. `/docs` is added when the app has none of its own
    (an app made with `docs_url=None`, as `create_app` makes it).
    """
    if any(getattr(route, "name", None) == "static" for route in app.routes):
        return
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def investigator_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=PAGE_HEADERS)

    if app.openapi_url and not any(getattr(route, "path", None) == "/docs" for route in app.routes):

        @app.get("/docs", include_in_schema=False)
        def api_docs() -> HTMLResponse:
            page = get_swagger_ui_html(
                openapi_url=app.openapi_url,
                title=f"{app.title}: docs",
                swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
                swagger_css_url=f"{SWAGGER}/swagger-ui.css",
                swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
                # validatorUrl null: Swagger UI would otherwise send the schema to its public validator.
                swagger_ui_parameters={**swagger_ui_default_parameters, "validatorUrl": None},
            )
            page.headers.update({**PAGE_HEADERS, "Content-Security-Policy": DOCS_SECURITY_POLICY})
            return page
