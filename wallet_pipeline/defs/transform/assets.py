"""dbt models (staging, intermediate, marts) as Dagster assets; dbt tests become asset checks."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from wallet_pipeline.defs.transform.project import wallet_dbt_project
from wallet_pipeline.lib.dbt_translator import WalletDbtTranslator


@dbt_assets(
    manifest=wallet_dbt_project().manifest_path,
    dagster_dbt_translator=WalletDbtTranslator(),
    project=wallet_dbt_project(),
)
def wallet_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """Builds and tests the dbt models, from staging views to the wallet_features mart."""
    yield from dbt.cli(["build"], context=context).stream()
