"""The shape of the graph: keys, groups, checks and jobs are a reviewed snapshot."""

from __future__ import annotations

import dagster as dg
import pytest

from wallet_pipeline.definitions import defs
from wallet_pipeline.defs.ingestion.assets import raw_assets_for


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return defs()


def _graph(definitions: dg.Definitions) -> dg.AssetGraph:
    return definitions.resolve_asset_graph()


def test_every_asset_key_and_group_is_as_reviewed(definitions: dg.Definitions, snapshot) -> None:
    graph = _graph(definitions)
    keys = {
        key.to_user_string(): graph.get(key).group_name
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable
    }
    assert keys == snapshot


def test_every_check_is_as_reviewed(definitions: dg.Definitions, snapshot) -> None:
    checks = sorted(
        f"{key.asset_key.to_user_string()}:{key.name}" for key in _graph(definitions).asset_check_keys
    )
    assert checks == snapshot


def test_jobs_are_as_reviewed(definitions: dg.Definitions, snapshot) -> None:
    assert sorted(job.name for job in definitions.jobs or []) == snapshot


def test_every_dbt_source_is_produced_by_an_ingestion_asset(definitions: dg.Definitions) -> None:
    graph = _graph(definitions)
    external = {k.to_user_string() for k in graph.get_all_asset_keys() if not graph.get(k).is_materializable}
    assert external == set(), f"dbt reads tables nothing produces: {external}"


def test_every_source_produces_the_same_raw_keys() -> None:
    def raw_keys(source: str) -> set[str]:
        return {
            key.to_user_string()
            for asset in raw_assets_for(source)
            for key in asset.keys
            if key.path[0] == "raw"
        }

    assert raw_keys("simulator") == raw_keys("files")


def test_every_asset_has_a_description(definitions: dg.Definitions) -> None:
    graph = _graph(definitions)
    missing = [
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable and not (graph.get(key).description or "").strip()
    ]
    assert missing == []
