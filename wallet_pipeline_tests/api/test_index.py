"""The API's rendered index answers exactly what the slow path through DuckDB answers."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import duckdb
import pytest

from wallet_pipeline.api import index as api_index
from wallet_pipeline.api import queries
from wallet_pipeline.api.models import Analysis, ClusterPage
from wallet_pipeline.logic.publish.snapshot import connect_snapshot
from wallet_pipeline_tests.api.conftest import build_snapshot, cluster_id, member

# Rows the pipeline can write that the plain synthetic snapshot lacks: NULLs and NaN inside the
# structs, a wallet known only to the persona model, a cluster without scores, sizes or activity,
# microsecond times and persona text in mixed case; a breakdown that is not JSON (an old text column).
MESSY = """
-- Text, as snapshots published before the column was typed JSON hold it: readers still cope.
alter table entities.clusters alter risk_breakdown type varchar;
alter table personas.wallet_personas alter confidence type double;
alter table personas.wallet_personas alter p_whale type double;
alter table personas.wallet_personas alter p_nft_trader type double;
alter table personas.wallet_personas alter p_dormant_holder type double;
insert into personas.wallet_personas
select '0x' || repeat('ab', 20), 'Dormant Holder', 'nan'::double, null, 0.2, 'nan'::double, null,
       timestamp '2024-11-01 10:11:12.345678';
insert into entities.clusters (cluster_id, size, risk_score, risk_level, risk_breakdown, first_seen,
                               last_active, dominant_personas)
values ('c_empty', null, null, null, 'not json', null, null, null),
       ('c_tiny', 2, 55.5, 'Scary', '[1, 2]', timestamp '2024-07-01 00:00:00.5',
        timestamp '2024-10-31 11:59:59.999999', 'WHALE 2');
insert into entities.wallet_clusters values ('0x' || repeat('cd', 20), 'c_tiny', null, null, null, 2),
                                            ('0x' || repeat('ef', 20), 'c_gone', 's1', true, 'why', 9);
alter table entities.wallet_risk alter reputation type double;
update entities.wallet_risk set reputation = 'nan'::double
where address = (select min(address) from entities.wallet_risk);
"""


@pytest.fixture(scope="module")
def messy(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[duckdb.DuckDBPyConnection, queries.SnapshotMeta, Path]:
    folder = build_snapshot(tmp_path_factory.mktemp("messy") / "snapshots", n_clusters=9, extra_sql=MESSY)
    con = connect_snapshot(folder)
    meta = queries.read_meta(con, _name(con))
    yield con, meta, folder
    con.close()


def _fast(index: api_index.SnapshotIndex, address: str):
    body = index.analysis_json(address)
    return None if body is None else json.loads(body)


def _slow(con, meta, address: str):
    found = queries.analyze_wallet(con, meta, address)
    return None if found is None else Analysis.model_validate(found).model_dump(mode="json")


def test_every_wallet_analysis_is_the_same_from_the_index_and_from_duckdb(messy) -> None:
    con, meta, folder = messy
    index = api_index.load_or_build(con.cursor(), meta, folder)
    addresses = [
        a
        for (a,) in con.execute(
            "select address from entities.wallet_risk union select address from entities.wallet_clusters "
            "union select address from personas.wallet_personas"
        ).fetchall()
    ]
    assert len(addresses) == len(index.wallet_keys) > 60
    for address in [*addresses, "0x" + "0" * 40, "0x" + "f" * 40]:
        assert _fast(index, address) == _slow(con, meta, address), address
    only_persona = _fast(index, "0x" + "ab" * 20)
    assert only_persona["persona"]["confidence"] is None and only_persona["membership"] is None
    in_unknown_cluster = _fast(index, "0x" + "ef" * 20)
    assert (
        in_unknown_cluster["membership"]["cluster_id"] == "c_gone" and in_unknown_cluster["cluster"] is None
    )


FILTERS = {
    "risk_min": [0.0, 55.5, 100.0],
    "risk_level": [None, "High", "Critical", "Medium"],
    "size_band": [None, "2-5", "6-20", "21-50", "50+"],
    "active_within": [None, "24h", "7d", "30d"],
    "persona": [None, "whale", "Whale 2", "') or 1=1 --"],
    "sort": ["risk", "size", "last_active"],
}


def test_every_filter_sort_and_page_is_the_same_from_the_index_and_from_duckdb(messy) -> None:
    con, meta, folder = messy
    index = api_index.load_or_build(con.cursor(), meta, folder)
    names = list(FILTERS)
    checked = 0
    pages = itertools.cycle(((1, 50), (1, 3), (2, 3), (40, 3)))
    for values in itertools.product(*FILTERS.values()):
        filters = dict(zip(names, values, strict=True))
        for page, page_size in (next(pages),):
            slow = ClusterPage.model_validate(
                queries.list_clusters(con, meta, **filters, page=page, page_size=page_size)
            ).model_dump(mode="json")
            fast = json.loads(index.cluster_page_json(**filters, page=page, page_size=page_size))
            assert fast == slow, (filters, page, page_size)
            checked += 1
    assert checked == 3 * 4 * 5 * 4 * 4 * 3
    by_risk = json.loads(index.cluster_page_json(sort="risk", page_size=200))["items"]
    assert [c["cluster_id"] for c in by_risk][:1] == [cluster_id(8)]  # the riskiest, 98.4
    tiny = json.loads(index.cluster_page_json(risk_min=55.5, persona="whale 2"))["items"]
    assert [c["cluster_id"] for c in tiny] == ["c_tiny"]


def test_an_index_is_built_once_reused_and_rebuilt_when_its_format_changes(tmp_path: Path) -> None:
    folder = build_snapshot(tmp_path / "snapshots", n_clusters=3)
    con = connect_snapshot(folder)
    name = _name(con)
    meta = queries.read_meta(con, name)
    built = api_index.load_or_build(con.cursor(), meta, folder)
    where = api_index.index_folder(folder, name)
    stamp = (where / "meta.json").stat().st_mtime_ns
    again = api_index.load_or_build(con.cursor(), meta, folder)
    assert (where / "meta.json").stat().st_mtime_ns == stamp  # opened, not rebuilt
    assert again.analysis_json(member(1, 2)) == built.analysis_json(member(1, 2)) is not None
    (where / "meta.json").write_text(json.dumps({"format": -1}))
    rebuilt = api_index.load_or_build(con.cursor(), meta, folder)
    assert json.loads((where / "meta.json").read_text())["format"] == api_index.FORMAT
    assert rebuilt.analysis_json(member(1, 2)) == built.analysis_json(member(1, 2))
    con.close()


def test_indexes_of_pruned_snapshots_are_removed_by_the_next_build(tmp_path: Path) -> None:
    folder = build_snapshot(tmp_path / "snapshots", n_clusters=2)
    gone = api_index.index_folder(folder, "wallet_pipeline-gone.duckdb")
    gone.mkdir(parents=True)
    (gone / "meta.json").write_text("{}")
    gone.with_name(gone.name + ".lock").touch()
    con = connect_snapshot(folder)
    name = _name(con)
    api_index.load_or_build(con.cursor(), queries.read_meta(con, name), folder)
    assert sorted(os.listdir(folder / api_index.INDEX_DIR)) == [name, f"{name}.lock"]
    con.close()


def _name(con: duckdb.DuckDBPyConnection) -> str:
    path = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchone()
    return Path(path[0]).name
