"""Alerts on risky and flagged clusters: stored in entities.alerts and sent to the configured webhooks."""

from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from wallet_pipeline import settings
from wallet_pipeline.lib.duckdb_resource import DuckDBFile

ALERTS = dg.AssetKey(["entities", "alerts"])


class AlertConfig(dg.Config):
    """Alert thresholds; unset, `WALLET_ALERT_MIN_RISK` (75) applies."""

    min_risk_score: float | None = Field(
        default=None, description="Clusters at or above this risk score (0-100) raise alerts."
    )
    max_wallet_alerts_per_cluster: int = Field(
        default=25, description="Single-wallet alerts per cluster and run; the rest go in one summary alert."
    )


@dg.asset(
    key=ALERTS,
    group_name="entities",
    kinds={"duckdb"},
    deps=[dg.AssetKey(["entities", n]) for n in ("clusters", "wallet_clusters", "cluster_history")],
)
def alerts(
    context: dg.AssetExecutionContext, config: AlertConfig, duckdb: DuckDBFile
) -> dg.MaterializeResult:
    """entities.alerts: what changed on risky or flagged clusters, sent to the configured webhooks.

    A wallet joining a risky cluster, a token it creates, its risk level changing, clusters merging,
    activity on a flagged cluster. Appended every run (never rewritten), then sent to the webhooks
    of `WALLET_ALERT_WEBHOOKS` with every alert an earlier run could not deliver (until
    `WALLET_ALERT_RETRY_HOURS` old); every delivery attempt is in entities.alert_deliveries.
    A webhook that fails is retried and recorded; it never fails the run. The first run only records
    a baseline.
    """
    from wallet_pipeline.logic.automation.alerts import AlertRules, update_alerts
    from wallet_pipeline.logic.automation.webhooks import deliver_pending
    from wallet_pipeline.logic.publish.flags import follow_flags, list_flags

    try:
        # Checked when the definitions load too (settings.check_all); read again for this run.
        hooks = settings.alert_webhook_list()
        retry_hours = settings.alert_retry_hours()
        rules = AlertRules(
            config.min_risk_score if config.min_risk_score is not None else settings.alert_min_risk(),
            config.max_wallet_alerts_per_cluster,
        )
    except ValueError as exc:
        raise dg.Failure(f"alert settings: {exc}") from None
    flags_path = settings.flags_path()
    with duckdb.get_connection() as con:
        moved = follow_flags(flags_path, con.sql("select * from entities.cluster_history").df())
        result = update_alerts(
            con, context.run_id, datetime.now(UTC).replace(tzinfo=None), rules, flags=list_flags(flags_path)
        )
        # This run's alerts and every one an earlier run could not deliver.
        pending = deliver_pending(con, hooks, retry_hours)
        total = con.execute("select count(*) from entities.alerts").fetchone()[0]
    if result.first_run:
        context.log.info("First alerting run: baseline saved, no alerts raised.")
    for hook in hooks:
        context.log.info(
            f"webhook {hook.name} ({hook.kind}, from risk {hook.min_risk:g}): {hook.redacted_url}"
        )
    _report(context, pending, retry_hours)
    by_kind = result.alerts["kind"].value_counts().to_dict() if len(result.alerts) else {}
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": int(total),
            "alerts_added": int(result.added),
            "first_run": bool(result.first_run),
            "by_kind": dg.MetadataValue.json(by_kind),
            "flags_moved": int(len(moved)),
            "webhooks": len(hooks),
            "delivery": dg.MetadataValue.json(pending.summary.as_metadata()),
            "expired_pairs": pending.expired,
            "failing_webhooks": dg.MetadataValue.json(pending.backlog),
        }
    )


def _report(context, pending, retry_hours: float) -> None:  # noqa: ANN001 - op or asset context
    summary = pending.summary
    if summary.failed or summary.skipped:
        context.log.warning(
            f"{summary.failed} deliveries failed and {summary.skipped} were skipped; "
            "see entities.alert_deliveries"
        )
    if pending.expired:
        context.log.warning(
            f"{pending.expired} alert deliveries expired undelivered after {retry_hours:g} h "
            "(entities.alert_deliveries, error 'expired: ...')"
        )
    for line in pending.warnings(retry_hours):
        context.log.warning(line)


@dg.op(
    name="redeliver_alerts",
    description="Sends again the stored alerts a webhook has not received, until delivered or expired.",
)
def redeliver_alerts(context: dg.OpExecutionContext, duckdb: DuckDBFile) -> None:
    """Between pipeline runs: the undelivered alerts of `entities.alerts`, to their webhooks."""
    import json

    from wallet_pipeline.logic.automation.webhooks import deliver_pending

    hooks = settings.alert_webhook_list()
    retry_hours = settings.alert_retry_hours()
    with duckdb.get_connection() as con:
        pending = deliver_pending(con, hooks, retry_hours)
    _report(context, pending, retry_hours)
    result = {**pending.summary.as_metadata(), "expired_pairs": pending.expired}
    context.log.info(f"alert redelivery: {json.dumps(result, default=str)}")
