"""Live analysis against real parts: export files, the Dune emulator, dbt, DuckDB and MLflow.

Each source's batch features (the loader or Dune ingestion, then `dbt run`) are the reference:
the live features of an address must equal its batch row, every column.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from wallet_pipeline import settings
from wallet_pipeline.lib.dune import DuneFetcher, DuneRun
from wallet_pipeline.lib.live_dbt import DbtProjectRun, build_with_dbt
from wallet_pipeline.lib.live_wallet import (
    FUNDER_FEATURES,
    POPULATION_FEATURES,
    DuneAccess,
    LiveConfig,
    NoLiveSource,
    SourceUnavailable,
    WalletNotInSource,
    analyze_live,
    prepare,
)
from wallet_pipeline.lib.mlflow_session import MlflowSession, default_tracking_uri
from wallet_pipeline.lib.persona_registry import MODEL_NAME, log_persona_model
from wallet_pipeline.logic.ingestion.dune_queries import DAILY_QUERIES, REFERENCE_QUERIES
from wallet_pipeline.logic.ingestion.dune_source import load_day, load_reference
from wallet_pipeline.logic.ingestion.etl_files import load_etl_files
from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, write_etl_files
from wallet_pipeline.logic.personas import PersonaModel, persona_column, train_personas
from wallet_pipeline.logic.personas.store import read_features
from wallet_pipeline_tests.dune_emulator import DuneEmulator, start_emulator
from wallet_pipeline_tests.logic.test_personas import FAST

pytestmark = pytest.mark.dbt

SEED = 7
WALLETS = 300
DUNE_DAYS = 3
DUNE_START = dt.date(2024, 7, 1)
NOBODY = "0x" + "5a" * 20


@dataclass
class Batch:
    """A source's batch build: the DuckDB file and its wallet_features rows by address (exact values)."""

    db: Path
    rows: dict[str, dict[str, Any]]

    def frame(self, address: str) -> pd.DataFrame:
        con = duckdb.connect(str(self.db), read_only=True)
        try:
            return con.execute("select * from marts.wallet_features where address = ?", [address]).df()
        finally:
            con.close()


def _dbt(folder: Path) -> DbtProjectRun:
    env = {**settings.dbt_env(), "WALLET_DUCKDB_TEMP_DIR": str(folder / "spill")}
    return DbtProjectRun(settings.DBT_PROJECT_DIR, settings.dbt_executable(), env)


def _built(db: Path) -> Batch:
    """`dbt run` of the feature models on `db`, as the batch runs them; its rows."""
    build_with_dbt(_dbt(db.parent), db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        cursor = con.execute("select * from marts.wallet_features order by address")
        columns = [d[0] for d in cursor.description]
        rows = {r[0]: dict(zip(columns, r, strict=True)) for r in cursor.fetchall()}
        # What live analysis can know: the features measured against the whole data are unknown.
        for row in rows.values():
            row.update({name: None for name in POPULATION_FEATURES if name in row})
        return Batch(db, rows)
    finally:
        con.close()


def _export(folder: Path) -> Path:
    """The simulated chain as an export that makes live analysis work for its features.

    No contracts file, so contracts are known only by what they do (emit token events; are
    called and never send), which needs the context of other addresses; token transfers
    without times, as ethereum-etl writes them, in a folder of two Parquet files; blocks as
    Parquet.
    """
    export = folder / "export"
    write_etl_files(SimulatorConfig(seed=SEED, n_wallets=WALLETS), export, fmt="csv.gz")
    (export / "contracts.csv.gz").unlink()
    con = duckdb.connect()
    try:
        (export / "token_transfers").mkdir()
        transfers = f"read_csv('{export / 'token_transfers.csv.gz'}', all_varchar = true)"
        for part in (0, 1):
            con.execute(
                f"copy (select * replace (cast(block_number as bigint) as block_number, "
                f"cast(log_index as bigint) as log_index) from {transfers} "
                f"where cast(block_number as bigint) % 2 = {part}) "
                f"to '{export / 'token_transfers' / f'part-{part}.parquet'}' (format parquet)"
            )
        con.execute(
            f"copy (select * from read_csv('{export / 'blocks.csv.gz'}')) "
            f"to '{export / 'blocks.parquet'}' (format parquet)"
        )
    finally:
        con.close()
    (export / "token_transfers.csv.gz").unlink()
    (export / "blocks.csv.gz").unlink()
    return export


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Work folder of every live analysis of the module: dbt compiles the models once for all."""
    return tmp_path_factory.mktemp("live")


@pytest.fixture(scope="module")
def files_batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Batch]:
    folder = tmp_path_factory.mktemp("files_batch")
    export = _export(folder)
    db = folder / "batch.duckdb"
    con = duckdb.connect(str(db))
    try:
        load_etl_files(con, export)
    finally:
        con.close()
    return export, _built(db)


@pytest.fixture(scope="module")
def champion(files_batch, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, PersonaModel]:
    """A persona model trained on the batch features, registered and promoted in a temp MLflow store."""
    _, batch = files_batch
    con = duckdb.connect(str(batch.db), read_only=True)
    try:
        table = read_features(con)
    finally:
        con.close()
    model, report = train_personas(table, FAST)
    session = MlflowSession(tracking_uri=default_tracking_uri(tmp_path_factory.mktemp("mlflow")))
    with session.run("personas/persona_model", "live-test"):
        version = log_persona_model(model, report, {})
    session.promote(MODEL_NAME, version)
    return session.tracking_uri, model


def _config(work: Path, **changes: Any) -> LiveConfig:
    base = LiveConfig(
        work_dir=work,
        dbt_project_dir=settings.DBT_PROJECT_DIR,
        dbt_executable=settings.dbt_executable(),
        dbt_env=settings.dbt_env(),
        duckdb_settings={"threads": 2, "memory_limit": "1GB"},
    )
    return replace(base, **changes)


@pytest.fixture(scope="module")
def files_config(work: Path, files_batch, champion) -> LiveConfig:
    export, _ = files_batch
    return _config(work, files_dir=export, tracking_uri=champion[0])


# Wallets whose features need more than their own rows: contracts known only by what they do,
# forwarding (needs which paid addresses are contracts), token volumes (standard and decimals),
# trades, and a wallet that never sent (ages still come from the data's newest block).
KINDS = {
    "busiest": lambda r: not r["is_contract"],
    "token": lambda r: r["contract_rule"] == "emits_token_events",
    "called_contract": lambda r: r["contract_rule"] == "receives_calls_never_sends",
    "created_contract": lambda r: r["contract_rule"] in ("creation", "bytecode"),
    "forwarder": lambda r: (r["forwarded_to_eoa_6h_share"] or 0) > 0.5 and r["tx_count"] >= 2,
    "keeper": lambda r: (r["unforwarded_inflows_6h"] or 0) > 0 and r["tx_count"] > 0,
    "nft_trader": lambda r: (r["nft_buys"] or 0) + (r["nft_sells"] or 0) > 0,
    "dex_trader": lambda r: (r["dex_trades"] or 0) > 0 and (r["erc20_transfers_out"] or 0) > 0,
    "receive_only": lambda r: r["tx_count"] == 0 and not r["is_contract"],
    # Its funder's other fresh fundings make its funding burst (when the models have that feature).
    "burst_funded": lambda r: (r.get("funding_burst_size") or 0) > 1,
}


def _has_bursts(batch: Batch) -> bool:
    return any(name in next(iter(batch.rows.values())) for name in FUNDER_FEATURES)


def _with_bursts(batch: Batch, kinds: tuple[str, ...]) -> tuple[str, ...]:
    """The kinds, and a burst-funded wallet when the feature models have funding bursts."""
    return (*kinds, "burst_funded") if _has_bursts(batch) else kinds


def _wallets(batch: Batch, kinds: tuple[str, ...]) -> dict[str, str]:
    """The busiest address of each kind."""
    out = {}
    for kind in kinds:
        found = [r for r in batch.rows.values() if KINDS[kind](r)]
        assert found, f"the simulated chain has no {kind} wallet"
        out[kind] = max(found, key=lambda r: (r["tx_count"], r["received_tx_count"], r["address"]))["address"]
    return out


def test_live_features_from_files_equal_the_batch_features_for_every_kind_of_wallet(
    files_batch, files_config: LiveConfig
) -> None:
    _, batch = files_batch
    kinds = (
        "busiest",
        "token",
        "called_contract",
        "forwarder",
        "keeper",
        "nft_trader",
        "dex_trader",
        "receive_only",
    )
    for kind, address in _wallets(batch, _with_bursts(batch, kinds)).items():
        result = analyze_live(address, source="files", config=files_config)
        assert result["address"] == address and result["source"] == "files"
        assert result["features"] == batch.rows[address], f"{kind} {address}"
        assert set(result["inexact_features"]) == set(POPULATION_FEATURES)


def test_a_funder_with_more_transfers_than_the_cap_leaves_only_the_funding_features_inexact(
    files_batch, files_config: LiveConfig
) -> None:
    _, batch = files_batch
    kind = "burst_funded" if _has_bursts(batch) else "receive_only"
    address = _wallets(batch, (kind,))[kind]
    result = analyze_live(address, source="files", config=replace(files_config, funder_sends_cap=1))
    if not _has_bursts(batch):
        assert set(result["inexact_features"]) == set(POPULATION_FEATURES)
        assert result["features"] == batch.rows[address]
        return
    assert set(result["inexact_features"]) == {*FUNDER_FEATURES, *POPULATION_FEATURES}
    assert "more than 1 times" in result["inexact_features"]["funding_burst_size"]
    exact = {k: v for k, v in batch.rows[address].items() if k not in FUNDER_FEATURES}
    assert {k: v for k, v in result["features"].items() if k not in FUNDER_FEATURES} == exact
    # Without the funder's other fundings, the burst of this farm wallet is mostly missing.
    assert result["features"]["funding_burst_size"] < batch.rows[address]["funding_burst_size"]


def test_the_persona_is_the_champions_for_the_batch_row(
    files_batch, files_config: LiveConfig, champion
) -> None:
    _, batch = files_batch
    _, model = champion
    prepare(files_config)  # what a server does at start: models compiled, champion loaded
    for address in _wallets(batch, ("busiest", "forwarder")).values():
        result = analyze_live(address.upper().replace("0X", "0x"), source="files", config=files_config)
        expected = model.predict(batch.frame(address)).iloc[0]
        persona = result["persona"]
        assert persona["persona"] == expected["persona"]
        assert persona["model_version"] == "1"
        assert persona["confidence"] == pytest.approx(expected["confidence"])
        assert persona["probabilities"] == pytest.approx(
            {persona_column(p)[2:]: expected[persona_column(p)] for p in model.personas}
        )
        assert "persona_reason" not in result
        assert result["computed_at"].tzinfo is not None
        assert set(result["timings"]) == {"fetch", "features", "persona", "total"}
        assert result["fetched_rows"]["transactions"] >= result["features"]["tx_count"]


def test_dbt_itself_builds_the_same_features_as_its_compiled_sql(
    files_batch, files_config: LiveConfig
) -> None:
    _, batch = files_batch
    address = _wallets(batch, ("forwarder",))["forwarder"]
    result = analyze_live(
        address, source="files", config=replace(files_config, engine="dbt", tracking_uri=None)
    )
    assert result["features"] == batch.rows[address]
    assert result["persona"] is None and "tracking store" in result["persona_reason"]


def test_without_a_champion_the_persona_is_none_with_the_reason(
    files_batch, files_config: LiveConfig, tmp_path: Path
) -> None:
    _, batch = files_batch
    address = _wallets(batch, ("busiest",))["busiest"]
    empty_store = default_tracking_uri(tmp_path)
    result = analyze_live(address, source="files", config=replace(files_config, tracking_uri=empty_store))
    assert result["persona"] is None
    assert "no promoted persona model" in result["persona_reason"]
    assert result["features"] == batch.rows[address]


def test_an_address_without_activity_in_the_files_is_not_in_the_source(files_config: LiveConfig) -> None:
    with pytest.raises(WalletNotInSource, match="no activity in the files source"):
        analyze_live(NOBODY, source="files", config=files_config)


def test_a_missing_or_unusable_export_folder_makes_the_source_unavailable_naming_it(
    files_config: LiveConfig, tmp_path: Path
) -> None:
    missing = tmp_path / "no_such_export"
    with pytest.raises(SourceUnavailable, match="no_such_export"):
        analyze_live(NOBODY, source="files", config=replace(files_config, files_dir=missing))
    a_file = tmp_path / "export.csv"
    a_file.write_text("hash\n")
    with pytest.raises(SourceUnavailable, match="export.csv"):
        analyze_live(NOBODY, source="files", config=replace(files_config, files_dir=a_file))
    with pytest.raises(SourceUnavailable, match="WALLET_FILES_DIR is not set"):
        analyze_live(NOBODY, source="files", config=replace(files_config, files_dir=None))


@pytest.mark.parametrize("address", ["0x123", "0x" + "g" * 40, "", "5a" * 21, "0x" + "5a" * 20 + "00"])
def test_a_malformed_address_is_a_value_error(address: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an Ethereum address"):
        analyze_live(address, source="files", config=_config(tmp_path))


def test_the_simulator_has_no_wallet_beyond_the_snapshot(tmp_path: Path) -> None:
    with pytest.raises(NoLiveSource, match="simulator source has no wallets beyond the published snapshot"):
        analyze_live(NOBODY, source="simulator", config=_config(tmp_path))
    assert issubclass(NoLiveSource, WalletNotInSource)


def test_the_configuration_comes_from_settings_and_hides_the_key(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WALLET_FILES_DIR", str(data_dir / "export"))
    monkeypatch.setenv("DUNE_API_KEY", "very-secret-key")
    monkeypatch.setenv("DUNE_API_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("WALLET_DUNE_QUERY_IDS", "live_transactions=77,transactions=5")
    config = LiveConfig.from_settings()
    assert config.work_dir == data_dir / "live"
    assert config.files_dir == data_dir / "export"
    assert config.dune.api_key == "very-secret-key" and config.dune.base_url == "http://127.0.0.1:9"
    assert config.dune.query_ids == {"live_transactions": 77, "transactions": 5}
    assert config.tracking_uri == default_tracking_uri(data_dir)
    assert "very-secret-key" not in repr(config)


# ---------------------------------------------------------------- Dune, through the emulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[DuneEmulator]:
    with start_emulator(
        seed=11,
        wallets=WALLETS,
        days=DUNE_DAYS,
        extra_args=("--pending-polls", "0", "--executing-polls", "1"),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def dune_batch(emulator: DuneEmulator, tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """The Dune source's batch: every day ingested as the daily job does, then the dbt models."""
    db = tmp_path_factory.mktemp("dune_batch") / "batch.duckdb"
    fetcher = DuneFetcher(api_key=emulator.api_key, base_url=emulator.base_url, poll_seconds=0.01)
    con = duckdb.connect(str(db))
    try:
        for offset in range(DUNE_DAYS):
            day = DUNE_START + dt.timedelta(days=offset)
            load_day(con, fetcher, day, {q.name: DuneRun(q.name, day) for q in DAILY_QUERIES})
        load_reference(con, fetcher, {q.name: DuneRun(q.name, None) for q in REFERENCE_QUERIES})
    finally:
        con.close()
    return _built(db)


def _dune(work: Path, emulator: DuneEmulator, **changes: Any) -> LiveConfig:
    access = DuneAccess(
        api_key=emulator.api_key, base_url=emulator.base_url, poll_seconds=0.01, page_size=200
    )
    return _config(work, dune=replace(access, **changes))


@pytest.fixture
def clean_emulator(emulator: DuneEmulator) -> Iterator[DuneEmulator]:
    emulator.reset()
    yield emulator
    emulator.reset()


def test_live_features_from_dune_equal_the_batch_features(
    work: Path, clean_emulator: DuneEmulator, dune_batch: Batch
) -> None:
    kinds = ("busiest", "created_contract", "forwarder", "nft_trader", "dex_trader", "receive_only")
    config = _dune(work, clean_emulator)
    for kind, address in _wallets(dune_batch, _with_bursts(dune_batch, kinds)).items():
        result = analyze_live(address, source="dune", config=config)
        assert result["source"] == "dune"
        assert result["features"] == dune_batch.rows[address], f"{kind} {address}"
    assert result["features"]["eth_balance"] is None  # Dune has no balances table
    executed = [r["path"] for r in clean_emulator.requests() if r["path"].endswith("/execute")]
    assert executed and all(p == "/api/v1/sql/execute" for p in executed)


def test_saved_live_queries_run_by_id(work: Path, clean_emulator: DuneEmulator, dune_batch: Batch) -> None:
    address = _wallets(dune_batch, ("forwarder",))["forwarder"]
    config = _dune(work, clean_emulator, query_ids=dict(clean_emulator.query_ids))
    result = analyze_live(address, source="dune", config=config)
    assert result["features"] == dune_batch.rows[address]
    executed = {r["path"] for r in clean_emulator.requests() if r["path"].endswith("/execute")}
    assert f"/api/v1/query/{clean_emulator.query_ids['live_transactions']}/execute" in executed
    assert "/api/v1/sql/execute" not in executed


def test_an_address_without_activity_on_dune_is_not_in_the_source(
    work: Path, clean_emulator: DuneEmulator
) -> None:
    with pytest.raises(WalletNotInSource, match="no activity in the dune source"):
        analyze_live(NOBODY, source="dune", config=_dune(work, clean_emulator))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_dune_is_unavailable_quickly_and_the_key_stays_secret(work: Path) -> None:
    secret = "live-secret-key-0123"
    access = DuneAccess(api_key=secret, base_url=f"http://127.0.0.1:{_closed_port()}", retry_budget=1.0)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as raised:
        analyze_live(NOBODY, source="dune", config=_config(work, dune=access))
    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert "ConnectionError" in message and "127.0.0.1" in message
    assert secret not in message


def test_a_refused_key_an_http_error_and_a_failed_execution_are_unavailable_with_the_reason(
    work: Path, clean_emulator: DuneEmulator
) -> None:
    with pytest.raises(SourceUnavailable, match=r"HTTP 401.*check DUNE_API_KEY") as raised:
        analyze_live(NOBODY, source="dune", config=_dune(work, clean_emulator, api_key="wrong-key-42"))
    assert "wrong-key-42" not in str(raised.value)

    clean_emulator.set_fault({"http_status": 500, "times": 1000, "endpoint": "execute"})
    with pytest.raises(SourceUnavailable, match="HTTP 500"):
        analyze_live(NOBODY, source="dune", config=_dune(work, clean_emulator, retry_budget=0.5))
    clean_emulator.reset()

    clean_emulator.set_fault(
        {
            "execution": {
                "query": "live_transactions",
                "state": "QUERY_STATE_FAILED",
                "error": {"type": "FAILED_TYPE_EXECUTION_FAILED", "message": "line 4: mismatched input"},
            }
        }
    )
    with pytest.raises(SourceUnavailable, match="live_transactions failed: line 4: mismatched input"):
        analyze_live(NOBODY, source="dune", config=_dune(work, clean_emulator))


def test_without_a_dune_key_nothing_is_requested(work: Path, clean_emulator: DuneEmulator) -> None:
    with pytest.raises(SourceUnavailable, match="DUNE_API_KEY is not set"):
        analyze_live(NOBODY, source="dune", config=_dune(work, clean_emulator, api_key=""))
    assert clean_emulator.requests() == []


# ---------------------------------------------------------------- through the API


def test_the_api_scores_an_address_the_snapshot_lacks_from_the_files_and_says_when_it_cannot(
    files_batch, files_config: LiveConfig, tmp_path: Path
) -> None:
    import functools

    from fastapi.testclient import TestClient

    from wallet_pipeline.api.app import create_app
    from wallet_pipeline_tests.api.conftest import build_snapshot

    _, batch = files_batch
    address = _wallets(batch, ("busiest",))["busiest"]
    snapshots = build_snapshot(tmp_path / "snapshots", n_clusters=3)  # none of the export's wallets
    sources = {
        "files": files_config,
        "gone": replace(files_config, files_dir=tmp_path / "export_that_was_moved"),
    }
    for name, config in sources.items():
        live = functools.partial(analyze_live, source="files", config=config)
        app = create_app(snapshots, None, tmp_path / f"{name}.sqlite", live=live)
        with TestClient(app) as client:
            response = client.get(f"/analyze/{address.upper().replace('0X', '0x')}")
            if name == "files":
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["source"] == "files" and body["cluster"] is None and body["wallet_risk"] is None
                expected = batch.rows[address]
                assert body["features"]["tx_count"] == expected["tx_count"]
                assert body["features"]["eth_sent"] == pytest.approx(float(expected["eth_sent"]))
                assert (
                    body["persona"]["persona"]
                    == analyze_live(address, source="files", config=config)["persona"]["persona"]
                )
                assert client.get(f"/analyze/{NOBODY}").status_code == 404
            else:
                assert response.status_code == 503
                assert "export_that_was_moved" in response.json()["detail"]
            assert client.get("/clusters").status_code == 200  # the rest keeps serving
        app.state.snapshot_pool.close()
