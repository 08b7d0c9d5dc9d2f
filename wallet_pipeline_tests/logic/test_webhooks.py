"""Webhook configuration, payload shapes and delivery to a local receiver on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from wallet_pipeline.logic.automation.alerts import alert_id, append_alerts
from wallet_pipeline.logic.automation.webhooks import (
    Webhook,
    WebhookSpecError,
    build_payload,
    deliver,
    deliver_pending,
    parse_webhooks,
    redact_url,
    undelivered_alerts,
)
from wallet_pipeline_tests.processes import stop_process_group
from wallet_pipeline_tests.webhook_receiver import read_posts

SECRET = "T0SECRET/B0SECRET/xoxSECRET"
REPO = Path(__file__).resolve().parents[2]


def alert(
    cluster: str = "c_0xa",
    score: float = 82.5,
    subject: str = "0xs",
    kind: str = "wallet_joined_risky_cluster",
):
    return {
        "alert_id": alert_id(kind, cluster, subject, "r2"),
        "created_at": pd.Timestamp("2024-07-02 10:00"),
        "run_id": "r2",
        "kind": kind,
        "cluster_id": cluster,
        "risk_score": score,
        "risk_level": "High" if score >= 75 else "Medium",
        "subject": subject,
        "message": f"Wallet {subject} joined cluster {cluster} (High {score}, 6 wallets)",
        "details": json.dumps({"address": subject, "previous_cluster_id": None}),
    }


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Callable[..., tuple[str, Path]]]:
    """Start receivers in their own sessions; returns (base URL, record file). Stopped by PID."""
    procs: list[subprocess.Popen] = []

    def start(fail: int = 0, status: int = 500) -> tuple[str, Path]:
        out = tmp_path / f"posts_{len(procs)}.jsonl"
        proc = subprocess.Popen(
            [sys.executable, "-m", "wallet_pipeline_tests.webhook_receiver", "--out", str(out)]
            + ["--fail", str(fail), "--status", str(status)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        procs.append(proc)
        port = int(proc.stdout.readline())
        return f"http://127.0.0.1:{port}", out

    yield start
    for proc in procs:
        stop_process_group(proc)
        proc.stdout.close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield con
    con.close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy from the environment would catch the 127.0.0.1 requests.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deliveries(db) -> pd.DataFrame:
    return db.sql("select * from entities.alert_deliveries order by webhook, attempt").df()


# Configuration


def test_a_spec_gives_kinds_thresholds_names_and_moves_the_telegram_chat_id_out_of_the_url() -> None:
    hooks = parse_webhooks(
        f"slack:75=https://hooks.slack.com/services/{SECRET};"
        "generic:60:siem=http://siem.example.org/in?token=a=b\n"
        "discord=https://discord.com/api/webhooks/1/abc;"
        "telegram:90=https://api.telegram.org/bot123:ABC/sendMessage?chat_id=-100123"
    )
    assert [(h.name, h.kind, h.min_risk) for h in hooks] == [
        ("slack_1", "slack", 75.0),
        ("siem", "generic", 60.0),
        ("discord_3", "discord", 0.0),
        ("telegram_4", "telegram", 90.0),
    ]
    assert hooks[1].url == "http://siem.example.org/in?token=a=b"
    assert hooks[3].chat_id == "-100123" and hooks[3].url == "https://api.telegram.org/bot123:ABC/sendMessage"
    assert SECRET not in repr(hooks)


def test_a_json_spec_gives_the_same_webhooks() -> None:
    text = json.dumps(
        [
            {"kind": "slack", "min_risk": 75, "url": f"https://hooks.slack.com/services/{SECRET}"},
            {
                "kind": "telegram",
                "name": "tg",
                "url": "https://api.telegram.org/botX/sendMessage",
                "chat_id": 42,
            },
        ]
    )
    hooks = parse_webhooks(text)
    assert [(h.name, h.kind, h.min_risk, h.chat_id) for h in hooks] == [
        ("slack_1", "slack", 75.0, None),
        ("tg", "telegram", 0.0, "42"),
    ]


@pytest.mark.parametrize("text", ["", "  ", None])
def test_no_spec_means_no_webhooks(text) -> None:
    assert parse_webhooks(text) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"slack:75=hooks.slack.com/services/{SECRET}",
            r"entry 1 \(<unparseable URL>\): the URL has no scheme; expected http",
        ),
        (
            f"slack:75=ftp://hooks.slack.com/{SECRET}",
            r"entry 1 \(ftp://hooks.slack.com/...\): the URL's scheme 'ftp'",
        ),
        (f"generic=http://ok.example/x;slack=https://hooks.slack.com:99999/{SECRET}", r"entry 2 .*bad port"),
        (f"slack=https:///{SECRET}", r"entry 1 .*the URL has no host"),
        (f"slack=https://hooks.slack.com/a b/{SECRET}", r"entry 1 .*white space"),
        (
            f"slak:75=https://hooks.slack.com/services/{SECRET}",
            r"entry 1 .*unknown kind 'slak'; expected one of",
        ),
        (
            f"slack:120=https://hooks.slack.com/services/{SECRET}",
            r"entry 1 .*min_risk '120' is outside 0 to 100",
        ),
        (f"slack:high=https://hooks.slack.com/services/{SECRET}", r"min_risk 'high' is not a number"),
        (
            f"slack:75:a:b=https://hooks.slack.com/services/{SECRET}",
            r"entry 1 .*expected kind\[:min_risk\[:name\]\]",
        ),
        (f"https://hooks.slack.com/services/{SECRET}", r"entry 1: expected kind\[:min_risk\[:name\]\]=url"),
        ("telegram=https://api.telegram.org/botSECRET/sendMessage", r"needs a chat_id"),
        ("slack:1:x=http://a.example/1;discord:2:x=http://b.example/2", r"names must be unique; repeated: x"),
        (
            '[{"kind": "slack", "url": "http://a.example/SECRET", "min_risk": -1}]',
            r"entry 1 .*outside 0 to 100",
        ),
        ('[{"kind": "slack", "uri": "http://a.example/SECRET"}]', r"entry 1: unknown keys \['uri'\]"),
        ('[{"kind": "slack", ', r"webhook JSON is malformed at line 1"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_entry_without_the_secret(text: str, message: str) -> None:
    with pytest.raises(WebhookSpecError, match=message) as caught:
        parse_webhooks(text)
    assert "SECRET" not in str(caught.value)


def test_a_webhook_built_directly_is_validated_too() -> None:
    with pytest.raises(WebhookSpecError, match=r"min_risk must be a number from 0 to 100, got 101"):
        Webhook(url="https://example.org/hook", kind="generic", min_risk=101)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://hooks.slack.com/services/{SECRET}", "https://hooks.slack.com/..."),
        ("http://user:pw@127.0.0.1:8080/", "http://127.0.0.1:8080/..."),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://example.org/?token=SECRET", "https://example.org/..."),
        ("not a url", "<unparseable URL>"),
    ],
)
def test_urls_are_shown_as_scheme_and_host_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown


# Payloads and delivery


def test_each_kind_gets_its_payload_shape_at_the_receiver(receiver, db) -> None:
    base, out = receiver()
    hooks = parse_webhooks(
        f"generic={base}/generic;slack={base}/slack/{SECRET};discord={base}/discord;"
        f"telegram={base}/botSECRET/sendMessage?chat_id=-100123"
    )
    a = alert()
    summary = deliver([a], hooks, db, timeout=5, retries=0)
    assert summary.delivered == 4 and summary.failed == 0
    bodies = {p["path"].split("/")[1]: json.loads(p["body"]) for p in read_posts(out)}
    assert bodies["generic"]["alert_id"] == a["alert_id"]
    assert bodies["generic"]["details"] == {"address": "0xs", "previous_cluster_id": None}
    assert bodies["generic"]["created_at"] == "2024-07-02T10:00:00"
    assert bodies["slack"]["text"].startswith("[High 82.5] Wallet 0xs joined cluster c_0xa")
    assert [b["type"] for b in bodies["slack"]["blocks"]] == ["section", "context"]
    assert bodies["discord"]["content"].startswith("[High 82.5] Wallet 0xs")
    assert bodies["discord"]["allowed_mentions"] == {"parse": []}
    assert bodies["botSECRET"]["chat_id"] == "-100123" and "0xs" in bodies["botSECRET"]["text"]
    assert all(p["headers"]["content-type"] == "application/json" for p in read_posts(out))
    recorded = deliveries(db)
    assert recorded["delivered"].all() and (recorded["status_code"] == 200).all()
    assert not recorded["url"].str.contains("SECRET").any()


def test_an_alert_goes_only_to_webhooks_whose_minimum_it_reaches(receiver, db) -> None:
    base, out = receiver()
    hooks = parse_webhooks(f"generic:90:critical={base}/critical;generic:60:medium={base}/medium")
    summary = deliver([alert(score=82.5)], hooks, db, retries=0)
    assert [p["path"] for p in read_posts(out)] == ["/medium"]
    assert summary.by_webhook["critical"] == {"delivered": 0, "failed": 0, "skipped": 0}


def test_a_receiver_failing_twice_gets_the_alert_on_the_third_attempt_with_every_attempt_recorded(
    receiver, db
) -> None:
    base, out = receiver(fail=2, status=500)
    hooks = [Webhook(url=f"{base}/hook", kind="generic", name="flaky")]
    summary = deliver([alert()], hooks, db, timeout=5, retries=2, backoff=0.01)
    assert (summary.delivered, summary.failed, summary.attempts) == (1, 0, 3)
    assert [p["status"] for p in read_posts(out)] == [500, 500, 200]
    recorded = deliveries(db)
    assert recorded[["attempt", "status_code", "delivered"]].values.tolist() == [
        [1, 500, False],
        [2, 500, False],
        [3, 200, True],
    ]
    assert recorded["error"].iloc[0] == "HTTP 500 Internal Server Error"


def test_a_client_error_is_recorded_and_not_retried(receiver, db) -> None:
    base, out = receiver(fail=99, status=400)
    summary = deliver([alert()], [Webhook(url=f"{base}/x", kind="slack")], db, retries=3, backoff=0.01)
    assert (summary.failed, summary.attempts, len(read_posts(out))) == (1, 1, 1)


def test_an_unreachable_webhook_is_retried_recorded_and_never_raises(db) -> None:
    a = pd.DataFrame([alert()])
    append_alerts(db, a)
    port = free_port()
    hooks = parse_webhooks(f"slack:50:soc=http://127.0.0.1:{port}/services/{SECRET}")
    summary = deliver(a, hooks, db, timeout=2, retries=2, backoff=0.01)
    assert (summary.delivered, summary.failed, summary.attempts) == (0, 1, 3)
    recorded = deliveries(db)
    assert len(recorded) == 3 and not recorded["delivered"].any()
    assert recorded["status_code"].isna().all()
    assert recorded["error"].str.contains("ConnectionRefusedError").all()
    assert set(recorded["url"]) == {f"http://127.0.0.1:{port}/..."}
    assert not recorded["error"].str.contains("SECRET").any()
    assert db.sql("select count(*) from entities.alerts").fetchone()[0] == 1  # the alert is kept
    assert undelivered_alerts(db, hooks)["alert_id"].tolist() == [a["alert_id"].iloc[0]]


def test_a_second_delivery_sends_only_what_was_not_delivered(receiver, db) -> None:
    base, out = receiver()
    hooks = [Webhook(url=f"{base}/hook", kind="discord", name="d")]
    first, second = alert(subject="0xs"), alert(subject="0xt")
    deliver([first], hooks, db, retries=0)
    summary = deliver([first, second], hooks, db, retries=0)
    assert (summary.already_delivered, summary.delivered) == (1, 1)
    assert len(read_posts(out)) == 2


def test_a_dead_webhook_is_given_up_within_the_run_and_the_rest_recorded_as_skipped(db) -> None:
    hooks = [Webhook(url=f"http://127.0.0.1:{free_port()}/x", kind="generic", name="dead")]
    alerts = [alert(subject=f"0x{i}") for i in range(5)]
    summary = deliver(alerts, hooks, db, timeout=2, retries=0, give_up_after=2)
    assert (summary.failed, summary.skipped, summary.attempts) == (2, 3, 2)
    skipped = deliveries(db).query("attempt == 0")
    assert len(skipped) == 3 and skipped["error"].str.contains("failed the previous 2 alerts").all()


def test_build_payload_for_telegram_needs_no_network() -> None:
    hook = Webhook(url="https://api.telegram.org/botX/sendMessage", kind="telegram", chat_id="7")
    body = build_payload(alert(), hook)
    assert set(body) == {"chat_id", "text", "disable_web_page_preview"} and body["chat_id"] == "7"


# At least once across runs

RUN_TIME = pd.Timestamp("2024-07-02 12:00").to_pydatetime()


def test_alerts_a_failing_webhook_missed_arrive_in_the_next_call_each_exactly_once(receiver, db) -> None:
    # The receiver fails the first 3 posts: the webhook gives up after 3 failures in a row, so the
    # first run delivers none of its 12 alerts; the receiver then recovers.
    base, out = receiver(fail=3, status=503)
    hooks = parse_webhooks(f"slack:50:soc={base}/services/{SECRET}")
    first_run = pd.DataFrame([alert(subject=f"0xa{i}") for i in range(12)])
    append_alerts(db, first_run)
    first = deliver_pending(db, hooks, 72, now=RUN_TIME, retries=0, give_up_after=3)
    assert (first.summary.delivered, first.summary.failed, first.summary.skipped) == (0, 3, 9)
    backlog = first.backlog["soc"]
    assert (backlog["undelivered"], backlog["failed_attempts"], backlog["last_delivered"]) == (12, 3, None)
    [warning] = first.warnings(72)
    assert "webhook soc" in warning and "12 undelivered" in warning and "SECRET" not in warning

    second_run = pd.DataFrame([alert(subject=f"0xb{i}") for i in range(5)])
    append_alerts(db, second_run)
    second = deliver_pending(db, hooks, 72, now=RUN_TIME, retries=0, give_up_after=3)
    assert (second.summary.delivered, second.summary.failed, second.backlog) == (17, 0, {})
    arrived = [p for p in read_posts(out) if p["status"] == 200]
    texts = [json.loads(p["body"])["text"] for p in arrived]
    for subject in [f"0xa{i}" for i in range(12)] + [f"0xb{i}" for i in range(5)]:
        assert sum(f"Wallet {subject} joined" in t for t in texts) == 1
    third = deliver_pending(db, hooks, 72, now=RUN_TIME, retries=0)
    assert (third.summary.pairs, third.summary.already_delivered) == (0, 0)
    assert len(read_posts(out)) == 3 + 17  # nothing sent twice


def test_an_alert_older_than_the_retry_window_is_expired_once_and_never_sent(receiver, db) -> None:
    base, out = receiver()
    hooks = [Webhook(url=f"{base}/hook", kind="generic", name="late")]
    append_alerts(db, pd.DataFrame([alert(subject="0xold")]))  # created 2024-07-02 10:00
    later = pd.Timestamp("2024-07-05 11:00").to_pydatetime()  # 73 h later
    first = deliver_pending(db, hooks, 72, now=later, retries=0)
    again = deliver_pending(db, hooks, 72, now=later, retries=0)
    assert (first.expired, first.summary.pairs, again.expired) == (1, 0, 0)
    assert read_posts(out) == []
    [record] = deliveries(db).to_dict("records")
    assert record["attempt"] == 0 and not record["delivered"] and record["error"].startswith("expired:")
    assert deliver_pending(db, hooks, 74, now=later, retries=0).summary.pairs == 0  # stays closed
