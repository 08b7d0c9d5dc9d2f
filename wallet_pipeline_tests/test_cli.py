from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from wallet_pipeline.cli import PROGRESS_PREFIX, _progress_logger, main, outputs_summary


def test_where_prints_the_duckdb_file_and_data_folder(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["where"]) == 0
    out = capsys.readouterr().out
    assert str(data_dir / "wallet_pipeline.duckdb") in out
    assert (data_dir / "dagster_home" / "dagster.yaml").read_text().startswith("telemetry:")


def test_a_setting_the_pipeline_cannot_use_is_one_line_and_exit_code_2(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("WALLET_DUCKDB_THREADS", "many")
    assert main(["materialize"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: WALLET_DUCKDB_THREADS='many' is not a positive whole number"


REPO = Path(__file__).resolve().parents[1]


def _cli(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The CLI in a fresh interpreter, in `cwd`; its last stdout line says which heavy modules it imported."""
    code = (
        "import sys\n"
        "from wallet_pipeline.cli import main\n"
        f"rc = main({args!r})\n"
        "print('imported:', sorted(m for m in ('dagster', 'mlflow', 'sklearn') if m in sys.modules))\n"
        "sys.exit(rc)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def elsewhere(data_dir: Path, tmp_path: Path) -> Path:
    """A caller's folder outside the repository."""
    folder = tmp_path / "caller"
    folder.mkdir()
    return folder


def test_a_wrong_files_dir_is_resolved_from_the_callers_folder_and_refused_before_dagster_loads(
    elsewhere: Path,
) -> None:
    missing = _cli(["materialize", "--files-dir", "exports"], elsewhere)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: input folder {elsewhere / 'exports'} does not exist"
    assert missing.stdout.strip() == "imported: []"
    (elsewhere / "exports").mkdir()
    (elsewhere / "exports" / "notes.txt").write_text("no data here")
    empty = _cli(["materialize", "--files-dir", "exports"], elsewhere)
    assert empty.returncode == 2
    assert f"no transactions in {elsewhere / 'exports'}" in empty.stderr
    assert empty.stdout.strip() == "imported: []"


def test_an_unknown_source_is_one_line_before_dagster_loads(elsewhere: Path) -> None:
    run = _cli(["materialize"], elsewhere, env={"WALLET_SOURCE": "bigquery"})
    assert run.returncode == 2
    assert run.stderr.strip() == "error: WALLET_SOURCE='bigquery' is not one of simulator, files, dune"
    assert run.stdout.strip() == "imported: []"


def test_persona_refuses_a_missing_csv_and_a_bad_checksum_before_loading_any_model(elsewhere: Path) -> None:
    run = _cli(["persona", "--csv", "wallets.csv"], elsewhere)
    assert run.returncode == 1
    assert run.stderr.strip() == f"error: --csv {elsewhere / 'wallets.csv'} does not exist or is not a file"
    assert run.stdout.strip() == "imported: []"
    # One digit's case changed from the EIP-55 form 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed.
    typo = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"
    for command in (["persona", typo], ["wallet", typo], ["cluster", typo]):
        refused = _cli(command, elsewhere)
        assert refused.returncode == 1, command
        assert f"error: {typo} mixes upper and lower case but fails its EIP-55 checksum" in refused.stderr
        assert "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" in refused.stderr


def test_flag_commands_name_the_by_option_and_refuse_an_unknown_cluster(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["flag", "remove", "1"]) == 1
    assert capsys.readouterr().err.strip() == (
        "error: give --by NAME: who removes the flag (it is recorded with the change)"
    )
    assert main(["flag", "add", "c_0xnothere"]) == 1
    assert "give --by NAME" in capsys.readouterr().err
    # No pipeline has run in this data folder: no clusters to flag.
    assert main(["flag", "add", "c_0xnothere", "--by", "ann"]) == 1
    assert "there is no DuckDB file at" in capsys.readouterr().err
    db = data_dir / "wallet_pipeline.duckdb"
    duckdb.connect(str(db)).close()
    assert main(["flag", "add", "c_0xnothere", "--by", "ann"]) == 1
    assert "there are no clusters yet" in capsys.readouterr().err
    with duckdb.connect(str(db)) as con:
        con.execute("create schema entities; create table entities.clusters (cluster_id varchar)")
        con.execute("insert into entities.clusters values ('c_0xaa')")
    assert main(["flag", "add", "c_0xnothere", "--by", "ann"]) == 1
    assert "no cluster 'c_0xnothere' in the current snapshot" in capsys.readouterr().err
    assert main(["flag", "add", "c_0xaa", "--by", "ann", "--reason", "scam_ring"]) == 0
    assert "flag 1 on c_0xaa (scam_ring)" in capsys.readouterr().out
    assert main(["flag", "remove", "1", "--by", "ann"]) == 0


def test_a_closed_pipe_ends_the_command_without_a_traceback(elsewhere: Path) -> None:
    reader = subprocess.Popen(
        [sys.executable, "-m", "wallet_pipeline.cli", "where"],
        cwd=elsewhere,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    reader.stdout.close()  # like `| head` that has read its lines
    err = reader.stderr.read().decode()
    assert reader.wait() == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_the_summary_hints_name_programs_that_run_outside_the_venv(data_dir: Path) -> None:
    db = data_dir / "wallet_pipeline.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema marts; create table marts.wallet_features (is_contract boolean)")
        con.execute("insert into marts.wallet_features values (false), (true)")
    text = outputs_summary(db)
    python = Path(sys.executable)
    assert f'  {python} -c "import duckdb;' in text
    assert f"  {python.with_name('duckdb')} -readonly {db} " in text
    assert "marts.wallet_features: 2 addresses, 1 flagged as contracts." in text
    # The hint runs, from any folder, without an activated venv.
    query = next(line for line in text.splitlines() if '-c "import duckdb' in line).strip()
    done = subprocess.run(query, shell=True, cwd=data_dir, capture_output=True, text=True, env={})
    assert done.returncode == 0, done.stderr
    assert "2" in done.stdout


@pytest.mark.skipif(
    not (REPO / ".tools" / "uv" / "bin" / "uv").exists(), reason="dev.py's pinned uv is not installed"
)
def test_dev_py_runs_the_cli_in_the_callers_folder(elsewhere: Path) -> None:
    (elsewhere / "wallets.csv").write_text("label,tx_count\nfoo,1\n")
    run = subprocess.run(
        [sys.executable, str(REPO / "dev.py"), "persona", "--csv", "wallets.csv"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert f"{elsewhere / 'wallets.csv'}: no wallet id column" in run.stderr or (
        "wallets.csv: no wallet id column" in run.stderr
    ), run.stderr


def test_a_run_prints_one_line_per_finished_step_with_its_row_counts() -> None:
    @dg.asset(key=["raw", "wallets"])
    def wallets(context) -> dg.MaterializeResult:  # noqa: ANN001 - a string annotation breaks dagster here
        context.log.info(f"{PROGRESS_PREFIX}reading 3 wallets")
        context.log.info("not for the terminal")
        return dg.MaterializeResult(metadata={"dagster/row_count": 3})

    @dg.asset(key=["marts", "summary"], deps=[wallets])
    def summary() -> None:
        return None

    job = dg.Definitions(assets=[wallets, summary], jobs=[dg.define_asset_job("all")]).resolve_job_def("all")
    out = io.StringIO()
    job = job.with_logger_defs({**job.loggers, "progress": _progress_logger(out, time.monotonic())})
    run_config = {"loggers": {"progress": {}}}
    assert job.execute_in_process(run_config=run_config, instance=dg.DagsterInstance.ephemeral()).success
    lines = [line.strip().split("  ", 1)[1] for line in out.getvalue().splitlines()]
    assert len(lines) == 3, lines
    assert lines[0] == "raw/wallets: reading 3 wallets"
    assert lines[1].startswith("raw/wallets done in ") and lines[1].endswith(" s (raw.wallets 3 rows)")
    assert lines[2].startswith("marts/summary done in ") and lines[2].endswith(" s (1 tables)")


def test_the_instance_the_cli_writes_has_run_monitoring_and_an_older_one_gains_it(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wallet_pipeline.defs.publish import RUN_MONITORING_MAX_RUNTIME_SECONDS, RUN_QUEUE_YAML

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["where"]) == 0
    home = data_dir / "dagster_home"
    instance = dg.DagsterInstance.from_config(str(home))
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_max_runtime_seconds == RUN_MONITORING_MAX_RUNTIME_SECONDS == 21_600
    assert instance.run_monitoring_start_timeout_seconds == 300

    # A home written before monitoring existed keeps what it has and gains the block once.
    older = "telemetry:\n  enabled: false\n" + RUN_QUEUE_YAML
    (home / "dagster.yaml").write_text(older)
    assert main(["where"]) == 0
    assert main(["where"]) == 0
    text = (home / "dagster.yaml").read_text()
    assert text.startswith(older) and text.count("run_monitoring:") == 1
    assert dg.DagsterInstance.from_config(str(home)).run_monitoring_enabled


def test_the_closing_message_of_a_failed_run_names_what_it_wrote() -> None:
    from wallet_pipeline.cli import _failure_messages, _what_changed

    @dg.asset(key=["raw", "transactions"])
    def transactions() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    @dg.asset(key=["marts", "wallet_features"], deps=[transactions])
    def wallet_features() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    @dg.asset(key=["personas", "wallet_personas"], deps=[wallet_features])
    def wallet_personas() -> None:
        raise ValueError("a webhook spec that does not parse")

    @dg.asset(key=["publish", "snapshot"], deps=[wallet_personas])
    def snapshot() -> None:
        return None

    result = dg.materialize([transactions, wallet_features, wallet_personas, snapshot], raise_on_error=False)
    assert not result.success
    written = [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()]
    message = _what_changed(written)
    assert message.splitlines() == [
        "Before it failed, the run materialized 2 assets, which changed:",
        "    raw: transactions",
        "    marts: wallet_features",
        "  The published snapshot (read by the API, persona, wallet and cluster) is still the one from "
        "before this run.",
    ]
    assert "unchanged" not in message
    # The asset's own error, not Dagster's wrapper around it.
    assert _failure_messages(result) == [
        "personas__wallet_personas: ValueError: a webhook spec that does not parse"
    ]
    assert _what_changed([]) == "Nothing was written: every table is as the last run left it."
