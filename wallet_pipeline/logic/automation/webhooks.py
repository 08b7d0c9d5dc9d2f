"""Sending alerts to webhooks (generic JSON, Slack, Discord, Telegram), with bounded retries.

Configuration (`parse_webhooks`), one entry per webhook, entries separated by `;` or new lines::

    kind[:min_risk[:name]]=url

    slack:75=https://hooks.slack.com/services/T000/B000/XXXX
    generic:60:siem=https://siem.example.org/ingest?token=abc
    discord=https://discord.com/api/webhooks/123/abc          (min_risk 0: every alert)
    telegram:90=https://api.telegram.org/bot<token>/sendMessage?chat_id=-100123

or the same as JSON: ``[{"kind": "slack", "min_risk": 75, "name": "soc", "url": "https://..."}]``
(`chat_id` may be a key of its own for Telegram). The text is split at the first `=` of an entry,
so URLs may hold `=`. `min_risk` is 0-100; an alert goes to a webhook when its `risk_score` is at
or above it. `name` defaults to `<kind>_<position>` and must be unique. A Telegram entry needs a
`chat_id` (the URL's query parameter or the JSON key); it is sent in the body, not the URL.

URLs often embed a secret (Slack and Discord tokens in the path, Telegram's bot token), so an
error message, a log line or a delivery record shows only `scheme://host/...` (`redact_url`).

Delivery (`deliver`): each alert goes to each webhook whose `min_risk` it reaches, once. A
connection error, a timeout, HTTP 408, 429 or 5xx is retried up to `retries` times with
exponential backoff (`backoff`, doubled each time, at most 5 s, or the server's `Retry-After`
when shorter); other 4xx are not retried (the request itself is wrong). Every attempt is a row of
`entities.alert_deliveries`; a pair already delivered is skipped, so a rerun sends nothing twice
and `undelivered_alerts` finds what to try again. All posting stops when `max_seconds` have passed
and a webhook that failed `give_up_after` alerts in a row is not tried again in the same call;
both leave a record. Nothing here raises because of a webhook.

At least once across runs (`deliver_pending`): every run, and the redelivery schedule between
runs, sends every stored alert a webhook has not received, oldest first, until it is delivered or
older than the retry window (`WALLET_ALERT_RETRY_HOURS`, 72 h). Then one record with the error
`expired: ...` closes the pair. `webhook_backlog` says, per webhook, what is still waiting, so a
webhook that keeps failing is reported by name (never by URL).
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import pandas as pd

KINDS = ("generic", "slack", "discord", "telegram")
DELIVERIES_TABLE = "entities.alert_deliveries"
DELIVERY_SQL_TYPES = {
    "alert_id": "varchar",
    "webhook": "varchar",
    "kind": "varchar",
    "url": "varchar",
    "attempt": "integer",
    "status_code": "integer",
    "error": "varchar",
    "delivered": "boolean",
    "attempted_at": "timestamp",
    "elapsed_ms": "double",
}
_MAX_BACKOFF = 5.0
_RETRY_STATUS = {408, 429}
_USER_AGENT = "wallet_pipeline-alerts/1"
# The error of the one record that closes a pair never delivered within the retry window.
EXPIRED = "expired:"


class WebhookSpecError(ValueError):
    """A webhook entry that cannot be used; the message names the entry, never the URL's secret."""


def redact_url(url: str) -> str:
    """`scheme://host[:port]/...`: the URL without path, query, fragment or credentials."""
    try:
        parts = urllib.parse.urlsplit(str(url).strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme or not host:
        return "<unparseable URL>"
    shown = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    hidden = parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc
    return shown + "/..." if hidden else shown


def _check_url(url: object) -> str | None:
    """Why `url` cannot be posted to, or None when it can."""
    if not isinstance(url, str) or not url.strip():
        return "the URL is empty"
    if any(ch.isspace() for ch in url.strip()):
        return "the URL contains white space"
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        # urllib's message may quote the port text only, never the path, but keep it generic.
        return f"the URL cannot be parsed ({'bad port' if 'port' in str(exc).lower() else 'bad syntax'})"
    if not parts.scheme:
        return "the URL has no scheme; expected http:// or https://"
    if parts.scheme not in ("http", "https"):
        return f"the URL's scheme {parts.scheme!r} is not http or https"
    if not parts.hostname:
        return "the URL has no host"
    if port == 0:
        return "the URL's port is 0"
    return None


@dataclass(frozen=True)
class Webhook:
    """One configured webhook.

    Attributes:
        url: where to POST (may hold a secret; shown only as `redacted_url`).
        kind: payload shape: generic, slack, discord or telegram.
        min_risk: alerts with a risk_score at or above this (0-100) are sent.
        name: unique name, used in the delivery records.
        chat_id: Telegram chat id (required for telegram, unused otherwise).
    """

    url: str = field(repr=False)
    kind: str = "generic"
    min_risk: float = 0.0
    name: str = ""
    chat_id: str | None = None

    def __post_init__(self) -> None:
        """Validate every field; messages name the webhook and show only the redacted URL."""
        label = f"webhook {self.name or self.kind!r} ({redact_url(self.url)})"
        if self.kind not in KINDS:
            raise WebhookSpecError(f"{label}: unknown kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        problem = _check_url(self.url)
        if problem:
            raise WebhookSpecError(f"{label}: {problem}")
        m = self.min_risk
        if isinstance(m, bool) or not isinstance(m, int | float) or not math.isfinite(m) or not 0 <= m <= 100:
            raise WebhookSpecError(f"{label}: min_risk must be a number from 0 to 100, got {m!r}")
        if self.kind == "telegram" and not self.chat_id:
            raise WebhookSpecError(
                f"{label}: a telegram webhook needs a chat_id (URL query ?chat_id=... or the JSON key)"
            )
        if not self.name:
            object.__setattr__(self, "name", self.kind)

    @property
    def redacted_url(self) -> str:
        """The URL as it may appear in logs and tables."""
        return redact_url(self.url)


def _entry_webhook(i: int, kind: object, min_risk: object, name: object, url: object, chat_id) -> Webhook:
    """Build entry `i` (1-based) of a spec, with errors that name the entry."""
    shown_url = redact_url(url) if isinstance(url, str) else "<no URL>"
    label = f"entry {i}" + (f" {name!r}" if name else "") + f" ({shown_url})"
    if not isinstance(kind, str) or kind.strip().lower() not in KINDS:
        raise WebhookSpecError(f"{label}: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    kind = kind.strip().lower()
    if min_risk is None or min_risk == "":
        risk = 0.0
    else:
        try:
            risk = float(min_risk)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise WebhookSpecError(f"{label}: min_risk {min_risk!r} is not a number from 0 to 100") from None
        if isinstance(min_risk, bool) or not math.isfinite(risk) or not 0 <= risk <= 100:
            raise WebhookSpecError(f"{label}: min_risk {min_risk!r} is outside 0 to 100")
    problem = _check_url(url)
    if problem:
        raise WebhookSpecError(f"{label}: {problem}")
    url = str(url).strip()
    if kind == "telegram" and not chat_id:
        # The chat id may ride in the URL's query; it is moved to the body.
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        chat_id = next((v for k, v in query if k == "chat_id"), None)
        url = urllib.parse.urlunsplit(
            parts._replace(query=urllib.parse.urlencode([(k, v) for k, v in query if k != "chat_id"]))
        )
    if kind == "telegram" and not chat_id:
        raise WebhookSpecError(f"{label}: a telegram webhook needs a chat_id (?chat_id=... in the URL)")
    try:
        return Webhook(
            url=url,
            kind=kind,
            min_risk=risk,
            name=str(name).strip() if name else f"{kind}_{i}",
            chat_id=str(chat_id) if chat_id else None,
        )
    except WebhookSpecError as exc:
        raise WebhookSpecError(f"{label}: {exc}") from None


def parse_webhooks(text: str | None) -> list[Webhook]:
    """Webhooks from `WALLET_ALERT_WEBHOOKS`-style text (see the module docstring); [] when empty.

    Raises:
        WebhookSpecError: a malformed entry, URL, kind or threshold, or a repeated name; the
            message names the entry by position and shows only `scheme://host/...` of its URL.
    """
    if text is None or not text.strip():
        return []
    text = text.strip()
    hooks: list[Webhook] = []
    if text.startswith("["):
        try:
            entries = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WebhookSpecError(
                f"webhook JSON is malformed at line {exc.lineno} column {exc.colno}"
            ) from None
        if not isinstance(entries, list):
            raise WebhookSpecError("webhook JSON must be a list of objects")
        for i, e in enumerate(entries, start=1):
            if not isinstance(e, dict):
                raise WebhookSpecError(f"entry {i}: expected an object with kind, url, min_risk, name")
            unknown = set(e) - {"kind", "url", "min_risk", "name", "chat_id"}
            if unknown:
                raise WebhookSpecError(f"entry {i}: unknown keys {sorted(unknown)}")
            hooks.append(
                _entry_webhook(
                    i, e.get("kind"), e.get("min_risk"), e.get("name"), e.get("url"), e.get("chat_id")
                )
            )
    else:
        entries = [e.strip() for e in text.replace("\n", ";").split(";") if e.strip()]
        for i, entry in enumerate(entries, start=1):
            head, sep, url = entry.partition("=")
            if not sep:
                raise WebhookSpecError(
                    f"entry {i}: expected kind[:min_risk[:name]]=url, found no '=' "
                    f"({redact_url(entry) if '://' in entry else 'text hidden'})"
                )
            fields = [f.strip() for f in head.split(":")]
            if len(fields) > 3:
                raise WebhookSpecError(
                    f"entry {i} ({redact_url(url)}): expected kind[:min_risk[:name]] before '=', "
                    f"got {len(fields)} parts"
                )
            kind, min_risk, name = (fields + [None, None])[:3]
            hooks.append(_entry_webhook(i, kind, min_risk, name, url, None))
    names = [h.name for h in hooks]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise WebhookSpecError(f"webhook names must be unique; repeated: {', '.join(repeated)}")
    return hooks


def _plain(value):
    """A JSON-ready value: timestamps as ISO text, NaN as None, numpy scalars as Python ones."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _record(alert) -> dict:
    rec = {k: _plain(v) for k, v in dict(alert).items()}
    if isinstance(rec.get("details"), str):
        try:
            rec["details"] = json.loads(rec["details"])
        except json.JSONDecodeError:
            pass
    return rec


def alert_text(alert) -> str:
    """One line for people: `[High 82.5] <message>`."""
    a = _record(alert)
    score = a.get("risk_score")
    shown = "?" if score is None else f"{float(score):.1f}"
    return f"[{a.get('risk_level') or 'Unscored'} {shown}] {a.get('message')}"


def _slack_escape(text: str) -> str:
    # Slack's three control characters; anything else is literal in mrkdwn.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_payload(alert, webhook: Webhook) -> dict:
    """The JSON body for one alert in the shape `webhook.kind` expects.

    generic: the alert record (details parsed from JSON); slack: `text` plus a section and a
    context block; discord: `content` (at most 2,000 characters) with mentions disabled;
    telegram: `chat_id` and `text` for the Bot API's sendMessage (plain text, 4,096 characters).
    """
    rec = _record(alert)
    text = alert_text(rec)
    footer = f"{rec.get('kind')} · cluster {rec.get('cluster_id')} · alert {rec.get('alert_id')}"
    if webhook.kind == "generic":
        return rec
    if webhook.kind == "slack":
        return {
            "text": text,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(text)}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": _slack_escape(footer)}]},
            ],
        }
    if webhook.kind == "discord":
        # Token names are attacker-chosen: never let an alert ping @everyone.
        return {"content": f"{text}\n{footer}"[:2000], "allowed_mentions": {"parse": []}}
    return {
        "chat_id": webhook.chat_id,
        "text": f"{text}\n{footer}"[:4096],
        "disable_web_page_preview": True,
    }


@dataclass
class DeliverySummary:
    """What `deliver` did.

    Attributes:
        pairs: (alert, webhook) pairs due (risk at or above the hook's min_risk, not yet delivered).
        delivered: pairs delivered in this call.
        failed: pairs that were tried and not delivered.
        skipped: pairs not tried (time budget spent, or the webhook gave up in this call).
        already_delivered: pairs skipped because an earlier call delivered them.
        attempts: HTTP requests made.
        by_webhook: per webhook name: delivered, failed, skipped.
        seconds: time spent.
    """

    pairs: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    already_delivered: int = 0
    attempts: int = 0
    by_webhook: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0

    def as_metadata(self) -> dict:
        """A flat dict for Dagster metadata (no URLs)."""
        return {
            "pairs": self.pairs,
            "delivered": self.delivered,
            "failed": self.failed,
            "skipped": self.skipped,
            "already_delivered": self.already_delivered,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "by_webhook": self.by_webhook,
        }


def _ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists entities")
    cols = ", ".join(f"{n} {t}" for n, t in DELIVERY_SQL_TYPES.items())
    con.execute(f"create table if not exists {DELIVERIES_TABLE} ({cols})")


def _scrub(text: str, webhook: Webhook) -> str:
    """An error text with the URL and its parts replaced by the redacted form."""
    parts = urllib.parse.urlsplit(webhook.url)
    for secret in (webhook.url, parts.path, parts.query, parts.netloc if "@" in parts.netloc else ""):
        if secret and secret not in ("/",):
            text = text.replace(secret, "/...")
    return text[:500]


def _post(webhook: Webhook, body: bytes, timeout: float) -> tuple[int | None, str | None, float | None]:
    """One POST: (status code, error text, Retry-After seconds); never raises for network trouble."""
    request = urllib.request.Request(
        webhook.url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": _USER_AGENT},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
            return response.status, None, None
    except urllib.error.HTTPError as exc:
        retry_after = None
        value = exc.headers.get("Retry-After") if exc.headers else None
        if value:
            try:
                retry_after = float(value)
            except ValueError:
                retry_after = None
        return exc.code, _scrub(f"HTTP {exc.code} {exc.reason}", webhook), retry_after
    except urllib.error.URLError as exc:
        return None, _scrub(f"{type(exc.reason).__name__}: {exc.reason}", webhook), None
    except (TimeoutError, OSError, ValueError) as exc:
        return None, _scrub(f"{type(exc).__name__}: {exc}", webhook), None


def _delivered_pairs(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    rows = con.execute(
        f"select distinct alert_id, webhook from {DELIVERIES_TABLE} where delivered"
    ).fetchall()
    return {(a, w) for a, w in rows}


def _expired_pairs(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    rows = con.execute(
        f"select distinct alert_id, webhook from {DELIVERIES_TABLE} where error like '{EXPIRED}%'"
    ).fetchall()
    return {(a, w) for a, w in rows}


def deliver(
    alerts: pd.DataFrame | Iterable[dict],
    webhooks: Iterable[Webhook],
    con: duckdb.DuckDBPyConnection,
    timeout: float = 5.0,
    retries: int = 2,
    backoff: float = 0.5,
    *,
    max_seconds: float = 60.0,
    give_up_after: int = 3,
) -> DeliverySummary:
    """Post every alert to every webhook whose min_risk it reaches; record every attempt.

    Args:
        alerts: rows of `entities.alerts` (a DataFrame or dicts).
        webhooks: from `parse_webhooks`.
        con: the DuckDB connection; attempts go to `entities.alert_deliveries`.
        timeout: seconds per HTTP request.
        retries: extra attempts after a retryable failure (0-10).
        backoff: seconds before the first retry, doubled each time (at most 5 s).
        max_seconds: no request starts after this many seconds; the rest are recorded as skipped.
        give_up_after: a webhook failing this many alerts in a row is skipped for the rest.

    Returns:
        A DeliverySummary. Webhook failures are recorded, never raised.
    """
    if not 0 <= int(retries) <= 10:
        raise ValueError(f"retries must be from 0 to 10, got {retries!r}")
    if timeout <= 0 or backoff < 0 or max_seconds <= 0:
        raise ValueError(
            f"timeout and max_seconds must be > 0 and backoff >= 0, got {timeout}, {max_seconds}, {backoff}"
        )
    hooks = list(webhooks)
    records = alerts.to_dict("records") if isinstance(alerts, pd.DataFrame) else [dict(a) for a in alerts]
    summary = DeliverySummary(by_webhook={h.name: {"delivered": 0, "failed": 0, "skipped": 0} for h in hooks})
    if not hooks or not records:
        return summary
    _ensure_table(con)
    done = _delivered_pairs(con)
    expired = _expired_pairs(con)  # closed for good, even if the retry window is widened later
    started = time.monotonic()
    failures_in_row = {h.name: 0 for h in hooks}

    def write(rows: list[tuple]) -> None:
        con.executemany(f"insert into {DELIVERIES_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def now() -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)

    for alert in records:
        score = _plain(alert.get("risk_score"))
        for hook in hooks:
            if score is None or float(score) < hook.min_risk:
                continue
            aid = str(alert["alert_id"])
            if (aid, hook.name) in expired:
                continue
            if (aid, hook.name) in done:
                summary.already_delivered += 1
                continue
            summary.pairs += 1
            stats = summary.by_webhook[hook.name]
            reason = None
            if time.monotonic() - started >= max_seconds:
                reason = f"not attempted: the delivery time budget of {max_seconds:g} s was spent"
            elif failures_in_row[hook.name] >= give_up_after:
                reason = f"not attempted: {hook.name} failed the previous {give_up_after} alerts in this run"
            if reason:
                write([(aid, hook.name, hook.kind, hook.redacted_url, 0, None, reason, False, now(), 0.0)])
                stats["skipped"] += 1
                summary.skipped += 1
                continue
            body = json.dumps(build_payload(alert, hook), default=str).encode()
            rows: list[tuple] = []
            ok = False
            for attempt in range(1, int(retries) + 2):
                t0 = time.monotonic()
                status, error, retry_after = _post(hook, body, timeout)
                elapsed = (time.monotonic() - t0) * 1000
                summary.attempts += 1
                ok = status is not None and 200 <= status < 300
                rows.append(
                    (aid, hook.name, hook.kind, hook.redacted_url, attempt, status, error, ok, now(), elapsed)
                )
                retryable = status is None or status >= 500 or status in _RETRY_STATUS
                if ok or not retryable or attempt > int(retries):
                    break
                wait = min(backoff * 2 ** (attempt - 1), _MAX_BACKOFF)
                if retry_after is not None and 0 <= retry_after <= _MAX_BACKOFF:
                    wait = max(wait, retry_after)
                if time.monotonic() - started + wait >= max_seconds:
                    rows[-1] = rows[-1][:6] + (f"{error}; no retry: time budget spent",) + rows[-1][7:]
                    break
                time.sleep(wait)
            write(rows)  # per pair, so a crash later keeps what was sent
            if ok:
                stats["delivered"] += 1
                summary.delivered += 1
                failures_in_row[hook.name] = 0
                done.add((aid, hook.name))
            else:
                stats["failed"] += 1
                summary.failed += 1
                failures_in_row[hook.name] += 1
    summary.seconds = time.monotonic() - started
    return summary


def undelivered_alerts(
    con: duckdb.DuckDBPyConnection, webhooks: Iterable[Webhook], since: datetime | None = None
) -> pd.DataFrame:
    """Stored alerts that some webhook should have and has not received (to send again).

    Args:
        con: the DuckDB connection.
        webhooks: the configured webhooks.
        since: only alerts created at or after this time (naive UTC); all when None.
    """
    hooks = list(webhooks)
    if not hooks:
        return pd.DataFrame()
    exists = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'entities' and table_name = 'alerts'"
    ).fetchone()[0]
    if not exists:
        return pd.DataFrame()
    _ensure_table(con)
    con.register(
        "_hooks", pd.DataFrame({"webhook": [h.name for h in hooks], "min_risk": [h.min_risk for h in hooks]})
    )
    try:
        return con.execute(
            f"""
            select distinct a.* from entities.alerts a join _hooks h on a.risk_score >= h.min_risk
            where (? is null or a.created_at >= ?)
              and not exists (select 1 from {DELIVERIES_TABLE} d
                              where d.alert_id = a.alert_id and d.webhook = h.webhook
                                and (d.delivered or d.error like '{EXPIRED}%'))
            order by a.created_at, a.alert_id
            """,
            [since, since],
        ).df()
    finally:
        con.unregister("_hooks")


def _register_hooks(con: duckdb.DuckDBPyConnection, hooks: list[Webhook]) -> None:
    con.register(
        "_hooks",
        pd.DataFrame(
            {
                "webhook": [h.name for h in hooks],
                "kind": [h.kind for h in hooks],
                "url": [h.redacted_url for h in hooks],
                "min_risk": [h.min_risk for h in hooks],
            }
        ),
    )


def _alerts_exist(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'entities' and table_name = 'alerts'"
        ).fetchone()[0]
    )


_OPEN_PAIRS = f"""
    from entities.alerts a join _hooks h on a.risk_score >= h.min_risk
    where not exists (select 1 from {DELIVERIES_TABLE} d
                      where d.alert_id = a.alert_id and d.webhook = h.webhook
                        and (d.delivered or d.error like '{EXPIRED}%'))
"""


def expire_undelivered(con: duckdb.DuckDBPyConnection, webhooks: Iterable[Webhook], cutoff: datetime) -> int:
    """Close every undelivered pair whose alert was created before `cutoff` with one record.

    The record has attempt 0, delivered false and an error starting `expired:`; the pair is then
    never sent again.

    Returns:
        The number of pairs expired now.
    """
    hooks = list(webhooks)
    if not hooks or not _alerts_exist(con):
        return 0
    _ensure_table(con)
    _register_hooks(con, hooks)
    try:
        rows = con.execute(
            f"select a.alert_id, h.webhook, h.kind, h.url, a.created_at {_OPEN_PAIRS} "
            "and a.created_at < ? order by a.created_at, a.alert_id, h.webhook",
            [cutoff],
        ).fetchall()
    finally:
        con.unregister("_hooks")
    if not rows:
        return 0
    stamp = datetime.now(UTC).replace(tzinfo=None)
    con.executemany(
        f"insert into {DELIVERIES_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                aid,
                hook,
                kind,
                url,
                0,
                None,
                f"{EXPIRED} not delivered before {cutoff:%Y-%m-%d %H:%M} UTC "
                f"(created {created:%Y-%m-%d %H:%M})",
                False,
                stamp,
                0.0,
            )
            for aid, hook, kind, url, created in rows
        ],
    )
    return len(rows)


def webhook_backlog(con: duckdb.DuckDBPyConnection, webhooks: Iterable[Webhook]) -> dict[str, dict]:
    """Per webhook with alerts still waiting: how many, the oldest, failed attempts, last delivery.

    Returns:
        {name: {"kind", "url" (redacted), "undelivered", "oldest_alert", "failed_attempts",
        "last_delivered"}}; a webhook with nothing waiting is left out.
    """
    hooks = list(webhooks)
    if not hooks or not _alerts_exist(con):
        return {}
    _ensure_table(con)
    _register_hooks(con, hooks)
    try:
        frame = con.execute(
            f"""
            with open as (select a.alert_id, a.created_at, h.webhook, h.kind, h.url {_OPEN_PAIRS})
            select o.webhook, any_value(o.kind) kind, any_value(o.url) url,
                   count(*) undelivered, min(o.created_at) oldest_alert,
                   (select count(*) from {DELIVERIES_TABLE} d where d.webhook = o.webhook
                      and not d.delivered and d.attempt > 0
                      and d.alert_id in (select alert_id from open p where p.webhook = o.webhook))
                      failed_attempts,
                   (select max(attempted_at) from {DELIVERIES_TABLE} d
                      where d.webhook = o.webhook and d.delivered) last_delivered
            from open o group by o.webhook order by o.webhook
            """
        ).fetchall()
    finally:
        con.unregister("_hooks")
    return {
        name: {
            "kind": kind,
            "url": url,
            "undelivered": int(n),
            "oldest_alert": _plain(oldest),
            "failed_attempts": int(failed),
            "last_delivered": _plain(last),
        }
        for name, kind, url, n, oldest, failed, last in frame
    }


@dataclass
class PendingDelivery:
    """What `deliver_pending` did.

    Attributes:
        summary: the `deliver` call over every alert still due.
        expired: pairs closed now because their alert is older than the retry window.
        backlog: `webhook_backlog` after delivery: the webhooks still failing, by name.
    """

    summary: DeliverySummary
    expired: int
    backlog: dict[str, dict]

    def warnings(self, retry_hours: float) -> list[str]:
        """One line per webhook still failing, naming it and its redacted URL (never the secret)."""
        return [
            f"webhook {name} ({b['url']}) has {b['undelivered']} undelivered alerts, the oldest from "
            f"{b['oldest_alert']}, after {b['failed_attempts']} failed attempts; last delivery "
            f"{b['last_delivered'] or 'never'}. Later runs and alert_redelivery_schedule send them "
            f"again until they are {retry_hours:g} h old."
            for name, b in self.backlog.items()
        ]


def deliver_pending(
    con: duckdb.DuckDBPyConnection,
    webhooks: Iterable[Webhook],
    retry_hours: float,
    now: datetime | None = None,
    **deliver_options,
) -> PendingDelivery:
    """Send every stored alert a webhook has not received yet, then report what still waits.

    Alerts created more than `retry_hours` before `now` are expired first (`expire_undelivered`);
    the rest, this run's alerts and those an earlier run failed to deliver, go through `deliver`
    oldest first. Call it after the run's alerts are stored.

    Args:
        con: the DuckDB connection.
        webhooks: from `parse_webhooks`.
        retry_hours: the retry window (`settings.alert_retry_hours()`).
        now: naive UTC time of the call (tests pass one).
        **deliver_options: passed to `deliver` (timeout, retries, backoff, max_seconds, give_up_after).
    """
    if not retry_hours > 0:
        raise ValueError(f"retry_hours must be > 0, got {retry_hours!r}")
    hooks = list(webhooks)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    cutoff = now - pd.Timedelta(hours=retry_hours).to_pytimedelta()
    expired = expire_undelivered(con, hooks, cutoff)
    due = undelivered_alerts(con, hooks, since=cutoff)
    summary = deliver(due, hooks, con, **deliver_options)
    return PendingDelivery(summary=summary, expired=expired, backlog=webhook_backlog(con, hooks))
