"""The API's OpenAPI schema fuzzed with schemathesis: no input makes a server error, and every
answer has the status, content type and shape the schema documents, from the index and from DuckDB."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from wallet_pipeline.api.app import create_app
from wallet_pipeline.api.auth import hash_key
from wallet_pipeline_tests.api.conftest import KEYS, build_snapshot

# Built at import: schemathesis generates the test cases from the schema at collection time, and
# its fixture-based loader does not work with this pytest. The folder goes when the process ends.
_TMP = tempfile.TemporaryDirectory(prefix="api_fuzz_")
_FOLDER = build_snapshot(Path(_TMP.name) / "snapshots")
_KEYS = {"alice": hash_key(KEYS["alice"])}
APP = create_app(_FOLDER, _KEYS, Path(_TMP.name) / "flags.sqlite")
assert APP.state.snapshot_pool.wait_for_index() is not None  # the fast path answers what it can
SLOW_APP = create_app(_FOLDER, _KEYS, Path(_TMP.name) / "flags_slow.sqlite", use_index=False)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
slow_schema = schemathesis.openapi.from_asgi("/openapi.json", SLOW_APP)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_documented_and_none_is_a_server_error(case) -> None:
    case.call_and_validate(headers={"X-API-Key": KEYS["alice"]}, checks=CHECKS)


@slow_schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_from_duckdb_is_documented_and_none_is_a_server_error(case) -> None:
    case.call_and_validate(headers={"X-API-Key": KEYS["alice"]}, checks=CHECKS)


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_without_a_key_makes_a_server_error_or_gets_data(case) -> None:
    response = case.call(headers={"X-API-Key": "wrong"})
    assert response.status_code < 500
    if case.path != "/health":
        # A method the path does not have is refused by the router (405) before the key is read.
        documented = {m.upper() for m in APP.openapi()["paths"][case.path]}
        expected = 401 if case.method.upper() in documented else 405
        assert response.status_code == expected, (case.method, case.path, response.status_code)
