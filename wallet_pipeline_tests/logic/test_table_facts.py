"""Row counts and column types of relations, as the dbt assets report them."""

from __future__ import annotations

import duckdb

from wallet_pipeline.logic.transform.table_facts import TableFacts, read_table_facts


def test_tables_get_counts_and_types_views_only_types_and_missing_ones_nothing(
    con: duckdb.DuckDBPyConnection,
) -> None:
    con.execute("create schema marts; create schema staging")
    con.execute("create table marts.wallet_features (address varchar, tx_count bigint, share double)")
    con.execute("insert into marts.wallet_features values ('0xa', 3, 0.5), ('0xb', 1, 0.25)")
    con.execute(
        "create view staging.wallets as select address, tx_count::integer as n from marts.wallet_features"
    )

    facts = read_table_facts(
        con,
        [
            ("marts", "wallet_features"),
            ("staging", "wallets"),
            ("marts", "not_built"),
            ("marts", "wallet_features"),
        ],
    )

    assert facts == {
        ("marts", "wallet_features"): TableFacts(
            "table", 2, (("address", "VARCHAR"), ("tx_count", "BIGINT"), ("share", "DOUBLE"))
        ),
        ("staging", "wallets"): TableFacts("view", None, (("address", "VARCHAR"), ("n", "INTEGER"))),
    }
    assert read_table_facts(con, []) == {}
