"""Worlds we did not tune to: the simulator's knobs beyond the default world, and random worlds.

Every knob is off by default, so the default world must stay byte for byte what it was; each knob
switched on must plant the structure docs/simulator.md promises, with ground truth to match.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from wallet_pipeline.logic.ingestion.etl_files.loader import load_etl_files
from wallet_pipeline.logic.ingestion.raw_schema import LABEL_TYPES
from wallet_pipeline.logic.ingestion.simulator import (
    SimulatorConfig,
    load_simulation,
    load_truth,
    random_world_config,
    simulate_arrow,
    write_etl_files,
)
from wallet_pipeline.logic.ingestion.simulator.config import SYBIL_TOPOLOGIES
from wallet_pipeline.logic.ingestion.simulator.labels import PUBLIC_EXCHANGE_NAMES
from wallet_pipeline_tests.logic.test_simulator import one, rows

# Digests of these worlds' tables, computed on the simulator before any of the new knobs existed.
DEFAULT_WORLD_DIGESTS = {
    SimulatorConfig(
        n_wallets=1_500, days=30
    ): "0c68bc2418a5d412366160b16c7ff28c121423f38a0f2ce07e1736a23255e62d",
    SimulatorConfig(
        n_wallets=600, days=20
    ): "053dddc7ff7641eeb375f35ac8e6bce5e0d62e80db85514b75952be4dcf23cc4",
    SimulatorConfig(
        seed=7, n_wallets=1_500, days=30, chunk_wallets=800
    ): "75a962dcb35193798201646fc68bc1a9bb3da5ce0d0ccaa35ef9f1f071bd904e",
    SimulatorConfig(
        seed=11, n_wallets=300, days=14
    ): "d57ee1e8e75bac7a2713651f9fa025f50a4a247f43cefea605658025e22c16a1",
}
# Every structure on at once; two chunks so chunk-level structure must line up across them.
RICH = SimulatorConfig(
    seed=3,
    n_wallets=2_400,
    days=30,
    chunk_wallets=1_300,
    persona_shares=(
        ("retail_trader", 0.55),
        ("dormant", 0.3),
        ("nft_trader", 0.1),
        ("whale", 0.02),
        ("hf_bot", 0.03),
    ),
    exchange_user_share=0.4,
    wallets_per_sybil_farm=600,
    wallets_per_scam_ring=1_200,
    p2p_pair_share=0.15,
    family_share=0.1,
    shared_deposit_share=0.3,
    sybil_topologies=(("star", 1.0), ("relay_tree", 1.0), ("chain", 1.0), ("disperse", 1.0)),
    short_bot_share=0.5,
    secondary_hot_wallets=2,
    unlabelled_ring_share=1.0,
    old_contract_share=0.6,
    label_drop_share=0.2,
    label_wrong_share=0.05,
    public_labels=True,
)
PUBLIC_TYPES = {"phish-hack", "heist", "exploit", "cex_deposit", "mev_bot", "contract"}


def world_digest(config: SimulatorConfig) -> str:
    """A hash of every table chunk in stream order, values as text (stable across Arrow layouts)."""
    h = hashlib.sha256()
    for table, chunk in simulate_arrow(config):
        h.update(table.encode())
        for name in chunk.column_names:
            col = chunk[name]
            text = pc.fill_null(pc.cast(col, pa.string()), "\x00")
            h.update(f"{name}:{col.type}".encode())
            h.update("\x1f".join(text.to_pylist()).encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def rich() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    load_simulation(con, RICH)
    yield con
    con.close()


# ----- the default world ----------------------------------------------------------------------


@pytest.mark.parametrize("config", list(DEFAULT_WORLD_DIGESTS), ids=lambda c: f"seed{c.seed}_{c.n_wallets}")
def test_the_default_world_is_exactly_what_it_was_before_the_new_knobs(config: SimulatorConfig) -> None:
    assert world_digest(config) == DEFAULT_WORLD_DIGESTS[config]


def test_every_new_knob_is_off_by_default() -> None:
    default = SimulatorConfig()
    assert default.p2p_pair_share == default.family_share == default.shared_deposit_share == 0
    assert default.short_bot_share == default.secondary_hot_wallets == default.unlabelled_ring_share == 0
    assert default.old_contract_share == default.label_drop_share == default.label_wrong_share == 0
    assert not default.public_labels and default.sybil_topologies == (("star", 1.0),)


# ----- random worlds --------------------------------------------------------------------------


def test_random_world_config_is_deterministic_in_its_seed_and_differs_between_seeds() -> None:
    assert random_world_config(5) == random_world_config(5)
    configs = [random_world_config(s) for s in range(40)]
    assert len({c.describe() for c in configs}) == 40
    assert all(c.seed == s for s, c in enumerate(configs))


def test_random_worlds_cover_the_documented_ranges() -> None:
    configs = [random_world_config(s) for s in range(200)]
    days = [c.days for c in configs]
    assert min(days) < 14 and max(days) > 250 and all(7 <= d <= 366 for d in days)
    assert all(2_000 <= c.n_wallets <= 6_000 for c in configs)
    assert all(c.days * c.activity <= 240.0 + 1e-6 for c in configs)
    # Each structure is on in some worlds and off in others.
    for knob in (
        "p2p_pair_share",
        "family_share",
        "shared_deposit_share",
        "short_bot_share",
        "secondary_hot_wallets",
        "unlabelled_ring_share",
        "old_contract_share",
        "label_drop_share",
        "label_wrong_share",
        "public_labels",
    ):
        values = [getattr(c, knob) for c in configs]
        assert any(values) and not all(values), knob
    topologies = {t for c in configs for t, v in c.sybil_topologies if v > 0}
    assert topologies == set(SYBIL_TOPOLOGIES)
    small = random_world_config(3, n_wallets_range=(300, 400))
    assert 300 <= small.n_wallets <= 400


def test_describe_is_one_line_that_names_the_knobs_a_world_changed() -> None:
    line = RICH.describe()
    assert "\n" not in line
    assert line.startswith("seed=3 n_wallets=2400 start=2024-07-01 days=30")
    assert "public_labels=True" in line and "secondary_hot_wallets=2" in line
    assert "p2p_pair_share" not in SimulatorConfig().describe()


@pytest.mark.parametrize("seed", [1, 4])
def test_random_worlds_are_consistent_chains_with_truth_for_every_address(seed: int) -> None:
    config = dataclasses.replace(random_world_config(seed, n_wallets_range=(1_500, 2_500)), chunk_wallets=900)
    con = duckdb.connect()
    load_simulation(con, config)
    assert one(con, "select count(*) - count(distinct hash) from raw.transactions") == 0
    assert (
        one(con, "select count(*) - count(distinct (transaction_hash, log_index)) from raw.token_transfers")
        == 0
    )
    gaps = one(
        con,
        "select count(*) from (select nonce, lag(nonce) over (partition by from_address "
        "order by block_number, transaction_index) as prev from raw.transactions) "
        "where prev is not null and nonce <> prev + 1",
    )
    assert gaps == 0
    missing = one(
        con,
        "select count(*) from (select from_address as a from raw.transactions "
        "union select to_address from raw.transactions union select from_address from raw.token_transfers "
        "union select to_address from raw.token_transfers union select from_address from raw.traces "
        "union select to_address from raw.traces) "
        "where a is not null and a <> '0x' || repeat('0', 40) "
        "and a not in (select address from ground_truth.wallets)",
    )
    assert missing == 0
    outside = one(
        con,
        f"select count(*) from raw.transactions where block_timestamp < timestamp '{config.start_date}' "
        f"or block_timestamp >= timestamp '{config.start_date}' + interval {config.days} day",
    )
    assert outside == 0
    assert set(r[0] for r in rows(con, "select distinct label_type from raw.address_labels")) <= set(
        LABEL_TYPES
    )


# ----- short windows --------------------------------------------------------------------------


def test_a_seven_day_world_loads_with_its_rugs_airdrop_and_peel_chain_inside_the_window() -> None:
    config = SimulatorConfig(seed=5, n_wallets=1_500, days=7)
    con = duckdb.connect()
    report = load_simulation(con, config)
    assert report.row_counts["transactions"] > 1_000
    end = f"timestamp '{config.start_date}' + interval 7 day"
    assert one(con, f"select max(block_timestamp) < {end} from raw.transactions")
    # Every scam token was rugged: liquidity pulled (0x02751cec) or the deployer dumped into its pool.
    tokens = rows(
        con,
        "select address, creator_address from ground_truth.tokens where is_scam and entity_id like 'scam%'",
    )
    assert tokens
    for token, deployer in tokens:
        rugged = one(
            con,
            "select count(*) from raw.transactions t "
            "join raw.token_transfers x on x.transaction_hash = t.hash "
            f"where t.from_address = '{deployer}' and x.token_address = '{token}' "
            "and (t.input = '0x02751cec' or (t.input = '0x18cbafe5' and x.from_address = t.from_address))",
        )
        assert rugged == 1, token
    # What had to be compressed is on record.
    notes = one(
        con, "select string_agg(description, ' ') from ground_truth.entities where entity_type = 'scam_ring'"
    )
    assert "to fit the window" in notes
    claims = one(
        con,
        "select count(*) from raw.transactions t join ground_truth.wallets w on w.address = t.from_address "
        "where t.input = '0x2e7ba6ef' and w.persona = 'airdrop_farmer'",
    )
    assert claims > 0
    # The peel chain reaches its wash-ring sink before the window ends.
    sink_paid = one(
        con,
        "select count(*) from raw.transactions t join ground_truth.wallets a on a.address = t.from_address "
        "join ground_truth.wallets b on b.address = t.to_address "
        "where a.role = 'bridge' and a.entity_type = 'launderer' and b.entity_type = 'wash_ring'",
    )
    assert sink_paid == 1


def test_a_year_long_world_loads() -> None:
    config = SimulatorConfig(seed=2, n_wallets=400, days=365, activity=0.5)
    con = duckdb.connect()
    load_simulation(con, config)
    span = one(
        con, "select date_diff('day', min(block_timestamp), max(block_timestamp)) from raw.transactions"
    )
    assert span > 300


# ----- sybil topologies -----------------------------------------------------------------------


def _farm_funding(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """For each sybil farm: member or relay -> the address that first sent it ETH."""
    out: dict[str, dict[str, str]] = {}
    for entity, address, sender in rows(
        con,
        "select w.entity_id, w.address, arg_min(t.from_address, (t.block_number, t.transaction_index)) "
        "from ground_truth.wallets w join raw.transactions t on t.to_address = w.address and t.value > 0 "
        "where w.entity_type = 'sybil_farm' and w.role in ('member', 'relay') group by all",
    ):
        out.setdefault(entity, {})[address] = sender
    return out


def _spent_before_funded(con: duckdb.DuckDBPyConnection) -> int:
    """Farm funders, members and relays whose first transaction precedes the first ETH they get."""
    return one(
        con,
        "with firsts as (select w.address, "
        "min((t.block_number, t.transaction_index)) filter (where t.to_address = w.address and t.value > 0) "
        "as first_in, min((t.block_number, t.transaction_index)) filter (where t.from_address = w.address) "
        "as first_out from ground_truth.wallets w "
        "join raw.transactions t on w.address in (t.from_address, t.to_address) "
        "where w.entity_type = 'sybil_farm' and w.role in ('funder', 'member', 'relay') group by w.address) "
        "select count(*) from firsts where first_out < first_in",
    )


def test_relay_tree_farm_members_are_reached_from_the_funder_only_through_relays() -> None:
    con = duckdb.connect()
    load_simulation(
        con, SimulatorConfig(seed=8, n_wallets=1_500, days=30, sybil_topologies=(("relay_tree", 1.0),))
    )
    roles = dict(rows(con, "select address, role from ground_truth.wallets where entity_type = 'sybil_farm'"))
    descriptions = [
        r[0]
        for r in rows(con, "select description from ground_truth.entities where entity_type = 'sybil_farm'")
    ]
    assert descriptions and all(d.startswith("Relay tree") for d in descriptions)
    for entity, first_sender in _farm_funding(con).items():
        funder = one(
            con, f"select address from ground_truth.wallets where entity_id = '{entity}' and role = 'funder'"
        )
        relays = {a for a, s in first_sender.items() if roles[a] == "relay"}
        members = {a for a in first_sender if roles[a] == "member"}
        assert 2 <= len(relays) <= 5 and len(members) >= 20
        assert all(first_sender[r] == funder for r in relays)
        assert all(first_sender[m] in relays for m in members)
        persona = {
            r[0]
            for r in rows(
                con,
                f"select persona from ground_truth.wallets where entity_id = '{entity}' and role = 'relay'",
            )
        }
        assert persona == {"dormant"}
    assert _spent_before_funded(con) == 0


def test_chain_farm_members_are_funded_one_after_another() -> None:
    con = duckdb.connect()
    load_simulation(
        con, SimulatorConfig(seed=8, n_wallets=1_500, days=30, sybil_topologies=(("chain", 1.0),))
    )
    for entity, first_sender in _farm_funding(con).items():
        funder = one(
            con, f"select address from ground_truth.wallets where entity_id = '{entity}' and role = 'funder'"
        )
        members = set(first_sender)
        # Exactly one member is funded by the funder; every other by another member, one each.
        assert sum(1 for s in first_sender.values() if s == funder) == 1
        others = [s for s in first_sender.values() if s != funder]
        assert set(others) <= members and len(set(others)) == len(others) == len(members) - 1
        # Following the chain from the funder visits every member.
        nxt = {s: a for a, s in first_sender.items()}
        seen, at = 0, funder
        while at in nxt:
            at, seen = nxt[at], seen + 1
        assert seen == len(members)
    assert _spent_before_funded(con) == 0


def test_disperse_farm_members_get_their_eth_only_as_internal_calls_of_the_funders_one_call() -> None:
    con = duckdb.connect()
    load_simulation(
        con, SimulatorConfig(seed=8, n_wallets=1_500, days=30, sybil_topologies=(("disperse", 1.0),))
    )
    farm_sql = "select description from ground_truth.entities where entity_type = 'sybil_farm'"
    descriptions = [r[0] for r in rows(con, farm_sql)]
    assert descriptions and all(d.startswith("Disperse:") for d in descriptions)
    farms = rows(
        con,
        "select w.entity_id, any_value(w.address) filter (where w.role = 'funder'), "
        "list(w.address) filter (where w.role = 'member') "
        "from ground_truth.wallets w where w.entity_type = 'sybil_farm' group by all",
    )
    for _, funder, members in farms:
        (tx_hash, contract, value) = rows(
            con,
            f"select hash, to_address, value from raw.transactions where from_address = '{funder}' "
            "and input like '0xe63d38ed%'",
        )[0]
        internal = rows(
            con,
            f"select to_address, value, from_address from raw.traces where transaction_hash = '{tx_hash}' "
            "and trace_address is not null order by trace_address::int",
        )
        # Every member is paid once, by the contract, and the calls add up to the funder's value.
        assert sorted(r[0] for r in internal) == sorted(members)
        assert {r[2] for r in internal} == {contract}
        assert sum(r[1] for r in internal) == value
        assert len({r[1] for r in internal}) == 1
        top = rows(
            con,
            "select from_address, to_address, value from raw.traces "
            f"where transaction_hash = '{tx_hash}' and trace_address is null",
        )
        assert top == [(funder, contract, value)]
        # No member has a transaction from the funder: the link is only in the traces.
        direct = one(
            con,
            f"select count(*) from raw.transactions where from_address = '{funder}' "
            f"and to_address in (select unnest({list(members)!r}))",
        )
        assert direct == 0
    assert one(con, "select count(*) from ground_truth.wallets where role = 'disperse'") == 1


def test_a_disperse_world_written_as_files_loads_the_same_traces(tmp_path: Path) -> None:
    config = SimulatorConfig(seed=8, n_wallets=600, days=14, sybil_topologies=(("disperse", 1.0),))
    direct = duckdb.connect()
    load_simulation(direct, config)
    write_etl_files(config, tmp_path / "export", fmt="csv.gz")
    files = duckdb.connect()
    report = load_etl_files(files, tmp_path / "export")
    assert report.tables["traces"].rows_rejected == 0
    query = "select * from raw.traces order by all"
    expected = rows(direct, query)
    assert len(expected) > 20 and rows(files, query) == expected


# ----- the rich world: every structure on -----------------------------------------------------


def test_the_rich_world_holds_every_topology_and_new_role(rich: duckdb.DuckDBPyConnection) -> None:
    roles = dict(rows(rich, "select role, count(*) from ground_truth.wallets group by role"))
    for role in ("relay", "secondary_hot_wallet", "shared_deposit_address", "short_lived_bot"):
        assert roles.get(role, 0) > 0, role
    descriptions = [
        r[0]
        for r in rows(rich, "select description from ground_truth.entities where entity_type = 'sybil_farm'")
    ]
    assert {d.split(":")[0] for d in descriptions} >= {"Relay tree", "Funding chain", "Disperse"}
    # Entity sizes count the new addresses: relays, second-tier hot wallets, shared deposits.
    miscounted = one(
        rich,
        "select count(*) from ground_truth.entities e where e.n_wallets <> (select count(*) "
        "from ground_truth.wallets w where w.entity_id = e.entity_id and not w.is_contract)",
    )
    assert miscounted == 0


def test_unlabelled_rings_have_no_label_rows(rich: duckdb.DuckDBPyConnection) -> None:
    ring_addresses = one(
        rich,
        "select count(*) from ground_truth.wallets where entity_type in ('scam_ring', 'wash_ring')",
    )
    assert ring_addresses > 0
    labelled = one(
        rich,
        "select count(*) from raw.address_labels l join ground_truth.wallets w on w.address = l.address "
        "where w.entity_type in ('scam_ring', 'wash_ring')",
    )
    assert labelled == 0
    descriptions = [
        r[0]
        for r in rows(rich, "select description from ground_truth.entities where entity_type = 'scam_ring'")
    ]
    assert all("no address of the ring carries a label" in d for d in descriptions)


def test_old_contracts_are_listed_before_the_window_without_a_creating_transaction(
    rich: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    first_block = one(rich, "select min(block_number) from raw.transactions")
    old = rows(
        rich, "select address, block_number from raw.contract_creations where transaction_hash is null"
    )
    assert len(old) > 10
    assert all(b < first_block for _, b in old)
    assert (
        one(
            rich,
            "select count(*) from raw.contract_creations "
            "where transaction_hash is null and creator_address is not null",
        )
        == 0
    )
    # Old pools and tokens are used inside the window all the same.
    used = one(
        rich,
        "select count(distinct c.address) from raw.contract_creations c join raw.transactions t "
        "on t.to_address = c.address where c.transaction_hash is null",
    )
    assert used > 5
    write_etl_files(RICH, tmp_path, "parquet", trade_tables=False)
    con = duckdb.connect()
    files = {
        n: f"read_parquet('{tmp_path / n}.parquet')"
        for n in ("contracts", "tokens", "blocks", "transactions")
    }
    orphan = one(
        con,
        f"select count(*) from {files['contracts']} c "
        f"where c.block_number not in (select number from {files['blocks']})",
    )
    assert orphan == len(old)
    created_in_window = one(
        con,
        f"select count(*) from {files['contracts']} c join {files['transactions']} t "
        "on t.receipt_contract_address = c.address",
    )
    assert created_in_window == one(rich, "select count(*) from raw.contract_creations") - len(old)
    old_tokens = one(con, f"select count(*) from {files['tokens']} where block_number < {first_block}")
    assert old_tokens > 0


def test_noisy_label_feed_uses_public_vocabularies_and_misses_and_invents_labels(
    rich: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    write_etl_files(RICH, tmp_path, "csv", trade_tables=False)
    feed = duckdb.connect().execute(f"select * from read_csv('{tmp_path / 'labels.csv'}')").fetchall()
    types = {r[1] for r in feed}
    assert types & PUBLIC_TYPES
    assert not types <= set(LABEL_TYPES)
    names = [r[2] for r in feed if r[2]]
    assert any(n.rsplit(" ", 1)[0] in PUBLIC_EXCHANGE_NAMES and n.rsplit(" ", 1)[-1].isdigit() for n in names)
    # The direct load maps every public spelling back onto the raw label types.
    assert {r[0] for r in rows(rich, "select distinct label_type from raw.address_labels")} <= set(
        LABEL_TYPES
    )
    # Wrong labels: exchange or scam labels on ordinary wallets that are neither.
    wrong = one(
        rich,
        "select count(*) from raw.address_labels l join ground_truth.wallets w on w.address = l.address "
        "where (l.label_type = 'exchange' and w.persona not in ('exchange', 'deposit_address')) "
        "or (l.label_type = 'scam' and not w.is_malicious)",
    )
    assert wrong > 0
    # Dropped labels: the noiseless feed of the same world has more true labels.
    clean = dataclasses.replace(RICH, label_drop_share=0.0, label_wrong_share=0.0)
    clean_labels = next(t for name, t in simulate_arrow(clean) if name == "address_labels")
    assert len(feed) - wrong < clean_labels.num_rows


def test_shared_deposit_addresses_belong_to_the_exchange_and_serve_unrelated_users(
    rich: duckdb.DuckDBPyConnection,
) -> None:
    shared = rows(
        rich,
        "with paid as (select from_address as a, to_address as b from raw.transactions "
        "union all select from_address, to_address from raw.token_transfers) "
        "select w.address, w.entity_type, count(distinct u.entity_id) "
        "from ground_truth.wallets w join paid on paid.b = w.address "
        "join ground_truth.wallets u on u.address = paid.a and u.entity_type = 'exchange_user' "
        "where w.role = 'shared_deposit_address' group by all",
    )
    assert shared
    assert all(entity_type == "exchange" and users >= 2 for _, entity_type, users in shared)
    # They forward ETH and tokens only to hot wallets of the exchange they belong to.
    sweeps = rows(
        rich,
        "with sent as (select from_address as a, to_address as b from raw.transactions where input = '0x' "
        "union all select from_address, to_address from raw.token_transfers) "
        "select h.role = 'hot_wallet' and h.entity_id = d.entity_id, count(*) from sent "
        "join ground_truth.wallets d on d.address = sent.a join ground_truth.wallets h on h.address = sent.b "
        "where d.role = 'shared_deposit_address' group by all",
    )
    assert dict(sweeps).get(True, 0) > 0 and dict(sweeps).get(False, 0) == 0
    # A user who shares keeps its own entity, counted without the address.
    counted = one(
        rich,
        "select count(*) from ground_truth.entities e where e.description like '%shared with unrelated%' "
        "and e.n_wallets <> (select count(*) from ground_truth.wallets w where w.entity_id = e.entity_id)",
    )
    assert counted == 0


def _repeat_pairs(con: duckdb.DuckDBPyConnection, related: bool = False) -> int:
    """Unordered pairs of ordinary wallets with at least three direct payments.

    Pairs of unrelated wallets, or with `related` of wallets of one entity.
    """
    same = (
        "oa.entity_id = ob.entity_id"
        if related
        else "oa.entity_id is distinct from ob.entity_id or oa.entity_id is null"
    )
    return one(
        con,
        "with pay as (select from_address as a, to_address as b from raw.transactions where value > 0 "
        "union all select x.from_address, x.to_address from raw.token_transfers x "
        "join raw.transactions t on t.hash = x.transaction_hash and t.from_address = x.from_address), "
        "ordinary as (select address, entity_id from ground_truth.wallets "
        "where persona in ('retail_trader', 'nft_trader', 'whale')) "
        "select count(*) from (select least(a, b) as l, greatest(a, b) as g from pay "
        "join ordinary oa on oa.address = pay.a join ordinary ob on ob.address = pay.b "
        f"where {same} "
        "group by all having count(*) >= 3)",
    )


def _paying_triangles(con: duckdb.DuckDBPyConnection) -> int:
    """Triangles of unrelated ordinary wallets where each pair paid each other at least twice."""
    return one(
        con,
        "with pay as (select from_address as a, to_address as b from raw.transactions where value > 0 "
        "union all select x.from_address, x.to_address from raw.token_transfers x "
        "join raw.transactions t on t.hash = x.transaction_hash and t.from_address = x.from_address), "
        "ordinary as (select address, coalesce(entity_id, address) as owner from ground_truth.wallets "
        "where persona in ('retail_trader', 'nft_trader', 'whale')), "
        "edges as (select least(a, b) as l, greatest(a, b) as g from pay "
        "join ordinary oa on oa.address = pay.a join ordinary ob on ob.address = pay.b "
        "where oa.owner <> ob.owner group by all having count(*) >= 2) "
        "select count(*) from edges e1 join edges e2 on e2.l = e1.g "
        "join edges e3 on e3.l = e1.l and e3.g = e2.g",
    )


def test_p2p_payments_and_families_repeat_payments_between_unrelated_wallets(
    rich: duckdb.DuckDBPyConnection,
) -> None:
    plain = duckdb.connect()
    load_simulation(plain, dataclasses.replace(RICH, p2p_pair_share=0.0, family_share=0.0))
    assert _repeat_pairs(rich) > 5 * max(_repeat_pairs(plain), 10)
    # Families: groups of three or more who all pay each other, which pairs and chance rarely give.
    assert _paying_triangles(rich) > 10 * max(_paying_triangles(plain), 1)
    # The people who pay each other are different owners, never two wallets of one user.
    assert _repeat_pairs(rich, related=True) == _repeat_pairs(plain, related=True)


def test_short_lived_bots_run_one_or_two_days_with_fifty_to_150_transactions(
    rich: duckdb.DuckDBPyConnection,
) -> None:
    bots = rows(
        rich,
        "select count(*), date_diff('second', min(block_timestamp), max(block_timestamp)) / 86400 "
        "from raw.transactions t join ground_truth.wallets w on w.address = t.from_address "
        "where w.role = 'short_lived_bot' group by t.from_address",
    )
    assert bots
    assert all(50 <= n <= 150 and days <= 2.1 for n, days in bots)
    personas = {
        r[0] for r in rows(rich, "select persona from ground_truth.wallets where role = 'short_lived_bot'")
    }
    assert personas == {"hf_bot"}


def test_secondary_hot_wallets_are_fed_by_their_exchange_and_pay_many_users(
    rich: duckdb.DuckDBPyConnection,
) -> None:
    tiers = rows(
        rich,
        "select s.address, "
        "count(distinct t.to_address) filter (where t.from_address = s.address), "
        "count(*) filter (where t.to_address = s.address and h.role = 'hot_wallet' "
        "and h.entity_id = s.entity_id), "
        "count(*) filter (where t.to_address = s.address "
        "and (h.role is distinct from 'hot_wallet' or h.entity_id <> s.entity_id)) "
        "from ground_truth.wallets s join raw.transactions t on s.address in (t.from_address, t.to_address) "
        "left join ground_truth.wallets h on h.address = t.from_address "
        "where s.role = 'secondary_hot_wallet' group by s.address",
    )
    assert len(tiers) == 2 * one(
        rich, "select count(*) from ground_truth.entities where entity_type = 'exchange'"
    )
    assert all(paid > 10 and fed > 0 and other == 0 for _, paid, fed, other in tiers)


def test_load_truth_writes_the_same_ground_truth_as_load_simulation_and_no_raw_table(
    rich: duckdb.DuckDBPyConnection,
) -> None:
    con = duckdb.connect()
    counts = load_truth(con, RICH)
    assert one(con, "select count(*) from information_schema.tables where table_schema = 'raw'") == 0
    assert set(r[0] for r in rows(con, "select table_name from information_schema.tables")) == {
        "wallets",
        "entities",
        "tokens",
    }
    for name in ("wallets", "entities", "tokens"):
        assert counts[f"ground_truth.{name}"] == one(rich, f"select count(*) from ground_truth.{name}")
        mine = con.execute(f"select * from ground_truth.{name} order by all").fetchall()
        theirs = rich.execute(f"select * from ground_truth.{name} order by all").fetchall()
        assert mine == theirs, name


def test_an_export_without_trade_tables_holds_the_same_other_files(tmp_path: Path) -> None:
    config = SimulatorConfig(seed=4, n_wallets=400, days=14)
    full = write_etl_files(config, tmp_path / "full", "csv")
    pure = write_etl_files(config, tmp_path / "pure", "csv", trade_tables=False)
    assert set(full) - set(pure) == {"dex_trades", "nft_trades"}
    assert not list((tmp_path / "pure").glob("*trades*"))
    for name, paths in pure.items():
        # Same rows; the balances file's row order is not fixed.
        lines = sorted(paths[0].read_text().splitlines())
        assert lines == sorted(full[name][0].read_text().splitlines()), name


def test_the_rich_world_read_back_from_its_export_gives_the_same_raw_tables(
    rich: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    write_etl_files(RICH, tmp_path, "csv")
    files = duckdb.connect()
    load_etl_files(files, tmp_path)
    for table in (
        "transactions",
        "token_transfers",
        "contract_creations",
        "tokens",
        "address_labels",
        "dex_trades",
        "nft_trades",
    ):
        columns = [
            r[0]
            for r in rows(
                rich,
                "select column_name from information_schema.columns "
                f"where table_schema = 'raw' and table_name = '{table}' order by ordinal_position",
            )
        ]
        select = f"select {', '.join(columns)} from raw.{table} order by all"
        assert rich.execute(select).fetchall() == files.execute(select).fetchall(), table
