"""`wallet-pipeline`: run the asset graph headless, score personas, start the UIs, show where outputs are."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import TextIO

UI_HOST = "127.0.0.1"
# 0x and 40 hex digits: the form of logic/graph/report.py's ADDRESS, checked here without its imports.
_ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")
UI_PORT = 3000


def _apply_options(args: argparse.Namespace) -> None:
    """Turn command-line options into the environment that `settings` reads, before any import."""
    _options_to_environment(args)
    _prepare_dagster_home()


def _options_to_environment(args: argparse.Namespace) -> None:
    # Relative paths are the caller's: the process runs in the caller's folder (dev.py keeps it).
    if getattr(args, "source", None):
        os.environ["WALLET_SOURCE"] = args.source
    if getattr(args, "files_dir", None):
        os.environ["WALLET_SOURCE"] = "files"
        os.environ["WALLET_FILES_DIR"] = str(Path(args.files_dir).expanduser().resolve())
    if getattr(args, "wallets", None):
        os.environ["WALLET_SIM_WALLETS"] = str(args.wallets)
    if getattr(args, "seed", None) is not None:
        os.environ["WALLET_SIM_SEED"] = str(args.seed)


def _prepare_dagster_home() -> None:
    from wallet_pipeline import settings

    os.environ.setdefault("DAGSTER_HOME", str(settings.data_dir() / "dagster_home"))
    # MLflow's progress bars and INFO lines would bury the run summary; warnings still show.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    from wallet_pipeline.defs.publish import RUN_MONITORING_YAML, RUN_QUEUE_YAML

    if not instance_yaml.exists():
        # Default local storage; telemetry off, since pipeline machines often have no internet;
        # one run at a time, since DuckDB takes one writer; dead runs failed so the queue moves.
        instance_yaml.write_text("telemetry:\n  enabled: false\n" + RUN_QUEUE_YAML + RUN_MONITORING_YAML)
        return
    # A home made by an earlier version: add what it lacks, keep the rest.
    text = instance_yaml.read_text()
    added = text
    if not any(k in text for k in ("concurrency:", "run_queue:", "run_coordinator:")):
        added += RUN_QUEUE_YAML
    if "run_monitoring:" not in text:
        added += RUN_MONITORING_YAML
    if added != text:
        instance_yaml.write_text(added)


def _check_run_inputs(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """The planned runs, after every setting and input folder is checked: a mistake costs a second.

    Importing the definitions and starting a run take from seconds to minutes on a loaded machine;
    the settings and the export folder's file names and headers can be checked before either.
    Raises `SettingsError` or `ValueError` with the one line to print.
    """
    from wallet_pipeline import settings

    source = settings.get_source()
    settings.get_environment()
    settings.duckdb_settings()
    settings.simulator_wallets()
    settings.simulator_seed()
    if source == "files":
        folder = settings.files_dir()
        if folder is None:
            raise ValueError("the files source needs an export folder: give --files-dir or WALLET_FILES_DIR")
        import duckdb

        from wallet_pipeline.logic.ingestion.etl_files.discover import discover
        from wallet_pipeline.logic.ingestion.etl_files.report import EtlFilesError
        from wallet_pipeline.logic.ingestion.etl_files.specs import build_input_tables

        # The loader's own first pass (names, formats, headers), on a throwaway connection.
        try:
            with duckdb.connect() as con:
                discover(con, folder, build_input_tables())
        except EtlFilesError as exc:
            raise ValueError(str(exc)) from None
    return _planned_runs(source, args)


def materialize(args: argparse.Namespace) -> int:
    """Materialize every asset of the configured source; print a summary and where outputs are."""
    _options_to_environment(args)
    from wallet_pipeline.settings import SettingsError

    try:
        runs = _check_run_inputs(args)
    except (SettingsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from wallet_pipeline import settings
    from wallet_pipeline.lib.data_lock import DataFolderBusy, hold_data_folder

    # Taken before Dagster loads (seconds) and held to the summary: a second writer of the
    # folder is refused at once, and nothing else writes between this run's steps.
    try:
        with hold_data_folder(settings.duckdb_path().parent, "wallet-pipeline materialize"):
            return _materialize(args, runs)
    except DataFolderBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _materialize(args: argparse.Namespace, runs: list[tuple[str, str | None]]) -> int:
    from wallet_pipeline.settings import SettingsError

    _prepare_dagster_home()
    import dagster as dg

    from wallet_pipeline import settings
    from wallet_pipeline.definitions import defs

    try:
        definitions = defs()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    source = settings.get_source()
    print(f"Materializing every asset (source: {source}) into {settings.duckdb_path()}")
    log_path = settings.data_dir() / "logs" / "last_materialize.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"dbt's progress goes to {log_path}", flush=True)
    started = time.monotonic()
    instance = dg.DagsterInstance.get()
    from wallet_pipeline.lib.dead_runs import fail_dead_runs

    for run_id in fail_dead_runs(instance):
        print(f"Run {run_id} was left STARTED by a process that is gone; marked it failed.", flush=True)
    # A logger runs only when the run config names it.
    run_config = {"loggers": {"console": {"config": {"log_level": args.log_level}}, "progress": {}}}
    # dagster-dbt echoes every dbt event to stdout (the UI keeps them as compute logs); here they
    # would bury the summary, so they go to a file the user can open.
    written: list[str] = []
    with open(log_path, "w") as log:
        for job_name, partition in runs:
            if partition:
                print(f"  {job_name} {partition}", flush=True)
            job = definitions.resolve_job_def(job_name)
            job = job.with_logger_defs({**job.loggers, "progress": _progress_logger(sys.stdout, started)})
            with contextlib.redirect_stdout(log):
                result = job.execute_in_process(
                    instance=instance, raise_on_error=False, run_config=run_config, partition_key=partition
                )
            written += [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()]
            if not result.success:
                break
    elapsed = time.monotonic() - started
    if not result.success:
        print(f"\nThe run failed after {elapsed:.0f} s:", file=sys.stderr)
        for message in _failure_messages(result):
            print(f"  - {message}", file=sys.stderr)
        print(_what_changed(written), file=sys.stderr)
        print(
            f"Details: {log_path}, the run in the Dagster UI (python3 dev.py ui), or --log-level INFO.",
            file=sys.stderr,
        )
        return 1
    print(f"\nDone in {elapsed:.0f} s (Dagster run {result.run_id}).")
    print(outputs_summary(settings.duckdb_path()))
    return 0


def _what_changed(written: list[str]) -> str:
    """What a failed materialize left changed: the assets it wrote, by schema, and the snapshot."""
    if not written:
        return "Nothing was written: every table is as the last run left it."
    by_schema: dict[str, list[str]] = {}
    for key in dict.fromkeys(written):
        schema, _, name = key.rpartition("/")
        by_schema.setdefault(schema or "(no schema)", []).append(name)
    lines = [f"Before it failed, the run materialized {len(dict.fromkeys(written))} assets, which changed:"]
    lines += [f"    {schema}: {', '.join(names)}" for schema, names in by_schema.items()]
    if "publish/snapshot" in written:
        lines.append("  The snapshot readers use was published by this run.")
    else:
        lines.append(
            "  The published snapshot (read by the API, persona, wallet and cluster) is still the one "
            "from before this run."
        )
    return "\n".join(lines)


# User messages that start with this go to the terminal too (e.g. persona training's estimate).
PROGRESS_PREFIX = "Progress: "
# Asset tables named per finished step; a dbt step materializes dozens.
_SHOWN_TABLES = 3


class _ProgressHandler(logging.Handler):
    """One line per finished step (name, seconds, row counts) written to the terminal during a run.

    It reads the Dagster events of the run as they are logged, so the figures are Dagster's own:
    the step's duration and the `dagster/row_count` its materializations report.
    """

    def __init__(self, out: TextIO, started: float) -> None:
        super().__init__(level=logging.DEBUG)
        self.out = out
        self.started = started
        self.rows: dict[str, list[tuple[str, int | None]]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None)
        if not meta:
            return
        event = meta.get("dagster_event")
        step = meta.get("step_key") or ""
        if event is None:
            message = meta.get("orig_message") or ""
            if message.startswith(PROGRESS_PREFIX):
                self._line(f"{_step_name(step)}: {message.removeprefix(PROGRESS_PREFIX)}")
            return
        kind = event.event_type_value
        data = event.event_specific_data
        if kind == "ASSET_MATERIALIZATION":
            materialization = data.materialization
            rows = materialization.metadata.get("dagster/row_count")
            value = getattr(rows, "value", rows)
            table = ".".join(materialization.asset_key.path)
            self.rows.setdefault(step, []).append((table, int(value) if value is not None else None))
        elif kind == "STEP_SUCCESS":
            self._line(f"{_step_name(step)} done in {data.duration_ms / 1000:.1f} s{self._tables(step)}")
        elif kind == "STEP_FAILURE":
            self._line(f"{_step_name(step)} failed")

    def _tables(self, step: str) -> str:
        tables = self.rows.pop(step, [])
        counted = [f"{t} {n:,} rows" for t, n in tables if n is not None]
        if not tables:
            return ""
        shown = counted[:_SHOWN_TABLES]
        more = len(tables) - len(shown)
        rest = f"{more} more table{'s' if more != 1 else ''}" if shown else f"{more} tables"
        return " (" + ", ".join(shown + ([rest] if more else [])) + ")"

    def _line(self, text: str) -> None:
        elapsed = int(time.monotonic() - self.started)
        try:
            print(f"  {elapsed // 60:3d}:{elapsed % 60:02d}  {text}", file=self.out, flush=True)
        except (BrokenPipeError, ValueError):
            pass  # the terminal went away; the run goes on and the log keeps everything


def _step_name(step_key: str) -> str:
    """`personas__persona_model` -> `personas/persona_model`; op names stay as they are."""
    return step_key.replace("__", "/")


def _progress_logger(out: TextIO, started: float):  # noqa: ANN202 - dagster's LoggerDefinition
    import dagster as dg

    @dg.logger(description="Step-by-step progress on the terminal of `wallet-pipeline materialize`.")
    def progress(_init_context) -> logging.Logger:  # noqa: ANN001
        logger = logging.Logger("wallet_pipeline.progress", level=logging.DEBUG)
        logger.addHandler(_ProgressHandler(out, started))
        return logger

    return progress


def _planned_runs(source: str, args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """(job, partition) runs that materialize everything: one job, or Dune's days then features."""
    if source != "dune":
        return [("full_pipeline_job", None)]
    if not args.start:
        raise ValueError("the Dune source loads days: give --start YYYY-MM-DD (and --end, default --start)")
    import datetime as dt

    try:
        first = dt.date.fromisoformat(args.start)
        last = dt.date.fromisoformat(args.end or args.start)
    except ValueError:
        raise ValueError(
            f"--start/--end must be dates like 2024-07-01, not {args.start!r}/{args.end!r}"
        ) from None
    if last < first:
        raise ValueError(f"--end {last} is before --start {first}")
    days = [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    return [*(("dune_daily_ingestion_job", day) for day in days), ("features_job", None)]


def _failure_messages(result) -> list[str]:  # noqa: ANN001 - dagster's result type
    messages = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            error = event.step_failure_data.error
            # Dagster wraps the asset's own exception ("Error occurred while executing op ..."):
            # the innermost cause is the one that says what went wrong.
            while error is not None and error.cause is not None:
                error = error.cause
            description = getattr(event.step_failure_data.user_failure_data, "description", None)
            messages.append(
                f"{event.step_key}: {description or (error.message.strip() if error else 'failed')}"
            )
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            evaluation = getattr(data, "asset_check_evaluation", data)
            if evaluation is not None and not evaluation.passed:
                why = f": {evaluation.description}" if evaluation.description else ""
                messages.append(
                    f"check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} failed{why}"
                )
    return messages or ["see the run in the Dagster UI for details"]


def outputs_summary(db_path: Path) -> str:
    """Row counts of the tables a user reads, and how to query them."""
    import duckdb

    con = duckdb.connect(str(db_path), read_only=True)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where schema_name in ('raw', 'marts', 'ground_truth', 'personas', 'graph', 'entities') "
            "order by 1, 2"
        ).fetchall()
        rows = [
            (schema, table, con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0])
            for schema, table in tables
        ]
        features = con.execute(
            "select count(*), count(*) filter (where is_contract) from marts.wallet_features"
        ).fetchone()
        personas = (
            con.execute(
                "select persona, count(*), any_value(model_version) from personas.wallet_personas "
                "group by 1 order by 2 desc"
            ).fetchall()
            if ("personas", "wallet_personas") in tables
            else []
        )
        stats = (
            con.execute(
                "select total_clusters, wallets_clustered, high_risk_clusters, critical_clusters, "
                "high_risk_wallets, largest_cluster_size from entities.graph_stats"
            ).fetchone()
            if ("entities", "graph_stats") in tables
            else None
        )
        riskiest = (
            con.execute(
                "select cluster_id, size, risk_score, risk_level from entities.clusters "
                "order by risk_score desc, size desc limit 3"
            ).fetchall()
            if stats
            else []
        )
    finally:
        con.close()
    lines = ["", "Outputs (DuckDB file):", f"  {db_path}", ""]
    lines += [f"  {schema + '.' + table:<30} {n:>12,} rows" for schema, table, n in rows if "__" not in table]
    if features:
        lines += [
            "",
            f"marts.wallet_features: {features[0]:,} addresses, {features[1]:,} flagged as contracts.",
        ]
    if personas:
        lines += ["", f"personas.wallet_personas (model version {personas[0][2]}):"]
        lines += [f"  {name:<28} {n:>10,} wallets" for name, n, _ in personas]
        example = "python3 dev.py persona <address>"
        lines += ["", f"Who is a wallet: {example}   MLflow UI: python3 dev.py mlflow"]
    if stats:
        lines += [
            "",
            f"entities.clusters: {stats[0]:,} clusters of {stats[1]:,} wallets (largest {stats[5]:,}); "
            f"{stats[2]:,} at High or Critical risk ({stats[3]:,} Critical); "
            f"{stats[4]:,} wallets at High or above.",
        ]
        lines += [f"  {cid}  {size:>5} wallets  {score:5.1f} {level}" for cid, size, score, level in riskiest]
        lines += [
            "Who is a wallet, and why: python3 dev.py wallet <address>   "
            "A cluster: python3 dev.py cluster <id>"
        ]
    # Full paths of the venv's programs: the hints work from any folder, with no venv activated.
    python = Path(sys.executable)
    lines += [
        "",
        "Query it:",
        f"  {python.with_name('duckdb')} -readonly {db_path} "
        '"select * from marts.wallet_features order by tx_count desc limit 10"',
        f"  {python} -c \"import duckdb; print(duckdb.connect('"
        + str(db_path)
        + "', read_only=True).sql('select count(*) from marts.wallet_features'))\"",
        "Browse it: python3 dev.py ui   (Dagster UI on http://127.0.0.1:3000)",
    ]
    return "\n".join(lines)


def ui(args: argparse.Namespace) -> int:
    """Start the Dagster UI and daemon on 127.0.0.1 with `dg dev` (replaces this process)."""
    _apply_options(args)
    from wallet_pipeline.settings import REPO_ROOT

    dg_cli = Path(sys.executable).with_name("dg")
    argv = [str(dg_cli), "dev", "--host", UI_HOST, "--port", str(args.port)]
    print(f"Dagster UI on http://{UI_HOST}:{args.port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    # dg reads dg.toml from the folder it starts in, and checks that the active environment is the
    # project's .venv: this process runs in it whether or not a venv was activated.
    os.environ["VIRTUAL_ENV"] = sys.prefix
    os.chdir(REPO_ROOT)
    os.execv(argv[0], argv)
    return 0  # pragma: no cover - execv does not return


def mlflow_ui(args: argparse.Namespace) -> int:
    """Start the MLflow UI on 127.0.0.1 over the tracking store the pipeline uses (replaces this process)."""
    _apply_options(args)
    from wallet_pipeline import settings

    uri = settings.mlflow_tracking_uri()
    if not uri.startswith("sqlite:"):
        print(f"MLFLOW_TRACKING_URI points at {uri.split('@')[-1]}: open that server's UI instead.")
        return 2
    mlflow = Path(sys.executable).with_name("mlflow")
    # One worker and no job runner: the defaults fork several processes on a 2-core machine.
    os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    argv = [
        str(mlflow), "server", "--backend-store-uri", uri, "--host", UI_HOST,
        "--port", str(args.port), "--workers", "1",
    ]  # fmt: skip
    # The experiment list in the classic ML view (MLflow 3 opens its GenAI view by default).
    print(f"MLflow UI on http://{UI_HOST}:{args.port}/#/experiments?workflowType=machine_learning")
    print(f"(store {uri})")
    os.execv(argv[0], argv)
    return 0  # pragma: no cover - execv does not return


def where(args: argparse.Namespace) -> int:
    """Print the output paths."""
    _apply_options(args)
    from wallet_pipeline import settings

    print(f"DuckDB file:  {settings.duckdb_path()}")
    print(f"Data folder:  {settings.data_dir()}")
    print(f"DAGSTER_HOME: {os.environ['DAGSTER_HOME']}")
    uri = settings.mlflow_tracking_uri()
    print(f"MLflow store: {uri.split('@')[-1] if '@' in uri else uri}")
    return 0


def persona(args: argparse.Namespace) -> int:
    """Print the persona and every persona's probability of wallets, with the promoted model."""
    _apply_options(args)
    if not (args.addresses or args.csv or args.row):
        print("error: give addresses, --csv FILE or --row JSON", file=sys.stderr)
        return 2
    # The inputs first, before the imports and the model: a typo costs a second.
    try:
        addresses = [check_address(a) for a in args.addresses]
        if args.csv and not Path(args.csv).is_file():
            raise ValueError(f"--csv {Path(args.csv).resolve()} does not exist or is not a file")
        if args.model_file and not Path(args.model_file).is_file():
            raise ValueError(
                f"--model-file {Path(args.model_file).resolve()} does not exist or is not a file"
            )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    import duckdb
    import pandas as pd

    from wallet_pipeline import settings
    from wallet_pipeline.lib.persona_registry import (
        PersonaModelUnavailable,
        load_model_file,
        load_persona_model,
    )
    from wallet_pipeline.logic.personas import PersonaInputError
    from wallet_pipeline.logic.personas import predictor as pr
    from wallet_pipeline.logic.personas.store import FeaturesUnavailable, read_features_of

    try:
        if args.row:
            table = pr.read_wallet_row(args.row)
        elif args.csv:
            table = pr.read_wallets_csv(Path(args.csv))
        else:
            table = pd.DataFrame({"address": addresses})
        if args.model_file:
            model, version = load_model_file(Path(args.model_file)), f"file {args.model_file}"
        else:
            model, version = load_persona_model(settings.mlflow_tracking_uri(), args.model)
            version = f"version {version}" + ("" if args.model.isdigit() else f" ({args.model})")
        if pr.needs_lookup(table, model):
            wanted = list(table["address"])
            table = _read_only(lambda con: read_features_of(con, wanted))
            missing = pr.missing_addresses(wanted, table)
            if missing:
                raise pr.WalletsNotFound(missing)
        predictions = model.predict(table)
    except (
        PersonaModelUnavailable,
        PersonaInputError,
        FeaturesUnavailable,
        pr.WalletsNotFound,
        OSError,
        ValueError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except duckdb.IOException as exc:
        print(
            f"error: cannot read {settings.duckdb_path()} ({exc}); a pipeline run may be writing it, "
            "try again when it finishes",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(_top_probabilities(predictions, model, args.top), indent=2))
    else:
        print(pr.format_predictions(predictions, model, version, top=args.top))
    return 0


def check_address(text: str) -> str:
    """The lower-case address; a ValueError for a malformed one or a mixed case failing EIP-55.

    The same rule as the API's 422 (`api.queries.parse_address`), imported only for mixed case:
    that module loads the API's models, which a lower-case address does not need.
    """
    address = text.strip().lower()
    if not _ADDRESS.match(address):
        raise ValueError(f"{text[:100]!r} is not an address: expected 0x followed by 40 hex characters")
    digits = text.strip()[2:]
    if digits not in (digits.lower(), digits.upper()):
        from wallet_pipeline.api.queries import parse_address

        return parse_address(text)
    return address


def _top_probabilities(predictions, model, top: int) -> list[dict]:  # noqa: ANN001 - frame, PersonaModel
    """JSON records; with `top` > 0 each keeps only its `top` most likely personas' probabilities."""
    from wallet_pipeline.logic.personas.model import persona_column

    records = json.loads(predictions.to_json(orient="records"))
    if top <= 0:
        return records
    columns = [persona_column(p) for p in model.personas]
    for rec in records:
        ranked = sorted((c for c in columns if c in rec), key=lambda c: -(rec[c] or 0.0))
        for dropped in ranked[top:]:
            del rec[dropped]
    return records


def _read_only(func):  # noqa: ANN001, ANN202 - runs func(con) on the published snapshot, read-only
    """Run `func` on the last published snapshot, which a running pipeline never locks.

    Before the first publish it falls back to the pipeline's own file.
    """
    import duckdb

    from wallet_pipeline import settings
    from wallet_pipeline.logic.publish.snapshot import current_snapshot

    snapshot = current_snapshot(settings.snapshot_dir())
    path = Path(snapshot or settings.duckdb_path())
    if not path.exists():
        raise OSError(
            f"there is no DuckDB file at {path} yet: run the pipeline first (python3 dev.py pipeline)"
        )
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return func(con)
    except duckdb.IOException as exc:
        raise OSError(
            f"cannot read {settings.duckdb_path()} ({exc}); a pipeline run may be writing it, "
            "try again when it finishes"
        ) from None


def wallet(args: argparse.Namespace) -> int:
    """Who is this wallet: its risk and why, its persona, its cluster and the evidence for it."""
    _apply_options(args)
    from wallet_pipeline.logic.graph.report import NotFound, format_wallet_report, wallet_report

    try:
        address = check_address(args.address)
        report = _read_only(lambda con: wallet_report(con, address))
    except (NotFound, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        out = {**report, "evidence_chain": report["evidence_chain"].to_dict(orient="records")}
        print(json.dumps(out, indent=2, default=str))
    else:
        print(format_wallet_report(report))
    return 0


def cluster(args: argparse.Namespace) -> int:
    """A cluster's risk, members, links and history, or its export as CSV, JSON or GraphML."""
    _apply_options(args)
    from wallet_pipeline.logic.graph.export import export_cluster
    from wallet_pipeline.logic.graph.report import NotFound, cluster_report, format_cluster_report
    from wallet_pipeline.logic.graph.store import ENTITIES_SCHEMA

    try:
        target = args.cluster if args.cluster.startswith("c_") else check_address(args.cluster)
        report = _read_only(lambda con: cluster_report(con, target))
        if args.export:
            cluster_id = report["cluster"]["cluster_id"]
            out = Path(args.out or f"{cluster_id}.{args.export}")
            written = _read_only(
                lambda con: export_cluster(con, cluster_id, args.export, out, ENTITIES_SCHEMA)
            )
            print("\n".join(f"wrote {p}" for p in written))
            return 0
    except (NotFound, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_cluster_report(report))
    return 0


def flag(args: argparse.Namespace) -> int:
    """Add, list or remove analysts' flags on clusters (kept apart from the pipeline's tables)."""
    _apply_options(args)
    from wallet_pipeline import settings
    from wallet_pipeline.logic.publish.flags import FlagError, add_flag, list_flags, remove_flag

    path = settings.flags_path()
    try:
        if args.action == "add":
            if not args.target:
                raise FlagError("give the cluster id to flag")
            if not (args.by or "").strip():
                raise FlagError("give --by NAME: who flags the cluster (it is recorded with the flag)")
            _read_only(lambda con: _require_cluster(con, args.target))
            flag_id = add_flag(path, args.target, args.reason, args.note or "", args.by)
            print(f"flag {flag_id} on {args.target} ({args.reason}) saved in {path}")
        elif args.action == "remove":
            if not (args.target or "").isdigit():
                raise FlagError("give the number of the flag to remove (see: flag list)")
            if not (args.by or "").strip():
                raise FlagError("give --by NAME: who removes the flag (it is recorded with the change)")
            if not remove_flag(path, int(args.target), args.by or ""):
                raise FlagError(f"no flag {args.target}")
            print(f"flag {args.target} removed")
        else:
            flags = list_flags(path)
            print(flags.to_string(index=False) if len(flags) else f"no flags in {path}")
    except (FlagError, ValueError, LookupError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _require_cluster(con, cluster_id: str) -> None:  # noqa: ANN001 - duckdb connection
    """A LookupError unless `cluster_id` is a cluster of the snapshot (the API answers 404)."""
    import duckdb

    try:
        found = con.execute(
            "select count(*) from entities.clusters where cluster_id = ?", [cluster_id]
        ).fetchone()[0]
    except duckdb.CatalogException:
        raise LookupError(
            "there are no clusters yet (no entities.clusters): run the pipeline first "
            "(python3 dev.py pipeline)"
        ) from None
    if not found:
        raise LookupError(
            f"no cluster {cluster_id[:100]!r} in the current snapshot: see python3 dev.py cluster <address>, "
            "which names the cluster of a wallet"
        )


def api(args: argparse.Namespace) -> int:
    """Serve the investigator API and web page on 127.0.0.1 from the published snapshot."""
    _apply_options(args)
    import uvicorn

    from wallet_pipeline import settings
    from wallet_pipeline.api.app import create_app, live_from_settings, session_key

    port = args.port or settings.api_port()
    workers = args.workers
    if workers < 1:
        print("error: --workers must be 1 or more", file=sys.stderr)
        return 2
    if workers > 1 and settings.api_keys() is None:
        # Each process would make a key of its own, and a client would hit whichever answers.
        print(
            "error: --workers above 1 needs WALLET_API_KEYS (keys shared by every process)", file=sys.stderr
        )
        return 2
    print(f"Investigator page and API on http://{UI_HOST}:{port}  (API docs: /docs)")
    print(f"Reading the published snapshot in {settings.snapshot_dir()}")
    options = {"host": UI_HOST, "port": port, "log_level": "warning"}
    if workers > 1:
        uvicorn.run(
            "wallet_pipeline.api.app:create_app_from_environment", factory=True, workers=workers, **options
        )
    else:
        keys = settings.api_keys() or session_key()
        app = create_app(settings.snapshot_dir(), keys, settings.flags_path(), live=live_from_settings())
        uvicorn.run(app, **options)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wallet-pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("materialize", help="run the whole asset graph headless")
    run.add_argument(
        "--source", choices=["simulator", "files", "dune"], help="raw data source (default: simulator)"
    )
    run.add_argument("--start", help="Dune source: first day to load, YYYY-MM-DD")
    run.add_argument("--end", help="Dune source: last day to load (default: --start)")
    run.add_argument("--files-dir", help="ethereum-etl export folder (implies --source files)")
    run.add_argument("--wallets", type=int, help="simulated wallets (default 20,000)")
    run.add_argument("--seed", type=int, help="simulator seed (default 42)")
    run.add_argument(
        "--log-level", default="CRITICAL", help="Dagster console log level (default: only the summary)"
    )
    run.set_defaults(func=materialize)

    start_ui = sub.add_parser("ui", help="start the Dagster UI on 127.0.0.1")
    start_ui.add_argument("--port", type=int, default=UI_PORT)
    start_ui.set_defaults(func=ui)

    who = sub.add_parser(
        "persona", help="persona and probabilities of wallets, scored with the promoted model"
    )
    who.add_argument("addresses", nargs="*", help="addresses to look up in marts.wallet_features")
    who.add_argument("--csv", help="CSV of wallets: feature columns, or only an address column to look up")
    who.add_argument("--row", help='one wallet\'s features as JSON: {"address": "0x..", "tx_count": 3, ...}')
    who.add_argument("--model", default="champion", help="registry alias or version (default: champion)")
    who.add_argument("--model-file", help="a pickled persona model file instead of the registry")
    who.add_argument("--top", type=int, default=0, help="print only the N most likely personas")
    who.add_argument("--json", action="store_true", help="print JSON records instead of text")
    who.set_defaults(func=persona)

    who_wallet = sub.add_parser("wallet", help="a wallet's risk and why, its persona, cluster and evidence")
    who_wallet.add_argument("address")
    who_wallet.add_argument("--json", action="store_true", help="print JSON instead of text")
    who_wallet.set_defaults(func=wallet)

    group = sub.add_parser("cluster", help="a cluster's risk, members, links and history; or export it")
    group.add_argument("cluster", help="cluster id (c_0x...) or the address of one of its wallets")
    group.add_argument("--export", choices=["csv", "json", "graphml"], help="write the cluster to a file")
    group.add_argument("--out", help="file to write (default: <cluster_id>.<format>)")
    group.set_defaults(func=cluster)

    flags = sub.add_parser("flag", help="analysts' flags on clusters: add, list, remove")
    flags.add_argument("action", choices=["add", "list", "remove"])
    flags.add_argument("target", nargs="?", help="cluster id to flag (add) or flag number (remove)")
    flags.add_argument(
        "--reason",
        default="other",
        choices=["scam_ring", "wash_trading", "token_farm", "money_laundering", "other"],
    )
    flags.add_argument("--note", help="free text: why")
    flags.add_argument("--by", help="who flags or removes it")
    flags.set_defaults(func=flag)

    serve = sub.add_parser("api", help="the investigator API and web page on 127.0.0.1 (port 8800)")
    serve.add_argument("--port", type=int, help="port (default WALLET_API_PORT or 8800)")
    serve.add_argument(
        "--workers", type=int, default=1, help="server processes (more than 1 needs WALLET_API_KEYS)"
    )
    serve.set_defaults(func=api)

    tracking = sub.add_parser("mlflow-ui", help="start the MLflow UI on 127.0.0.1 (model runs, registry)")
    tracking.add_argument("--port", type=int, default=5000)
    tracking.set_defaults(func=mlflow_ui)

    show = sub.add_parser("where", help="print where the outputs are")
    show.set_defaults(func=where)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `wallet-pipeline` command."""
    args = _parser().parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`| head`) has what it wanted; stdout goes to /dev/null so that Python's
        # flush at exit does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command killed by the pipe
    return code


if __name__ == "__main__":
    sys.exit(main())
