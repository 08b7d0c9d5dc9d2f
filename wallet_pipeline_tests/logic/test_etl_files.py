"""The ethereum-etl files source: real exports load exactly, bad input is refused or quarantined."""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from wallet_pipeline.logic.ingestion.etl_files import EtlFilesError, FilesLoadReport, load_etl_files
from wallet_pipeline.logic.ingestion.raw_store import RawLoad

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "etl"
SLICE = FIXTURES / "raphtory_transactions_slice.csv"
# The full sample lives outside the repo (1.9 MB); tests that need it skip when it is absent.
RAPHTORY = Path(
    os.environ.get(
        "WALLET_RAPHTORY_SAMPLE",
        Path(__file__).resolve().parents[3] / "shared" / "data" / "raphtory_tx_sample",
    )
)
RAPHTORY_GZ = RAPHTORY / "transactions_03300000_03399999_small.csv.gz"
needs_raphtory = pytest.mark.skipif(not RAPHTORY_GZ.exists(), reason=f"Raphtory sample not at {RAPHTORY}")

TX_HEADER = [
    "hash",
    "nonce",
    "block_hash",
    "block_number",
    "transaction_index",
    "from_address",
    "to_address",
    "value",
    "gas",
    "gas_price",
    "input",
    "block_timestamp",
    "max_fee_per_gas",
    "max_priority_fee_per_gas",
    "transaction_type",
]
A = "0x" + "a" * 40
B = "0x" + "b" * 40
T0 = 1_600_000_000  # 2020-09-13 12:26:40 UTC


def _hash(i: int) -> str:
    return f"0x{i:064x}"


def tx(i: int, **overrides: str) -> dict[str, str]:
    """A valid ethereum-etl transaction row; overrides replace single fields."""
    row = {
        "hash": _hash(i),
        "nonce": str(i),
        "block_hash": "0x" + "c" * 64,
        "block_number": str(10_000_000 + i),
        "transaction_index": "0",
        "from_address": A,
        "to_address": B,
        "value": "1000",
        "gas": "21000",
        "gas_price": "1000000000",
        "input": "0x",
        "block_timestamp": str(T0 + i),
        "max_fee_per_gas": "",
        "max_priority_fee_per_gas": "",
        "transaction_type": "0",
    }
    row.update(overrides)
    return row


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = header or (list(rows[0]) if rows else TX_HEADER)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def rejects(con: duckdb.DuckDBPyConnection) -> list[dict[str, object]]:
    cursor = con.execute(
        "select table_name, source_file, row_number, column_name, reason, record "
        "from raw.raw_rejects order by table_name, source_file, row_number"
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def one_reject(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    found = rejects(con)
    assert len(found) == 1, found
    return found[0]


def raw_rows(con: duckdb.DuckDBPyConnection, table: str, order: str) -> list[tuple]:
    return con.execute(f"select * from raw.{table} order by {order}").fetchall()


def load_rows(
    con: duckdb.DuckDBPyConnection, folder: Path, rows: list[dict[str, str]], name: str = "transactions.csv"
) -> FilesLoadReport:
    write_csv(folder / name, rows)
    return load_etl_files(con, folder)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "export"
    path.mkdir()
    return path


@pytest.fixture
def fresh_con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def _file_rows(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", newline="") as fh:
        return list(csv.DictReader(fh))


def _utc(seconds: str) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC).replace(tzinfo=None)


# --- the real Raphtory sample --------------------------------------------------------------------


@needs_raphtory
def test_the_raphtory_sample_loads_all_19999_transactions_with_the_exact_wei_sum(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    shutil.copy(RAPHTORY_GZ, folder / "transactions.csv.gz")
    report = load_etl_files(con, folder)

    expected = _file_rows(RAPHTORY_GZ)
    assert report.tables["transactions"].rows_loaded == len(expected) == 19_999
    assert report.tables["transactions"].rows_rejected == 0
    assert rejects(con) == []
    count, wei, senders, receivers = con.execute(
        "select count(*), sum(value), count(distinct from_address), count(distinct to_address) "
        "from raw.transactions"
    ).fetchone()
    assert count == 19_999
    assert wei == Decimal(sum(int(r["value"]) for r in expected))
    assert (senders, receivers) == (5_986, len({r["to_address"] for r in expected if r["to_address"]}))


@needs_raphtory
def test_the_raphtory_sample_keeps_every_field_of_a_spot_checked_row(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    shutil.copy(RAPHTORY_GZ, folder / "transactions.csv.gz")
    load_etl_files(con, folder)
    expected = _file_rows(RAPHTORY_GZ)
    for row in (expected[0], expected[9_999], expected[-1]):
        got = con.execute(
            "select nonce, block_number, from_address, to_address, value::varchar, gas, gas_price, "
            "block_timestamp, block_date, input from raw.transactions where hash = ?",
            [row["hash"]],
        ).fetchone()
        assert got == (
            int(row["nonce"]),
            int(row["block_number"]),
            row["from_address"],
            row["to_address"] or None,
            row["value"],
            int(row["gas"]),
            int(row["gas_price"]),
            _utc(row["block_timestamp"]),
            _utc(row["block_timestamp"]).date(),
            row["input"],
        )


@needs_raphtory
def test_raphtorys_ethereum_tx_csv_loads_as_a_transactions_file(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    shutil.copy(RAPHTORY / "ethereum_tx.csv", folder / "transactions.csv")
    report = load_etl_files(con, folder)
    assert report.tables["transactions"].rows_loaded == 199
    assert rejects(con) == []
    days = con.execute("select distinct block_date::varchar from raw.transactions").fetchall()
    assert days == [("2020-07-21",)]


@needs_raphtory
def test_raphtorys_token_transfers_in_whole_tokens_are_read_and_every_row_rejected_naming_base_units(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    # Raphtory's file names the Etherscan API's columns (contract_address, time_stamp) and writes
    # USDT amounts in whole tokens ("18.67", "10000.0"): read, but never loaded as base units.
    shutil.copy(SLICE, folder / "transactions.csv")
    shutil.copy(RAPHTORY / "token_transfers.csv", folder / "token_transfers.csv")
    report = load_etl_files(con, folder)
    table = report.tables["token_transfers"]
    assert (table.rows_read, table.rows_loaded, table.rows_rejected) == (99, 0, 99)
    assert table.rows_read == table.rows_loaded + table.rows_rejected
    assert table.extra_columns == {"token_transfers.csv": ["transaction_index"]}
    found = rejects(con)
    assert {(r["column_name"], r["source_file"]) for r in found} == {("value", "token_transfers.csv")}
    assert "writes value with decimals (e.g. '18.67' at line 2)" in str(found[0]["reason"])
    assert "integer base units" in str(found[0]["reason"])
    note = con.execute("select note from raw.source_files where path = 'token_transfers.csv'").fetchone()
    assert note == (
        "read contract_address as token_address, time_stamp as block_timestamp; "
        "extra column(s) ['transaction_index'] not read",
    )


# --- the shipped slice of the Raphtory sample ----------------------------------------------------


def test_the_shipped_slice_loads_row_for_row_including_contract_creations(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    shutil.copy(SLICE, folder / "transactions.csv")
    load_etl_files(con, folder)
    expected = {r["hash"]: r for r in _file_rows(SLICE)}
    got = con.execute(
        "select hash, from_address, to_address, value::varchar, block_timestamp from raw.transactions"
    ).fetchall()
    assert len(got) == len(expected) == 43
    for hash_, sender, receiver, value, time in got:
        row = expected[hash_]
        assert (sender, receiver, value, time) == (
            row["from_address"],
            row["to_address"] or None,
            row["value"],
            _utc(row["block_timestamp"]),
        )
    assert sum(1 for r in got if r[2] is None) == 3


def _typed_parquet(con: duckdb.DuckDBPyConnection, source: Path, target: Path) -> None:
    """Write the slice the way a BigQuery export types it: INT64, NUMERIC, TIMESTAMP."""
    target.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"""
        copy (
            select hash, nonce::bigint as nonce, block_hash, block_number::bigint as block_number,
                transaction_index::bigint as transaction_index, from_address, to_address,
                value::decimal(38, 9) as value, gas::bigint as gas, gas_price::bigint as gas_price,
                input, make_timestamp(block_timestamp::bigint * 1000000) as block_timestamp,
                max_fee_per_gas::bigint as max_fee_per_gas,
                max_priority_fee_per_gas::bigint as max_priority_fee_per_gas,
                transaction_type::bigint as transaction_type
            from read_csv('{source}', all_varchar=true, header=true)
        ) to '{target}' (format parquet)
        """
    )


# The transaction columns ethereum-etl holds as Python ints, so its JSON writes bare numbers.
TX_INT_COLUMNS = frozenset(
    {
        "nonce",
        "block_number",
        "transaction_index",
        "value",
        "gas",
        "gas_price",
        "block_timestamp",
        "max_fee_per_gas",
        "max_priority_fee_per_gas",
        "transaction_type",
    }
)


def write_json_lines(path: Path, rows: list[dict[str, str]], style: str = "ethereum-etl") -> Path:
    """Write rows as newline-delimited JSON the way an exporter does.

    "ethereum-etl": integer columns as bare JSON numbers (2^70 as its digits), empty values as
    null, and the item's `type` field. "bigquery": integers as strings (BigQuery's INT64 and
    NUMERIC in JSON), times as `YYYY-MM-DD HH:MM:SS UTC`, NULL fields left out.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for row in rows:
        if style == "ethereum-etl":
            item: dict[str, object] = {"type": "transaction"}
            item |= {k: (int(v) if k in TX_INT_COLUMNS else v) if v != "" else None for k, v in row.items()}
        else:
            item = {k: v for k, v in row.items() if v != ""}
            if "block_timestamp" in item:
                item["block_timestamp"] = f"{_utc(item['block_timestamp']):%Y-%m-%d %H:%M:%S} UTC"
        lines.append(json.dumps(item))
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def test_csv_csv_gz_parquet_and_json_lines_give_identical_raw_tables(
    tmp_path: Path, fresh_con: duckdb.DuckDBPyConnection
) -> None:
    text = SLICE.read_bytes()
    rows = _file_rows(SLICE)
    variants = {
        "csv": lambda d: (d / "transactions.csv").write_bytes(text),
        "gz": lambda d: (d / "transactions.csv.gz").write_bytes(gzip.compress(text)),
        "parquet_text": lambda d: fresh_con.execute(
            f"copy (select * from read_csv('{SLICE}', all_varchar=true, header=true)) "
            f"to '{d / 'transactions.parquet'}' (format parquet)"
        ),
        "parquet_typed": lambda d: _typed_parquet(fresh_con, SLICE, d / "transactions.parquet"),
        "json": lambda d: write_json_lines(d / "transactions.json", rows),
        "json_gz": lambda d: write_json_lines(d / "transactions.json.gz", rows),
        "json_bigquery": lambda d: write_json_lines(d / "transactions.json.gz", rows, style="bigquery"),
    }
    tables = {}
    for name, write in variants.items():
        folder = tmp_path / name
        folder.mkdir()
        write(folder)
        with duckdb.connect() as con:
            report = load_etl_files(con, folder)
            assert report.tables["transactions"].rows_rejected == 0, name
            tables[name] = raw_rows(con, "transactions", "hash")
    assert len(tables["csv"]) == 43
    for name, rows in tables.items():
        assert rows == tables["csv"], name


def test_a_parquet_reject_names_its_one_based_row(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    source = write_csv(folder.parent / "rows.csv", [tx(1), tx(2, value="-1"), tx(3)])
    con.execute(
        f"copy (select * from read_csv('{source}', all_varchar=true, header=true)) "
        f"to '{folder / 'transactions.parquet'}' (format parquet)"
    )
    load_etl_files(con, folder)
    reject = one_reject(con)
    assert (reject["source_file"], reject["row_number"], reject["reason"]) == (
        "transactions.parquet",
        2,
        "negative: '-1'",
    )


def test_a_parquet_amount_stored_as_floating_point_stops_the_load(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    source = write_csv(folder.parent / "rows.csv", [tx(1, value="804264913889669500")])
    con.execute(
        f"copy (select * replace (value::double as value) from read_csv('{source}', all_varchar=true)) "
        f"to '{folder / 'transactions.parquet'}' (format parquet)"
    )
    with pytest.raises(
        EtlFilesError, match=r"^transactions\.parquet: column\(s\) \['value'\] are floating point"
    ):
        load_etl_files(con, folder)


def test_a_partitioned_ethereum_etl_folder_loads_like_one_file(
    tmp_path: Path, fresh_con: duckdb.DuckDBPyConnection
) -> None:
    rows = _file_rows(SLICE)
    single = tmp_path / "single"
    write_csv(single / "transactions.csv", rows)
    load_etl_files(fresh_con, single)
    expected = raw_rows(fresh_con, "transactions", "hash")

    partitioned = tmp_path / "partitioned"
    parts = [rows[:15], rows[15:30], rows[30:]]
    names = [
        "start_block=03300000/end_block=03300400/transactions_03300000_03300400.csv",
        "start_block=03300401/end_block=03300401/transactions_03300401_03300401.csv.gz",
        "start_block=03300402/end_block=03399999/transactions_03300402_03399999.csv",
    ]
    for name, part in zip(names, parts, strict=True):
        write_csv(partitioned / "transactions" / name, part, header=TX_HEADER)
    (partitioned / "transactions" / "_SUCCESS").write_text("")
    with duckdb.connect() as con:
        report = load_etl_files(con, partitioned)
        assert report.tables["transactions"].files == [f"transactions/{n}" for n in names]
        assert raw_rows(con, "transactions", "hash") == expected


def test_dawsbot_exchange_labels_load_with_their_types_mapped(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    dawsbot = _file_rows(FIXTURES / "dawsbot_cex-addresses_head.csv")
    labels = [
        {"address": r["address"], "label_type": "cex", "name": r["nameTag"], "source": "dawsbot/eth-labels"}
        for r in dawsbot
    ]
    labels += [
        # Binance 14 in its EIP-55 checksummed spelling.
        {
            "address": "0x28C6c06298d514Db089934071355E5743bf21d60",
            "label_type": "CEX",
            "name": "Binance 14",
            "source": "x",
        },
        {"address": "0x" + "1" * 40, "label_type": "Phish / Hack", "name": "", "source": "x"},
        {"address": "0x" + "2" * 40, "label_type": "tornado-cash", "name": "", "source": "x"},
        {"address": "0x" + "3" * 40, "label_type": "OFAC Sanctions Lists", "name": "", "source": "x"},
        {"address": "0x" + "4" * 40, "label_type": "upbit-hack", "name": "", "source": "x"},
        {"address": "0x" + "5" * 40, "label_type": "gambling", "name": "", "source": "x"},
    ]
    shutil.copy(SLICE, folder / "transactions.csv")
    write_csv(folder / "labels.csv", labels)
    report = load_etl_files(con, folder)

    assert report.tables["address_labels"].rows_loaded == len(labels)
    got = dict(con.execute("select address, label_type from raw.address_labels").fetchall())
    assert {got[r["address"]] for r in dawsbot} == {"exchange"}
    assert got["0x28c6c06298d514db089934071355e5743bf21d60"] == "exchange"
    assert [got["0x" + c * 40] for c in "12345"] == ["scam", "mixer", "sanctioned", "scam", "other"]
    named = con.execute(
        "select name from raw.address_labels where address = ?", [dawsbot[2]["address"]]
    ).fetchone()
    assert named == ("ABCC",)
    assert rejects(con) == []
    kept = con.execute(
        "select original_label_type from raw.address_labels where address = ?", ["0x" + "5" * 40]
    ).fetchone()
    assert kept == ("gambling",)
    assert report.tables["address_labels"].notes == [
        "1 labels of 1 types no synonym knows load as other "
        "(original kept in original_label_type; most frequent: gambling)"
    ]


def test_labels_without_a_source_column_take_the_file_name_as_source(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    shutil.copy(SLICE, folder / "transactions.csv")
    write_csv(folder / "labels.csv", [{"address": A, "label_type": "exchange"}])
    load_etl_files(con, folder)
    assert con.execute("select source from raw.address_labels").fetchall() == [("labels.csv",)]


# --- bad input, one case per test ------------------------------------------------------------------


def test_a_malformed_address_quarantines_its_row_with_line_column_and_record(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    report = load_rows(con, folder, [tx(1), tx(2, to_address="0x123"), tx(3)])
    assert report.tables["transactions"].rows_loaded == 2
    reject = one_reject(con)
    assert reject["table_name"] == "transactions"
    assert reject["source_file"] == "transactions.csv"
    assert reject["row_number"] == 3  # the header is line 1
    assert reject["column_name"] == "to_address"
    assert reject["reason"] == "not an address (0x and 40 hex digits): '0x123'"
    record = json.loads(str(reject["record"]))
    assert record["to_address"] == "0x123" and record["hash"] == _hash(2)


@pytest.mark.parametrize(
    "column, bad",
    [
        ("from_address", "0x" + "g" * 40),
        ("from_address", "a" * 42),
        ("from_address", "0x" + "a" * 39),
        ("hash", "0x" + "a" * 63),
        ("block_hash", "0xZZ"),
    ],
)
def test_every_malformed_address_or_hash_is_quarantined(
    con: duckdb.DuckDBPyConnection, folder: Path, column: str, bad: str
) -> None:
    load_rows(con, folder, [tx(1), tx(2, **{column: bad})])
    reject = one_reject(con)
    assert reject["column_name"] == column and bad in str(reject["reason"])


def test_checksummed_mixed_case_addresses_are_valid_and_stored_lower_case(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    load_rows(con, folder, [tx(1, from_address="0x28C6c06298d514Db089934071355E5743bf21d60")])
    assert rejects(con) == []
    stored = con.execute("select from_address from raw.transactions").fetchone()
    assert stored == ("0x28c6c06298d514db089934071355e5743bf21d60",)


def test_a_missing_required_value_is_quarantined(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    load_rows(con, folder, [tx(1, from_address="")])
    reject = one_reject(con)
    assert (reject["column_name"], reject["reason"]) == ("from_address", "missing required value")


def test_an_empty_to_address_is_a_contract_creation_not_an_error(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    load_rows(con, folder, [tx(1, to_address="")])
    assert rejects(con) == []
    assert con.execute("select to_address from raw.transactions").fetchall() == [(None,)]


def test_a_negative_value_is_quarantined(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    load_rows(con, folder, [tx(1, value="-5")])
    reject = one_reject(con)
    assert (reject["column_name"], reject["reason"]) == ("value", "negative: '-5'")


@pytest.mark.parametrize("bad", ["abc", "0x10", "1,000", " 7", "1e"])
def test_a_non_numeric_or_fractional_value_is_quarantined(
    con: duckdb.DuckDBPyConnection, folder: Path, bad: str
) -> None:
    load_rows(con, folder, [tx(1), tx(2, value=bad)])
    reject = one_reject(con)
    assert reject["column_name"] == "value"
    assert reject["reason"] == f"not a non-negative integer: '{bad}'"


def test_a_value_in_exponent_form_rejects_every_amount_of_its_file(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    # pandas prints a float column as 1e+18: the column went through a float, so its other
    # values (1000 here) may have lost digits too.
    load_rows(con, folder, [tx(1), tx(2, value="1e+18")])
    found = rejects(con)
    assert [(r["row_number"], r["column_name"]) for r in found] == [(2, "value"), (3, "value")]
    assert found[0]["reason"].startswith(
        "transactions.csv writes value as floating-point numbers (e.g. '1e+18' at line 3;"
    )


def test_integers_written_with_a_zero_fraction_load_as_integers(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    # pandas writes nullable integer columns as floats; BigQuery NUMERIC exports carry .000000000.
    load_rows(con, folder, [tx(1, gas="21000.0", value="1000.000000000")])
    assert rejects(con) == []
    assert con.execute("select gas, value::varchar from raw.transactions").fetchone() == (21000, "1000")


def test_wei_beyond_two_to_the_64_loads_exactly(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    big, widest = str(2**64 + 1), "9" * 38
    load_rows(con, folder, [tx(1, value=big), tx(2, value=widest), tx(3, value="000042")])
    assert rejects(con) == []
    values = con.execute("select value::varchar from raw.transactions order by hash").fetchall()
    assert values == [(big,), (widest,), ("42",)]
    assert con.execute("select value from raw.transactions order by hash limit 1").fetchone()[0] == Decimal(
        big
    )


def test_wei_with_more_than_38_digits_is_quarantined_with_the_reason(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    load_rows(con, folder, [tx(1), tx(2, value="1" + "0" * 38), tx(3, value=str(2**256))])
    found = rejects(con)
    assert [r["row_number"] for r in found] == [3, 4]
    assert found[0]["reason"].startswith("39 digits, beyond DECIMAL(38,0)")
    assert found[1]["reason"].startswith("78 digits, beyond DECIMAL(38,0)")


def test_an_integer_beyond_bigint_is_quarantined_with_the_reason(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    load_rows(con, folder, [tx(1, gas=str(2**63 - 1)), tx(2, gas=str(2**63))])
    reject = one_reject(con)
    assert reject["column_name"] == "gas"
    assert reject["reason"] == f"beyond the BIGINT range (max 2^63-1): '{2**63}'"
    assert con.execute("select gas from raw.transactions").fetchall() == [(2**63 - 1,)]


def _transfer(i: int, **overrides: str) -> dict[str, str]:
    row = {
        "token_address": "0x" + "d" * 40,
        "from_address": A,
        "to_address": B,
        "value": "1",
        "transaction_hash": _hash(1),
        "log_index": str(i),
        "block_number": str(10_000_001),
    }
    row.update(overrides)
    return row


def test_token_values_up_to_uint256_max_load_as_exact_text_and_beyond_are_quarantined(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "transactions.csv", [tx(1)])
    write_csv(
        folder / "token_transfers.csv",
        [_transfer(0, value=str(2**256 - 1)), _transfer(1, value=str(2**256)), _transfer(2, value="0")],
    )
    load_etl_files(con, folder)
    values = con.execute("select value from raw.token_transfers order by log_index").fetchall()
    assert values == [(str(2**256 - 1),), ("0",)]
    reject = one_reject(con)
    assert (reject["table_name"], reject["column_name"]) == ("token_transfers", "value")
    assert reject["reason"].startswith("beyond uint256 (max 2^256-1)")


def test_missing_required_columns_stop_the_load_naming_file_columns_and_expectation(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    header = [c for c in TX_HEADER if c not in ("value", "from_address")] + ["from"]
    rows = [{k: v for k, v in (tx(1) | {"from": A}).items() if k in header}]
    write_csv(folder / "transactions.csv", rows, header=header)
    with pytest.raises(EtlFilesError) as error:
        load_etl_files(con, folder)
    message = str(error.value)
    assert message.startswith(
        "transactions.csv: missing required column(s) ['from_address'] (rename from -> from_address?)"
    )
    assert "none of its rows can be loaded" in message
    assert "Expected transactions columns: required ['from_address', 'to_address']" in message


def test_unknown_columns_are_read_past_and_reported_in_the_report_manifest_and_files_table(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "transactions.csv", [tx(1) | {"gas_limit_x": "1", "memo": "hi"}])
    report = load_etl_files(con, folder)
    table = report.tables["transactions"]
    assert (table.rows_read, table.rows_loaded, table.rows_rejected) == (1, 1, 0)
    assert table.extra_columns == {"transactions.csv": ["gas_limit_x", "memo"]}
    notes = con.execute("select notes from raw.source_manifest where table_name = 'transactions'").fetchone()
    assert notes == ("transactions.csv: extra column(s) ['gas_limit_x', 'memo'] not read",)
    assert con.execute("select value::varchar from raw.transactions").fetchall() == [("1000",)]


def test_known_ethereum_etl_and_bigquery_columns_are_accepted_ignored_and_reported(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    extra = {
        "receipt_cumulative_gas_used": "21000",
        "receipt_root": "",
        "max_fee_per_blob_gas": "",
        "blob_versioned_hashes": "",
        "chain_id": "1",
        "receipt_status": "1",
        "receipt_gas_used": "21000",
    }
    write_csv(folder / "transactions.csv", [tx(1) | extra])
    report = load_etl_files(con, folder)
    assert report.tables["transactions"].ignored_columns == [
        "blob_versioned_hashes",
        "chain_id",
        "max_fee_per_blob_gas",
        "receipt_cumulative_gas_used",
        "receipt_root",
    ]
    assert con.execute("select receipt_status, receipt_gas_used from raw.transactions").fetchone() == (
        1,
        21000,
    )


def test_a_zero_byte_file_stops_the_load(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    (folder / "transactions.csv").write_bytes(b"")
    with pytest.raises(EtlFilesError, match=r"^transactions\.csv: empty file \(0 bytes\)"):
        load_etl_files(con, folder)


def test_a_gzip_file_that_holds_nothing_stops_the_load(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    (folder / "transactions.csv.gz").write_bytes(gzip.compress(b""))
    with pytest.raises(EtlFilesError, match=r"^transactions\.csv\.gz: empty file \(no header line"):
        load_etl_files(con, folder)


def test_a_header_only_file_is_an_empty_table_that_the_source_provided(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "transactions.csv", [tx(1)])
    write_csv(folder / "token_transfers.csv", [], header=list(_transfer(0)))
    report = load_etl_files(con, folder)
    assert report.tables["token_transfers"].rows_read == 0
    assert con.execute("select count(*) from raw.token_transfers").fetchone() == (0,)
    provided = con.execute(
        "select table_name from raw.source_manifest where provided order by table_name"
    ).fetchall()
    assert provided == [("token_transfers",), ("transactions",)]


def test_duplicate_keys_keep_the_first_row_and_quarantine_the_others_naming_the_key(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    load_rows(con, folder, [tx(1, value="1"), tx(2), tx(1, value="1"), tx(1, value="999")])
    assert con.execute("select hash, value::varchar from raw.transactions order by hash").fetchall() == [
        (_hash(1), "1"),
        (_hash(2), "1000"),
    ]
    found = rejects(con)
    assert [(r["row_number"], r["column_name"]) for r in found] == [(4, "hash"), (5, "hash")]
    prefix = (
        f"duplicate key hash={_hash(1)}: the first row with this key (transactions.csv line 2) was kept; "
    )
    assert found[0]["reason"] == prefix + "this one is identical"
    assert found[1]["reason"] == prefix + "this one differs from it"


def test_duplicates_across_partition_files_keep_the_row_of_the_earlier_file(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "transactions" / "start_block=00000001" / "a.csv", [tx(1, value="1")])
    write_csv(folder / "transactions" / "start_block=00000002" / "b.csv", [tx(1, value="2")])
    load_etl_files(con, folder)
    assert con.execute("select value::varchar from raw.transactions").fetchall() == [("1",)]
    reject = one_reject(con)
    assert reject["source_file"] == "transactions/start_block=00000002/b.csv"
    assert "(transactions/start_block=00000001/a.csv line 2)" in str(reject["reason"])


def test_a_duplicate_token_transfer_names_both_key_columns(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "transactions.csv", [tx(1)])
    write_csv(folder / "token_transfers.csv", [_transfer(7), _transfer(7)])
    load_etl_files(con, folder)
    reject = one_reject(con)
    assert reject["column_name"] == "transaction_hash,log_index"
    assert str(reject["reason"]).startswith(f"duplicate key transaction_hash={_hash(1)}, log_index=7:")


def test_mixed_timestamp_formats_in_one_file_all_parse_to_utc(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    spellings = [
        "1488775107",
        "2017-03-06 04:38:27 UTC",  # BigQuery CSV export
        "2017-03-06T04:38:27Z",
        "2017-03-06T04:38:27+00:00",
        "2017-03-06 04:38:27",
        "2017-03-06T06:38:27+02:00",
        "2017-03-05T23:08:27-0530",
        "2017-03-06 04:38:27.000000 UTC",
        "1488775107.0",
    ]
    load_rows(con, folder, [tx(i, block_timestamp=s) for i, s in enumerate(spellings)])
    assert rejects(con) == []
    times = con.execute("select distinct block_timestamp, block_date from raw.transactions").fetchall()
    assert times == [(datetime(2017, 3, 6, 4, 38, 27), datetime(2017, 3, 6).date())]


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("yesterday", "not unix seconds or an ISO-8601 timestamp: 'yesterday'"),
        ("2017-13-45 00:00:00", "not unix seconds or an ISO-8601 timestamp: '2017-13-45 00:00:00'"),
        ("06/03/2017", "not unix seconds or an ISO-8601 timestamp: '06/03/2017'"),
        ("1488775107000", "unix time of 12+ digits (milliseconds?); expected seconds: '1488775107000'"),
        ("1000", "before 2015-07-30: '1000'"),
        ("2150-01-01T00:00:00Z", "after 2100-01-01: '2150-01-01T00:00:00Z'"),
    ],
)
def test_an_unparseable_or_implausible_timestamp_is_quarantined(
    con: duckdb.DuckDBPyConnection, folder: Path, bad: str, reason: str
) -> None:
    load_rows(con, folder, [tx(1), tx(2, block_timestamp=bad)])
    reject = one_reject(con)
    assert (reject["column_name"], reject["reason"]) == ("block_timestamp", reason)


def test_a_folder_that_does_not_exist_stops_the_load(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    with pytest.raises(EtlFilesError, match="does not exist"):
        load_etl_files(con, tmp_path / "nowhere")


def test_a_folder_without_transactions_stops_the_load(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    write_csv(folder / "token_transfers.csv", [_transfer(0)])
    with pytest.raises(EtlFilesError, match=r"^no transactions in .*: expected transactions\.csv"):
        load_etl_files(con, folder)


def test_a_table_given_twice_stops_the_load(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    write_csv(folder / "transactions.csv", [tx(1)])
    write_csv(folder / "transactions" / "part.csv", [tx(2)])
    with pytest.raises(
        EtlFilesError, match=r"transactions is given 2 times \(transactions/, transactions\.csv\)"
    ):
        load_etl_files(con, folder)


def test_unknown_files_are_skipped_and_listed_and_a_misspelt_table_is_a_warning_naming_it(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "transactions.csv", [tx(1)])
    write_csv(folder / "token_transfer.csv", [_transfer(0)])
    write_csv(folder / "geth_traces.csv", [{"block_number": "0"}])
    write_csv(folder / "wallet_scores.csv", [{"address": A}])
    (folder / "README.txt").write_text("exported 2024-01-01")
    report = load_etl_files(con, folder)
    assert report.ignored_paths == [
        "README.txt",
        "geth_traces.csv",
        "token_transfer.csv",
        "wallet_scores.csv",
    ]
    assert report.warnings == [
        "token_transfer.csv was not read: its name is not an input table; if it holds token_transfers, "
        "rename it token_transfers.csv"
    ]
    assert "token_transfers" not in report.tables
    files = con.execute(
        "select path, input_name, status, rows_read, note from raw.source_files order by path"
    )
    assert files.fetchall() == [
        ("README.txt", None, "ignored", None, "not a data file"),
        ("geth_traces.csv", None, "ignored", None, "an ethereum-etl export that no raw table needs"),
        ("token_transfer.csv", None, "ignored", None, "not an input table; did you mean token_transfers?"),
        ("transactions.csv", "transactions", "read", 1, None),
        ("wallet_scores.csv", None, "ignored", None, "not an input table"),
    ]


def test_a_table_mostly_rejected_stops_the_load_naming_column_count_and_expectation(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    rows = [tx(i, block_timestamp=str((T0 + i) * 1000)) for i in range(150)]
    with pytest.raises(EtlFilesError) as error:
        load_rows(con, folder, rows)
    message = str(error.value)
    assert "150 of 150 rows (100%) would be rejected" in message
    assert (
        "transactions.csv, column block_timestamp (150 rows), e.g. line 2: unix time of 12+ digits" in message
    )
    assert "Expected unix seconds or an ISO-8601 timestamp" in message


def test_a_load_that_raises_leaves_the_previous_raw_tables_intact(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    good = tmp_path / "good"
    first = load_rows(con, good, [tx(1), tx(2, value="-1")])
    bad = tmp_path / "bad"
    write_csv(bad / "transactions.csv", [{"hash": _hash(9)}], header=["hash"])
    with pytest.raises(EtlFilesError):
        load_etl_files(con, bad)
    assert con.execute("select hash from raw.transactions").fetchall() == [(_hash(1),)]
    assert con.execute("select distinct load_id from raw.source_manifest").fetchall() == [(first.load_id,)]
    assert [r["reason"] for r in rejects(con)] == ["negative: '-1'"]


def test_a_failure_inside_the_raw_load_keeps_the_previous_tables_and_leaves_no_work_tables(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_rows(con, tmp_path / "good", [tx(1)])

    def broken_reject(self: RawLoad, data: object) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(RawLoad, "reject", broken_reject)
    with pytest.raises(RuntimeError, match="disk full"):
        load_rows(con, tmp_path / "next", [tx(2), tx(3)])
    assert con.execute("select hash from raw.transactions").fetchall() == [(_hash(1),)]
    leftovers = con.execute(
        "select table_name from duckdb_tables() where table_name like '%\\_\\_etl\\_%' escape '\\' "
        "or table_name like '%__loading' union all "
        "select view_name from duckdb_views() where view_name like '%\\_\\_etl\\_%' escape '\\'"
    ).fetchall()
    assert leftovers == []


# --- lookups across tables ---------------------------------------------------------------------------


def test_token_transfers_take_their_time_from_blocks_else_transactions_else_are_quarantined(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "transactions.csv", [tx(1, block_number="100")])
    write_csv(
        folder / "blocks.csv",
        [{"number": "200", "hash": "0x" + "e" * 64, "timestamp": "1700000000", "miner": A}],
    )
    write_csv(
        folder / "token_transfers.csv",
        [
            _transfer(0, block_number="200", transaction_hash=_hash(8)),
            _transfer(1, block_number="100"),
            _transfer(2, block_number="300", transaction_hash=_hash(9)),
        ],
    )
    report = load_etl_files(con, folder)
    times = con.execute(
        "select log_index, block_timestamp from raw.token_transfers order by log_index"
    ).fetchall()
    assert times == [(0, _utc("1700000000")), (1, _utc(str(T0 + 1)))]
    reject = one_reject(con)
    assert (reject["column_name"], reject["row_number"]) == ("block_timestamp", 4)
    assert reject["reason"] == (
        f"no block time: the row has none, block 300 is not in blocks and transaction {_hash(9)} "
        "is not in transactions"
    )
    assert report.tables["blocks"].ignored_columns == ["miner"]
    assert report.tables["blocks"].raw_table is None


def test_contracts_get_creator_and_time_from_the_creating_transaction_else_from_blocks(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    c1, c2, c3 = ("0x" + c * 40 for c in "123")
    write_csv(
        folder / "transactions.csv",
        [tx(1) | {"to_address": "", "receipt_contract_address": c1.upper().replace("0X", "0x")}],
    )
    write_csv(folder / "blocks.csv", [{"number": "500", "timestamp": "2021-01-01 00:00:00 UTC"}])
    contract = {
        "bytecode": "0x6080",
        "function_sighashes": "0xa9059cbb,0x095ea7b3",
        "is_erc20": "True",
        "is_erc721": "false",
    }
    write_csv(
        folder / "contracts.csv",
        [
            {"address": c1, "block_number": "", **contract},
            {"address": c2, "block_number": "500", **contract},
            {"address": c3, "block_number": "", **contract},
        ],
    )
    load_etl_files(con, folder)
    rows = con.execute(
        "select address, creator_address, transaction_hash, block_number, block_timestamp, "
        "is_erc20, is_erc721, function_sighashes from raw.contract_creations order by address"
    ).fetchall()
    assert rows == [
        (c1, A, _hash(1), 10_000_001, _utc(str(T0 + 1)), True, False, "0xa9059cbb,0x095ea7b3"),
        (c2, None, None, 500, datetime(2021, 1, 1), True, False, "0xa9059cbb,0x095ea7b3"),
        (c3, None, None, None, None, True, False, "0xa9059cbb,0x095ea7b3"),
    ]


def test_tokens_keep_total_supply_exact_and_quarantine_bad_decimals(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "transactions.csv", [tx(1)])
    token = {
        "address": A,
        "symbol": "USDT",
        "name": "Tether USD",
        "decimals": "6",
        "total_supply": str(2**200),
    }
    write_csv(folder / "tokens.csv", [token, token | {"address": B, "decimals": "-1"}])
    load_etl_files(con, folder)
    assert con.execute("select address, decimals, total_supply from raw.tokens").fetchall() == [
        (A, 6, str(2**200))
    ]
    assert one_reject(con)["reason"] == "negative: '-1'"


def test_dex_trades_with_raw_column_names_and_iso_times_load_with_a_derived_date(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "transactions.csv", [tx(1)])
    trade = {
        "block_time": "2024-01-01 23:59:59.000 UTC",
        "block_date": "1999-01-01",
        "block_number": "18908894",
        "tx_hash": _hash(5),
        "evt_index": "3",
        "project": "uniswap",
        "taker": A,
        "token_bought_amount_raw": str(2**100),
        "amount_usd": "1234.5",
    }
    write_csv(folder / "dex_trades.csv", [trade])
    report = load_etl_files(con, folder)
    assert report.tables["dex_trades"].ignored_columns == ["block_date"]
    got = con.execute(
        "select block_time, block_date, token_bought_amount_raw, amount_usd from raw.dex_trades"
    ).fetchone()
    assert got == (datetime(2024, 1, 1, 23, 59, 59), datetime(2024, 1, 1).date(), str(2**100), 1234.5)


def test_the_report_counts_rows_per_table_and_names_the_load(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    report = load_rows(con, folder, [tx(1), tx(2, value="x"), tx(3)])
    assert report.summary() == {
        "transactions": {"files": 1, "rows_read": 3, "rows_loaded": 2, "rows_rejected": 1}
    }
    assert (report.rows_loaded, report.rows_rejected) == (2, 1)
    ids = con.execute("select distinct load_id from raw.raw_rejects").fetchall()
    assert ids == [(report.load_id,)]


def _two_member_gzip(rows: list[dict[str, str]]) -> bytes:
    """The rows as a .csv.gz of two gzip members (header and first half, then the rest), as
    `cat a.gz b.gz` or a restarted exporter writes them."""
    lines = [",".join(TX_HEADER)] + [",".join(r[c] for c in TX_HEADER) for r in rows]
    half = len(lines) // 2
    first = gzip.compress(("\n".join(lines[:half]) + "\n").encode())
    second = gzip.compress(("\n".join(lines[half:]) + "\n").encode())
    return first + second


def _tables_of(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        r[0]
        for r in con.execute("select table_name from duckdb_tables() where schema_name = 'raw'").fetchall()
    ]


def test_a_whole_two_member_csv_gz_loads_every_row(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    (folder / "transactions.csv.gz").write_bytes(_two_member_gzip([tx(i) for i in range(400)]))
    report = load_etl_files(con, folder)
    assert (report.rows_loaded, report.rows_rejected) == (400, 0)


@pytest.mark.parametrize(
    "where",
    [
        "before_the_last_trailer",
        "inside_the_last_trailer",
        "inside_the_second_member",
        "inside_the_first_member",
    ],
)
def test_a_truncated_csv_gz_stops_the_load_naming_the_file_and_stores_nothing(
    con: duckdb.DuckDBPyConnection, folder: Path, where: str
) -> None:
    whole = _two_member_gzip([tx(i) for i in range(400)])
    # Where the second member's magic bytes start (past the first member's 10-byte header).
    first_member = whole.index(b"\x1f\x8b", 10)
    cut = {
        # gzip's trailer is the last 8 bytes: CRC-32 and length.
        "before_the_last_trailer": len(whole) - 8,
        "inside_the_last_trailer": len(whole) - 3,
        "inside_the_second_member": (first_member + len(whole)) // 2,
        "inside_the_first_member": first_member // 2,
    }[where]
    (folder / "transactions.csv.gz").write_bytes(whole[:cut])
    with pytest.raises(EtlFilesError, match=r"^transactions\.csv\.gz: truncated gzip file"):
        load_etl_files(con, folder)
    assert _tables_of(con) == []


def test_a_csv_gz_with_a_wrong_checksum_is_refused_as_corrupt(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    whole = bytearray(gzip.compress(SLICE.read_bytes()))
    whole[-8] ^= 0xFF  # the first byte of the CRC-32 in the trailer
    (folder / "transactions.csv.gz").write_bytes(bytes(whole))
    with pytest.raises(EtlFilesError, match=r"^transactions\.csv\.gz: corrupt gzip file \(CRC check failed"):
        load_etl_files(con, folder)
    assert _tables_of(con) == []


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_a_truncated_parquet_file_stops_the_load_naming_the_file(
    con: duckdb.DuckDBPyConnection, folder: Path, tmp_path: Path, keep: float
) -> None:
    whole = tmp_path / "whole.parquet"
    con.execute(
        f"copy (select * from read_csv('{SLICE}', all_varchar=true, header=true)) "
        f"to '{whole}' (format parquet, row_group_size 10)"
    )
    data = whole.read_bytes()
    (folder / "transactions.parquet").write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(EtlFilesError, match=r"^transactions\.parquet: truncated or corrupt Parquet file"):
        load_etl_files(con, folder)
    assert _tables_of(con) == []


def test_a_parquet_file_with_a_damaged_row_group_is_refused_as_corrupt(
    con: duckdb.DuckDBPyConnection, folder: Path, tmp_path: Path
) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    whole = tmp_path / "whole.parquet"
    names = SLICE.read_text().splitlines()[0].split(",")
    table = pacsv.read_csv(
        SLICE, convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, "string"))
    )
    pq.write_table(table, whole, row_group_size=10, compression="zstd")
    meta = pq.ParquetFile(whole).metadata
    assert meta.num_row_groups == 5
    column = meta.row_group(2).column(0)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(whole.read_bytes())
    # Zero the third row group's first column chunk: its page header no longer parses. The footer
    # is intact, so only reading the row group finds it.
    data[start : start + column.total_compressed_size] = bytes(column.total_compressed_size)
    (folder / "transactions.parquet").write_bytes(bytes(data))
    with pytest.raises(
        EtlFilesError, match=r"^transactions\.parquet: corrupt Parquet file: row group 3 of 5"
    ):
        load_etl_files(con, folder)
    assert _tables_of(con) == []
