"""Real chain data through the whole asset graph: the shared Raphtory sample and public label lists.

The export folder is built the way a user would: the sample's two transaction files in a
`transactions/` folder, its token transfers (Etherscan-API columns, amounts in whole USDT), and
every public label list as found, README included. The run goes through raw, dbt, personas,
graph, entities, risk and publish.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from wallet_pipeline_tests.defs.runs import Run, execute

pytestmark = [pytest.mark.dbt, pytest.mark.slow]

# CI clones the repo with shared/ beside it.
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
RAPHTORY = SHARED / "raphtory_tx_sample"
LABELS = SHARED / "address_labels"
TX_FILES = ("transactions_03300000_03399999_small.csv.gz", "ethereum_tx.csv")


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
    }
    assert sorted(per_input["input_name"]) == sorted(raw_of)
    for name, read in zip(per_input["input_name"], per_input["read"], strict=True):
        entry = manifest.loc[raw_of[name]]
        assert read == entry["row_count"] + entry["rejected_count"], name
        stored = run.sql(f"select count(*) as n from raw.{raw_of[name]}")["n"][0]
        assert stored == entry["row_count"], name
    # Both transaction files load whole: 19,999 + 199 real rows, none rejected.
    assert manifest.loc["transactions", "row_count"] == 20_198
    assert manifest.loc["transactions", "rejected_count"] == 0


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
        """
        with seen as (
            select from_address as address from raw.transactions
            union select to_address from raw.transactions where to_address is not null
        )
        select
            (select count(*) from seen) as seen,
            (select count(*) from seen anti join marts.wallet_features using (address)) as no_features,
            (select count(*) from marts.wallet_features f
                anti join personas.wallet_personas using (address)) as no_persona,
            -- Risk is scored on the wallet graph: every wallet with an edge has a score.
            (select count(*) from (select src as address from graph.wallet_edges
                union select dst from graph.wallet_edges) g
                anti join entities.wallet_risk using (address)) as no_risk
        """
    )
    assert missing["seen"][0] > 11_000
    assert (missing["no_features"][0], missing["no_persona"][0], missing["no_risk"][0]) == (0, 0, 0)


def test_labelled_hubs_never_share_a_cluster_with_an_unlabelled_wallet(run: Run) -> None:
    # An exchange or mining pool pays many unrelated people: clustering them with one user would
    # hand the hub's history to that user.
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
