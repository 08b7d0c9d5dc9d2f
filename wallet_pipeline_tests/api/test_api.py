"""Every endpoint of the investigator API and every error it promises, on a synthetic snapshot."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import networkx as nx
import pytest
from fastapi.testclient import TestClient

from wallet_pipeline.api import queries
from wallet_pipeline.api.app import create_app
from wallet_pipeline.api.auth import KeySpecError, hash_key, key_name, parse_key_spec
from wallet_pipeline.logic.publish.snapshot import publish_snapshot
from wallet_pipeline_tests.api.conftest import EIP55, KEYS, LONER, build_snapshot, cluster_id
from wallet_pipeline_tests.api.conftest import member as _member

C0 = cluster_id(0)
C6 = cluster_id(6)  # not in the 6-cluster snapshot (clusters 0-5)
C5 = cluster_id(5)  # size 12
M2 = _member(0, 1)


# ---------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    "address",
    [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ],
)
def test_the_eip55_examples_are_their_own_checksum(address: str) -> None:
    assert queries.checksum_address(address.lower()) == address
    assert queries.parse_address(address) == address.lower()


def test_keccak_is_ethereums_hash_not_fips_sha3() -> None:
    # Keccak-256 of the empty string, as Ethereum uses it (the hash of an account without code).
    assert queries.keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    for data in (b"abc", bytes(range(256)) * 3):
        assert queries.keccak256(data) != hashlib.sha3_256(data).digest()


@pytest.mark.parametrize(
    "address", ["0x52908400098527886E0F7030069857D2E4169EE7", "0xde709f2102306220921060314715629080e2fb77"]
)
def test_all_upper_or_all_lower_case_needs_no_checksum(address: str) -> None:
    assert queries.parse_address(address) == address.lower()


# ---------------------------------------------------------------- keys


def test_a_key_spec_holds_digests_and_rejects_plain_keys_without_echoing_them() -> None:
    digest = hash_key("k1")
    assert parse_key_spec(f"alice:{digest}, ci:{hash_key('k2')}") == {"alice": digest, "ci": hash_key("k2")}
    with pytest.raises(KeySpecError) as err:
        parse_key_spec("alice:plain-secret")
    assert "plain-secret" not in str(err.value)
    with pytest.raises(KeySpecError):
        parse_key_spec(f"alice:{digest},alice:{digest}")
    assert key_name("k1", {"alice": digest}) == "alice"
    assert key_name("k2", {"alice": digest}) is None
    assert key_name(None, {"alice": digest}) is None


PROTECTED = [
    ("get", "/analyze/" + M2),
    ("get", "/clusters"),
    ("get", f"/clusters/{C0}"),
    ("get", f"/clusters/{C0}/graph"),
    ("get", f"/clusters/{C0}/export?format=json"),
    ("get", "/stats"),
    ("get", "/overview"),
    ("post", f"/clusters/{C0}/flags"),
    ("get", "/flags"),
    ("get", "/analyze/not-an-address"),
    ("get", f"/clusters/{C6}"),
]


@pytest.mark.parametrize(("method", "url"), PROTECTED)
@pytest.mark.parametrize("key", [None, "wrong-key", KEYS["alice"] + "x", ""])
def test_without_a_valid_key_every_endpoint_answers_401_and_no_data(
    client: TestClient, method: str, url: str, key: str | None
) -> None:
    headers = {} if key is None else {"X-API-Key": key}
    kwargs = {"json": {"reason": "other"}} if method == "post" else {}
    response = getattr(client, method)(url, headers=headers, **kwargs)
    assert response.status_code == 401
    assert set(response.json()) == {"detail"}
    assert "0x" not in response.text


def test_health_needs_no_key_and_names_the_snapshot(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["snapshot"].startswith("wallet_pipeline-")


# ---------------------------------------------------------------- /analyze


def test_analyze_gives_persona_probabilities_cluster_risk_breakdown_and_evidence(
    client: TestClient, alice: dict
) -> None:
    body = client.get(f"/analyze/{M2}", headers=alice).json()
    assert body["persona"]["persona"] == "NFT Trader"
    # Named as the persona model spells them, not by the p_<key> column.
    assert body["persona"]["probabilities"] == {"Whale": 0.1, "NFT Trader": 0.8, "Dormant Holder": 0.1}
    assert body["membership"]["cluster_id"] == C0
    assert body["wallet_risk"]["breakdown"]["scam_rate"]["weight"] == 0.4
    assert body["cluster"]["risk_breakdown"]["scam_rate"]["weight"] == 0.4
    assert body["cluster"]["dominant_personas"] == "Whale 3, Dormant Holder 1"
    [hop] = body["evidence_chain"]
    assert (hop["src"], hop["dst"], hop["edge_type"]) == (_member(0, 0), M2, "common_funder")
    assert hop["evidence"] and hop["evidence"][0].startswith("0x")


def test_analyze_takes_a_checksummed_address(client: TestClient, alice: dict) -> None:
    body = client.get(f"/analyze/{EIP55}", headers=alice).json()
    assert body["address"] == EIP55.lower() and body["checksum_address"] == EIP55
    assert body["persona"] is None and body["membership"]["cluster_id"] == C0


def test_a_wallet_in_no_cluster_is_scored_without_a_cluster(client: TestClient, alice: dict) -> None:
    body = client.get(f"/analyze/{LONER}", headers=alice).json()
    assert body["membership"] is None and body["cluster"] is None and body["evidence_chain"] == []
    assert body["wallet_risk"]["risk_level"] == "Minimal"


def test_with_the_simulator_source_an_address_not_in_the_snapshot_is_404_saying_why(
    client: TestClient, alice: dict
) -> None:
    response = client.get("/analyze/0x" + "f" * 40, headers=alice)
    assert response.status_code == 404
    assert "not in the current snapshot" in response.json()["detail"]
    assert "the simulator has no wallets beyond the snapshot" in response.json()["detail"]


@pytest.mark.parametrize(
    "bad",
    [
        "0x123",  # too short
        "0x" + "0" * 41,  # too long
        "0x" + "g" * 40,  # not hex
        "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",  # no 0x
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",  # checksum broken in the last letter
    ],
)
def test_a_malformed_address_is_422_saying_what_a_valid_one_looks_like(
    client: TestClient, alice: dict, bad: str
) -> None:
    response = client.get(f"/analyze/{bad}", headers=alice)
    assert response.status_code == 422
    assert "0x followed by 40 hexadecimal characters" in response.json()["detail"]


def test_a_failed_checksum_names_the_expected_form(client: TestClient, alice: dict) -> None:
    detail = client.get("/analyze/0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", headers=alice).json()["detail"]
    assert "EIP-55" in detail and EIP55 in detail


# ---------------------------------------------------------------- /clusters


def _ids(client: TestClient, alice: dict, query: str) -> list[str]:
    response = client.get(f"/clusters?{query}", headers=alice)
    assert response.status_code == 200, response.text
    return [c["cluster_id"] for c in response.json()["items"]]


def test_clusters_sort_by_risk_by_default_and_page(client: TestClient, alice: dict) -> None:
    body = client.get("/clusters", headers=alice).json()
    scores = [c["risk_score"] for c in body["items"]]
    assert body["total"] == 6 and scores == sorted(scores, reverse=True)
    first = _ids(client, alice, "page_size=4&page=1")
    second = _ids(client, alice, "page_size=4&page=2")
    assert len(first) == 4 and len(second) == 2 and not set(first) & set(second)
    beyond = client.get("/clusters?page=9", headers=alice).json()
    assert beyond["items"] == [] and beyond["total"] == 6


def test_clusters_sort_by_size_and_last_active(client: TestClient, alice: dict) -> None:
    sizes = [c["size"] for c in client.get("/clusters?sort=size", headers=alice).json()["items"]]
    assert sizes == sorted(sizes, reverse=True)
    last = [c["last_active"] for c in client.get("/clusters?sort=last_active", headers=alice).json()["items"]]
    assert last == sorted(last, reverse=True)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # scores by cluster: 0.0, 37.3, 74.6, 11.9, 49.2, 86.5; sizes 2, 3, 4, 5, 8, 12;
        # last_active 2024-10-31 minus i days; personas cycle Whale / Active Retail / NFT Trader
        ("risk_min=40", {2, 4, 5}),
        ("risk_level=Critical", {5}),
        ("size=2-5", {0, 1, 2, 3}),
        ("size=6-20", {4, 5}),
        ("size=21-50", set()),
        ("active_within=24h", {0, 1}),
        ("active_within=7d", {0, 1, 2, 3, 4, 5}),
        ("persona=whale", {0, 2, 3, 5}),
        ("persona=retail&risk_min=30", {1, 4}),
    ],
)
def test_cluster_filters(client: TestClient, alice: dict, query: str, expected: set[int]) -> None:
    assert set(_ids(client, alice, query)) == {cluster_id(i) for i in expected}


@pytest.mark.parametrize(
    "query",
    [
        "risk_min=101",
        "risk_min=-1",
        "risk_level=Scary",
        "size=7-9",
        "active_within=1y",
        "sort=name",
        "page=0",
        "page_size=0",
        "page_size=201",
        "persona=" + "x" * 65,
    ],
)
def test_filters_out_of_range_are_422(client: TestClient, alice: dict, query: str) -> None:
    assert client.get(f"/clusters?{query}", headers=alice).status_code == 422


def test_filter_text_never_becomes_sql(client: TestClient, alice: dict) -> None:
    assert _ids(client, alice, "persona=%27%29%20or%201%3D1%20--") == []


# ---------------------------------------------------------------- one cluster


def test_cluster_detail_has_stats_breakdown_timeline_members_tokens_subclusters_bridges(
    snapshot_dir: Path, flags_path: Path, alice: dict, tmp_path: Path
) -> None:
    # A 25-wallet cluster has sub-clusters and a bridge: build 8 clusters so cluster 6 exists.
    folder = build_snapshot(tmp_path / "big", n_clusters=8)
    app = create_app(folder, {"alice": hash_key(KEYS["alice"])}, flags_path)
    with TestClient(app) as client:
        c6 = client.get(f"/clusters/{C6}?member_limit=5", headers=alice).json()
        c0 = client.get(f"/clusters/{C0}", headers=alice).json()
    assert c6["cluster"]["size"] == 25 and c6["cluster"]["risk_breakdown"]["scam_rate"]["weight"] == 0.4
    assert c6["members_shown"] == 5
    risks = [m["risk_score"] for m in c6["members"]]
    assert risks == sorted(risks, reverse=True) and all(m["reputation"] is not None for m in c6["members"])
    assert {s["sub_cluster_id"] for s in c6["sub_clusters"]} == {C6 + "_s0", C6 + "_s1"}
    assert [b["address"] for b in c6["bridges"]] == [_member(6, 1)]
    assert [h["event"] for h in c0["history"]] == ["new", "grew"]
    assert c0["tokens_created"][0]["creator"] == _member(0, 0) and c0["tokens_created"][0]["is_scam"] is None
    assert c0["linked_clusters"][0]["other_cluster_id"] == cluster_id(1)


@pytest.mark.parametrize("suffix", ["", "/graph", "/export?format=csv"])
def test_an_unknown_cluster_is_404(client: TestClient, alice: dict, suffix: str) -> None:
    response = client.get(f"/clusters/{C6}{suffix}", headers=alice)
    assert response.status_code == 404 and "no cluster" in response.json()["detail"]


def test_graph_nodes_carry_persona_risk_and_bridge_and_edges_type_and_weight(
    client: TestClient, alice: dict
) -> None:
    body = client.get(f"/clusters/{C5}/graph", headers=alice).json()
    assert len(body["nodes"]) == 12 and len(body["edges"]) == 11
    node = next(n for n in body["nodes"] if n["id"] == _member(5, 0))
    assert node["persona"] == "Whale" and node["risk_score"] is not None and node["is_bridge"] is False
    assert {e["edge_type"] for e in body["edges"]} == {"common_funder"} and body["edges"][0]["weight"] == 1.0


def test_export_in_every_format(client: TestClient, alice: dict) -> None:
    csv = client.get(f"/clusters/{C5}/export?format=csv", headers=alice)
    assert csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("address,cluster_id") and len(lines) == 13  # the members only
    doc = client.get(f"/clusters/{C5}/export?format=json", headers=alice).json()
    assert doc["cluster_id"] == C5 and len(doc["members"]) == 12 and len(doc["edges"]) == 11
    assert isinstance(doc["cluster"]["risk_breakdown"], dict)
    graphml = client.get(f"/clusters/{C5}/export?format=graphml", headers=alice)
    graph = nx.parse_graphml(graphml.text)
    assert graph.number_of_nodes() == 12 and graph.number_of_edges() == 11
    assert client.get(f"/clusters/{C5}/export?format=xlsx", headers=alice).status_code == 422


# ---------------------------------------------------------------- stats, flags


def test_stats(client: TestClient, alice: dict) -> None:
    body = client.get("/stats", headers=alice).json()
    assert body["clusters"] == 6 and body["graph_stats"]["total_clusters"] == 6
    assert sum(body["clusters_by_risk_level"].values()) == 6 and body["flags_active"] == 0
    assert body["wallets_by_persona"]["Whale"] > 0


def test_overview_gives_totals_every_level_the_riskiest_clusters_and_wallets_to_start_from(
    client: TestClient, alice: dict
) -> None:
    body = client.get("/overview", headers=alice).json()
    sizes = [2, 3, 4, 5, 8, 12]  # conftest SIZES of clusters 0-5
    members = sum(sizes)
    # Members, the EIP-55 wallet added to cluster 0, and the loner that is only scored.
    assert (body["wallets"], body["wallets_clustered"], body["wallets_scored"]) == (
        members + 2,
        members + 1,
        members + 2,
    )
    assert body["wallets_with_persona"] == members and body["clusters"] == 6
    assert list(body["clusters_by_risk_level"]) == list(queries.RISK_LEVELS)
    assert sum(body["clusters_by_risk_level"].values()) == 6
    assert body["clusters_by_risk_level"]["Critical"] == 1 and body["clusters_by_risk_level"]["High"] == 1
    assert sum(body["wallets_by_risk_level"].values()) == body["wallets_scored"]
    assert sum(p["wallets"] for p in body["wallets_by_persona"]) == members
    scores = [c["risk_score"] for c in body["riskiest_clusters"]]
    assert scores == sorted(scores, reverse=True) and body["riskiest_clusters"][0]["cluster_id"] == C5
    # A cluster's riskiest wallet is its anchor (member 0) in conftest; five clusters, riskiest first.
    top = [w for w in body["example_wallets"] if w["why"].startswith("riskiest wallet")]
    assert [w["address"] for w in top] == [_member(i, 0) for i in (5, 2, 4, 1, 3)]
    assert all(w["cluster_id"] == cluster_id(i) for w, i in zip(top, (5, 2, 4, 1, 3), strict=True))
    addresses = [w["address"] for w in body["example_wallets"]]
    assert len(addresses) == len(set(addresses))
    held = {p["persona"] for p in body["wallets_by_persona"]}
    shown = {w["persona"] for w in body["example_wallets"]}
    assert held <= shown, "every persona has an example wallet"
    # The persona model's vocabulary, one spelling each.
    assert "High-Frequency Bot" in body["personas"] and "NFT Trader" in body["personas"]
    assert len({queries.persona_column(p) for p in body["personas"]}) == len(body["personas"])


def test_persona_probabilities_use_the_persona_models_spelling_from_the_snapshot_and_live(
    tmp_path: Path,
) -> None:
    from wallet_pipeline.api.app import live_analysis

    folder = build_snapshot(
        tmp_path / "snapshots",
        n_clusters=2,
        extra_sql="alter table personas.wallet_personas add column p_high_frequency_bot double default 0.0;"
        "alter table personas.wallet_personas add column p_institutional_exchange double default 0.0",
    )
    app = create_app(folder, None, tmp_path / "flags.sqlite", use_index=False)
    with TestClient(app) as test_client:
        body = test_client.get(f"/analyze/{M2}").json()
    app.state.snapshot_pool.close()
    names = set(body["persona"]["probabilities"])
    assert {"High-Frequency Bot", "Institutional / Exchange", "NFT Trader"} <= names
    assert not any("_" in n or n == "High frequency bot" for n in names)
    found = {
        "address": M2,
        "source": "files",
        "features": {},
        "computed_at": "2024-11-01T00:00:00Z",
        "persona": {
            "persona": "High-Frequency Bot",
            "confidence": 0.9,
            "model_version": "4",
            "probabilities": {"high_frequency_bot": 0.9, "whale": 0.1},
        },
    }
    assert live_analysis(found)["persona"]["probabilities"] == {"High-Frequency Bot": 0.9, "Whale": 0.1}


def test_a_flag_records_the_key_name_and_is_listed(client: TestClient, alice: dict) -> None:
    response = client.post(
        f"/clusters/{C0}/flags", json={"reason": "scam_ring", "note": "same funder"}, headers=alice
    )
    assert response.status_code == 201
    assert response.json()["flagged_by"] == "alice" and response.json()["status"] == "active"
    client.post(f"/clusters/{C5}/flags", json={"reason": "other"}, headers={"X-API-Key": KEYS["bob"]})
    flags = client.get("/flags", headers=alice).json()
    assert [(f["cluster_id"], f["flagged_by"]) for f in flags] == [(C0, "alice"), (C5, "bob")]
    assert [f["cluster_id"] for f in client.get(f"/flags?cluster_id={C5}", headers=alice).json()] == [C5]
    assert client.get("/stats", headers=alice).json()["flags_active"] == 2


@pytest.mark.parametrize(
    "body", [{"reason": "rug"}, {}, {"reason": "other", "note": "x" * 2001}, {"reason": "other", "by": "eve"}]
)
def test_a_bad_flag_is_422(client: TestClient, alice: dict, body: dict) -> None:
    assert client.post(f"/clusters/{C0}/flags", json=body, headers=alice).status_code == 422


def test_a_flag_on_an_unknown_cluster_is_404(client: TestClient, alice: dict, flags_path: Path) -> None:
    assert client.post(f"/clusters/{C6}/flags", json={"reason": "other"}, headers=alice).status_code == 404
    assert client.get("/flags", headers=alice).json() == []


# ---------------------------------------------------------------- snapshots


def test_no_snapshot_yet_is_503_with_the_reason(tmp_path: Path, alice: dict) -> None:
    app = create_app(tmp_path / "empty", {"alice": hash_key(KEYS["alice"])}, tmp_path / "f.sqlite")
    with TestClient(app) as client:
        assert client.get("/health").json()["status"] == "no_snapshot"
        for url in ("/clusters", "/stats", f"/analyze/{M2}", f"/clusters/{C0}"):
            response = client.get(url, headers=alice)
            assert response.status_code == 503
            assert "no snapshot has been published yet" in response.json()["detail"]
        assert client.get("/clusters").status_code == 401  # the key is checked first


def test_the_next_request_reads_a_newly_published_snapshot_while_the_writer_stays_open(
    tmp_path: Path, alice: dict
) -> None:
    folder = build_snapshot(tmp_path / "snaps", n_clusters=3)
    app = create_app(folder, {"alice": hash_key(KEYS["alice"])}, tmp_path / "f.sqlite")
    with TestClient(app) as client:
        assert client.get("/clusters", headers=alice).json()["total"] == 3
        writer = duckdb.connect(str(tmp_path / "pipeline.duckdb"))  # a run holding its database
        writer.execute("create schema entities")
        writer.execute(
            "create table entities.clusters as select * from read_json_auto(?)",
            [str(_one_cluster_json(tmp_path))],
        )
        assert client.get("/clusters", headers=alice).json()["total"] == 3  # still the old snapshot
        publish_snapshot(writer, folder, run_id="second")
        body = client.get("/clusters", headers=alice).json()
        assert body["total"] == 1 and body["items"][0]["cluster_id"] == "c_new"
        assert client.get("/health").json()["snapshot"].endswith("-second.duckdb")
        writer.close()
    app.state.snapshot_pool.close()


def _one_cluster_json(tmp_path: Path) -> Path:
    path = tmp_path / "one.json"
    path.write_text(
        json.dumps(
            [
                {
                    "cluster_id": "c_new",
                    "size": 2,
                    "risk_score": 50.0,
                    "risk_level": "Medium",
                    "scam_rate": 0.1,
                    "reputation": 50.0,
                    "known_scammers": 0,
                    "tokens_created": 0,
                    "scam_tokens": 0,
                    "first_seen": "2024-01-01 00:00:00",
                    "last_active": "2024-01-02 00:00:00",
                    "sub_clusters": 0,
                    "bridge_wallets": 0,
                    "dominant_personas": None,
                    "risk_breakdown": "{}",
                }
            ]
        )
    )
    return path


def test_the_openapi_schema_documents_every_endpoint_with_a_summary(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/analyze/{address}",
        "/clusters",
        "/clusters/{cluster_id}",
        "/clusters/{cluster_id}/graph",
        "/clusters/{cluster_id}/export",
        "/stats",
        "/overview",
        "/clusters/{cluster_id}/flags",
        "/flags",
        "/health",
    ):
        assert path in paths
        for operation in paths[path].values():
            assert operation["summary"]
    assert schema["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
