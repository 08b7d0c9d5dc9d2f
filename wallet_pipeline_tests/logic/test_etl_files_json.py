"""JSON lines exports (ethereum-etl `.json`, BigQuery NEWLINE_DELIMITED_JSON) and BigQuery shards."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from wallet_pipeline.logic.ingestion.etl_files import EtlFilesError, load_etl_files
from wallet_pipeline.logic.ingestion.etl_files.subset import FilesSubset, Pick
from wallet_pipeline.logic.ingestion.raw_schema import MAX_UINT256
from wallet_pipeline_tests.logic.test_etl_files import (
    SLICE,
    TX_HEADER,
    A,
    B,
    _file_rows,
    _hash,
    _transfer,
    one_reject,
    raw_rows,
    rejects,
    tx,
    write_csv,
    write_json_lines,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "export"
    path.mkdir()
    return path


def _lines(path: Path, items: list[object]) -> Path:
    """Write each item on its own line: dicts as JSON, strings as they are (broken lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items)
    path.write_bytes(gzip.compress(text.encode()) if path.name.endswith(".gz") else text.encode())
    return path


def _typed(row: dict[str, str]) -> dict[str, object]:
    """An ethereum-etl JSON item of a CSV-style row: bare integers, nulls for empty values."""
    return {
        k: (int(v) if v.isdigit() and not v.startswith("0x") else v) if v != "" else None
        for k, v in row.items()
    }


def test_wei_beyond_two_to_the_64_in_bare_json_numbers_loads_exactly(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    # A float parser would read 2^64+1 as 18446744073709551616 and 10^30+7 as 10^30.
    values = [2**64 + 1, 10**30 + 7]
    _lines(folder / "transactions.json", [_typed(tx(i)) | {"value": v} for i, v in enumerate(values)])
    _lines(
        folder / "token_transfers.json",
        [_typed(_transfer(0, transaction_hash=_hash(0))) | {"value": MAX_UINT256}],
    )
    report = load_etl_files(con, folder)
    assert report.tables["transactions"].rows_rejected == 0
    got = con.execute("select value from raw.transactions order by hash").fetchall()
    assert [r[0] for r in got] == [Decimal(v) for v in values]
    assert con.execute("select value from raw.token_transfers").fetchone() == (str(MAX_UINT256),)


def test_a_bad_json_line_is_quarantined_by_file_and_line_and_the_others_load(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    _lines(
        folder / "transactions.json",
        [_typed(tx(1)), '{"hash": "0xabc", "value": 12', "", _typed(tx(2)), "[1, 2]", _typed(tx(3))],
    )
    report = load_etl_files(con, folder)
    table = report.tables["transactions"]
    assert (table.rows_read, table.rows_loaded, table.rows_rejected) == (5, 3, 2)
    found = rejects(con)
    assert [(r["source_file"], r["row_number"], r["column_name"]) for r in found] == [
        ("transactions.json", 2, "(line)"),
        ("transactions.json", 5, "(line)"),
    ]
    assert found[0]["reason"].startswith("not valid JSON")
    assert found[0]["record"] == json.dumps({"line": '{"hash": "0xabc", "value": 12'}, separators=(",", ":"))
    assert found[1]["reason"] == "a JSON array, not an object; expected one JSON object per line"


def test_blank_lines_are_skipped_and_later_lines_keep_their_numbers(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    _lines(folder / "transactions.json", [_typed(tx(1)), "", _typed(tx(2, value="-1"))])
    report = load_etl_files(con, folder)
    assert report.tables["transactions"].rows_read == 2
    assert (one_reject(con)["row_number"], one_reject(con)["reason"]) == (3, "negative: '-1'")


def test_a_number_where_text_is_expected_is_quarantined_naming_column_and_line(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    _lines(folder / "transactions.json", [_typed(tx(1)), _typed(tx(2)) | {"from_address": 1234567}])
    load_etl_files(con, folder)
    reject = one_reject(con)
    assert (reject["row_number"], reject["column_name"], reject["reason"]) == (
        2,
        "from_address",
        "not an address (0x and 40 hex digits): '1234567'",
    )


def test_integers_written_as_json_strings_load_like_numbers(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    # BigQuery's JSON writes INT64 and NUMERIC as strings to keep their digits.
    _lines(folder / "transactions.json", [tx(1) | {"value": str(2**64 + 1)}])
    load_etl_files(con, folder)
    assert con.execute("select value::varchar, block_number from raw.transactions").fetchone() == (
        str(2**64 + 1),
        10_000_001,
    )


def test_a_float_wei_rejects_every_amount_of_its_file_naming_the_example_and_line(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    # A float parser reads 123456789012345678901.0 as 123456789012345680000: it must not load as
    # an integer with its last digits changed.
    items = [
        _typed(tx(1)) | {"value": 10**18},
        _typed(tx(2)) | {"value": "F1"},
        _typed(tx(3)) | {"value": "F2"},
    ]
    text = "\n".join(json.dumps(i) for i in items)
    (folder / "transactions.json").write_text(
        text.replace('"F1"', "123456789012345678901.0").replace('"F2"', "1e21")
    )
    load_etl_files(con, folder)
    found = rejects(con)
    assert [(r["row_number"], r["column_name"]) for r in found] == [(1, "value"), (2, "value"), (3, "value")]
    assert found[0]["reason"].startswith(
        "transactions.json writes value as floating-point numbers (e.g. '1.2345678901234568e+20' at line 2;"
    )
    assert con.execute("select count(*) from raw.transactions").fetchone() == (0,)


def test_a_float_block_number_is_quarantined_as_floating_point(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    line = json.dumps(_typed(tx(1)) | {"block_number": "FLOAT"}).replace('"FLOAT"', "1.0000001e7")
    _lines(folder / "transactions.json", [line, _typed(tx(2)) | {"block_number": "10000002"}])
    load_etl_files(con, folder)
    reject = one_reject(con)
    assert (reject["row_number"], reject["column_name"], reject["reason"]) == (
        1,
        "block_number",
        "floating-point notation, not an integer (digits may be lost): '1.0000001000000000e+07'",
    )


def test_arrays_are_joined_with_commas_as_in_the_csv_and_empty_ones_are_null(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    topics = ["0x" + "d" * 64, "0x" + "e" * 64]
    csv_dir, json_dir = tmp_path / "csv", tmp_path / "json"
    log = {"log_index": "0", "transaction_hash": _hash(1), "block_number": "10000001", "address": A}
    trace = {"block_number": "10000001", "transaction_hash": _hash(1), "trace_type": "call", "value": "5"}
    contract = {"address": B, "block_number": "10000001"}
    for d in (csv_dir, json_dir):
        write_csv(d / "transactions.csv", [tx(1)])
    write_csv(
        csv_dir / "logs.csv", [log | {"topics": ",".join(topics)}, log | {"log_index": "1", "topics": ""}]
    )
    write_csv(
        csv_dir / "traces.csv",
        [trace | {"trace_address": "0,1", "to_address": A}, trace | {"trace_address": "", "to_address": B}],
    )
    write_csv(csv_dir / "contracts.csv", [contract | {"function_sighashes": "0x06fdde03,0x095ea7b3"}])
    _lines(
        json_dir / "logs.json",
        [_typed(log) | {"topics": topics}, _typed(log) | {"log_index": 1, "topics": []}],
    )
    _lines(
        json_dir / "traces.json",
        [
            _typed(trace) | {"trace_address": [0, 1], "to_address": A},
            _typed(trace) | {"trace_address": [], "to_address": B},
        ],
    )
    _lines(
        json_dir / "contracts.json", [_typed(contract) | {"function_sighashes": ["0x06fdde03", "0x095ea7b3"]}]
    )
    tables = {}
    for d in (csv_dir, json_dir):
        with duckdb.connect() as c:
            load_etl_files(c, d)
            assert rejects(c) == []
            tables[d.name] = {
                t: raw_rows(c, t, "1, 2, 3") for t in ("logs", "traces", "contract_creations", "transactions")
            }
    assert tables["json"] == tables["csv"]
    assert [r[6] for r in tables["json"]["logs"]] == [",".join(topics), None]
    assert {r[6]: r[2] for r in tables["json"]["traces"]} == {A: "0,1", B: None}
    assert [r[7] for r in tables["json"]["contract_creations"]] == ["0x06fdde03,0x095ea7b3"]


def test_unknown_fields_are_read_past_and_reported_and_the_type_field_is_ignored(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    _lines(
        folder / "transactions.json",
        [{"type": "transaction"} | _typed(tx(1)), _typed(tx(2)) | {"memo": "hi"}],
    )
    report = load_etl_files(con, folder)
    table = report.tables["transactions"]
    assert (table.rows_loaded, table.ignored_columns) == (2, ["type"])
    assert table.extra_columns == {"transactions.json": ["memo"]}
    note = con.execute("select note from raw.source_files where path = 'transactions.json'").fetchone()
    assert note == ("extra column(s) ['memo'] not read",)


def test_a_field_missing_from_every_line_is_a_missing_required_column(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    _lines(folder / "transactions.json", [{k: v for k, v in _typed(tx(1)).items() if k != "to_address"}])
    with pytest.raises(
        EtlFilesError, match=r"^transactions\.json: missing required column\(s\) \['to_address'\]"
    ):
        load_etl_files(con, folder)


def test_mixed_formats_load_and_one_table_in_two_formats_is_refused(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    _lines(folder / "transactions.json", [_typed(tx(1))])
    write_csv(folder / "token_transfers.csv", [_transfer(0)])
    report = load_etl_files(con, folder)
    assert (report.tables["transactions"].rows_loaded, report.tables["token_transfers"].rows_loaded) == (1, 1)
    write_csv(folder / "transactions.csv", [tx(1)])
    with pytest.raises(
        EtlFilesError, match=r"transactions is given 2 times \(transactions\.csv, transactions\.json\)"
    ):
        load_etl_files(con, folder)


def test_a_partitioned_json_folder_with_an_empty_range_loads_like_one_csv(tmp_path: Path) -> None:
    rows = _file_rows(SLICE)
    write_csv(tmp_path / "single" / "transactions.csv", rows)
    with duckdb.connect() as con:
        load_etl_files(con, tmp_path / "single")
        expected = raw_rows(con, "transactions", "hash")
    base = tmp_path / "partitioned" / "transactions"
    names = [
        "start_block=03300000/end_block=03300400/transactions_03300000_03300400.json",
        "start_block=03300401/end_block=03300401/transactions_03300401_03300401.json",
        "start_block=03300402/end_block=03300500/transactions_03300402_03300500.json.gz",
        "start_block=03300501/end_block=03399999/transactions_03300501_03399999.json",
    ]
    write_json_lines(base / names[0], rows[:15])
    (base / names[1]).parent.mkdir(parents=True)
    (base / names[1]).write_bytes(b"")  # a block range without transactions
    write_json_lines(base / names[2], rows[15:30])
    write_json_lines(base / names[3], rows[30:])
    with duckdb.connect() as con:
        report = load_etl_files(con, tmp_path / "partitioned")
        assert report.tables["transactions"].files == [f"transactions/{n}" for n in names]
        assert raw_rows(con, "transactions", "hash") == expected


def test_a_json_array_document_is_refused_as_not_json_lines(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    (folder / "transactions.json").write_text(json.dumps([_typed(tx(1))], indent=2))
    with pytest.raises(
        EtlFilesError, match=r"^transactions\.json: a JSON array document; expected newline-delimited"
    ):
        load_etl_files(con, folder)


def test_a_file_without_any_json_object_line_stops_the_load(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    (folder / "transactions.json").write_text("hash,value\n0xabc,1\n")
    with pytest.raises(
        EtlFilesError, match=r"^transactions\.json: none of its 2 lines is a JSON object \(line 1"
    ):
        load_etl_files(con, folder)


def test_bigquery_shards_are_one_table_each_file_listed(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    rows = [tx(i) for i in range(1, 8)]
    shards = [
        "transactions-000000000000.csv.gz",
        "transactions-000000000001.csv.gz",
        "transactions-000000000002.json",
    ]
    write_csv(folder / shards[0], rows[:3], header=TX_HEADER)
    write_csv(folder / shards[1], rows[3:5], header=TX_HEADER)
    write_json_lines(folder / shards[2], rows[5:])
    write_csv(folder / "token_transfers-000000000000.csv", [_transfer(0)])
    report = load_etl_files(con, folder)
    assert report.tables["transactions"].files == shards
    assert report.tables["transactions"].rows_loaded == 7
    assert report.tables["token_transfers"].rows_loaded == 1
    files = con.execute("select path, input_name, rows_read from raw.source_files order by path").fetchall()
    assert files == [("token_transfers-000000000000.csv", "token_transfers", 1)] + [
        (s, "transactions", n) for s, n in zip(shards, (3, 2, 2), strict=True)
    ]
    write_csv(folder / "transactions.csv", rows)
    with pytest.raises(
        EtlFilesError, match=r"transactions is given 2 times \(transactions\.csv, 3 shard file"
    ):
        load_etl_files(con, folder)


def test_bigquery_shards_without_a_separator_and_block_range_files_are_one_table(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_json_lines(folder / "transactions000000000001.json", [tx(3)], style="bigquery")
    write_json_lines(folder / "transactions000000000000.json", [tx(1), tx(2)], style="bigquery")
    write_csv(folder / "token_transfers_10000000_10000999.csv", [_transfer(0)])
    report = load_etl_files(con, folder)
    assert report.tables["transactions"].files == [
        "transactions000000000000.json",
        "transactions000000000001.json",
    ]
    assert (report.tables["transactions"].rows_loaded, report.tables["token_transfers"].rows_loaded) == (3, 1)


def test_crlf_line_ends_load_like_lf(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    items = [_typed(tx(1)), _typed(tx(2, value="-1")), _typed(tx(3))]
    (folder / "transactions.json").write_bytes("".join(json.dumps(i) + "\r\n" for i in items).encode())
    report = load_etl_files(con, folder)
    assert report.tables["transactions"].rows_loaded == 2
    assert (one_reject(con)["row_number"], one_reject(con)["reason"]) == (2, "negative: '-1'")


def test_bigquery_shards_in_a_table_folder_load(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    write_csv(folder / "transactions" / "000000000000.csv", [tx(1), tx(2)])
    write_json_lines(folder / "transactions" / "000000000001.json", [tx(3)], style="bigquery")
    report = load_etl_files(con, folder)
    assert report.tables["transactions"].rows_loaded == 3
    assert rejects(con) == []


def test_a_subset_of_a_json_export_keeps_the_picked_rows(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    _lines(export / "transactions.json", [_typed(tx(1)), _typed(tx(2, from_address=B)), _typed(tx(3))])
    subset = FilesSubset(con, export)
    assert subset.keep("transactions", Pick(where=f"from_address = '{B}'")) == [1]
    out = subset.write(tmp_path / "out")
    subset.close()
    load_etl_files(con, out)
    assert con.execute("select hash from raw.transactions").fetchall() == [(_hash(2),)]


def test_a_field_written_as_string_in_one_line_and_number_in_another_loads_exactly(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    # A hand-merged export: BigQuery's string integers beside ethereum-etl's bare ones.
    _lines(
        folder / "transactions.json",
        [_typed(tx(1)) | {"value": str(2**70 + 1), "topics_x": ["a"]}, _typed(tx(2)) | {"value": 10**30 + 7}],
    )
    report = load_etl_files(con, folder)
    assert report.tables["transactions"].extra_columns == {"transactions.json": ["topics_x"]}
    got = con.execute("select value::varchar from raw.transactions order by hash").fetchall()
    assert got == [(str(2**70 + 1),), (str(10**30 + 7),)]


def test_a_truncated_json_gz_stops_the_load_naming_the_file(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    data = gzip.compress("".join(json.dumps(_typed(tx(i))) + "\n" for i in range(200)).encode())
    (folder / "transactions.json.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(EtlFilesError, match=r"^transactions\.json\.gz: (truncated|corrupt)"):
        load_etl_files(con, folder)
