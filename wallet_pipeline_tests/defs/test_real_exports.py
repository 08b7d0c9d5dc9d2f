"""Real chain data through the whole asset graph: the shared Raphtory sample and public label lists.

The export folder is built the way a user would: the sample's two transaction files in a
`transactions/` folder, its token transfers (Etherscan-API columns, amounts in whole USDT), and
every public label list as found, README included. To it are added, from the sample's own rows,
the other quirks of real exports: an airdrop report of bare sender/receiver pairs (to the zero
and burn addresses too), contracts and tokens created before the window, receipts, logs and
traces, a misspelt table and a note. The run goes through raw, dbt, personas, graph, entities,
risk and publish.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from wallet_pipeline.logic.ingestion.raw_schema import ZERO_ADDRESS
from wallet_pipeline_tests.defs.runs import Run, execute

pytestmark = [pytest.mark.dbt, pytest.mark.slow]

# CI clones the repo with shared/ beside it.
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
RAPHTORY = SHARED / "raphtory_tx_sample"
LABELS = SHARED / "address_labels"
TX_FILES = ("transactions_03300000_03399999_small.csv.gz", "ethereum_tx.csv")
DEAD = "0x000000000000000000000000000000000000dead"
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
AIRDROP_PAIRS = 300
OLD_CONTRACTS = 50
RECEIPTED = 20


def _add_quirks(export: Path) -> None:
    """Files a real export may hold besides the sample's, built from the sample's own rows."""
    con = duckdb.connect()
    sample = export / "transactions" / TX_FILES[0]
    con.execute(f"create table tx as select * from read_csv('{sample}', all_varchar=true)")
    senders = [
        r[0] for r in con.execute("select distinct from_address from tx order by 1 limit 200").fetchall()
    ]
    receivers = [
        "0x" + hashlib.sha256(f"receiver {i}".encode()).hexdigest()[:40] for i in range(AIRDROP_PAIRS - 2)
    ]
    pairs = ["from_address,to_address"]
    pairs += [f"{senders[i % len(senders)]},{r}" for i, r in enumerate(receivers)]
    pairs += [f"{senders[0]},{ZERO_ADDRESS}", f"{senders[1]},{DEAD}"]
    (export / "transactions" / "airdrop_pairs.csv").write_text("\n".join(pairs) + "\n")
    # Contracts the sample's transactions call, created at block 100: long before the window.
    con.execute(
        f"copy (select distinct to_address as address, '0x6080' as bytecode, 100 as block_number from tx "
        f"where input <> '0x' order by 1 limit {OLD_CONTRACTS}) to '{export / 'contracts.csv'}' (header)"
    )
    con.execute(
        f"copy (select address, 'TK' as symbol, 18 as decimals, 100 as block_number "
        f"from read_csv('{export / 'contracts.csv'}') order by 1 limit 5) "
        f"to '{export / 'tokens.csv'}' (header)"
    )
    first = f"(select * from tx order by block_number::bigint, transaction_index::bigint limit {RECEIPTED})"
    con.execute(
        f"copy (select hash as transaction_hash, transaction_index, block_hash, block_number, "
        f"21000 as cumulative_gas_used, 21000 as gas_used, 1 as status, "
        f"gas_price as effective_gas_price from {first}) to '{export / 'receipts.csv'}' (header)"
    )
    # Logs and traces as ethereum-etl's JSON lines: bare integers, topics as an array, and the
    # traces gzipped in a BigQuery shard.
    con.execute(
        f"copy (select row_number() over () as log_index, hash as transaction_hash, "
        f"transaction_index::bigint as transaction_index, block_hash, block_number::bigint as block_number, "
        f"to_address as address, '0x01' as data, ['{TRANSFER_TOPIC}', '0x' || "
        f"lpad(substr(from_address, 3), 64, '0')] as topics, 'log' as type from {first}) "
        f"to '{export / 'logs.json'}' (format json)"
    )
    con.execute(
        f"copy (select hash as transaction_hash, transaction_index::bigint as transaction_index, "
        f"from_address, to_address, value::hugeint as value, 'call' as trace_type, 'call' as call_type, "
        f"[]::bigint[] as trace_address, 1 as status, block_number::bigint as block_number, 'x' as trace_id "
        f"from {first}) to '{export / 'traces-000000000000.json.gz'}' (format json, compression gzip)"
    )
    con.close()
    (export / "token_transfer.csv").write_text("token_address,from_address,to_address,value\n")
    (export / "README.txt").write_text("exported from the Raphtory sample\n")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    if not (RAPHTORY.is_dir() and LABELS.is_dir()):
        pytest.skip(f"the shared real data is not at {SHARED} (clone shared/ beside the repo)")
    export = tmp_path_factory.mktemp("real_export")
    (export / "transactions").mkdir()
    for name in TX_FILES:
        shutil.copy(RAPHTORY / name, export / "transactions" / name)
    shutil.copy(RAPHTORY / "token_transfers.csv", export / "token_transfers.csv")
    shutil.copytree(LABELS, export / "labels")
    _add_quirks(export)
    folder = tmp_path_factory.mktemp("real_run")
    result = execute(folder, {}, env={"WALLET_SOURCE": "files", "WALLET_FILES_DIR": str(export)})
    yield Run(folder, result)


def test_the_whole_graph_runs_on_real_data_and_publishes(run: Run) -> None:
    assert run.result.success
    failed = [
        f"{e.asset_key.to_user_string()}:{e.check_name}"
        for e in run.result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    assert failed == []
    materialized = {m.asset_key.to_user_string() for m in run.result.get_asset_materialization_events()}
    for key in (
        "raw/transactions",
        "marts/wallet_features",
        "personas/wallet_personas",
        "graph/wallet_edges",
        "entities/wallet_clusters",
        "entities/wallet_risk",
        "publish/snapshot",
    ):
        assert key in materialized, key


def test_every_row_read_is_loaded_or_rejected(run: Run) -> None:
    per_input = run.sql(
        "select f.input_name, sum(f.rows_read) as read from raw.source_files f "
        "where f.status = 'read' group by 1 order by 1"
    )
    manifest = run.sql("select table_name, row_count, rejected_count from raw.source_manifest").set_index(
        "table_name"
    )
    raw_of = {
        "transactions": "transactions",
        "token_transfers": "token_transfers",
        "labels": "address_labels",
        "contracts": "contract_creations",
        "tokens": "tokens",
        "logs": "logs",
        "traces": "traces",
        "receipts": None,
    }
    assert sorted(per_input["input_name"]) == sorted(raw_of)
    for name, read in zip(per_input["input_name"], per_input["read"], strict=True):
        if raw_of[name] is None:
            continue
        entry = manifest.loc[raw_of[name]]
        assert read == entry["row_count"] + entry["rejected_count"], name
        stored = run.sql(f"select count(*) as n from raw.{raw_of[name]}")["n"][0]
        assert stored == entry["row_count"], name
    # Both transaction files load whole (19,999 + 199 real rows) and so do the airdrop pairs.
    assert manifest.loc["transactions", "row_count"] == 20_198 + AIRDROP_PAIRS
    assert manifest.loc["transactions", "rejected_count"] == 0
    assert (manifest.loc["logs", "row_count"], manifest.loc["traces", "row_count"]) == (RECEIPTED, RECEIPTED)


def test_what_the_quirks_lacked_is_counted_in_the_manifest_and_skipped_files_are_listed(run: Run) -> None:
    notes = run.sql("select table_name, notes from raw.source_manifest where notes is not null")
    notes = dict(zip(notes["table_name"], notes["notes"], strict=True))
    assert f"{AIRDROP_PAIRS} rows have a synthetic hash" in notes["transactions"]
    assert f"{AIRDROP_PAIRS} rows have NULL value" in notes["transactions"]
    assert f"{RECEIPTED} transactions have receipt columns filled from receipts" in notes["transactions"]
    assert notes["contract_creations"].startswith(f"{OLD_CONTRACTS} contracts have no creation time")
    synthetic = run.sql(
        "select count(*) as n from raw.transactions where value is null and block_timestamp is null "
        "and regexp_full_match(hash, '0x[0-9a-f]{64}')"
    )
    assert synthetic["n"][0] == AIRDROP_PAIRS
    statuses = run.sql("select path, note from raw.source_files where status = 'ignored'")
    ignored = dict(zip(statuses["path"], statuses["note"], strict=True))
    assert ignored["token_transfer.csv"] == "not an input table; did you mean token_transfers?"
    assert set(ignored) == {"README.txt", "labels/README.txt", "token_transfer.csv"}
    receipted = run.sql("select count(*) as n from raw.transactions where receipt_status = 1")
    assert receipted["n"][0] == RECEIPTED


def test_the_whole_token_transfers_are_rejected_naming_base_units_not_loaded_wrong(run: Run) -> None:
    rejected = run.sql(
        "select count(*) as n, count(distinct reason) as reasons, any_value(reason) as reason "
        "from raw.raw_rejects where table_name = 'token_transfers'"
    )
    assert rejected["n"][0] == 99 and rejected["reasons"][0] == 1
    assert "integer base units" in rejected["reason"][0]
    assert run.sql("select count(*) as n from raw.token_transfers")["n"][0] == 0


def test_every_public_label_list_is_read_and_the_readme_is_listed_not_read(run: Run) -> None:
    files = run.sql("select path, status from raw.source_files where path like 'labels/%'")
    status = dict(zip(files["path"], files["status"], strict=True))
    expected = {f"labels/{p.name}": "ignored" if p.name == "README.txt" else "read" for p in LABELS.iterdir()}
    assert status == expected


def test_every_address_that_transacted_has_features_and_a_persona_and_every_graph_wallet_a_risk_score(
    run: Run,
) -> None:
    missing = run.sql(
        f"""
        with seen as (
            select from_address as address from raw.transactions
            union select to_address from raw.transactions where to_address is not null
            -- The zero address is where mints come from and burns go: nobody's wallet.
            except select '{ZERO_ADDRESS}'
        )
        select
            (select count(*) from seen) as seen,
            (select count(*) from seen anti join marts.wallet_features using (address)) as no_features,
            (select count(*) from marts.wallet_features f
                anti join personas.wallet_personas using (address)) as no_persona,
            -- Risk is scored on the wallet graph: every dated wallet with an edge has a score.
            (select count(*) from (select src as address from graph.wallet_edges
                union select dst from graph.wallet_edges) g
                semi join marts.wallet_features f on f.address = g.address and f.first_seen is not null
                anti join entities.wallet_risk using (address)) as no_risk
        """
    )
    assert missing["seen"][0] > 11_000
    assert (missing["no_features"][0], missing["no_persona"][0], missing["no_risk"][0]) == (0, 0, 0)


def test_labelled_hubs_never_share_a_cluster_with_an_unlabelled_wallet(run: Run) -> None:
    # An exchange or mining pool pays many unrelated people: clustering them with one user would
    # hand the hub's history to that user. An exchange's service cluster holds its own addresses
    # (deposit addresses several customers share, second-tier hot wallets), flagged as a service.
    mixed = run.sql(
        """
        with hub as (
            select distinct address from raw.address_labels where label_type in ('exchange', 'miner')
        ),
        labelled as (select distinct address from raw.address_labels where label_type <> 'other')
        select c.cluster_id, count(*) as members
        from entities.wallet_clusters c
        where c.cluster_id in (select cluster_id from entities.wallet_clusters semi join hub using (address))
            and c.address not in (select address from labelled)
            and not c.is_service
        group by 1
        """
    )
    # The window does hold labelled hubs, so the assertion below is about them.
    hubs_seen = run.sql(
        "select count(distinct address) as n from marts.wallet_features where address in "
        "(select address from raw.address_labels where label_type in ('exchange', 'miner'))"
    )
    assert hubs_seen["n"][0] >= 10
    assert run.sql("select count(*) as n from entities.wallet_clusters")["n"][0] > 100
    assert mixed.empty, mixed.to_dict("records")


def test_wallets_seen_only_in_undated_transfers_still_get_a_risk_score(run: Run) -> None:
    unscored = run.sql(
        "select count(*) as n from (select src as address from graph.wallet_edges "
        "union select dst from graph.wallet_edges) g anti join entities.wallet_risk using (address)"
    )
    assert unscored["n"][0] == 0
