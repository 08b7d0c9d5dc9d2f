"""Alerts and analysts' flags through Dagster: delivered to a local receiver, kept across rebuilds."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from wallet_pipeline.logic.publish.flags import add_flag, list_flags
from wallet_pipeline_tests.defs.runs import Run, execute, simulator_config
from wallet_pipeline_tests.processes import stop_process_group

pytestmark = [pytest.mark.dbt, pytest.mark.slow]
# Personas and the snapshot are not needed to raise alerts; leaving them out saves two minutes.
SELECTION = dg.AssetSelection.all() - dg.AssetSelection.groups("personas", "publish")
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


def _alerts_meta(result: dg.ExecuteInProcessResult) -> dict:
    [event] = result.asset_materializations_for_node("entities__alerts")
    return {k: v.value for k, v in event.metadata.items()}


def test_alerts_reach_the_webhook_and_flags_survive_two_rebuilds(
    tmp_path: Path, receiver: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):  # they would catch 127.0.0.1
        monkeypatch.delenv(name, raising=False)
    url, posts = receiver
    flags = tmp_path / "flags.sqlite"
    env = {"WALLET_ALERT_WEBHOOKS": f"generic:0:local={url}", "WALLET_FLAGS_PATH": str(flags)}
    instance = dg.DagsterInstance.ephemeral()

    first = execute(tmp_path, simulator_config(1_200, 5), SELECTION, instance=instance, env=env)
    assert first.success
    assert _alerts_meta(first)["first_run"] is True and _alerts_meta(first)["alerts_added"] == 0
    run = Run(tmp_path, first)
    riskiest = run.sql(
        "select cluster_id from entities.clusters order by risk_score desc, cluster_id limit 1"
    )
    flag_id = add_flag(flags, riskiest["cluster_id"][0], "scam_ring", "seen in a report", "analyst@test")

    # A rebuild on other data: clusters come and go, so alerts are raised and delivered.
    second = execute(tmp_path, simulator_config(1_200, 6), SELECTION, instance=instance, env=env)
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

    third = execute(tmp_path, simulator_config(1_200, 6), SELECTION, instance=instance, env=env)
    assert third.success
    assert (
        run.sql("select count(*) n from entities.alerts")["n"][0] >= stored
    )  # nothing already stored is lost
    kept = list_flags(flags)
    assert flag_id in set(kept["flag_id"]) and (kept["reason"] == "scam_ring").all()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_alerts_a_webhook_missed_while_down_arrive_in_a_later_run_each_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/hook"  # nothing listens yet: the webhook is down
    env = {"WALLET_ALERT_WEBHOOKS": f"generic:0:local={url}", "WALLET_FLAGS_PATH": str(tmp_path / "f.db")}
    instance = dg.DagsterInstance.ephemeral()
    assert execute(tmp_path, simulator_config(1_200, 5), SELECTION, instance=instance, env=env).success
    second = execute(tmp_path, simulator_config(1_200, 6), SELECTION, instance=instance, env=env)
    assert second.success
    meta = _alerts_meta(second)
    run = Run(tmp_path, second)
    raised = set(run.sql("select alert_id from entities.alerts")["alert_id"])
    assert meta["alerts_added"] == len(raised) > 0
    assert meta["delivery"]["delivered"] == 0
    assert meta["failing_webhooks"]["local"]["undelivered"] == len(raised)
    assert meta["failing_webhooks"]["local"]["url"] == f"http://127.0.0.1:{port}/..."  # no path

    out = tmp_path / "posts.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wallet_pipeline_tests.webhook_receiver",
            "--out",
            str(out),
            "--port",
            str(port),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert int(proc.stdout.readline()) == port  # the webhook is back
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("WALLET_DATA_DIR", str(tmp_path))
            mp.setenv("WALLET_DUCKDB_PATH", str(tmp_path / "wallet_pipeline.duckdb"))
            mp.setenv("WALLET_SOURCE", "simulator")
            for name, value in env.items():
                mp.setenv(name, value)
            from wallet_pipeline.definitions import defs

            job = defs().resolve_job_def("alert_redelivery_job")
            assert job.execute_in_process(instance=instance, raise_on_error=False).success
    finally:
        stop_process_group(proc)
        proc.stdout.close()
    arrived = [json.loads(p["body"])["alert_id"] for p in map(json.loads, out.read_text().splitlines())]
    assert sorted(arrived) == sorted(raised)  # every alert of the failed run, each exactly once
    left = run.sql(
        "select count(*) n from entities.alerts a where not exists (select 1 from "
        "entities.alert_deliveries d where d.alert_id = a.alert_id and d.delivered)"
    )["n"][0]
    assert left == 0
