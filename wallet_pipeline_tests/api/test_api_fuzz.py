"""The API's OpenAPI schema fuzzed with schemathesis: no input makes a server error."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from wallet_pipeline.api.app import create_app
from wallet_pipeline.api.auth import hash_key
from wallet_pipeline_tests.api.conftest import KEYS, build_snapshot

# Built at import: schemathesis generates the test cases from the schema at collection time, and
# its fixture-based loader does not work with this pytest. The folder goes when the process ends.
_TMP = tempfile.TemporaryDirectory(prefix="api_fuzz_")
_FOLDER = build_snapshot(Path(_TMP.name) / "snapshots")
APP = create_app(_FOLDER, {"alice": hash_key(KEYS["alice"])}, Path(_TMP.name) / "flags.sqlite")
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(case) -> None:
    case.call_and_validate(headers={"X-API-Key": KEYS["alice"]}, checks=[not_a_server_error])


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_without_a_key_makes_a_server_error_or_gets_data(case) -> None:
    response = case.call(headers={"X-API-Key": "wrong"})
    assert response.status_code < 500
    if case.path != "/health":
        assert response.status_code == 401, (case.path, response.status_code)
