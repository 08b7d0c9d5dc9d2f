"""The wallet graph: evidence-bearing links between wallets, and the hubs kept out of them.

graph/wallet_edges and graph/hubs come from one step (`build_edges`), which reads the raw tables,
dbt's decoded trade tables and the contract flags of marts.wallet_features. Every edge keeps the
transaction hashes that prove it, so an investigator can check any link.
"""

from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from wallet_pipeline.lib.duckdb_resource import DuckDBFile

GROUP = "graph"
EDGES = dg.AssetKey([GROUP, "wallet_edges"])
HUBS = dg.AssetKey([GROUP, "hubs"])
FEATURES = dg.AssetKey(["marts", "wallet_features"])
RAW_TABLES_USED = (
    "transactions",
    "token_transfers",
    "tokens",
    "address_labels",
    "contract_creations",
)
# Trades come from dbt's unified tables: the source's own trades plus those decoded from transfers.
DECODED_TABLES_USED = ("dex_trades", "nft_trades", "liquidity_events")
UPSTREAM = [
    *(dg.AssetKey(["raw", t]) for t in RAW_TABLES_USED),
    *(dg.AssetKey(["decoded", t]) for t in DECODED_TABLES_USED),
]


class GraphBuildConfig(dg.Config):
    """Thresholds of the edge rules a run may change; every other one is in `GraphConfig`."""

    dust_eth: float = Field(default=1e-4, description="ETH transfers below this are dust and link nobody.")
    hub_min_degree: int = Field(
        default=300, description="Distinct counterparties past which a wallet is a hub and links nobody."
    )
    rules: list[str] | None = Field(
        default=None, description="Edge rules to run (default: all; see docs/graph.md)."
    )


def graph_config(config: GraphBuildConfig):  # noqa: ANN201 - GraphConfig, imported lazily
    """The `GraphConfig` of a run; unknown rule names fail the run with the list of rules."""
    from wallet_pipeline.logic.graph import RULES, GraphConfig

    unknown = sorted(set(config.rules or ()) - set(RULES))
    if unknown:
        raise dg.Failure(f"unknown edge rules {unknown}; the rules are {sorted(RULES)}")
    return GraphConfig(
        dust_eth=config.dust_eth,
        hub_min_degree=config.hub_min_degree,
        rules=tuple(config.rules) if config.rules is not None else None,
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            EDGES,
            deps=[*UPSTREAM, FEATURES],
            group_name=GROUP,
            kinds={"duckdb"},
            description=(
                "graph.wallet_edges: one row per (src, dst, edge rule) with its direction, weight, first "
                "and last time, event count and up to five transaction hashes as evidence. Hub edges are "
                "removed (exchanges, contracts, high-degree wallets never glue groups)."
            ),
        ),
        dg.AssetSpec(
            HUBS,
            deps=[*UPSTREAM, FEATURES],
            group_name=GROUP,
            kinds={"duckdb"},
            description="graph.hubs: addresses kept out of the graph, with why (label, contract, degree).",
        ),
    ],
    name="wallet_graph",
)
def wallet_graph(config: GraphBuildConfig, duckdb: DuckDBFile) -> Iterator[dg.MaterializeResult]:
    """Build every edge rule over the raw tables and store the edges and hubs."""
    from wallet_pipeline.logic.graph import build_edges
    from wallet_pipeline.logic.graph.store import GRAPH_SCHEMA, replace_tables

    cfg = graph_config(config)
    with duckdb.get_connection() as con:
        # The edges are written from DuckDB below; only their counts come back to Python.
        result = build_edges(con, cfg, with_edges=False)
        written = replace_tables(
            con,
            GRAPH_SCHEMA,
            {
                "wallet_edges": "select * from g_edges order by edge_type, src, dst",
                "hubs": "select * from g_hubs order by address",
            },
        )
    hubs_by_reason = result.hubs["reason"].value_counts().to_dict() if len(result.hubs) else {}
    yield dg.MaterializeResult(
        asset_key=EDGES,
        metadata={
            "dagster/row_count": written["wallet_edges"],
            "edges_by_rule": dg.MetadataValue.json(result.counts),
            "edges_by_rule_before_hub_guard": dg.MetadataValue.json(result.counts_before_guard),
            "dropped_by_hub_guard": result.dropped_by_hub_guard,
            "internal_eth_transfers_read": result.internal_transfers,
            "bad_input_dropped": dg.MetadataValue.json(result.bad_input),
            "rules_skipped": dg.MetadataValue.json(result.skipped_rules or {"none": "every rule ran"}),
        },
    )
    yield dg.MaterializeResult(
        asset_key=HUBS,
        metadata={
            "dagster/row_count": written["hubs"],
            "hubs_by_reason": dg.MetadataValue.json(hubs_by_reason),
        },
    )


graph_assets = [wallet_graph]
