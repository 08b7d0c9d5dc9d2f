"""Alerts and analysts' flags through Dagster: delivered to a local receiver, kept across rebuilds."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from wallet_pipeline.logic.flags import add_flag, list_flags
from wallet_pipeline_tests.defs.runs import Run
from wallet_pipeline_tests.processes import stop_process_group

pytestmark = [pytest.mark.dbt, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A webhook receiver on 127.0.0.1 in its own session; its URL and the file of what it got."""
    out = tmp_path / "posts.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "wallet_pipeline_tests.webhook_receiver", "--out", str(out), "--fail", "1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{int(proc.stdout.readline())}/hook", out
    finally:
        stop_process_group(proc)
        proc.stdout.close()


def _execute(folder: Path, instance: dg.DagsterInstance, seed: int, env: dict) -> dg.ExecuteInProcessResult:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WALLET_DATA_DIR", str(folder))
        mp.setenv("WALLET_DUCKDB_PATH", str(folder / "wallet_pipeline.duckdb"))
        mp.setenv("WALLET_DUCKDB_MEMORY_LIMIT", "2GB")
        mp.setenv("WALLET_SOURCE", "simulator")
        for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
            mp.delenv(name, raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        from wallet_pipeline.definitions import defs

        definitions = defs()
        selection = (
            dg.AssetSelection.all()
            - dg.AssetSelection.groups("personas")
            - dg.AssetSelection.groups("publish")
        )
        keys = list(selection.resolve(definitions.resolve_asset_graph()))
        return definitions.resolve_job_def("full_pipeline_job").execute_in_process(
            instance=instance,
            run_config={"ops": {"simulated_chain": {"config": {"n_wallets": 1_200, "seed": seed}}}},
            asset_selection=keys,
            raise_on_error=False,
        )


def _alerts_meta(result: dg.ExecuteInProcessResult) -> dict:
    [event] = result.asset_materializations_for_node("entities__alerts")
    return {k: v.value for k, v in event.metadata.items()}


def test_alerts_reach_the_webhook_and_flags_survive_two_rebuilds(
    tmp_path: Path, receiver: tuple[str, Path]
) -> None:
    url, posts = receiver
    flags = tmp_path / "flags.sqlite"
    env = {"WALLET_ALERT_WEBHOOKS": f"generic:0:local={url}", "WALLET_FLAGS_PATH": str(flags)}
    instance = dg.DagsterInstance.ephemeral()

    first = _execute(tmp_path, instance, seed=5, env=env)
    assert first.success
    assert _alerts_meta(first)["first_run"] is True and _alerts_meta(first)["alerts_added"] == 0
    run = Run(tmp_path, first)
    riskiest = run.sql(
        "select cluster_id from entities.clusters order by risk_score desc, cluster_id limit 1"
    )
    flag_id = add_flag(flags, riskiest["cluster_id"][0], "scam_ring", "seen in a report", "analyst@test")

    # A rebuild on other data: clusters come and go, so alerts are raised and delivered.
    second = _execute(tmp_path, instance, seed=6, env=env)
    assert second.success
    meta = _alerts_meta(second)
    assert meta["alerts_added"] > 0
    stored = run.sql("select count(*) n from entities.alerts")["n"][0]
    delivered = run.sql("select count(distinct alert_id) n from entities.alert_deliveries where delivered")[
        "n"
    ][0]
    assert delivered == stored == meta["alerts_added"]
    lines = [json.loads(line) for line in posts.read_text().splitlines()]
    assert lines[0]["status"] == 500  # the receiver fails the first post: retried, then delivered
    failed_first = run.sql("select count(*) n from entities.alert_deliveries where not delivered")["n"][0]
    assert failed_first == 1
    assert (
        url.split("//")[1]
        not in run.sql("select string_agg(url, ' ') u from entities.alert_deliveries")["u"][0]
    )

    third = _execute(tmp_path, instance, seed=6, env=env)
    assert third.success
    assert (
        run.sql("select count(*) n from entities.alerts")["n"][0] >= stored
    )  # nothing already stored is lost
    kept = list_flags(flags)
    assert flag_id in set(kept["flag_id"]) and (kept["reason"] == "scam_ring").all()
