"""`wallet-pipeline`: run the asset graph headless, score personas, start the UIs, show where outputs are."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

UI_HOST = "127.0.0.1"
UI_PORT = 3000


def _apply_options(args: argparse.Namespace) -> None:
    """Turn command-line options into the environment that `settings` reads, before any import."""
    if getattr(args, "source", None):
        os.environ["WALLET_SOURCE"] = args.source
    if getattr(args, "files_dir", None):
        os.environ["WALLET_SOURCE"] = "files"
        os.environ["WALLET_FILES_DIR"] = str(Path(args.files_dir).resolve())
    if getattr(args, "wallets", None):
        os.environ["WALLET_SIM_WALLETS"] = str(args.wallets)
    if getattr(args, "seed", None) is not None:
        os.environ["WALLET_SIM_SEED"] = str(args.seed)
    from wallet_pipeline import settings

    os.environ.setdefault("DAGSTER_HOME", str(settings.data_dir() / "dagster_home"))
    # MLflow's progress bars and INFO lines would bury the run summary; warnings still show.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    from wallet_pipeline.defs.publish import RUN_QUEUE_YAML

    if not instance_yaml.exists():
        # Default local storage; telemetry off, since pipeline machines often have no internet;
        # one run at a time, since DuckDB takes one writer.
        instance_yaml.write_text("telemetry:\n  enabled: false\n" + RUN_QUEUE_YAML)
    elif not any(k in instance_yaml.read_text() for k in ("concurrency:", "run_queue:", "run_coordinator:")):
        # A home made by an earlier version: add the queue limit, keep the rest.
        instance_yaml.write_text(instance_yaml.read_text() + RUN_QUEUE_YAML)


def materialize(args: argparse.Namespace) -> int:
    """Materialize every asset of the configured source; print a summary and where outputs are."""
    _apply_options(args)
    import dagster as dg

    from wallet_pipeline import settings
    from wallet_pipeline.definitions import defs
    from wallet_pipeline.settings import SettingsError

    try:
        definitions = defs()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    source = settings.get_source()
    try:
        runs = _planned_runs(source, args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Materializing every asset (source: {source}) into {settings.duckdb_path()}")
    log_path = settings.data_dir() / "logs" / "last_materialize.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"dbt's progress goes to {log_path}", flush=True)
    started = time.monotonic()
    instance = dg.DagsterInstance.get()
    run_config = {"loggers": {"console": {"config": {"log_level": args.log_level}}}}
    # dagster-dbt echoes every dbt event to stdout (the UI keeps them as compute logs); here they
    # would bury the summary, so they go to a file the user can open.
    with open(log_path, "w") as log:
        for job_name, partition in runs:
            if partition:
                print(f"  {job_name} {partition}", flush=True)
            with contextlib.redirect_stdout(log):
                result = definitions.resolve_job_def(job_name).execute_in_process(
                    instance=instance, raise_on_error=False, run_config=run_config, partition_key=partition
                )
            if not result.success:
                break
    elapsed = time.monotonic() - started
    if not result.success:
        print(f"\nThe run failed after {elapsed:.0f} s:", file=sys.stderr)
        for message in _failure_messages(result):
            print(f"  - {message}", file=sys.stderr)
        print("Tables from the last successful load are unchanged.", file=sys.stderr)
        print(
            f"Details: {log_path}, the run in the Dagster UI (python3 dev.py ui), or --log-level INFO.",
            file=sys.stderr,
        )
        return 1
    print(f"\nDone in {elapsed:.0f} s (Dagster run {result.run_id}).")
    print(outputs_summary(settings.duckdb_path()))
    return 0


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
    lines += [
        "",
        "Query it:",
        f"  .venv/bin/duckdb -readonly {db_path} "
        '"select * from marts.wallet_features order by tx_count desc limit 10"',
        "  python -c \"import duckdb; print(duckdb.connect('"
        + str(db_path)
        + "', read_only=True).sql('select count(*) from marts.wallet_features'))\"",
        "Browse it: python3 dev.py ui   (Dagster UI on http://127.0.0.1:3000)",
    ]
    return "\n".join(lines)


def ui(args: argparse.Namespace) -> int:
    """Start the Dagster UI and daemon on 127.0.0.1 (replaces this process)."""
    _apply_options(args)
    dagster = Path(sys.executable).with_name("dagster")
    argv = [str(dagster), "dev", "-m", "wallet_pipeline.definitions", "-h", UI_HOST, "-p", str(args.port)]
    print(f"Dagster UI on http://{UI_HOST}:{args.port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
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
    print(f"MLflow UI on http://{UI_HOST}:{args.port} (store {uri})")
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

    if not (args.addresses or args.csv or args.row):
        print("error: give addresses, --csv FILE or --row JSON", file=sys.stderr)
        return 2
    try:
        if args.model_file:
            model, version = load_model_file(Path(args.model_file)), f"file {args.model_file}"
        else:
            model, version = load_persona_model(settings.mlflow_tracking_uri(), args.model)
            version = f"version {version}" + ("" if args.model.isdigit() else f" ({args.model})")
        if args.row:
            table = pr.read_wallet_row(args.row)
        elif args.csv:
            table = pr.read_wallets_csv(Path(args.csv))
        else:
            table = pd.DataFrame({"address": pr.normalise_addresses(args.addresses)})
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
        print(predictions.to_json(orient="records", indent=2))
    else:
        print(pr.format_predictions(predictions, model, version, top=args.top))
    return 0


def _read_only(func):  # noqa: ANN001, ANN202 - runs func(con) on the published snapshot, read-only
    """Run `func` on the last published snapshot, which a running pipeline never locks.

    Before the first publish it falls back to the pipeline's own file.
    """
    import duckdb

    from wallet_pipeline import settings
    from wallet_pipeline.logic.snapshot import current_snapshot

    snapshot = current_snapshot(settings.snapshot_dir())
    try:
        with duckdb.connect(str(snapshot or settings.duckdb_path()), read_only=True) as con:
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
        report = _read_only(lambda con: wallet_report(con, args.address))
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
        report = _read_only(lambda con: cluster_report(con, args.cluster))
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
    from wallet_pipeline.logic.flags import FlagError, add_flag, list_flags, remove_flag

    path = settings.flags_path()
    try:
        if args.action == "add":
            if not args.target:
                raise FlagError("give the cluster id to flag")
            flag_id = add_flag(path, args.target, args.reason, args.note or "", args.by or "")
            print(f"flag {flag_id} on {args.target} ({args.reason}) saved in {path}")
        elif args.action == "remove":
            if not (args.target or "").isdigit():
                raise FlagError("give the number of the flag to remove (see: flag list)")
            if not remove_flag(path, int(args.target), args.by or ""):
                raise FlagError(f"no flag {args.target}")
            print(f"flag {args.target} removed")
        else:
            flags = list_flags(path)
            print(flags.to_string(index=False) if len(flags) else f"no flags in {path}")
    except (FlagError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


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
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
