"""A synthetic published snapshot for the API tests (and `benchmarks/api_load.py`).

`build_snapshot` writes the serving tables with the columns the pipeline writes, generated in SQL
so the same code makes 6 clusters for the tests and 100,000 for the load benchmark, then publishes
them with `publish_snapshot` like the pipeline does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from wallet_pipeline.api.app import create_app
from wallet_pipeline.api.auth import hash_key
from wallet_pipeline.logic.publish.snapshot import publish_snapshot

KEYS = {"alice": "alice-secret-key-0123456789", "bob": "bob-secret-key-9876543210"}
# The first EIP-55 example address; the tests put it into cluster 0 as a plain member.
EIP55 = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
LONER = "0x00000000000000000000000000000000deadbeef"  # scored, in no cluster
SIZES = (2, 3, 4, 5, 8, 12, 25, 60)  # cycles through every size band

_SQL = """
create schema if not exists entities;
create schema if not exists personas;
create schema if not exists marts;
create or replace temp table c as
select i,
       'c_0x' || md5(cast(i * 100 + 1 as varchar)) || lower(lpad(hex(i * 100 + 1), 8, '0')) as cluster_id,
       {sizes}[1 + i % {n_sizes}] as size,
       round((i * 373 % 1000) / 10.0, 1) as risk_score,
       timestamp '2024-10-31 12:00:00' - to_days(cast(i % 60 as integer)) as last_active
from range({n}) t(i);
create or replace table entities.clusters as
select cluster_id, size::bigint as size, risk_score,
       case when risk_score >= 80 then 'Critical' when risk_score >= 60 then 'High'
            when risk_score >= 40 then 'Medium' when risk_score >= 20 then 'Low' else 'Minimal'
       end risk_level,
       risk_score / 100 as scam_rate, 100 - risk_score as reputation, 0.5 as density,
       (i % 3)::bigint as known_scammers, (i % 4)::bigint as tokens_created, (i % 2)::bigint as scam_tokens,
       (i % 5)::bigint as flagged_wallets,
       ('{{"scam_rate": {{"value": ' || (risk_score / 100) || ', "weight": 0.4, "points": '
         || (risk_score * 0.4)
         || ', "evidence": {{"scam_tokens": 1}}}}}}')::json as risk_breakdown,
       timestamp '2024-07-01' as first_seen, last_active,
       ['Whale 3, Dormant Holder 1', 'Active Retail Trader 4', 'NFT Trader 2, Whale 1'][1 + i % 3]
         as dominant_personas,
       (case when size >= 20 then 2 else 0 end)::bigint as sub_clusters,
       (case when size >= 20 then 1 else 0 end)::bigint as bridge_wallets
from c order by cluster_id;
create or replace temp table m as
select c.i, c.cluster_id, c.size, j,
       '0x' || md5(cast(c.i * 100 + j + 1 as varchar))
         || lower(lpad(hex(c.i * 100 + j + 1), 8, '0')) as address,
       substr(c.cluster_id, 3) as anchor
from c, range(c.size) r(j);
create or replace table entities.wallet_clusters as
select address, cluster_id,
       case when size >= 20 then cluster_id || '_s' || (j % 2) end as sub_cluster_id,
       (size >= 20 and j = 1) as is_bridge,
       case when size >= 20 and j = 1 then 'articulation' end as bridge_reason,
       size::bigint as cluster_size
from m order by address;
create or replace table entities.wallet_risk as
select address, cluster_id, greatest(0, round((i * 373 % 1000) / 10.0 - j * 0.1, 1)) as risk_score,
       'High' as risk_level, 40.0 + j as reputation,
       case when j = 0 then 'rug_pull' end as patterns,
       '{{"scam_rate": {{"value": 0.5, "weight": 0.4, "points": 20.0, "evidence": {{}}}}}}'::json
         as risk_breakdown
from m
union all
select '{loner}', null, 5.0, 'Minimal', 80.0, null, '{{}}'::json
order by address;
create or replace table personas.wallet_personas as
select address, ['Whale', 'NFT Trader', 'Dormant Holder'][1 + j % 3] as persona, 0.8 as confidence,
       case when j % 3 = 0 then 0.8 else 0.1 end as p_whale,
       case when j % 3 = 1 then 0.8 else 0.1 end as p_nft_trader,
       case when j % 3 = 2 then 0.8 else 0.1 end as p_dormant_holder,
       '3' as model_version, timestamp '2024-11-01' as scored_at
from m order by address;
create or replace table marts.wallet_features as select address, 10::bigint as tx_count from m;
create or replace table entities.cluster_edges as
select cluster_id, anchor as src, address as dst, 'common_funder' as edge_type, true as directed,
       1.0 as weight, timestamp '2024-07-02' as first_time, timestamp '2024-07-03' as last_time,
       1::hugeint as n, ['0x' || lpad(hex(i * 100 + j), 64, 'a')] as evidence
from m where j > 0 order by cluster_id;
create or replace table entities.cluster_evidence as
select address, cluster_id, anchor, j::bigint as hop_key, (case when j = 0 then 0 else 1 end)::bigint as hop,
       anchor as src, address as dst, case when j > 0 then 'common_funder' end as edge_type,
       case when j > 0 then 1.0 end as weight, timestamp '2024-07-02' as first_time,
       timestamp '2024-07-03' as last_time,
       case when j > 0 then ['0x' || lpad(hex(i * 100 + j), 64, 'a')] else [] end as evidence
from m order by address;
alter table entities.cluster_evidence drop column hop_key;
create or replace table entities.bridge_wallets as
select address, cluster_id, true as is_articulation, [cluster_id] as linked_clusters,
       'articulation' as bridge_reason
from m where size >= 20 and j = 1;
create or replace table entities.cluster_links as
select a.cluster_id as cluster_a, b.cluster_id as cluster_b, 'shared_bridge' as link_type, 2::bigint as n,
       0.5 as weight, timestamp '2024-07-02' as first_time, timestamp '2024-07-03' as last_time,
       ['0xabc'] as evidence, 'direct_transfer' as edge_types
from c a join c b on b.i = a.i + 1;
create or replace table entities.cluster_history as
select 'run1' as run_id, timestamp '2024-10-01' as as_of, cluster_id, 'new' as event, size::bigint as size,
       0::bigint as previous_size, size::bigint as wallets_added, 0::bigint as wallets_departed,
       []::varchar[] as related_ids, timestamp '2024-07-01' as first_activity, last_active as last_activity
from c
union all
select 'run2', timestamp '2024-11-01', cluster_id, 'grew', size, size - 1, 1, 0, []::varchar[],
       timestamp '2024-07-01', last_active
from c where i = 0;
create or replace table entities.alert_state_tokens as
select '0x' || lower(lpad(hex(900000000 + i), 40, '0')) as token, anchor as creator
from m where j = 0 and i % 4 = 0;
create or replace table entities.graph_stats as
select 'run2' as run_id, count(*) as total_clusters,
       count(*) filter (where risk_level in ('Critical', 'High')) as high_risk_clusters,
       count(*) filter (where risk_level = 'Critical') as critical_clusters,
       sum(size) as wallets_clustered, sum(size) + 1 as wallets_scored, 0::bigint as high_risk_wallets,
       avg(size) as average_cluster_size, max(size) as largest_cluster_size,
       sum(bridge_wallets) as bridge_wallets, sum(size - 1) as edges
from entities.clusters;
"""


def member(i: int, j: int) -> str:
    """Address of member j of cluster i."""
    k = i * 100 + j + 1
    return "0x" + hashlib.md5(str(k).encode()).hexdigest() + format(k, "08x")


def cluster_id(i: int) -> str:
    """Id of cluster i: `c_` and its anchor's address, as the pipeline names clusters."""
    return "c_" + member(i, 0)


def build_snapshot(folder: Path, n_clusters: int = 6, extra_sql: str = "") -> Path:
    """Write synthetic serving tables with `n_clusters` clusters and publish them to `folder`.

    Cluster i has size `SIZES[i % 8]` and id `cluster_id(i)`; its member j is `member(i, j)`
    (j = 0 is the anchor). Addresses look random and the per-wallet tables are stored in address
    order, as a point lookup needs for DuckDB's min-max pruning. `LONER` is scored but in no
    cluster, and for small builds `EIP55` (lower-cased) is an extra member of cluster 0. `extra_sql`
    runs on the tables before they are published.
    """
    folder.mkdir(parents=True, exist_ok=True)
    writer_path = folder.parent / f"{folder.name}_writer.duckdb"
    con = duckdb.connect(str(writer_path))
    try:
        sizes = "[" + ", ".join(str(s) for s in SIZES) + "]"
        con.execute(_SQL.format(n=int(n_clusters), sizes=sizes, n_sizes=len(SIZES), loner=LONER))
        if n_clusters < 1000:
            extra = EIP55.lower()
            cid = cluster_id(0)
            con.execute(
                "insert into entities.wallet_clusters values (?, ?, null, false, null, 2)", [extra, cid]
            )
            con.execute(
                "insert into entities.wallet_risk values (?, ?, 12.0, 'Minimal', 70.0, null, '{}')",
                [extra, cid],
            )
        if extra_sql:
            con.execute(extra_sql)
        publish_snapshot(con, folder, run_id="synthetic")
    finally:
        con.close()
    writer_path.unlink(missing_ok=True)
    return folder


@pytest.fixture(scope="session")
def snapshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A published snapshot with 6 clusters, shared by the read-only tests."""
    return build_snapshot(tmp_path_factory.mktemp("api") / "snapshots")


@pytest.fixture
def flags_path(tmp_path: Path) -> Path:
    """A fresh flags file per test."""
    return tmp_path / "flags.sqlite"


@pytest.fixture(params=["duckdb", "index"])
def client(request: pytest.FixtureRequest, snapshot_dir: Path, flags_path: Path) -> Iterator[TestClient]:
    """The app on the shared snapshot with keys alice and bob; no key header set.

    Every test runs twice: answering from DuckDB, and from the snapshot's index once it is built.
    """
    use_index = request.param == "index"
    keys = {name: hash_key(key) for name, key in KEYS.items()}
    app = create_app(snapshot_dir, keys, flags_path, use_index=use_index)
    if use_index:
        assert app.state.snapshot_pool.wait_for_index() is not None, (
            app.state.snapshot_pool.current().index_error
        )
    with TestClient(app) as test_client:
        yield test_client
    app.state.snapshot_pool.close()


@pytest.fixture
def alice() -> dict[str, str]:
    """Headers with alice's key."""
    return {"X-API-Key": KEYS["alice"]}
