"""What the API accepts: bounded bodies, known query parameters, 422s that quote an excerpt.

- `BodyLimit`: an ASGI middleware that answers 413 to a body over `MAX_BODY_BYTES` before the
  app reads it (before the key check too): by its `Content-Length`, or, for a chunked body, as
  soon as the bytes read pass the limit. 100 MB used to be read whole first.
- `excerpt` / `bounded_errors`: the `input` of each validation error cut to `EXCERPT_CHARS`,
  with the full length said; a 10 MB invalid value came back whole.
- `unknown_query_error`: the names a route does not read (`active=7d` for `active_within`
  used to be ignored, so the filter silently did nothing).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

# The largest body a client has reason to send is a flag: a reason and a note of at most 2,000
# characters, 12 KB of JSON even if every character is escaped as \uXXXX. 64 KiB leaves 5x room.
MAX_BODY_BYTES = 64 * 1024
# Enough to recognise the value in an error message; an address is 42 characters.
EXCERPT_CHARS = 120

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> Any:
    """`value` when short; otherwise its first `limit` characters and how long it was."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) <= limit:
        return value
    return f"{text[:limit]}... ({len(text):,} characters in all)"


def bounded_errors(errors: list[dict]) -> list[dict]:
    """Validation errors with every `input`, `ctx` value and `loc` part cut to an excerpt."""
    out = []
    for e in errors:
        e = dict(e)
        if "input" in e:
            e["input"] = excerpt(e["input"])
        if isinstance(e.get("ctx"), dict):
            e["ctx"] = {
                k: excerpt(v if isinstance(v, str | int | float) else str(v)) for k, v in e["ctx"].items()
            }
        e["loc"] = [excerpt(p) if isinstance(p, str) else p for p in e.get("loc", ())]
        e["msg"] = excerpt(str(e.get("msg", "")), 400)
        out.append(e)
    return out


def _query_names(dependant: Dependant) -> list[str]:
    names = [p.alias for p in dependant.query_params]
    for sub in dependant.dependencies:
        names += _query_names(sub)
    return names


def known_query_parameters(route: APIRoute) -> list[str]:
    """The query parameter names `route` reads: its parameters, and those its OpenAPI lists."""
    names = _query_names(route.dependant)
    extra = (route.openapi_extra or {}).get("parameters", [])
    names += [p["name"] for p in extra if p.get("in") == "query"]
    return sorted(set(names))


def unknown_query_error(route: APIRoute, query: list[tuple[str, str]]) -> list[dict] | None:
    """One 422 error per query parameter `route` does not read, naming the ones it does."""
    known = known_query_parameters(route)
    unknown = [(k, v) for k, v in query if k not in known]
    if not unknown:
        return None
    listed = ", ".join(known) if known else "none"
    return [
        {
            "type": "extra_forbidden",
            "loc": ("query", name),
            "msg": f"unknown query parameter {excerpt(name, 60)!r}; this endpoint reads: {listed}",
            "input": value,
        }
        for name, value in unknown
    ]


class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`, decided before the app reads it."""

    def __init__(self, app: Callable, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: D102
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                await self._refuse(send, 400, "the Content-Length header is not a whole number")
                return
            if declared > self.max_bytes:
                await self._refuse(send, 413, self._too_large(f"{declared:,} bytes"))
                return
            await self.app(scope, receive, send)
            return
        if headers.get(b"transfer-encoding", b"").lower() != b"chunked":
            await self.app(scope, receive, send)
            return
        # A chunked body has no declared size: read it here, up to the limit, then replay it.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(send, 413, self._too_large(f"more than {self.max_bytes:,} bytes"))
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self, size: str) -> str:
        return f"the request body ({size}) is over the limit of {self.max_bytes:,} bytes"

    @staticmethod
    async def _refuse(send: Send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
