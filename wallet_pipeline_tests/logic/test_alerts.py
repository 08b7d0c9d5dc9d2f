"""Alerts across entity runs: what raises one, once, and what the first run does."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from wallet_pipeline.logic.automation.alerts import (
    ALERT_COLUMNS,
    AlertRules,
    append_alerts,
    detect_alerts,
    has_baseline,
    update_alerts,
)
from wallet_pipeline.logic.graph.history import assign_stable_ids, history_table_sql
from wallet_pipeline.logic.graph.risk import risk_level
from wallet_pipeline.logic.graph.store import replace_tables
from wallet_pipeline.logic.publish.flags import add_flag, list_flags

T0 = pd.Timestamp("2024-07-01")


def entity_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    groups: list[tuple[str, float]],
    tokens: list[tuple[str, str]] = (),
    day: int = 0,
) -> dict[str, str]:
    """Write the entity tables the way the entity steps do, for clusters given as (wallets, score).

    Each letter of a wallets string is one wallet (`0x<letter>`); ids come from the real stable-id
    matching against the previous run. `tokens` are (token, creator) contract creations. Returns
    {smallest wallet: stable cluster id}.
    """
    as_of = T0 + pd.Timedelta(days=day)
    current = pd.DataFrame(
        [("0x" + w, "c_0x" + min(g)) for g, _ in groups for w in g], columns=["address", "cluster_id"]
    )
    previous, used = None, set()
    if con.execute(
        "select count(*) from duckdb_tables() where schema_name='entities' and table_name='wallet_clusters'"
    ).fetchone()[0]:
        previous = con.sql("select address, cluster_id from entities.wallet_clusters").df()
        con.execute(history_table_sql("entities.cluster_history"))
        used = set(con.sql("select cluster_id from entities.cluster_history").df()["cluster_id"])
    stable = assign_stable_ids(current, previous, run_id=run_id, as_of=as_of, used_ids=used)
    ids = stable.clusters.groupby("cluster_id")["address"].min()
    fresh_to_stable = {"c_" + a: cid for cid, a in ids.items()}
    rows = []
    for g, score in groups:
        cid = fresh_to_stable["c_0x" + min(g)]
        rows.append((cid, len(g), score, risk_level(score), as_of + pd.Timedelta(hours=len(g))))
    clusters = pd.DataFrame(rows, columns=["cluster_id", "size", "risk_score", "risk_level", "last_active"])
    con.execute("create schema if not exists raw")
    con.execute(
        "create table if not exists raw.contract_creations "
        "(address varchar, creator_address varchar, is_erc20 boolean)"
    )
    for token, creator in tokens:
        con.execute("insert into raw.contract_creations values (?, ?, true)", [token, creator])
    con.execute("create schema if not exists entities")
    con.execute(history_table_sql("entities.cluster_history"))
    replace_tables(
        con,
        "entities",
        {"wallet_clusters": stable.clusters[["address", "cluster_id"]], "clusters": clusters},
        append={"cluster_history": stable.history},
    )
    return {min(g): fresh_to_stable["c_0x" + min(g)] for g, _ in groups}


def kinds_and_subjects(alerts: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(alerts["kind"], alerts["subject"], strict=True))


@pytest.fixture
def db(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield con
    con.close()


BASE = [("abcde", 80.0), ("fg", 30.0), ("hij", 65.0), ("kl", 50.0), ("mnop", 85.0), ("qr", 20.0)]


def test_the_first_run_saves_a_baseline_and_raises_nothing_even_for_risky_clusters(db) -> None:
    entity_run(db, "r1", BASE, tokens=[("0xt1", "0xa")])
    result = update_alerts(db, "r1", T0)
    assert result.first_run and len(result.alerts) == 0 and result.added == 0
    assert db.sql("select count(*) from entities.alerts").fetchone()[0] == 0
    assert has_baseline(db)
    assert result.state == {"clusters": 6, "members": 18, "tokens": 1}


def test_a_second_run_raises_each_kind_of_change_once(db, tmp_path: Path) -> None:
    first = entity_run(db, "r1", BASE, tokens=[("0xt1", "0xa")])
    update_alerts(db, "r1", T0)
    flags_file = tmp_path / "flags.sqlite"
    add_flag(flags_file, first["k"], "wash_trading", "seen on a DEX", "ana")
    second = entity_run(
        db,
        "r2",
        [
            ("abcdes", 80.0),  # s joins a High cluster
            ("fg", 30.0),
            ("hij", 78.0),  # Medium -> High
            ("klz", 50.0),  # flagged, below the threshold, gains z
            ("mnopqr", 86.0),  # qr (Minimal) merges into a High cluster
            ("uvw", 95.0),  # a new Critical cluster
        ],
        tokens=[("0xt2", "0xb"), ("0xt3", "0xf")],  # t2 by the High cluster, t3 by a Minimal one
        day=1,
    )
    result = update_alerts(db, "r2", T0 + pd.Timedelta(days=1), flags=list_flags(flags_file))
    alerts = result.alerts
    a, m = second["a"], second["m"]
    assert kinds_and_subjects(alerts) == {
        ("wallet_joined_risky_cluster", "0xs"),
        ("token_created_by_risky_cluster", "0xt2"),
        ("risk_level_changed", "Medium->High"),
        ("risk_level_changed", "none->Critical"),
        ("clusters_merged", f"{first['q']}->{m}"),
        ("flagged_cluster_activity", "+1 wallets, active to 2024-07-02 03:00:00"),
    }
    by_kind = alerts.set_index("kind")
    assert by_kind.loc["wallet_joined_risky_cluster", "cluster_id"] == a
    assert by_kind.loc["wallet_joined_risky_cluster", "risk_level"] == "High"
    assert by_kind.loc["clusters_merged", "cluster_id"] == m == first["m"]
    merged = json.loads(by_kind.loc["clusters_merged", "details"])
    assert merged["merged_from"][0]["risk_level"] == "Minimal" and merged["wallets_added"] == 2
    flagged = json.loads(by_kind.loc["flagged_cluster_activity", "details"])
    assert flagged["wallets_added"] == ["0xz"] and flagged["reasons"] == ["wash_trading"]
    assert "0xs" in by_kind.loc["wallet_joined_risky_cluster", "message"]
    assert list(alerts.columns) == ALERT_COLUMNS and alerts["alert_id"].is_unique
    assert result.added == len(alerts) == db.sql("select count(*) from entities.alerts").fetchone()[0]


def test_running_the_alert_step_again_on_the_same_data_adds_nothing(db) -> None:
    entity_run(db, "r1", BASE)
    update_alerts(db, "r1", T0)
    entity_run(db, "r2", [("abcdes", 80.0), *BASE[1:]], day=1)
    assert len(update_alerts(db, "r2", T0).alerts) == 1
    again = update_alerts(db, "r2-retry", T0)  # a new run on unchanged data
    assert len(again.alerts) == 0
    assert db.sql("select count(*) from entities.alerts").fetchone()[0] == 1


def test_a_retried_run_that_detects_again_gets_the_same_ids_and_no_duplicate(db) -> None:
    entity_run(db, "r1", BASE)
    update_alerts(db, "r1", T0)
    entity_run(db, "r2", [("abcdes", 86.0), *BASE[1:]], day=1)
    # The state is not saved between the two detections, as when a run dies after appending.
    once = detect_alerts(db, "r2", T0)
    twice = detect_alerts(db, "r2", T0)
    assert list(once["alert_id"]) == list(twice["alert_id"]) and len(once) == 1
    assert append_alerts(db, once) == 1
    assert append_alerts(db, twice) == 0
    assert db.sql("select count(*) from entities.alerts").fetchone()[0] == 1


def test_the_alerts_table_only_grows_across_runs(db) -> None:
    entity_run(db, "r1", BASE)
    update_alerts(db, "r1", T0)
    entity_run(db, "r2", [("abcdes", 80.0), *BASE[1:]], day=1)
    update_alerts(db, "r2", T0)
    kept = db.sql("select * from entities.alerts").df()
    entity_run(db, "r3", [("abcdest", 91.0), *BASE[1:]], day=2)
    update_alerts(db, "r3", T0)
    now = db.sql("select * from entities.alerts order by created_at").df()
    assert len(now) == 3  # r2: s joined; r3: t joined, High -> Critical
    pd.testing.assert_frame_equal(now[now["run_id"] == "r2"].reset_index(drop=True), kept)


def test_a_drop_out_of_the_risky_band_is_reported_and_small_moves_below_it_are_not(db) -> None:
    entity_run(db, "r1", BASE)
    update_alerts(db, "r1", T0)
    entity_run(db, "r2", [("abcde", 70.0), ("fg", 45.0), *BASE[2:]], day=1)  # High->Medium, Minimal->Low
    alerts = update_alerts(db, "r2", T0).alerts
    assert kinds_and_subjects(alerts) == {("risk_level_changed", "High->Medium")}


def test_a_lower_threshold_alerts_on_medium_clusters(db) -> None:
    entity_run(db, "r1", BASE)
    update_alerts(db, "r1", T0, AlertRules(min_risk_score=60))
    entity_run(db, "r2", [("abcde", 80.0), ("fg", 30.0), ("hijx", 65.0), *BASE[3:]], day=1)
    assert kinds_and_subjects(update_alerts(db, "r2", T0, AlertRules(min_risk_score=60)).alerts) == {
        ("wallet_joined_risky_cluster", "0xx")
    }


def test_many_wallets_joining_at_once_give_capped_single_alerts_and_one_summary(db) -> None:
    entity_run(db, "r1", BASE)
    update_alerts(db, "r1", T0)
    joiners = "ABCDEFGHIJKLMNOPQRSTUVWXY"  # 25 wallets, upper case so they never clash
    entity_run(db, "r2", [("abcde" + joiners, 80.0), *BASE[1:]], day=1)
    alerts = update_alerts(db, "r2", T0, AlertRules(max_wallet_alerts_per_cluster=5)).alerts
    joined = alerts[alerts["kind"] == "wallet_joined_risky_cluster"]
    assert len(joined) == 6
    summary = joined[joined["subject"] == "+20 more wallets"]
    assert len(json.loads(summary["details"].iloc[0])["addresses"]) == 20


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"min_risk_score": 120}, "min_risk_score must be between 0 and 100, got 120"),
        ({"min_risk_score": -0.5}, "min_risk_score must be between 0 and 100, got -0.5"),
        ({"min_risk_score": math.nan}, "min_risk_score must be a number from 0 to 100, got nan"),
        ({"min_risk_score": "75"}, "min_risk_score must be a number from 0 to 100, got '75'"),
        ({"max_wallet_alerts_per_cluster": 0}, "max_wallet_alerts_per_cluster must be a whole number >= 1"),
    ],
)
def test_thresholds_out_of_range_are_refused_naming_the_field_and_value(kwargs, text) -> None:
    with pytest.raises(ValueError, match=re.escape("AlertRules." + text)):
        AlertRules(**kwargs)


def test_the_threshold_bounds_themselves_are_accepted() -> None:
    assert AlertRules(min_risk_score=0).min_risk_score == 0
    assert AlertRules(min_risk_score=100).min_risk_score == 100


def test_detection_before_the_entity_tables_exist_says_what_to_build(db) -> None:
    with pytest.raises(ValueError, match=r"entities.clusters does not exist: build the entity tables"):
        detect_alerts(db, "r1", T0)


def test_entity_tables_without_a_history_table_still_give_wallet_and_level_alerts(db) -> None:
    entity_run(db, "r1", BASE)
    db.execute("drop table entities.cluster_history")
    update_alerts(db, "r1", T0)
    first = entity_run(db, "r2", [("abcdes", 92.0), *BASE[1:]], day=1)
    db.execute("drop table entities.cluster_history")
    alerts = update_alerts(db, "r2", T0).alerts
    assert kinds_and_subjects(alerts) == {
        ("wallet_joined_risky_cluster", "0xs"),
        ("risk_level_changed", "High->Critical"),
    }
    assert set(alerts["cluster_id"]) == {first["a"]}
