"""Hub guards: addresses that serve many unrelated users never glue groups of wallets.

A hub is an address labelled as an exchange, bridge, mixer, DEX, marketplace, DeFi or airdrop
contract; any contract (created in `contract_creations`, listed in `tokens`, a trade's pool or called
contract, or `is_contract` in the features); or an EOA with more distinct counterparties than
`hub_min_degree` (unlabelled hot wallets, popular payees).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from wallet_pipeline.logic.graph.config import CONTRACT_LABEL_TYPES, GraphConfig

# Hub reasons that are contracts: found as one, or labelled as a kind of contract. A labelled DEX
# pool keeps its label as reason (label comes first), so `reason <> 'contract'` is no test of an
# EOA: in fresh world 3205 a retail wallet swapping tokens on labelled pools read as a deposit
# address forwarding to hot wallets.
CONTRACT_REASONS_SQL = ", ".join(["'contract'", *(f"'label:{t}'" for t in CONTRACT_LABEL_TYPES)])


def _has_table(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, _, table = qualified.rpartition(".")
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
            [schema or "main", table],
        ).fetchone()[0]
    )


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    """Columns of `schema.table`, empty when the table does not exist (views included)."""
    rows = con.execute(
        "select column_name from duckdb_columns() where schema_name = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return {r[0] for r in rows}


# Trades are read from dbt's unified tables (the source's own trades plus those decoded from
# transfers, `dbt_project/models/decoded`), so a source without trade tables still has trades. A
# database dbt has not built them in (a hand-made raw schema) is read as it is.
DECODED_SCHEMA = "decoded"
TRADE_TABLES = ("dex_trades", "nft_trades", "liquidity_events")


def trade_schema(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> str:
    """The schema to read trade table `table` from: `decoded` once dbt built it there, else `schema`."""
    return DECODED_SCHEMA if table_columns(con, DECODED_SCHEMA, table) else schema


def detect_hubs(con: duckdb.DuckDBPyConnection, cfg: GraphConfig) -> pd.DataFrame:
    """Create temp table `g_hubs(address, reason)` and return it.

    Needs the temp table `g_pairs` (the cleaned transfers per pair, see `edges.prepare`). One row
    per hub, with the first reason found in the order label, contract, degree.
    """
    s = cfg.schema
    parts: list[str] = []
    if table_columns(con, s, "address_labels") >= {"address", "label_type"}:
        types = ", ".join(f"'{t}'" for t in cfg.hub_label_types)
        parts.append(
            f"select lower(address) address, 'label:' || min(label_type) reason, 1 prio "
            f"from {s}.address_labels where label_type in ({types}) group by 1"
        )
    if table_columns(con, s, "contract_creations") >= {"address"}:
        parts.append(f"select address, 'contract' reason, 2 prio from {s}.contract_creations")
    if table_columns(con, s, "tokens") >= {"address"}:
        parts.append(f"select address, 'contract' reason, 2 prio from {s}.tokens")
    if table_columns(con, s, "transactions") >= {"receipt_contract_address"}:
        parts.append(
            f"select receipt_contract_address address, 'contract' reason, 2 prio from {s}.transactions "
            "where receipt_contract_address is not null"
        )
    for table, cols in (("dex_trades", ("tx_to", "project_contract_address")), ("nft_trades", ("tx_to",))):
        ts = trade_schema(con, s, table)
        have = table_columns(con, ts, table)
        for c in cols:
            if c in have:
                parts.append(
                    f"select {c} address, 'contract' reason, 2 prio from {ts}.{table} where {c} is not null"
                )
    if cfg.features_table and _has_table(con, cfg.features_table):
        if "is_contract" in table_columns(con, *cfg.features_table.split(".", 1)):
            parts.append(
                f"select address, 'contract' reason, 2 prio from {cfg.features_table} where is_contract"
            )
    parts.append(
        f"""
        select a address, 'degree' reason, 3 prio from (
            select a, count(distinct b) deg from (
                select src a, dst b from g_pairs union all select dst a, src b from g_pairs
            ) group by a
        ) where deg >= {int(cfg.hub_min_degree)}
        """
    )
    union = " union all ".join(f"({p})" for p in parts)
    con.execute(
        f"""
        create or replace temp table g_hubs as
        select address, arg_min(reason, prio) reason
        from ({union}) where address is not null group by address
        """
    )
    return con.sql("select * from g_hubs order by address").df()
