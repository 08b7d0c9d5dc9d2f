"""Internal ETH transfers from traces in the wallet graph: who counts as the sender, and what it finds."""

from __future__ import annotations

import duckdb
import pytest

from wallet_pipeline.logic.graph import build_edges, cluster_edges
from wallet_pipeline.logic.graph.internal import internal_eth_sql
from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, load_simulation

SIGNER, SPLITTER, MARKET, SAFE = ("0x" + c * 40 for c in "1234")
A, B, C = ("0x" + c * 40 for c in "abc")
ETH = 10**18


def _raw(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema raw")
    con.execute(
        "create table raw.transactions (hash varchar, from_address varchar, to_address varchar, "
        "value decimal(38,0), block_timestamp timestamp)"
    )
    con.execute(
        "create table raw.traces (transaction_hash varchar, trace_address varchar, from_address varchar, "
        "to_address varchar, value decimal(38,0), trace_type varchar, call_type varchar, status bigint, "
        "block_timestamp timestamp)"
    )
    con.execute(
        "create table raw.token_transfers (token_address varchar, from_address varchar, "
        "to_address varchar, value varchar, transaction_hash varchar)"
    )


def _tx(con: duckdb.DuckDBPyConnection, h: str, frm: str, to: str, eth: float) -> None:
    con.execute(
        "insert into raw.transactions values (?, ?, ?, ?, timestamp '2024-01-01')",
        [h, frm, to, int(eth * ETH)],
    )


def _call(
    con: duckdb.DuckDBPyConnection, h: str, path: str | None, frm: str, to: str, eth: float, **kw
) -> None:
    con.execute(
        "insert into raw.traces values (?, ?, ?, ?, ?, ?, ?, ?, timestamp '2024-01-01')",
        [
            h,
            path,
            frm,
            to,
            int(eth * ETH),
            kw.get("trace_type", "call"),
            kw.get("call_type", "call"),
            kw.get("status", 1),
        ],
    )


def _internal(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        f"select hash, src, dst, eth from ({internal_eth_sql(con, 'raw')}) order by all"
    ).fetchall()


def test_a_pure_eth_split_is_sent_by_the_signer_and_anything_else_by_the_calling_contract() -> None:
    con = duckdb.connect()
    _raw(con)
    # A Disperse call: the signer's 3 ETH go on, whole, to two recipients.
    _tx(con, "0xd1", SIGNER, SPLITTER, 3)
    _call(con, "0xd1", None, SIGNER, SPLITTER, 3)
    _call(con, "0xd1", "0", SPLITTER, A, 1)
    _call(con, "0xd1", "1", SPLITTER, B, 2)
    # An NFT sale splits the buyer's ETH too, but an NFT moves: the marketplace pays the seller.
    _tx(con, "0xn1", SIGNER, MARKET, 1)
    _call(con, "0xn1", "0", MARKET, A, 0.975)
    _call(con, "0xn1", "1", MARKET, C, 0.025)
    con.execute(f"insert into raw.token_transfers values ('0xnft', '{A}', '{SIGNER}', '7', '0xn1')")
    # A multisig pays out its own ETH (the owner sends none): the multisig is the sender.
    _tx(con, "0xs1", SIGNER, SAFE, 0)
    _call(con, "0xs1", "0", SAFE, C, 5)
    # Not transfers: a reverted call, a delegatecall, a top-level call (the transaction itself).
    _tx(con, "0xf1", SIGNER, SPLITTER, 2)
    _call(con, "0xf1", "0", SPLITTER, A, 1, status=0)
    _call(con, "0xf1", "1", SPLITTER, B, 1, call_type="delegatecall")
    _call(con, "0xf1", None, SIGNER, SPLITTER, 2)
    assert _internal(con) == [
        ("0xd1", SIGNER, A, 1.0),
        ("0xd1", SIGNER, B, 2.0),
        ("0xn1", MARKET, A, 0.975),
        ("0xn1", MARKET, C, 0.025),
        ("0xs1", SAFE, C, 5.0),
    ]


def test_a_split_that_keeps_part_of_the_eth_is_not_the_signers_payment() -> None:
    con = duckdb.connect()
    _raw(con)
    _tx(con, "0xd2", SIGNER, SPLITTER, 5)
    _call(con, "0xd2", "0", SPLITTER, A, 1)
    _call(con, "0xd2", "1", SPLITTER, B, 2)
    assert {r[1] for r in _internal(con)} == {SPLITTER}


def test_an_export_without_traces_adds_no_internal_transfer() -> None:
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute("create table raw.transactions (hash varchar, from_address varchar, to_address varchar)")
    assert internal_eth_sql(con, "raw") is None


@pytest.fixture(scope="module")
def disperse_world() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    load_simulation(
        con, SimulatorConfig(seed=8, n_wallets=1_500, days=30, sybil_topologies=(("disperse", 1.0),))
    )
    return con


def _farm_clusters(con: duckdb.DuckDBPyConnection) -> dict[str, set[str | None]]:
    result = build_edges(con)
    con.register("clusters", cluster_edges(result.edges).clusters)
    rows = con.execute(
        "select w.role, list(distinct c.cluster_id) from ground_truth.wallets w "
        "left join clusters c on c.address = w.address "
        "where w.entity_type = 'sybil_farm' and w.role in ('funder', 'member') group by 1"
    ).fetchall()
    con.unregister("clusters")
    return {role: set(ids) for role, ids in rows}


def test_a_farm_funded_by_one_disperse_call_has_its_funder_in_the_members_cluster(
    disperse_world: duckdb.DuckDBPyConnection,
) -> None:
    with_traces = _farm_clusters(disperse_world)
    assert len(with_traces["member"]) == 1 and None not in with_traces["member"]
    assert with_traces["funder"] == with_traces["member"]
    # Without the traces the funder has no link to any member: it is left out.
    con = disperse_world.cursor()
    con.execute("create or replace temp table saved_traces as select * from raw.traces")
    con.execute("delete from raw.traces")
    try:
        without = _farm_clusters(con)
    finally:
        con.execute("insert into raw.traces select * from saved_traces")
    assert without["funder"] == {None}
