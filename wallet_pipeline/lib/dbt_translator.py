"""How dbt nodes become Dagster assets: key = [schema, name], group = the model's layer folder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator


class WalletDbtTranslator(DagsterDbtTranslator):
    """One rule for models and sources alike, so every asset key is also a DuckDB table address.

    `source('ethereum', 'transactions')` lives in schema `raw`, so it resolves to `raw/transactions`,
    the key the ingestion assets produce, and the lineage is one graph.
    """

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] != "model":
            return None
        # fqn is [project, layer, ...folders, name]: the layer is the group.
        return dbt_resource_props["fqn"][1]
