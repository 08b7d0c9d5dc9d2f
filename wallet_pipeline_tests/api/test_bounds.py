"""What the API refuses: oversized bodies before they are read, unknown query parameters, and
422s that would echo the whole invalid input."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from wallet_pipeline.api.bounds import EXCERPT_CHARS, MAX_BODY_BYTES, bounded_errors, excerpt
from wallet_pipeline_tests.api.conftest import KEYS, cluster_id

FLAGS = f"/clusters/{cluster_id(0)}/flags"


def _post_chunked(app, path: str, key: str, chunk: bytes, chunks: int) -> tuple[int, dict, int]:
    """POST a body of `chunks` x `chunk` to the ASGI app with no Content-Length (chunked), as a
    server hands it over; returns the status, the JSON answer and how many chunks the app read."""
    import asyncio
    import json

    read = {"n": 0}
    sent: list[dict] = []

    async def receive() -> dict:
        read["n"] += 1
        return {"type": "http.request", "body": chunk, "more_body": read["n"] < chunks}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
            (b"x-api-key", key.encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), read["n"]


@pytest.mark.parametrize("key", [KEYS["alice"], "wrong"])
def test_a_chunked_body_over_the_limit_is_refused_after_reading_no_more_than_the_limit(
    client: TestClient, key: str
) -> None:
    chunk = b"x" * 65_536
    status, answer, read = _post_chunked(client.app, FLAGS, key, chunk, 1_600)  # 100 MB in all
    assert status == 413
    assert f"{MAX_BODY_BYTES:,}" in answer["detail"]
    assert read * len(chunk) <= MAX_BODY_BYTES + len(chunk)  # read up to the limit, not 100 MB


def test_a_chunked_body_within_the_limit_reaches_the_endpoint(client: TestClient) -> None:
    body = b'{"reason": "other", "note": "chunked"}'
    status, answer, read = _post_chunked(client.app, FLAGS, KEYS["alice"], body, 1)
    assert (status, answer["note"], read) == (201, "chunked", 1)


def test_a_declared_length_over_the_limit_is_refused_whatever_the_key(client: TestClient) -> None:
    body = b'{"reason": "other", "note": "' + b"n" * 200_000 + b'"}'
    for headers in ({"X-API-Key": KEYS["alice"]}, {}):
        response = client.post(FLAGS, content=body, headers={**headers, "Content-Type": "application/json"})
        assert response.status_code == 413, response.text[:200]
        assert "200,0" in response.json()["detail"]  # says the size it was sent


def test_a_flag_within_the_limit_is_still_taken(client: TestClient, alice: dict) -> None:
    response = client.post(FLAGS, json={"reason": "other", "note": "é" * 2000}, headers=alice)
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("url", "value"),
    [
        ("/clusters?persona=", "p" * 30_000),
        ("/clusters?risk_min=", "9" * 30_000),
        ("/clusters?page=", "1" * 30_000),
    ],
)
def test_a_422_quotes_only_an_excerpt_of_a_huge_value(
    client: TestClient, alice: dict, url: str, value: str
) -> None:
    response = client.get(url + value, headers=alice)
    assert response.status_code == 422
    assert len(response.content) < 2_000
    [error] = response.json()["detail"]
    assert error["input"].startswith(value[:EXCERPT_CHARS]) and f"{len(value):,} characters" in error["input"]


def test_a_422_on_a_body_quotes_only_an_excerpt(client: TestClient, alice: dict) -> None:
    # Under the body limit, and over the note's 2,000 characters: the note itself is refused.
    response = client.post(FLAGS, json={"reason": "other", "note": "n" * 60_000}, headers=alice)
    assert response.status_code == 422
    assert len(response.content) < 2_000
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "note"] and "60,000 characters" in error["input"]


@pytest.mark.parametrize(
    ("url", "unknown", "known"),
    [
        ("/clusters?active=7d", "active", "active_within"),
        ("/clusters?risk_level=High&riskmin=50", "riskmin", "risk_min"),
        (f"/clusters/{cluster_id(0)}?members=5", "members", "member_limit"),
        (f"/clusters/{cluster_id(0)}/export?fmt=csv", "fmt", "format"),
        ("/stats?verbose=1", "verbose", "none"),
    ],
)
def test_an_unknown_query_parameter_is_422_naming_the_known_ones(
    client: TestClient, alice: dict, url: str, unknown: str, known: str
) -> None:
    response = client.get(url, headers=alice)
    assert response.status_code == 422, response.text[:300]
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", unknown]
    assert known in error["msg"]


def test_the_readmes_old_active_filter_no_longer_returns_every_cluster(
    client: TestClient, alice: dict
) -> None:
    everything = client.get("/clusters", headers=alice).json()["total"]
    recent = client.get("/clusters?active_within=24h", headers=alice).json()["total"]
    assert recent < everything  # so ignoring the filter would be visible
    assert client.get("/clusters?active=24h", headers=alice).status_code == 422


def test_an_unknown_parameter_without_a_key_is_still_401(client: TestClient) -> None:
    assert client.get("/clusters?active=7d").status_code == 401


def test_excerpts_keep_short_values_and_structures_whole() -> None:
    assert excerpt("0xabc") == "0xabc" and excerpt(5) == 5 and excerpt({"a": 1}) == {"a": 1}
    [e] = bounded_errors([{"loc": ("body", "k" * 500), "msg": "bad", "type": "t", "input": ["x"] * 1000}])
    assert len(e["loc"][1]) < 200 and e["input"].endswith("characters in all)")


def test_a_body_that_is_not_json_without_a_key_is_401_not_a_validation_answer(client: TestClient) -> None:
    response = client.post(
        FLAGS, content=b"not json", headers={"X-API-Key": "wrong", "Content-Type": "application/json"}
    )
    assert response.status_code == 401


def test_a_body_that_cannot_be_parsed_without_a_key_is_401(client: TestClient) -> None:
    response = client.post(
        FLAGS,
        content=b"--x\r\n",
        headers={"X-API-Key": "wrong", "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 401
