"""Quirks of real exports: each loads, with what it lacked counted and what it had kept.

Every test asserts rows read = rows loaded + rows rejected for the tables it feeds.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from wallet_pipeline.logic.ingestion.etl_files import EtlFilesError, FilesLoadReport, load_etl_files
from wallet_pipeline.logic.ingestion.raw_schema import LABEL_TYPES, RAW_TABLES
from wallet_pipeline_tests.logic.test_etl_files import (
    SLICE,
    T0,
    A,
    B,
    _hash,
    _utc,
    rejects,
    tx,
    write_csv,
)

SHARED_LABELS = Path(__file__).resolve().parents[3] / "shared" / "data" / "address_labels"
needs_shared_labels = pytest.mark.skipif(
    not SHARED_LABELS.is_dir(), reason=f"shared label lists not at {SHARED_LABELS}"
)
ZERO = "0x" + "0" * 40
DEAD = "0x" + "0" * 36 + "dead"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "export"
    path.mkdir()
    return path


def reconciled(report: FilesLoadReport) -> None:
    for name, table in report.tables.items():
        assert table.rows_read == table.rows_loaded + table.rows_rejected, name


def manifest_notes(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    row = con.execute("select notes from raw.source_manifest where table_name = ?", [table]).fetchone()
    assert row is not None
    return row[0]


# --- contracts and tokens older than the window ---------------------------------------------------


def test_contracts_and_tokens_created_before_the_window_load_without_a_time_and_are_counted(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    old = "0x" + "7" * 40  # created at block 100, long before the exported blocks
    write_csv(folder / "transactions.csv", [tx(1, to_address=old)])
    write_csv(folder / "blocks.csv", [{"number": "10000001", "timestamp": str(T0 + 1)}])
    write_csv(
        folder / "contracts.csv",
        [{"address": old, "block_number": "100", "bytecode": "0x60", "is_erc20": "true"}],
    )
    write_csv(
        folder / "tokens.csv",
        [{"address": old, "symbol": "OLD", "name": "Old", "decimals": "18", "block_number": "100"}],
    )
    report = load_etl_files(con, folder)
    reconciled(report)
    assert con.execute(
        "select address, block_number, block_timestamp, creator_address from raw.contract_creations"
    ).fetchall() == [(old, 100, None, None)]
    assert con.execute("select address, block_number from raw.tokens").fetchall() == [(old, 100)]
    assert report.tables["contract_creations"].notes == [
        "1 contracts have no creation time: their block is not in blocks and no creating "
        "transaction is in transactions (created before the exported window)"
    ]
    assert manifest_notes(con, "contract_creations") == report.tables["contract_creations"].notes[0]


# --- label vocabularies ----------------------------------------------------------------------------

VOCABULARY = {
    "contract": "contract",
    "cex_deposit": "deposit",
    "deposit": "deposit",
    "mixer": "mixer",
    "phish-hack": "scam",
    "heist": "scam",
    "exploit": "scam",
    "mev_bot": "mev_bot",
    "mev-bot": "mev_bot",
    "airdrop-hunter": "sybil",
    # Etherscan's "blocked" covers the null address, precompiles and USDT's own contract.
    "blocked": "other",
    "ponzi": "scam",
    "contract-deployer": "other",
    "mining": "miner",
    "miner": "miner",
    "token": "contract",
    "tokens": "contract",
    "Binance": "exchange",
    "upbit-hack": "scam",
    "Uniswap": "dex",
    "OFAC Sanctions Lists": "sanctioned",
    "Tornado.Cash": "mixer",
    "eth2-depositor": "other",
}


def test_public_label_vocabularies_map_to_our_types_with_the_original_kept(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    shutil.copy(SLICE, folder / "transactions.csv")
    labels = [
        {"address": f"0x{i:040x}", "label_type": original, "name": "", "source": "x"}
        for i, original in enumerate(VOCABULARY, start=1)
    ]
    write_csv(folder / "labels.csv", labels)
    report = load_etl_files(con, folder)
    reconciled(report)
    assert rejects(con) == []
    got = {
        original: label
        for label, original in con.execute(
            "select label_type, original_label_type from raw.address_labels"
        ).fetchall()
    }
    assert got == VOCABULARY
    assert set(got.values()) <= set(LABEL_TYPES)
    assert report.tables["address_labels"].notes == [
        "3 labels of 3 types no synonym knows load as other "
        "(original kept in original_label_type; most frequent: blocked, contract-deployer, eth2-depositor)"
    ]


def test_label_rows_written_by_a_source_without_the_original_column_load_it_as_null(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # The simulator and Dune write our types directly and no original_label_type.
    import pandas as pd

    from wallet_pipeline.logic.ingestion.raw_store import raw_load

    with raw_load(con, source="dune") as load:
        load.append(
            "address_labels",
            pd.DataFrame({"address": [A], "label_type": ["exchange"], "name": ["x"], "source": ["dune"]}),
        )
    assert con.execute("select label_type, original_label_type from raw.address_labels").fetchall() == [
        ("exchange", None)
    ]


# --- label lists in the shapes the public lists come in --------------------------------------------


def test_label_lists_as_json_text_and_csv_with_other_column_names_all_load(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    shutil.copy(SLICE, folder / "transactions.csv")
    labels = folder / "labels"
    labels.mkdir()
    c, d, e = ("0x" + x * 40 for x in "cde")
    # dawsbot/eth-labels: {address: nameTag}, the label in the file name.
    (labels / "phish-hack.json").write_text(json.dumps({A: "Fake_Phishing1", B: ""}))
    # brianleect/etherscan-labels: two labels of one type become one row with both originals.
    (labels / "accounts.json").write_text(
        json.dumps(
            {
                c: {"name": "Binance 14", "labels": ["binance", "exchange"]},
                d: {"name": "Bot", "labels": ["mev-bot", "website-down"]},
            }
        )
    )
    # dspytdao/Eth_Data: Postgres bytea addresses, quoted, one per line.
    (labels / "LazarusGroup.txt").write_text(
        "'\\x098B716B8Aaf21512996dC57EB0615e2383E2f96',\n\nnot an address\n"
    )
    # Raphtory: the label is the family column; type, website, ... are extra.
    write_csv(
        labels / "etherscan_tags.csv",
        [{"address": " " + e, "name": "", "family": "tornado-cash", "type": "account", "website": ""}],
    )
    # dawsbot CSV: address,nameTag, the label in the file name.
    write_csv(labels / "dawsbot_cex-addresses.csv", [{"address": A, "nameTag": "Kraken 4"}])
    (labels / "README.txt").write_text("MIT licence")
    report = load_etl_files(con, folder)
    reconciled(report)

    rows = con.execute(
        "select address, label_type, name, original_label_type, source from raw.address_labels "
        "order by source, address, label_type"
    ).fetchall()
    lazarus = "0x098b716b8aaf21512996dc57eb0615e2383e2f96"
    assert rows == [
        (lazarus, "sanctioned", None, "lazarusgroup", "labels/LazarusGroup.txt"),
        (c, "exchange", "Binance 14", "binance,exchange", "labels/accounts.json"),
        (d, "mev_bot", "Bot", "mev-bot,website-down", "labels/accounts.json"),
        (A, "exchange", "Kraken 4", "cex", "labels/dawsbot_cex-addresses.csv"),
        (e, "mixer", None, "tornado-cash", "labels/etherscan_tags.csv"),
        (A, "scam", "Fake_Phishing1", "phish-hack", "labels/phish-hack.json"),
        (B, "scam", None, "phish-hack", "labels/phish-hack.json"),
    ]
    bad = rejects(con)
    assert [(r["source_file"], r["row_number"], r["column_name"]) for r in bad] == [
        ("labels/LazarusGroup.txt", 3, "address")
    ]
    assert report.ignored_reasons == {
        "labels/README.txt": "not a data file of labels (expected .csv.gz, .csv, .parquet, .json, .txt)"
    }
    assert report.tables["address_labels"].extra_columns == {"labels/etherscan_tags.csv": ["type", "website"]}


def test_a_label_list_that_is_not_json_names_file_line_and_column(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    shutil.copy(SLICE, folder / "transactions.csv")
    (folder / "labels.json").write_text('{\n  "0xabc": "x",\n  oops\n}')
    with pytest.raises(EtlFilesError, match=r"^labels\.json: not valid JSON at line 3, column 3"):
        load_etl_files(con, folder)


@needs_shared_labels
def test_every_shared_public_label_list_loads_with_counts_reconciled(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    shutil.copy(SLICE, folder / "transactions.csv")
    shutil.copytree(SHARED_LABELS, folder / "labels")
    report = load_etl_files(con, folder)
    reconciled(report)
    files = dict(
        con.execute(
            "select path, rows_read from raw.source_files where input_name = 'labels' and status = 'read'"
        ).fetchall()
    )
    shipped = sorted(p.name for p in SHARED_LABELS.iterdir() if p.name != "README.txt")
    assert sorted(Path(p).name for p in files) == shipped
    assert all(n > 0 for n in files.values())
    loaded = dict(
        con.execute(
            "select regexp_extract(source, '[^/]+$'), count(*) from raw.address_labels group by 1"
        ).fetchall()
    )
    assert set(loaded) == set(shipped)
    # Spot checks against the lists' own words.
    types = dict(
        con.execute(
            "select regexp_extract(source, '[^/]+$') || ' ' || address, label_type from raw.address_labels"
        ).fetchall()
    )
    assert types["dawsbot_exploit.json 0x1fcdb04d0c5364fbd92c73ca8af9baa72c269107"] == "scam"
    assert types["dawsbot_exchange.json 0xbb3fd383d1c5540e52ef0a7bcb9433375793aeaf"] == "exchange"
    by_type = dict(con.execute("select label_type, count(*) from raw.address_labels group by 1").fetchall())
    assert by_type["scam"] > 10_000 and by_type["exchange"] > 1_000 and by_type["sanctioned"] > 10
    # Lines a scraper broke (an unquoted "3,154") are quarantined with their text, not refused.
    broken = con.execute(
        "select count(*) from raw.raw_rejects where column_name = '(line)' "
        "and source_file = 'labels/dawsbot_hack-addresses.csv'"
    ).fetchone()
    assert broken is not None and broken[0] >= 1


# --- malformed lines ---------------------------------------------------------------------------------


def test_a_line_with_the_wrong_number_of_fields_is_quarantined_and_later_lines_keep_their_numbers(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    path = write_csv(folder / "transactions.csv", [tx(1)])
    text = path.read_text()
    text += ",".join(tx(2).values()) + ",surplus\n"  # line 3
    text += ",".join(tx(3, value="-1").values()) + "\n"  # line 4
    path.write_text(text)
    report = load_etl_files(con, folder)
    reconciled(report)
    found = rejects(con)
    assert [(r["row_number"], r["column_name"]) for r in found] == [(3, "(line)"), (4, "value")]
    assert str(found[0]["reason"]).startswith("too many columns: Expected Number of Columns: 15 Found: 16")
    assert json.loads(str(found[0]["record"]))["line"].endswith(",surplus")


# --- zero and burn addresses ---------------------------------------------------------------------------


def test_transfers_to_and_from_the_zero_and_burn_addresses_load(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "transactions.csv", [tx(1, to_address=ZERO), tx(2, to_address=DEAD), tx(3)])
    token = "0x" + "9" * 40
    transfers = [
        {
            "token_address": token,
            "from_address": src,
            "to_address": dst,
            "value": "5",
            "transaction_hash": _hash(3),
            "log_index": str(i),
            "block_number": "10000003",
        }
        for i, (src, dst) in enumerate([(ZERO, A), (A, DEAD), (A, ZERO)])
    ]
    write_csv(folder / "token_transfers.csv", transfers)
    report = load_etl_files(con, folder)
    reconciled(report)
    assert rejects(con) == []
    assert con.execute(
        "select count(*) from raw.transactions where to_address in (?, ?)", [ZERO, DEAD]
    ).fetchone() == (2,)
    assert report.tables["token_transfers"].rows_loaded == 3


# --- transfers with only a sender and a receiver ----------------------------------------------------


def test_a_sender_receiver_only_file_loads_with_synthetic_hashes_and_null_value_and_time(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    pairs = [
        {"from_address": A, "to_address": B},
        {"from_address": B, "to_address": A},
        {"from_address": A, "to_address": "x"},
    ]
    write_csv(folder / "transactions.csv", pairs, header=["from_address", "to_address"])
    report = load_etl_files(con, folder)
    reconciled(report)
    rows = con.execute(
        "select hash, from_address, to_address, value, block_number, block_timestamp, block_date "
        "from raw.transactions order by hash"
    ).fetchall()
    expected = sorted(
        ("0x" + hashlib.sha256(f"transactions.csv:{line}".encode()).hexdigest(), src, dst)
        for line, (src, dst) in ((2, (A, B)), (3, (B, A)))
    )
    assert rows == [(h, s, d, None, None, None, None) for h, s, d in expected]
    bad = rejects(con)
    assert [(r["row_number"], r["column_name"]) for r in bad] == [(4, "to_address")]
    assert report.tables["transactions"].notes == [
        "2 rows have NULL block_number: their files have no block_number column",
        "2 rows have NULL block_timestamp: their files have no block_timestamp column",
        "2 rows have a synthetic hash, 0x || sha256('<file>:<line>'): their files have no hash column",
        "2 rows have NULL value: their files have no value column",
    ]
    # The same file gives the same hashes on the next load.
    load_etl_files(con, folder)
    assert con.execute("select hash from raw.transactions order by hash").fetchall() == [
        (h,) for h, _, _ in expected
    ]


def test_a_file_with_a_value_column_must_still_fill_it(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    write_csv(
        folder / "transactions.csv",
        [{"from_address": A, "to_address": B, "value": ""}],
        header=["from_address", "to_address", "value"],
    )
    report = load_etl_files(con, folder)
    reconciled(report)
    (reject,) = rejects(con)
    assert (reject["column_name"], reject["reason"]) == ("value", "missing required value")


# --- amounts in whole units ----------------------------------------------------------------------------


def test_a_file_with_decimal_eth_amounts_has_every_amount_rejected_not_only_the_fractional_ones(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "transactions.csv", [tx(1, value="2.0"), tx(2, value="1.5"), tx(3, value="")])
    write_csv(folder / "transactions_ok" / "x.csv", [tx(4)])  # not a table name: ignored
    report = load_etl_files(con, folder)
    reconciled(report)
    found = rejects(con)
    assert [(r["row_number"], r["column_name"]) for r in found] == [(2, "value"), (3, "value"), (4, "value")]
    assert str(found[0]["reason"]) == (
        "transactions.csv writes value with decimals (e.g. '1.5' at line 3): its amounts are in whole "
        "ETH or tokens, not the integer base units (wei, or the token's smallest unit: amount x "
        "10^decimals) the column holds, so no amount of this file is loaded"
    )
    assert found[2]["reason"] == "missing required value"


# --- receipts, logs and traces ---------------------------------------------------------------------------


def test_receipts_fill_the_receipt_columns_the_transactions_lack(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    created = "0x" + "5" * 40
    write_csv(folder / "transactions.csv", [tx(1), tx(2, to_address="")])
    write_csv(
        folder / "receipts.csv",
        [
            {
                "transaction_hash": _hash(1),
                "transaction_index": "0",
                "block_hash": "0x" + "c" * 64,
                "block_number": "10000001",
                "cumulative_gas_used": "21000",
                "gas_used": "21000",
                "contract_address": "",
                "root": "",
                "status": "0",
                "effective_gas_price": "1000000000",
            },
            {
                "transaction_hash": _hash(2),
                "transaction_index": "0",
                "block_hash": "0x" + "c" * 64,
                "block_number": "10000002",
                "cumulative_gas_used": "90000",
                "gas_used": "90000",
                "contract_address": created,
                "root": "",
                "status": "1",
                "effective_gas_price": "1000000000",
            },
        ],
    )
    write_csv(folder / "contracts.csv", [{"address": created, "bytecode": "0x60"}])
    report = load_etl_files(con, folder)
    reconciled(report)
    assert con.execute(
        "select hash, receipt_status, receipt_gas_used, receipt_effective_gas_price, "
        "receipt_contract_address from raw.transactions order by hash"
    ).fetchall() == [(_hash(1), 0, 21000, 1_000_000_000, None), (_hash(2), 1, 90000, 1_000_000_000, created)]
    # The receipt names the contract, so its creator and time come from the creating transaction.
    assert con.execute("select creator_address, transaction_hash from raw.contract_creations").fetchall() == [
        (A, _hash(2))
    ]
    assert "2 transactions have receipt columns filled from receipts" in report.tables["transactions"].notes


TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


def test_logs_load_into_raw_logs_with_topics_joined_lower_case_and_the_block_time(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "transactions.csv", [tx(1)])
    write_csv(folder / "blocks.csv", [{"number": "10000001", "timestamp": str(T0 + 1)}])
    topic_a = "0x" + "0" * 24 + "a" * 40
    logs = [
        {
            "log_index": "7",
            "transaction_hash": _hash(1),
            "transaction_index": "0",
            "block_hash": "0x" + "c" * 64,
            "block_number": "10000001",
            "address": "0x" + "9" * 40,
            "data": "0x01",
            "topics": f"{TRANSFER_TOPIC.upper().replace('0X', '0x')},{topic_a}",
        },
        {
            **dict.fromkeys(("log_index",), "8"),
            "transaction_hash": _hash(1),
            "transaction_index": "0",
            "block_hash": "",
            "block_number": "10000001",
            "address": "0x" + "9" * 40,
            "data": "0x",
            "topics": "0x12",
        },
    ]
    write_csv(folder / "logs.csv", logs)
    report = load_etl_files(con, folder)
    reconciled(report)
    assert [c[0] for c in con.execute("describe raw.logs").fetchall()] == [
        "transaction_hash",
        "log_index",
        "transaction_index",
        "block_number",
        "block_timestamp",
        "address",
        "topics",
        "data",
    ]
    assert con.execute("select * from raw.logs").fetchall() == [
        (
            _hash(1),
            7,
            0,
            10_000_001,
            _utc(str(T0 + 1)),
            "0x" + "9" * 40,
            f"{TRANSFER_TOPIC},{topic_a}",
            "0x01",
        )
    ]
    (reject,) = rejects(con)
    assert (reject["table_name"], reject["row_number"], reject["column_name"]) == ("logs", 3, "topics")


def test_bigquery_logs_with_repeated_topics_load_like_ethereum_etl_csv(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "transactions.csv", [tx(1)])
    con.execute(
        f"""copy (select '{_hash(1)}' as transaction_hash, 3::bigint as log_index,
            0::bigint as transaction_index, 10000001::bigint as block_number,
            timestamp '2020-09-13 12:26:41' as block_timestamp,
            '{"0x" + "9" * 40}' as address, '0x' as data, ['{TRANSFER_TOPIC}', '{"0x" + "1" * 64}'] as topics,
            '{"0x" + "c" * 64}' as block_hash)
        to '{folder / "logs.parquet"}' (format parquet)"""
    )
    report = load_etl_files(con, folder)
    reconciled(report)
    assert con.execute("select topics, block_timestamp from raw.logs").fetchall() == [
        (f"{TRANSFER_TOPIC},{'0x' + '1' * 64}", _utc(str(T0 + 1)))
    ]


def test_traces_load_into_raw_traces_with_exact_wei_and_rewards_without_a_transaction(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "transactions.csv", [tx(1)])
    base = {
        "transaction_hash": _hash(1),
        "transaction_index": "0",
        "from_address": A,
        "to_address": B,
        "value": "123456789012345678901234567",
        "input": "0x",
        "output": "0x",
        "trace_type": "call",
        "call_type": "call",
        "reward_type": "",
        "gas": "2300",
        "gas_used": "0",
        "subtraces": "1",
        "trace_address": "",
        "error": "",
        "status": "1",
        "block_number": "10000001",
        "block_hash": "0x" + "c" * 64,
        "trace_id": "x",
    }
    traces = [
        base,
        base
        | {
            "trace_address": "0",
            "to_address": "0x" + "3" * 40,
            "value": "5",
            "status": "0",
            "error": "Reverted",
        },
        base
        | {
            "transaction_hash": "",
            "transaction_index": "",
            "from_address": "",
            "trace_type": "reward",
            "call_type": "",
            "reward_type": "block",
            "to_address": "0x" + "4" * 40,
            "value": "2000000000000000000",
        },
    ]
    write_csv(folder / "traces.csv", traces)
    report = load_etl_files(con, folder)
    reconciled(report)
    assert rejects(con) == []
    assert [c[0] for c in con.execute("describe raw.traces").fetchall()] == RAW_TABLES["traces"].column_names
    rows = con.execute(
        "select transaction_hash, trace_address, value::varchar, trace_type, call_type, status, error, "
        "block_timestamp from raw.traces order by trace_type, trace_address nulls first"
    ).fetchall()
    t = _utc(str(T0 + 1))
    assert rows == [
        (_hash(1), None, "123456789012345678901234567", "call", "call", 1, None, t),
        (_hash(1), "0", "5", "call", "call", 0, "Reverted", t),
        (None, None, "2000000000000000000", "reward", None, 1, None, None),
    ]
    assert report.tables["traces"].notes == [
        "1 rows have no block time: their block is in neither blocks nor transactions"
    ]


def test_without_logs_or_traces_files_the_tables_are_empty_and_not_provided(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "transactions.csv", [tx(1)])
    load_etl_files(con, folder)
    assert con.execute(
        "select table_name, provided, row_count from raw.source_manifest "
        "where table_name in ('logs', 'traces') order by 1"
    ).fetchall() == [("logs", False, 0), ("traces", False, 0)]
