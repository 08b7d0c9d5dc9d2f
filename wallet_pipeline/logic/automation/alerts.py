"""Alerts on risky clusters: what changed since the last alerting run, stored in `entities.alerts`.

Kinds (one row per alert):

- `wallet_joined_risky_cluster`: a wallet is in a cluster at or above `min_risk_score` that it was
  not in at the last alerting run. Subject: the wallet. Wallets that came in because their whole
  cluster merged in are left to the `clusters_merged` alert (it lists them), and a cluster that
  did not exist at the last run is announced once by `risk_level_changed` instead of once per
  member. At most `max_wallet_alerts_per_cluster` single-wallet alerts per cluster and run; the
  rest go into one alert with subject `+<n> more wallets` that lists them in its details.
- `token_created_by_risky_cluster`: a token contract (in `raw.contract_creations`, restricted to
  `raw.tokens` or `is_erc20` when those exist) not seen at the last alerting run, whose creator is
  in a cluster at or above the threshold. Subject: the token.
- `risk_level_changed`: a cluster's level differs from the last run's and either score is at or
  above the threshold (so a drop out of the risky band is reported too). Subject `Medium->High`;
  a cluster that did not exist then (new, or a split piece) and is at or above the threshold gives
  `none->High`.
- `clusters_merged`: a cluster-history row `merged` written since the last alerting run, when the
  surviving cluster or one of the absorbed ones was at or above the threshold. Subject
  `c_b+c_c->c_a` (absorbed ids, sorted, then the survivor).
- `flagged_cluster_activity`: a cluster an analyst flagged (see `flags.py`) gained wallets, created
  a token or has a later `last_active` than at the last run; raised whatever its score.

State between runs: `save_alert_state` snapshots the clusters (id, size, score, level,
last_active), the membership and the known token contracts into `entities.alert_state`,
`entities.alert_state_members`, `entities.alert_state_tokens`, and appends a row to
`entities.alert_state_runs` (with the newest `cluster_history.as_of` taken into account, so
each merge is reported once). Detection compares the current entity tables with that snapshot, so
it does not matter how many entity runs happened in between, and rerunning the alert step on the
same data finds nothing new.

First run (no `alert_state_runs` row): nothing is compared; `detect_alerts` returns no alerts and
`update_alerts` saves the baseline. An existing risky cluster therefore raises nothing until it
changes.

`alert_id` is a hash of kind, cluster, subject and run id: a retried run that detects again (its
state was not saved) produces the same ids, and `append_alerts` skips ids already stored. The
alerts table is only ever appended to.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pandas as pd

from wallet_pipeline.logic.graph.store import table_exists

SCHEMA = "entities"
ALERTS_TABLE = f"{SCHEMA}.alerts"
STATE_TABLE = f"{SCHEMA}.alert_state"
STATE_MEMBERS_TABLE = f"{SCHEMA}.alert_state_members"
STATE_TOKENS_TABLE = f"{SCHEMA}.alert_state_tokens"
STATE_RUNS_TABLE = f"{SCHEMA}.alert_state_runs"

KINDS = (
    "wallet_joined_risky_cluster",
    "token_created_by_risky_cluster",
    "risk_level_changed",
    "clusters_merged",
    "flagged_cluster_activity",
)

# DuckDB types of `entities.alerts`; created with these so an empty first batch types it right.
ALERT_SQL_TYPES = {
    "alert_id": "varchar",
    "created_at": "timestamp",
    "run_id": "varchar",
    "kind": "varchar",
    "cluster_id": "varchar",
    "risk_score": "double",
    "risk_level": "varchar",
    "subject": "varchar",
    "message": "varchar",
    "details": "varchar",
}
ALERT_COLUMNS = list(ALERT_SQL_TYPES)


@dataclass(frozen=True)
class AlertRules:
    """What raises an alert.

    Attributes:
        min_risk_score: clusters at or above this score (0-100) are risky; 75 is the High bound.
        max_wallet_alerts_per_cluster: single-wallet alerts per cluster and run before the rest are
            summed up in one alert (a poisoner minting hundreds of look-alikes would flood a
            webhook otherwise).
    """

    min_risk_score: float = 75.0
    max_wallet_alerts_per_cluster: int = 25

    def __post_init__(self) -> None:
        """Refuse values that cannot be thresholds, naming the field and the value."""
        score = self.min_risk_score
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            raise ValueError(f"AlertRules.min_risk_score must be a number from 0 to 100, got {score!r}")
        if not 0 <= score <= 100:
            raise ValueError(f"AlertRules.min_risk_score must be between 0 and 100, got {score!r}")
        cap = self.max_wallet_alerts_per_cluster
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ValueError(
                f"AlertRules.max_wallet_alerts_per_cluster must be a whole number >= 1, got {cap!r}"
            )


def _columns(con: duckdb.DuckDBPyConnection, qualified: str) -> set[str]:
    schema, _, table = qualified.rpartition(".")
    rows = con.execute(
        "select column_name from duckdb_columns() where schema_name = ? and table_name = ?",
        [schema or "main", table],
    ).fetchall()
    return {r[0] for r in rows}


def alert_id(kind: str, cluster_id: str, subject: str, run_id: str) -> str:
    """Deterministic id of an alert: the same kind, cluster, subject and run give the same id."""
    key = "\x1f".join([kind, cluster_id, subject, run_id])
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def empty_alerts() -> pd.DataFrame:
    """An alerts frame with no rows and the columns of `entities.alerts`."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in ALERT_COLUMNS})


def has_baseline(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether an alerting run has saved its state before (False on the first run)."""
    if not table_exists(con, STATE_RUNS_TABLE):
        return False
    return con.execute(f"select count(*) from {STATE_RUNS_TABLE}").fetchone()[0] > 0


def _token_sql(con: duckdb.DuckDBPyConnection, raw_schema: str) -> str | None:
    """`token, creator` of every token contract created, or None without `contract_creations`."""
    cc = f"{raw_schema}.contract_creations"
    if not table_exists(con, cc) or not {"address", "creator_address"} <= _columns(con, cc):
        return None
    # Same rule as the risk step's token count: listed in `tokens`, or flagged ERC-20.
    is_token = []
    if table_exists(con, f"{raw_schema}.tokens") and "address" in _columns(con, f"{raw_schema}.tokens"):
        is_token.append(f"lower(address) in (select lower(address) from {raw_schema}.tokens)")
    if "is_erc20" in _columns(con, cc):
        is_token.append("coalesce(is_erc20, false)")
    where = " or ".join(is_token) if is_token else "true"
    return (
        f"select lower(address) token, any_value(lower(creator_address)) creator "
        f"from {cc} where address is not null and ({where}) group by 1"
    )


def _unseen_history(con: duckdb.DuckDBPyConnection) -> str:
    """SQL for the cluster-history rows written since the last saved alert state."""
    if not table_exists(con, f"{SCHEMA}.cluster_history"):
        return (
            'select null::varchar "cluster_id", null::varchar "event", null::varchar[] "related_ids", '
            'null::bigint "wallets_added" where false'
        )
    return (
        f"select * from {SCHEMA}.cluster_history where as_of > coalesce(("
        f"select max(history_as_of) from {STATE_RUNS_TABLE}), '-infinity'::timestamp)"
    )


def _record(
    kind: str,
    cluster: pd.Series | dict,
    subject: str,
    message: str,
    details: dict,
    run_id: str,
    created_at: datetime,
) -> dict:
    score = cluster.get("risk_score")
    return {
        "alert_id": alert_id(kind, str(cluster["cluster_id"]), subject, run_id),
        "created_at": created_at,
        "run_id": run_id,
        "kind": kind,
        "cluster_id": str(cluster["cluster_id"]),
        "risk_score": None if score is None or pd.isna(score) else round(float(score), 2),
        "risk_level": cluster.get("risk_level"),
        "subject": subject,
        "message": message,
        "details": json.dumps(details, sort_keys=True, default=str),
    }


def _level(c: pd.Series | dict) -> str:
    score = c.get("risk_score")
    shown = "?" if score is None or pd.isna(score) else f"{float(score):.1f}"
    return f"{c.get('risk_level')} {shown}"


def detect_alerts(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    as_of: datetime,
    rules: AlertRules | None = None,
    *,
    flags: pd.DataFrame | None = None,
    raw_schema: str = "raw",
) -> pd.DataFrame:
    """Alerts for what changed in the entity tables since the last saved alert state.

    Reads `entities.clusters`, `entities.wallet_clusters`, `entities.cluster_history` (when
    present), `<raw_schema>.contract_creations` (when present) and the alert state. Writes nothing.

    Args:
        con: connection to the pipeline's DuckDB file.
        run_id: id of this alerting run; part of every alert id.
        as_of: time of the run (UTC, naive); kept in the details of each alert.
        rules: thresholds; `AlertRules()` when None.
        flags: active analyst flags (`flags.list_flags`): at least `flag_id, cluster_id, reason`.
        raw_schema: schema of the raw tables (for created tokens).

    Returns:
        One row per alert (`ALERT_COLUMNS`), ordered by kind, cluster and subject; no rows on the
        first run.

    Raises:
        ValueError: when the entity tables have not been built.
    """
    rules = rules or AlertRules()
    for table in (f"{SCHEMA}.clusters", f"{SCHEMA}.wallet_clusters"):
        if not table_exists(con, table):
            raise ValueError(f"{table} does not exist: build the entity tables before detecting alerts")
    if not has_baseline(con):
        return empty_alerts()

    created_at = datetime.now(UTC).replace(tzinfo=None)
    thr = float(rules.min_risk_score)
    clusters = con.sql(
        f"select cluster_id, size, risk_score, risk_level, last_active from {SCHEMA}.clusters"
    ).df()
    # Plain dicts: per-row `.loc` costs ~0.1 ms, too much for 100k clusters.
    by_id = {r["cluster_id"]: r for r in clusters.to_dict("records")}
    prev = {r["cluster_id"]: r for r in con.sql(f"select * from {STATE_TABLE}").df().to_dict("records")}
    history = con.sql(_unseen_history(con)).df()
    merged_into = history[history["event"] == "merged_into"]
    absorbed = pd.DataFrame(
        {
            "old_id": merged_into["cluster_id"].astype(str),
            "survivor": [list(r)[0] if len(r) else None for r in merged_into["related_ids"]],
        }
    )
    out: list[dict] = []
    seen = {"as_of": str(as_of)}

    def add(kind: str, cluster, subject: str, message: str, details: dict) -> None:
        out.append(_record(kind, cluster, subject, message, {**details, **seen}, run_id, created_at))

    # Wallets that joined a risky cluster which already existed at the last run.
    con.register("_alert_absorbed", absorbed)
    try:
        joined = con.execute(
            f"""
            select m.address, m.cluster_id, p.cluster_id previous_cluster_id
            from {SCHEMA}.wallet_clusters m
            join {SCHEMA}.clusters c using (cluster_id)
            left join {STATE_MEMBERS_TABLE} p using (address)
            where c.risk_score >= ?
              and m.cluster_id in (select cluster_id from {STATE_TABLE})
              and p.cluster_id is distinct from m.cluster_id
              and not exists (
                  select 1 from _alert_absorbed a
                  where a.old_id = p.cluster_id and a.survivor = m.cluster_id)
            order by m.cluster_id, m.address
            """,
            [thr],
        ).df()
    finally:
        con.unregister("_alert_absorbed")
    cap = rules.max_wallet_alerts_per_cluster
    for cid, group in joined.groupby("cluster_id", sort=True):
        c = by_id[cid]
        for row in group.head(cap).itertuples(index=False):
            came_from = row.previous_cluster_id if isinstance(row.previous_cluster_id, str) else None
            where = f" from {came_from}" if came_from else ""
            add(
                "wallet_joined_risky_cluster",
                c,
                row.address,
                f"Wallet {row.address} joined cluster {cid} ({_level(c)}, {int(c['size'])} wallets){where}",
                {"address": row.address, "previous_cluster_id": came_from, "cluster_size": int(c["size"])},
            )
        rest = group.iloc[cap:]
        if len(rest):
            add(
                "wallet_joined_risky_cluster",
                c,
                f"+{len(rest)} more wallets",
                f"{len(rest)} more wallets joined cluster {cid} ({_level(c)}, {int(c['size'])} wallets)",
                {"addresses": rest["address"].tolist(), "cluster_size": int(c["size"])},
            )

    # New token contracts created by members of risky clusters.
    token_sql = _token_sql(con, raw_schema)
    if token_sql is not None:
        tokens = con.execute(
            f"""
            select t.token, t.creator, m.cluster_id
            from ({token_sql}) t
            join {SCHEMA}.wallet_clusters m on m.address = t.creator
            join {SCHEMA}.clusters c using (cluster_id)
            where c.risk_score >= ? and t.token not in (select token from {STATE_TOKENS_TABLE})
            order by m.cluster_id, t.token
            """,
            [thr],
        ).df()
        for row in tokens.itertuples(index=False):
            c = by_id[row.cluster_id]
            add(
                "token_created_by_risky_cluster",
                c,
                row.token,
                f"Cluster {row.cluster_id} ({_level(c)}) created token {row.token} (creator {row.creator})",
                {"token": row.token, "creator": row.creator},
            )

    # Risk level changes, and risky clusters that did not exist at the last run.
    events = history.drop_duplicates("cluster_id", keep="last").set_index("cluster_id")
    changed = con.execute(
        f"""
        select c.cluster_id, p.cluster_id is null is_new
        from {SCHEMA}.clusters c left join {STATE_TABLE} p using (cluster_id)
        where (p.cluster_id is null and c.risk_score >= $thr)
           or (p.risk_level is distinct from c.risk_level and greatest(c.risk_score, p.risk_score) >= $thr)
        order by c.cluster_id
        """,
        {"thr": thr},
    ).fetchall()
    for cid, is_new in changed:
        c = by_id[cid]
        if is_new:
            ev = events.loc[cid] if cid in events.index else None
            origin = ev["event"] if ev is not None else "new"
            related = list(ev["related_ids"]) if ev is not None and ev["related_ids"] is not None else []
            how = f" (split from {', '.join(related)})" if origin == "split" and related else ""
            add(
                "risk_level_changed",
                c,
                f"none->{c['risk_level']}",
                f"New cluster {cid}{how} is {_level(c)} with {int(c['size'])} wallets",
                {"previous_level": None, "event": origin, "related_ids": related, "size": int(c["size"])},
            )
        else:
            p = prev[cid]
            add(
                "risk_level_changed",
                c,
                f"{p['risk_level']}->{c['risk_level']}",
                f"Cluster {cid} went from {_level(p)} to {_level(c)} ({int(c['size'])} wallets)",
                {
                    "previous_level": p["risk_level"],
                    "previous_score": float(p["risk_score"]),
                    "previous_size": int(p["size"]),
                    "size": int(c["size"]),
                },
            )

    # Merges recorded in the cluster history since the last run.
    merges = history[history["event"] == "merged"].sort_values("cluster_id")
    for row in merges.to_dict("records"):
        cid = row["cluster_id"]
        if cid not in by_id:
            continue  # the entity tables were rebuilt since; the next merge row will tell
        c = by_id[cid]
        gone = sorted(str(x) for x in (row["related_ids"] if row["related_ids"] is not None else []))
        before = {g: prev[g] for g in gone if g in prev}
        risky = c["risk_score"] >= thr or any(b["risk_score"] >= thr for b in before.values())
        if not gone or not risky:
            continue
        add(
            "clusters_merged",
            c,
            "+".join(gone) + "->" + cid,
            f"Clusters {', '.join(gone)} merged into {cid} ({_level(c)}, {int(c['size'])} wallets)",
            {
                "merged_from": [
                    {
                        "cluster_id": g,
                        "risk_level": before[g]["risk_level"] if g in before else None,
                        "risk_score": float(before[g]["risk_score"]) if g in before else None,
                        "size": int(before[g]["size"]) if g in before else None,
                    }
                    for g in gone
                ],
                "wallets_added": int(row["wallets_added"]),
                "size": int(c["size"]),
            },
        )

    if flags is not None and len(flags):
        out.extend(_flag_alerts(con, flags, by_id, prev, token_sql, run_id, created_at, seen))

    if not out:
        return empty_alerts()
    frame = pd.DataFrame(out, columns=ALERT_COLUMNS)
    frame = frame.drop_duplicates("alert_id")
    order = {k: i for i, k in enumerate(KINDS)}
    frame = frame.sort_values(
        ["kind", "cluster_id", "subject"], key=lambda s: s.map(order) if s.name == "kind" else s
    )
    return frame.reset_index(drop=True)


def _flag_alerts(
    con: duckdb.DuckDBPyConnection,
    flags: pd.DataFrame,
    by_id: dict[str, dict],
    prev: dict[str, dict],
    token_sql: str | None,
    run_id: str,
    created_at: datetime,
    seen: dict,
) -> list[dict]:
    """One `flagged_cluster_activity` alert per flagged cluster with new wallets, tokens or activity."""
    missing = {"flag_id", "cluster_id", "reason"} - set(flags.columns)
    if missing:
        raise ValueError(f"flags lacks columns {sorted(missing)}; pass flags.list_flags(path)")
    live = flags[flags["cluster_id"].isin(set(by_id)) & flags["cluster_id"].isin(set(prev))]
    if "status" in live.columns:
        live = live[live["status"] == "active"]
    ids = sorted(set(live["cluster_id"].astype(str)))
    if not ids:
        return []
    con.register("_alert_flagged", pd.DataFrame({"cluster_id": ids}))
    try:
        added = con.sql(
            f"""
            select m.cluster_id, list(m.address order by m.address) addresses
            from {SCHEMA}.wallet_clusters m
            join _alert_flagged f using (cluster_id)
            left join {STATE_MEMBERS_TABLE} p using (address)
            where p.cluster_id is distinct from m.cluster_id
            group by 1
            """
        ).df()
        new_tokens = (
            con.sql(
                f"""
                select m.cluster_id, list(t.token order by t.token) tokens
                from ({token_sql}) t
                join {SCHEMA}.wallet_clusters m on m.address = t.creator
                join _alert_flagged f using (cluster_id)
                where t.token not in (select token from {STATE_TOKENS_TABLE})
                group by 1
                """
            ).df()
            if token_sql is not None
            else pd.DataFrame(columns=["cluster_id", "tokens"])
        )
    finally:
        con.unregister("_alert_flagged")
    added = added.set_index("cluster_id")["addresses"]
    new_tokens = new_tokens.set_index("cluster_id")["tokens"]
    out = []
    for cid in ids:
        c, p = by_id[cid], prev[cid]
        wallets = list(added.get(cid, []))
        tokens = list(new_tokens.get(cid, []))
        now, then = c["last_active"], p["last_active"]
        moved = pd.notna(now) and (pd.isna(then) or pd.Timestamp(now) > pd.Timestamp(then))
        if not (wallets or tokens or moved):
            continue
        parts = []
        if wallets:
            parts.append(f"+{len(wallets)} wallets")
        if tokens:
            parts.append(f"+{len(tokens)} tokens")
        if moved:
            parts.append(f"active to {pd.Timestamp(now).isoformat(sep=' ')}")
        subject = ", ".join(parts)
        fl = flags[flags["cluster_id"] == cid].sort_values("flag_id")
        reasons = ", ".join(sorted(set(fl["reason"].astype(str))))
        out.append(
            _record(
                "flagged_cluster_activity",
                c,
                subject,
                f"Flagged cluster {cid} ({reasons}; {_level(c)}): {subject}",
                {
                    "flag_ids": [int(x) for x in fl["flag_id"]],
                    "reasons": sorted(set(fl["reason"].astype(str))),
                    "wallets_added": wallets,
                    "tokens_created": tokens,
                    "last_active": None if pd.isna(now) else str(now),
                    "previous_last_active": None if pd.isna(then) else str(then),
                    **seen,
                },
                run_id,
                created_at,
            )
        )
    return out


def _append(con: duckdb.DuckDBPyConnection, alerts: pd.DataFrame) -> int:
    """Insert alerts whose id is not stored yet; no transaction of its own."""
    con.execute(f"create schema if not exists {SCHEMA}")
    cols = ", ".join(f"{n} {t}" for n, t in ALERT_SQL_TYPES.items())
    con.execute(f"create table if not exists {ALERTS_TABLE} ({cols})")
    if alerts is None or not len(alerts):
        return 0
    missing = set(ALERT_COLUMNS) - set(alerts.columns)
    if missing:
        raise ValueError(f"alerts lack columns {sorted(missing)}")
    frame = alerts[ALERT_COLUMNS].drop_duplicates("alert_id")
    before = con.execute(f"select count(*) from {ALERTS_TABLE}").fetchone()[0]
    con.register("_alerts_new", frame)
    try:
        casts = ", ".join(f"cast({n} as {t}) {n}" for n, t in ALERT_SQL_TYPES.items())
        con.execute(
            f"insert into {ALERTS_TABLE} by name select {casts} from _alerts_new "
            f"where alert_id not in (select alert_id from {ALERTS_TABLE})"
        )
    finally:
        con.unregister("_alerts_new")
    return con.execute(f"select count(*) from {ALERTS_TABLE}").fetchone()[0] - before


def _in_transaction(con: duckdb.DuckDBPyConnection, work):
    con.execute("begin transaction")
    try:
        result = work()
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return result


def append_alerts(con: duckdb.DuckDBPyConnection, alerts: pd.DataFrame) -> int:
    """Append alerts to `entities.alerts` (created on first use), skipping ids already stored.

    Returns:
        The number of rows added.
    """
    return _in_transaction(con, lambda: _append(con, alerts))


def _save_state(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime, raw_schema: str) -> dict:
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(
        f"create or replace table {STATE_TABLE} as "
        f"select cluster_id, size, risk_score, risk_level, last_active from {SCHEMA}.clusters"
    )
    con.execute(
        f"create or replace table {STATE_MEMBERS_TABLE} as "
        f"select address, cluster_id from {SCHEMA}.wallet_clusters"
    )
    token_sql = _token_sql(con, raw_schema)
    source = token_sql or "select null::varchar token, null::varchar creator where false"
    con.execute(f"create or replace table {STATE_TOKENS_TABLE} as {source}")
    con.execute(
        f"create table if not exists {STATE_RUNS_TABLE} (run_id varchar, as_of timestamp, "
        "history_as_of timestamp, saved_at timestamp, clusters bigint, members bigint, tokens bigint)"
    )
    history_as_of = (
        con.execute(f"select max(as_of) from {SCHEMA}.cluster_history").fetchone()[0]
        if table_exists(con, f"{SCHEMA}.cluster_history")
        else None
    )
    counts = {
        "clusters": con.execute(f"select count(*) from {STATE_TABLE}").fetchone()[0],
        "members": con.execute(f"select count(*) from {STATE_MEMBERS_TABLE}").fetchone()[0],
        "tokens": con.execute(f"select count(*) from {STATE_TOKENS_TABLE}").fetchone()[0],
    }
    con.execute(
        f"insert into {STATE_RUNS_TABLE} values (?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            as_of,
            history_as_of,
            datetime.now(UTC).replace(tzinfo=None),
            counts["clusters"],
            counts["members"],
            counts["tokens"],
        ],
    )
    return counts


def save_alert_state(
    con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime, raw_schema: str = "raw"
) -> dict:
    """Snapshot clusters, members and known tokens as the baseline of the next detection.

    Returns:
        Row counts of the snapshot: clusters, members, tokens.
    """
    return _in_transaction(con, lambda: _save_state(con, run_id, as_of, raw_schema))


@dataclass
class AlertRun:
    """Result of `update_alerts`.

    Attributes:
        alerts: the alerts detected in this run (`ALERT_COLUMNS`).
        added: how many of them were new to `entities.alerts`.
        first_run: True when there was no saved state, so only the baseline was saved.
        state: row counts of the saved snapshot.
    """

    alerts: pd.DataFrame
    added: int
    first_run: bool
    state: dict


def update_alerts(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    as_of: datetime,
    rules: AlertRules | None = None,
    *,
    flags: pd.DataFrame | None = None,
    raw_schema: str = "raw",
) -> AlertRun:
    """Detect alerts, append them and save the new state, the last two in one transaction.

    Either both the alerts and the state are stored or neither is, so a failed run is detected
    again by its retry (with the same ids when the run id is the same).
    """
    first = not has_baseline(con)
    alerts = detect_alerts(con, run_id, as_of, rules, flags=flags, raw_schema=raw_schema)

    def work() -> tuple[int, dict]:
        return _append(con, alerts), _save_state(con, run_id, as_of, raw_schema)

    added, state = _in_transaction(con, work)
    return AlertRun(alerts=alerts, added=added, first_run=first, state=state)
