"""A world written as ethereum-etl files, without trade tables, gives the features of the world itself.

The same simulated world is loaded twice: directly (the simulator's loader, with its own
`dex_trades` and `nft_trades`) and as an ethereum-etl export from which those two files are
removed, so every trade has to be decoded from transactions and token transfers by the dbt
models. The real dbt builds and tests both (`dbt build`: a blocking test failing fails the test).

Tolerances (docs/decoded_activity.md): every count, ETH amount and time is exactly equal; USD
volumes of DEX trades differ because the simulator prices a swap at its own ETH price of the
moment while decoding prices WETH at the day's median implied by the data's WETH/stablecoin swaps:
each wallet's `dex_volume_usd` and `avg_trade_size` within 10%, and their total within 1%.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from wallet_pipeline import settings
from wallet_pipeline.lib.live_dbt import DbtProjectRun
from wallet_pipeline.logic.graph.risk import rugged_tokens
from wallet_pipeline.logic.ingestion.etl_files import load_etl_files
from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, load_simulation, write_etl_files

pytestmark = [pytest.mark.dbt, pytest.mark.slow]

CONFIG = SimulatorConfig(n_wallets=1_500, days=30, seed=7)
USD_COLUMNS = ("dex_volume_usd", "avg_trade_size")
USD_WALLET_TOLERANCE = 0.10
USD_TOTAL_TOLERANCE = 0.01


@dataclass
class Built:
    db: Path

    def sql(self, query: str) -> pd.DataFrame:
        con = duckdb.connect(str(self.db), read_only=True)
        try:
            return con.execute(query).df()
        finally:
            con.close()


def _build(db: Path, work: Path) -> Built:
    env = {**settings.dbt_env(), "WALLET_DUCKDB_TEMP_DIR": str(work / "spill")}
    DbtProjectRun(settings.DBT_PROJECT_DIR, settings.dbt_executable(), env).invoke(["build"], db, work)
    return Built(db)


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Built:
    folder = tmp_path_factory.mktemp("direct")
    con = duckdb.connect(str(folder / "direct.duckdb"))
    try:
        load_simulation(con, CONFIG)
    finally:
        con.close()
    return _build(folder / "direct.duckdb", folder)


@pytest.fixture(scope="module")
def from_files(tmp_path_factory: pytest.TempPathFactory) -> Built:
    folder = tmp_path_factory.mktemp("files")
    export = folder / "export"
    write_etl_files(CONFIG, export, fmt="csv.gz")
    removed = [p for p in export.iterdir() if p.name.startswith(("dex_trades", "nft_trades"))]
    assert len(removed) == 2
    for path in removed:
        path.unlink()
    con = duckdb.connect(str(folder / "files.duckdb"))
    try:
        load_etl_files(con, export)
    finally:
        con.close()
    return _build(folder / "files.duckdb", folder)


def _features(built: Built) -> pd.DataFrame:
    return built.sql("select * from marts.wallet_features order by address").set_index("address")


def test_the_files_load_has_no_trade_table_and_decodes_every_trade(direct: Built, from_files: Built) -> None:
    manifest = from_files.sql("select table_name, provided from raw.source_manifest").set_index("table_name")
    assert not manifest.loc["dex_trades", "provided"] and not manifest.loc["nft_trades", "provided"]
    origins = from_files.sql("select origin, count(*) n from decoded.dex_trades group by 1")
    assert origins["origin"].tolist() == ["decoded"]
    key = "tx_hash, taker, project_contract_address, token_sold_address, token_bought_address"
    amounts = "token_sold_amount_raw, token_bought_amount_raw"
    truth = direct.sql(f"select {key}, {amounts} from raw.dex_trades order by all")
    decoded = from_files.sql(f"select {key}, {amounts} from decoded.dex_trades order by all")
    pd.testing.assert_frame_equal(decoded, truth)
    nft_key = "tx_hash, buyer, seller, nft_contract_address, token_id, amount_eth"
    nft_truth = direct.sql(f"select {nft_key} from decoded.nft_trades order by all")
    nft_decoded = from_files.sql(f"select {nft_key} from decoded.nft_trades order by all")
    assert len(nft_truth) > 0
    pd.testing.assert_frame_equal(nft_decoded, nft_truth)


def test_the_same_world_gives_the_same_features_within_the_stated_tolerances(
    direct: Built, from_files: Built
) -> None:
    a, b = _features(direct), _features(from_files)
    assert a.index.equals(b.index)
    exact = [c for c in a.columns if c not in USD_COLUMNS]
    pd.testing.assert_frame_equal(b[exact], a[exact], check_exact=True)
    assert (a["dex_trades"] > 0).sum() > 100
    for column in USD_COLUMNS:
        x, y = a[column].astype(float), b[column].astype(float)
        assert (x.isna() == y.isna()).all(), column
        known = x.notna() & (x > 0)
        relative = (y[known] - x[known]).abs() / x[known]
        assert relative.max() <= USD_WALLET_TOLERANCE, (column, relative.idxmax(), relative.max())
    total_a, total_b = a["dex_volume_usd"].sum(), b["dex_volume_usd"].sum()
    assert abs(total_b - total_a) / total_a <= USD_TOTAL_TOLERANCE


def test_nft_traders_are_found_without_trade_tables(direct: Built, from_files: Built) -> None:
    personas = direct.sql("select address, persona from ground_truth.wallets").set_index("address")["persona"]
    features = _features(from_files)
    traders = personas[personas == "nft_trader"].index.intersection(features.index)
    assert len(traders) > 20
    traded = features.loc[traders, "nft_buys"] + features.loc[traders, "nft_sells"]
    # Every simulated NFT trader that made a sale or purchase in the window shows it.
    sold_or_bought = direct.sql(
        "select distinct address from (select buyer address from raw.nft_trades "
        "union all select seller from raw.nft_trades)"
    )["address"]
    active = traders.intersection(pd.Index(sold_or_bought))
    assert len(active) > 0.5 * len(traders)
    assert (traded.loc[active] > 0).all()
    assert np.isclose(
        float(features["nft_volume"].astype(float).sum()),
        float(_features(direct)["nft_volume"].astype(float).sum()),
    )


def test_rug_pulls_are_found_without_trade_tables(direct: Built, from_files: Built) -> None:
    # The scam tokens that were launched on a DEX (a poisoner's fake token never is).
    launched = set(
        direct.sql(
            "select address from ground_truth.tokens where is_scam and address in "
            "(select token_bought_address from raw.dex_trades)"
        )["address"]
    )
    found = {}
    for name, built in (("direct", direct), ("files", from_files)):
        con = duckdb.connect(str(built.db), read_only=True)
        try:
            found[name] = rugged_tokens(con)
        finally:
            con.close()
    removals = from_files.sql("select count(*) n from decoded.liquidity_events where event_type = 'remove'")
    assert len(launched) > 0
    assert set(found["files"]["token"]) == launched
    pd.testing.assert_frame_equal(found["files"], found["direct"])
    assert set(found["files"]["rug_kind"]) <= {"pull", "dump"}
    assert int(removals["n"].iloc[0]) > 0
