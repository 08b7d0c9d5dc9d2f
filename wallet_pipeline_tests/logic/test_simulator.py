"""The chain simulator: reproducible, internally consistent, and holding the structure it plants."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from wallet_pipeline.logic.ingestion.raw_schema import (
    ADDRESS_PATTERN,
    HASH_PATTERN,
    LABEL_TYPES,
    RAW_TABLES,
    ZERO_ADDRESS,
)
from wallet_pipeline.logic.ingestion.simulator import (
    PERSONAS,
    SimulatorConfig,
    load_simulation,
    simulate,
    simulate_arrow,
    write_etl_files,
)
from wallet_pipeline.logic.ingestion.simulator.encoding import LOOKALIKE_PREFIX, LOOKALIKE_SUFFIX

# Two chunks, so that hot wallets and poisoners act from both and their nonces must still line up.
SMALL = SimulatorConfig(seed=7, n_wallets=1_500, days=30, chunk_wallets=800)
TINY = SimulatorConfig(seed=11, n_wallets=300, days=14)
EVENT_TABLES = ("transactions", "token_transfers", "dex_trades", "nft_trades")
KEYS = {
    **{name: list(t.key) for name, t in RAW_TABLES.items()},
    "ground_truth.wallets": ["address"],
    "ground_truth.entities": ["entity_id"],
    "ground_truth.tokens": ["address"],
}


@pytest.fixture(scope="module")
def sim() -> Iterator[duckdb.DuckDBPyConnection]:
    """One small simulation loaded into DuckDB, shared by the read-only checks."""
    con = duckdb.connect()
    load_simulation(con, SMALL)
    yield con
    con.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def one(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    return con.execute(sql).fetchone()[0]


def digests(config: SimulatorConfig) -> dict[str, str]:
    """A hash of each table's rows in key order, independent of chunking order."""
    parts: dict[str, list[pa.Table]] = {}
    for table, chunk in simulate_arrow(config):
        parts.setdefault(table, []).append(chunk)
    out = {}
    for table, chunks in parts.items():
        whole = pa.concat_tables(chunks).sort_by([(k, "ascending") for k in KEYS[table]])
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, whole.schema) as writer:
            writer.write_table(whole)
        out[table] = hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
    return out


# ----- reproducibility ------------------------------------------------------------------------


def test_the_same_seed_gives_identical_tables_so_runs_are_reproducible() -> None:
    assert digests(TINY) == digests(TINY)


def test_a_different_seed_gives_different_addresses_and_activity() -> None:
    a, b = digests(TINY), digests(SimulatorConfig(seed=12, n_wallets=300, days=14))
    assert a.keys() == b.keys()
    assert all(a[t] != b[t] for t in a)


def test_simulate_yields_raw_tables_and_ground_truth_with_raw_column_names() -> None:
    seen = set()
    for table, frame in simulate(TINY):
        assert isinstance(frame, pd.DataFrame)
        seen.add(table)
        if table in RAW_TABLES:
            assert set(frame.columns) <= set(RAW_TABLES[table].column_names)
    assert seen == {
        "transactions",
        "token_transfers",
        "dex_trades",
        "nft_trades",
        "contract_creations",
        "tokens",
        "address_labels",
        "ground_truth.wallets",
        "ground_truth.entities",
        "ground_truth.tokens",
    }


# ----- chain consistency ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "hash_col", "time_col"),
    [
        ("token_transfers", "transaction_hash", "block_timestamp"),
        ("dex_trades", "tx_hash", "block_time"),
        ("nft_trades", "tx_hash", "block_time"),
    ],
)
def test_every_event_belongs_to_a_transaction_of_the_same_block_and_time(
    sim: duckdb.DuckDBPyConnection, table: str, hash_col: str, time_col: str
) -> None:
    assert one(sim, f"select count(*) from raw.{table}") > 0
    orphans = one(
        sim,
        f"""select count(*) from raw.{table} e left join raw.transactions t on t.hash = e.{hash_col}
            where t.hash is null or t.block_number <> e.block_number or t.block_timestamp <> e.{time_col}
               or t.receipt_status <> 1""",
    )
    assert orphans == 0


def test_trades_name_the_transaction_sender_and_the_called_contract(sim: duckdb.DuckDBPyConnection) -> None:
    for table in ("dex_trades", "nft_trades"):
        bad = one(
            sim,
            f"""select count(*) from raw.{table} e join raw.transactions t on t.hash = e.tx_hash
                where e.tx_from <> t.from_address or e.tx_to <> t.to_address""",
        )
        assert bad == 0
    # The buyer pays the listed price with the transaction itself.
    assert (
        one(
            sim,
            "select count(*) from raw.nft_trades e join raw.transactions t on t.hash = e.tx_hash "
            "where t.value <> e.amount_raw or e.buyer <> t.from_address",
        )
        == 0
    )


def test_contracts_never_send_transactions(sim: duckdb.DuckDBPyConnection) -> None:
    assert (
        one(
            sim,
            "select count(*) from raw.transactions t join raw.contract_creations c "
            "on c.address = t.from_address",
        )
        == 0
    )
    assert (
        one(
            sim,
            "select count(*) from raw.transactions t join ground_truth.wallets g "
            "on g.address = t.from_address where g.is_contract",
        )
        == 0
    )


def test_every_contract_is_created_by_a_transaction_before_anyone_calls_it(
    sim: duckdb.DuckDBPyConnection,
) -> None:
    assert (
        one(
            sim,
            """select count(*) from raw.contract_creations c left join raw.transactions t on t.hash =
                c.transaction_hash
           where t.receipt_contract_address is distinct from c.address or t.from_address <>
           c.creator_address""",
        )
        == 0
    )
    early = one(
        sim,
        """select count(*) from raw.transactions t join raw.contract_creations c on c.address = t.to_address
           where t.block_number < c.block_number""",
    )
    assert early == 0


def test_addresses_and_hashes_are_lower_case_hex_of_the_right_length(sim: duckdb.DuckDBPyConnection) -> None:
    checks = {
        "transactions": {
            "hash": HASH_PATTERN,
            "block_hash": HASH_PATTERN,
            "from_address": ADDRESS_PATTERN,
            "to_address": ADDRESS_PATTERN,
            "receipt_contract_address": ADDRESS_PATTERN,
        },
        "token_transfers": {
            "token_address": ADDRESS_PATTERN,
            "from_address": ADDRESS_PATTERN,
            "to_address": ADDRESS_PATTERN,
            "transaction_hash": HASH_PATTERN,
        },
        "dex_trades": {"taker": ADDRESS_PATTERN, "project_contract_address": ADDRESS_PATTERN},
        "nft_trades": {"buyer": ADDRESS_PATTERN, "seller": ADDRESS_PATTERN},
        "contract_creations": {"address": ADDRESS_PATTERN, "creator_address": ADDRESS_PATTERN},
    }
    for table, cols in checks.items():
        for col, pattern in cols.items():
            bad = one(
                sim,
                f"select count(*) from raw.{table} where {col} is not null "
                f"and not regexp_full_match({col}, '{pattern[1:-1]}')",
            )
            assert bad == 0, (table, col)
    assert (
        one(
            sim,
            "select count(*) from raw.transactions where to_address is null "
            "and receipt_contract_address is null",
        )
        == 0
    )


def test_blocks_are_twelve_seconds_apart_with_one_hash_and_time_each(sim: duckdb.DuckDBPyConnection) -> None:
    per_block = rows(
        sim,
        """select count(distinct block_hash), count(distinct block_timestamp) from raw.transactions
           group by block_number having count(distinct block_hash) > 1 or count(distinct block_timestamp) >
           1""",
    )
    assert per_block == []
    blocks = sim.execute(
        "select distinct block_number, epoch(block_timestamp) ts from raw.transactions order by 1"
    ).df()
    dn, dt = blocks["block_number"].diff().iloc[1:], blocks["ts"].diff().iloc[1:]
    assert (dt > 0).all()
    # Missed slots make some gaps 24 s; the average stays close to 12 s.
    assert 12.0 <= (dt / dn).median() <= 12.5
    lo, hi = rows(sim, "select min(block_timestamp), max(block_timestamp) from raw.transactions")[0]
    start = pd.Timestamp(SMALL.start_date)
    assert start <= lo and hi < start + pd.Timedelta(days=SMALL.days)


def test_positions_in_a_block_are_unique_across_independently_generated_chunks(
    sim: duckdb.DuckDBPyConnection,
) -> None:
    assert (
        one(sim, "select count(*) - count(distinct (block_number, transaction_index)) from raw.transactions")
        == 0
    )
    logs = """select block_number, log_index from raw.token_transfers
              union all select block_number, evt_index from raw.dex_trades
              union all select block_number, evt_index from raw.nft_trades"""
    assert one(sim, f"select count(*) - count(distinct (block_number, log_index)) from ({logs})") == 0


def test_each_senders_nonces_increase_by_one_in_chain_order(sim: duckdb.DuckDBPyConnection) -> None:
    gaps = one(
        sim,
        """select count(*) from (select nonce - lag(nonce) over w as step from raw.transactions
           window w as (partition by from_address order by block_number, transaction_index)) where step <>
           1""",
    )
    assert gaps == 0
    # Hot wallets send from every chunk and from the entity stream, and still count up.
    hot = one(
        sim,
        """select max(n) from (select count(*) n from raw.transactions t join ground_truth.wallets g
                      on g.address = t.from_address where g.role = 'hot_wallet' group by t.from_address)""",
    )
    assert hot > 50


def test_eth_values_are_exact_wei_integers_beyond_int64(sim: duckdb.DuckDBPyConnection) -> None:
    assert one(sim, "select max(value) from raw.transactions") > 2**63
    # Swaps carry WETH with exactly the ETH the transaction sent.
    mismatched = one(
        sim,
        """select count(*) from raw.transactions t join raw.token_transfers e on e.transaction_hash = t.hash
           join raw.tokens k on k.address = e.token_address and k.symbol = 'WETH'
           where t.input = '0x7ff36ab5' and cast(e.value as hugeint) <> t.value""",
    )
    assert mismatched == 0
    assert (
        one(sim, "select count(*) from raw.token_transfers where not regexp_full_match(value, '[0-9]+')") == 0
    )


def test_bots_fail_some_transactions_and_other_wallets_rarely_do(sim: duckdb.DuckDBPyConnection) -> None:
    failed = dict(
        rows(
            sim,
            """select g.persona, avg((t.receipt_status = 0)::int) from raw.transactions t
                               join ground_truth.wallets g on g.address = t.from_address group by 1""",
        )
    )
    assert 0.03 < failed["hf_bot"] < 0.3
    assert failed["retail_trader"] == 0


def test_most_transactions_are_eip1559_with_a_method_selector_or_empty_input(
    sim: duckdb.DuckDBPyConnection,
) -> None:
    share = one(sim, "select avg((transaction_type = 2)::int) from raw.transactions")
    assert 0.9 < share < 1.0
    assert (
        one(
            sim,
            "select count(*) from raw.transactions where input = '0x' and value = 0 "
            "and to_address is not null and receipt_status = 1",
        )
        == 0
    )
    assert one(sim, "select count(*) from raw.transactions where input <> '0x' and length(input) < 10") == 0
    assert (
        one(
            sim,
            "select count(*) from raw.transactions where receipt_gas_used > gas "
            "or receipt_effective_gas_price <> gas_price",
        )
        == 0
    )


# ----- ground truth -----------------------------------------------------------------------------


def test_ground_truth_names_every_wallet_and_contract_of_the_raw_tables(
    sim: duckdb.DuckDBPyConnection,
) -> None:
    addresses = """
        select from_address a from raw.transactions union select to_address from raw.transactions
        union select token_address from raw.token_transfers union select from_address from raw.token_transfers
        union select to_address from raw.token_transfers union select taker from raw.dex_trades
        union select project_contract_address from raw.dex_trades union select buyer from raw.nft_trades
        union select seller from raw.nft_trades union select nft_contract_address from raw.nft_trades
        union select address from raw.contract_creations union select creator_address from
        raw.contract_creations
        union select address from raw.address_labels union select address from raw.tokens"""
    missing = one(
        sim,
        f"""select count(*) from ({addresses}) x left join ground_truth.wallets g on g.address = x.a
                          where x.a is not null and x.a <> '{ZERO_ADDRESS}' and g.address is null""",
    )
    assert missing == 0
    assert one(sim, "select count(*) - count(distinct address) from ground_truth.wallets") == 0


def test_ground_truth_uses_the_documented_vocabulary_and_links_entities(
    sim: duckdb.DuckDBPyConnection,
) -> None:
    personas = {r[0] for r in rows(sim, "select distinct persona from ground_truth.wallets")}
    assert personas == set(PERSONAS)
    assert (
        one(
            sim,
            """select count(*) from ground_truth.wallets g left join ground_truth.entities e using (entity_id)
                       where g.entity_id is not null and (e.entity_id is null or e.entity_type <>
                       g.entity_type)""",
        )
        == 0
    )
    types = {r[0] for r in rows(sim, "select distinct entity_type from ground_truth.entities")}
    assert types >= {
        "sybil_farm",
        "scam_ring",
        "wash_ring",
        "launderer",
        "exchange",
        "exchange_user",
        "airdrop",
        "poisoner",
    }
    counted = one(
        sim,
        """select count(*) from ground_truth.entities e join (select entity_id, count(*) n
                          from ground_truth.wallets where not is_contract group by 1) w using (entity_id)
                          where w.n <> e.n_wallets""",
    )
    assert counted == 0
    assert (
        one(sim, "select count(*) from ground_truth.wallets where persona = 'contract' and not is_contract")
        == 0
    )
    assert (
        one(
            sim,
            """select count(*) from ground_truth.tokens t left join ground_truth.wallets g
                       on g.address = t.creator_address where g.address is null""",
        )
        == 0
    )


def test_most_ordinary_wallets_are_retail_or_dormant(sim: duckdb.DuckDBPyConnection) -> None:
    shares = dict(
        rows(
            sim,
            """select persona, count(*) / sum(count(*)) over () from ground_truth.wallets
                               where entity_id is null or entity_type = 'exchange_user' group by 1""",
        )
    )
    assert shares["retail_trader"] + shares["dormant"] > 0.7
    assert shares["hf_bot"] < 0.02


# ----- planted entities -------------------------------------------------------------------------


def test_sybil_members_are_funded_by_one_funder_within_hours_with_similar_amounts(
    sim: duckdb.DuckDBPyConnection,
) -> None:
    farms = rows(
        sim,
        """select m.entity_id, count(distinct t.from_address), count(*), max(t.value) / min(t.value),
                  epoch(max(t.block_timestamp)) - epoch(min(t.block_timestamp)),
                  (select count(*) from ground_truth.wallets x where x.entity_id = m.entity_id and x.role =
                  'member')
           from raw.transactions t join ground_truth.wallets m on m.address = t.to_address and m.role =
           'member'
           join ground_truth.wallets f on f.address = t.from_address and f.role = 'funder'
           where m.entity_type = 'sybil_farm' group by 1""",
    )
    assert farms
    for _farm, funders, funded, spread, seconds, members in farms:
        assert funders == 1 and funded == members >= 10
        assert spread < 1.05 and seconds < 6 * 3600


def test_sybil_members_repeat_the_same_contract_call_within_a_short_window(
    sim: duckdb.DuckDBPyConnection,
) -> None:
    farms = rows(
        sim,
        """with calls as (
             select m.entity_id, t.from_address, t.to_address, t.input, min(epoch(t.block_timestamp))
             first_call
             from raw.transactions t join ground_truth.wallets m on m.address = t.from_address and m.role =
             'member'
             where m.entity_type = 'sybil_farm' and t.input not in ('0x', '0xa9059cbb')
             group by all)
           select entity_id, to_address, input, count(*), max(first_call) - min(first_call) from calls
           group by all""",
    )
    members = dict(
        rows(
            sim,
            "select entity_id, count(*) from ground_truth.wallets where role = 'member' "
            "and entity_type = 'sybil_farm' group by 1",
        )
    )
    shared = [f for f in farms if f[3] == members[f[0]] and f[4] < 3 * 3600]
    assert {f[0] for f in shared} == set(members)


def test_sybil_members_sweep_their_funds_back_to_one_collector(sim: duckdb.DuckDBPyConnection) -> None:
    sweeps = rows(
        sim,
        """select m.entity_id, count(distinct t.to_address), count(distinct m.address)
           from raw.transactions t join ground_truth.wallets m on m.address = t.from_address and m.role =
           'member'
           join ground_truth.wallets c on c.address = t.to_address and c.role = 'collector'
           where m.entity_type = 'sybil_farm' and t.input = '0x' group by 1""",
    )
    members = dict(
        rows(
            sim,
            "select entity_id, count(*) from ground_truth.wallets where role = 'member' "
            "and entity_type = 'sybil_farm' group by 1",
        )
    )
    assert len(sweeps) == len(members)
    for entity, collectors, swept in sweeps:
        assert collectors == 1 and swept == members[entity]


def test_deposit_addresses_forward_only_to_hot_wallets_of_one_exchange(
    sim: duckdb.DuckDBPyConnection,
) -> None:
    forwards = sim.execute(
        """select t.from_address deposit, h.role, h.entity_id exchange
           from raw.transactions t join ground_truth.wallets d on d.address = t.from_address
           left join raw.token_transfers e on e.transaction_hash = t.hash
           join ground_truth.wallets h on h.address = coalesce(e.to_address, t.to_address)
           where d.persona = 'deposit_address'"""
    ).df()
    assert len(forwards) > 30
    assert (forwards["role"] == "hot_wallet").all()
    assert forwards.groupby("deposit")["exchange"].nunique().max() == 1
    # Only the user's own wallets pay into a user's deposit address.
    strangers = one(
        sim,
        """select count(*) from raw.transactions t join ground_truth.wallets d on d.address = t.to_address
           join ground_truth.wallets s on s.address = t.from_address
           where d.persona = 'deposit_address' and d.entity_type = 'exchange_user'
             and s.entity_id is distinct from d.entity_id""",
    )
    assert strangers == 0


def test_several_wallets_of_one_user_reuse_one_deposit_address(sim: duckdb.DuckDBPyConnection) -> None:
    shared = one(
        sim,
        """select count(*) from (select t.to_address from raw.transactions t
           join ground_truth.wallets d on d.address = t.to_address and d.persona = 'deposit_address'
           where d.entity_type = 'exchange_user' group by 1 having count(distinct t.from_address) >= 2)""",
    )
    assert shared >= 1


def test_scam_tokens_get_liquidity_then_victim_buys_then_a_rug_whose_proceeds_reach_the_collector(
    sim: duckdb.DuckDBPyConnection,
) -> None:
    tokens = rows(
        sim,
        """select t.address, t.entity_id, t.creator_address from ground_truth.tokens t
                          join ground_truth.entities e using (entity_id) where t.is_scam and e.entity_type
                          = 'scam_ring'""",
    )
    assert tokens
    collectors = dict(
        rows(
            sim,
            "select entity_id, address from ground_truth.wallets where role = 'collector' "
            "and entity_type = 'scam_ring'",
        )
    )
    for token, ring, deployer in tokens:
        buys = one(
            sim,
            f"""select count(distinct d.taker) from raw.dex_trades d join ground_truth.wallets g
                             on g.address = d.taker where d.token_bought_address = '{token}' and
                             g.entity_id is null""",
        )
        assert buys >= 1
        liquidity = one(
            sim,
            f"""select min(t.block_number) from raw.transactions t join raw.token_transfers e
                                  on e.transaction_hash = t.hash where t.from_address = '{deployer}'
                                  and t.input = '0xf305d719' and e.token_address = '{token}'""",
        )
        first_buy = one(
            sim, f"select min(block_number) from raw.dex_trades where token_bought_address = '{token}'"
        )
        rug = one(
            sim,
            f"""select max(t.block_number) from raw.transactions t join raw.token_transfers e
                            on e.transaction_hash = t.hash where t.from_address = '{deployer}'
                            and t.input in ('0x02751cec', '0x18cbafe5') and e.token_address = '{token}'""",
        )
        assert liquidity < first_buy < rug
        paid = one(
            sim,
            f"""select count(*) from raw.transactions where from_address = '{deployer}'
                             and to_address = '{collectors[ring]}' and block_number > {rug}""",
        )
        assert paid >= 1


def test_wash_rings_pass_the_same_asset_among_members_with_similar_amounts_on_a_schedule(
    sim: duckdb.DuckDBPyConnection,
) -> None:
    nft = sim.execute(
        """select n.token_id, n.amount_raw::double / 1e18 price, epoch(n.block_time) ts from raw.nft_trades n
           join ground_truth.wallets b on b.address = n.buyer join ground_truth.wallets s on s.address =
           n.seller
           where b.entity_type = 'wash_ring' and b.entity_id = s.entity_id"""
    ).df()
    assert nft.groupby("token_id").size().min() >= 5
    assert nft["price"].max() / nft["price"].min() < 1.05
    token = sim.execute(
        """select e.value::double v, epoch(e.block_timestamp) ts from raw.token_transfers e
           join raw.tokens k on k.address = e.token_address and k.decimals is not null
           join ground_truth.wallets a on a.address = e.from_address join ground_truth.wallets b on
           b.address = e.to_address
           where a.entity_type = 'wash_ring' and a.entity_id = b.entity_id order by ts"""
    ).df()
    assert len(token) >= 10
    assert token["v"].max() / token["v"].min() < 1.03
    gaps = token["ts"].diff().dropna()
    assert gaps.std() / gaps.mean() < 0.2


def test_a_peel_chain_forwards_most_of_each_balance_and_bridges_a_scam_ring_to_a_wash_ring(
    sim: duckdb.DuckDBPyConnection,
) -> None:
    hops = sim.execute(
        """select h.address, h.role,
              (select sum(value) from raw.transactions i where i.to_address = h.address) received,
              (select max(value) from raw.transactions o where o.from_address = h.address) forwarded,
              (select string_agg(distinct g.entity_type) from raw.transactions i join ground_truth.wallets g
                 on g.address = i.from_address where i.to_address = h.address) senders,
              (select string_agg(distinct g.entity_type) from raw.transactions o join ground_truth.wallets g
                 on g.address = o.to_address where o.from_address = h.address) receivers
           from ground_truth.wallets h where h.entity_type = 'launderer' and h.role in ('hop', 'bridge')"""
    ).df()
    assert len(hops) >= 8
    ratio = hops["forwarded"].astype(float) / hops["received"].astype(float)
    assert ratio.between(0.8, 0.99).all()
    assert hops["senders"].str.contains("scam_ring").any()
    assert hops["receivers"].str.contains("wash_ring").any()


# ----- traps for a naive clusterer --------------------------------------------------------------


def test_popular_tokens_are_held_by_many_unrelated_wallets(sim: duckdb.DuckDBPyConnection) -> None:
    holders = one(
        sim,
        """select count(distinct e.to_address) from raw.token_transfers e join raw.tokens k on k.address =
            e.token_address
           join ground_truth.wallets g on g.address = e.to_address
           where k.symbol = 'USDC' and g.entity_id is null and not g.is_contract""",
    )
    assert holders > 300


def test_one_exchange_hot_wallet_funds_many_unrelated_wallets(sim: duckdb.DuckDBPyConnection) -> None:
    fanout = one(
        sim,
        """select max(n) from (select t.from_address, count(distinct t.to_address) n from raw.transactions t
           join ground_truth.wallets h on h.address = t.from_address join ground_truth.wallets r on
           r.address = t.to_address
           where h.role = 'hot_wallet' and r.entity_id is distinct from h.entity_id group by 1)""",
    )
    assert fanout > 100


def test_the_airdrop_distributor_sends_its_token_to_many_wallets(sim: duckdb.DuckDBPyConnection) -> None:
    recipients = one(
        sim,
        """select count(distinct e.to_address) from raw.token_transfers e join raw.address_labels l
           on l.address = e.from_address and l.label_type = 'airdrop'""",
    )
    assert recipients > 100


def test_poisoners_send_zero_or_tiny_transfers_from_lookalikes_of_a_victims_counterparty(
    sim: duckdb.DuckDBPyConnection,
) -> None:
    poison = sim.execute(
        f"""select e.from_address look, e.to_address victim, e.value::double raw_value, k.symbol,
             g.is_malicious,
                  op.role op_role,
                  exists(select 1 from raw.token_transfers p where p.from_address = e.to_address
                         and p.to_address <> e.from_address and p.block_number < e.block_number
                         and left(p.to_address, {2 + LOOKALIKE_PREFIX}) = left(e.from_address,
                         {2 + LOOKALIKE_PREFIX})
                         and right(p.to_address, {LOOKALIKE_SUFFIX}) = right(e.from_address,
                         {LOOKALIKE_SUFFIX}))
                    mimics_counterparty
           from raw.token_transfers e join ground_truth.wallets g on g.address = e.from_address
           join raw.transactions t on t.hash = e.transaction_hash
           join ground_truth.wallets op on op.address = t.from_address
           join raw.tokens k on k.address = e.token_address
           where g.role = 'lookalike'"""
    ).df()
    assert poison["victim"].nunique() > 20
    assert poison["mimics_counterparty"].all() and poison["is_malicious"].all()
    assert (poison["op_role"] == "operator").all()
    assert (poison["raw_value"] == 0).mean() > 0.3
    assert set(poison["symbol"]) <= {"USDT", "USDC"}


def test_bots_trade_on_a_clock_while_people_act_irregularly(sim: duckdb.DuckDBPyConnection) -> None:
    cv = dict(
        rows(
            sim,
            """with gaps as (select from_address, epoch(block_timestamp) - lag(epoch(block_timestamp))
                             over (partition by from_address order by block_number, transaction_index) gap
                             from raw.transactions)
               select g.persona, median(c) from (select from_address, stddev(gap) / avg(gap) c from gaps
                 group by 1 having count(gap) >= 5) x join ground_truth.wallets g on g.address =
                 x.from_address
               where g.persona in ('hf_bot', 'retail_trader') group by 1""",
        )
    )
    assert cv["hf_bot"] < 0.3 < 0.8 < cv["retail_trader"]
    per_hour = dict(
        rows(
            sim,
            """select g.persona, median(mx) from (select from_address, max(n) mx from (
                                   select from_address, count(*) n from raw.transactions
                                   group by 1, date_trunc('hour', block_timestamp)) group by 1) x
                                 join ground_truth.wallets g on g.address = x.from_address group by 1""",
        )
    )
    assert per_hour["hf_bot"] > 3 * per_hour["retail_trader"]
    partners = one(
        sim,
        """select max(n) from (select t.from_address, count(distinct t.to_address) n
                           from raw.transactions t join ground_truth.wallets g on g.address = t.from_address
                           where g.persona = 'hf_bot' and g.entity_id is null group by 1)""",
    )
    assert partners <= 2


def test_labels_are_partial_and_use_the_label_vocabulary(sim: duckdb.DuckDBPyConnection) -> None:
    types = {r[0] for r in rows(sim, "select distinct label_type from raw.address_labels")}
    assert types <= set(LABEL_TYPES)
    assert {"exchange", "scam", "sanctioned", "mixer", "bridge", "dex", "nft_marketplace"} <= types
    unlabelled_malicious = one(
        sim,
        """select count(*) from ground_truth.wallets g left join raw.address_labels l
                                       using (address) where g.is_malicious and l.address is null""",
    )
    assert unlabelled_malicious > 0


# ----- outputs ------------------------------------------------------------------------------------


def test_loading_another_seed_replaces_every_table_without_mixing_runs() -> None:
    con = duckdb.connect()
    first = load_simulation(con, TINY)
    old = {r[0] for r in rows(con, "select hash from raw.transactions")}
    old_wallets = {r[0] for r in rows(con, "select address from ground_truth.wallets")}
    other = SimulatorConfig(seed=99, n_wallets=300, days=14)
    second = load_simulation(con, other)
    new = {r[0] for r in rows(con, "select hash from raw.transactions")}
    assert new and not (new & old)
    assert not (old_wallets & {r[0] for r in rows(con, "select address from ground_truth.wallets")})
    for table, n in second.row_counts.items():
        assert one(con, f"select count(*) from {table if '.' in table else 'raw.' + table}") == n
    assert first.row_counts != second.row_counts
    assert sum(second.persona_counts.values()) == second.row_counts["ground_truth.wallets"]
    provided = dict(rows(con, "select table_name, provided from raw.source_manifest"))
    assert all(provided[t] for t in ("transactions", "token_transfers", "dex_trades", "nft_trades"))


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_etl_files_hold_every_table_with_the_same_rows_as_the_load(tmp_path: Path, fmt: str) -> None:
    written = write_etl_files(TINY, tmp_path, fmt)
    assert set(written) == {
        "transactions",
        "token_transfers",
        "blocks",
        "contracts",
        "tokens",
        "labels",
        "dex_trades",
        "nft_trades",
        "balances",
    }
    con = duckdb.connect()
    counts = {}
    for table, chunk in simulate_arrow(TINY):
        counts[table] = counts.get(table, 0) + chunk.num_rows
    reader = "read_parquet('{}')" if fmt == "parquet" else "read_csv('{}', all_varchar = true)"
    for name, raw in [
        ("transactions", "transactions"),
        ("token_transfers", "token_transfers"),
        ("dex_trades", "dex_trades"),
        ("nft_trades", "nft_trades"),
        ("contracts", "contract_creations"),
        ("tokens", "tokens"),
        ("labels", "address_labels"),
    ]:
        (path,) = written[name]
        assert path.name == f"{name}.{fmt}"
        assert one(con, f"select count(*) from {reader.format(path)}") == counts[raw], name
    tx = reader.format(written["transactions"][0])
    blocks = reader.format(written["blocks"][0])
    # Every transaction's block is in blocks.csv, with the same hash and unix time.
    assert (
        one(
            con,
            f"""select count(*) from {tx} t left join {blocks} b on b.number = t.block_number
                        where b.hash is distinct from t.block_hash
                           or b.timestamp is distinct from t.block_timestamp""",
        )
        == 0
    )
    assert one(con, f"select sum(transaction_count::bigint) from {blocks}") == counts["transactions"]


def test_csv_export_keeps_exact_amounts_and_unix_times(tmp_path: Path) -> None:
    written = write_etl_files(TINY, tmp_path, "csv")
    con = duckdb.connect()
    load_simulation(con, TINY)
    path = written["transactions"][0]
    diff = one(
        con,
        f"""select count(*) from read_csv('{path}', all_varchar = true) f join raw.transactions t on t.hash
             = f.hash
            where f.value <> t.value::varchar or f.block_timestamp::bigint <> epoch(t.block_timestamp)
               or f.nonce::bigint <> t.nonce or coalesce(f.to_address, '') <> coalesce(t.to_address, '')""",
    )
    assert diff == 0
    tt = written["token_transfers"][0]
    assert "block_timestamp" not in open(tt).readline()
    assert (
        one(
            con,
            f"""select count(*) from read_csv('{tt}', all_varchar = true) f
                        anti join raw.token_transfers t on t.transaction_hash = f.transaction_hash
                        and t.log_index = f.log_index::bigint and t.value = f.value""",
        )
        == 0
    )


def test_write_etl_files_rejects_an_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fmt"):
        write_etl_files(TINY, tmp_path, "json")


@pytest.mark.parametrize("bad", [{"n_wallets": 10}, {"days": 3}, {"persona_shares": (("pirate", 1.0),)}])
def test_config_refuses_settings_that_cannot_hold_the_planted_structure(bad: dict) -> None:
    with pytest.raises(ValueError):
        SimulatorConfig(**bad)


def test_no_wallet_balance_ever_goes_negative_within_the_window() -> None:
    con = duckdb.connect()
    load_simulation(con, TINY)
    # Walk each wallet's ETH movements forward from its end balance minus the window's net flow
    # (its holding before the window): the running balance must stay at or above zero.
    lowest = con.execute(
        """
        with moves as (
            select from_address as address, block_number, transaction_index, 0 as side,
                -(case when receipt_status = 1 then cast(value as hugeint) else 0 end
                  + cast(receipt_gas_used as hugeint) * receipt_effective_gas_price) as delta
            from raw.transactions
            union all
            select to_address, block_number, transaction_index, 1,
                case when receipt_status = 1 then cast(value as hugeint) else 0 end
            from raw.transactions where to_address is not null
        ),
        running as (
            select address, sum(delta) over (
                partition by address order by block_number, transaction_index, side
                rows between unbounded preceding and current row) as after,
                sum(delta) over (partition by address) as net
            from moves
        )
        select min(cast(b.eth_balance as hugeint) - r.net + r.after), count(distinct r.address)
        from running r join raw.balances b using (address)
        """
    ).fetchone()
    senders = con.execute("select count(distinct from_address) from raw.transactions").fetchone()[0]
    assert lowest[0] >= 0
    assert lowest[1] >= senders


def test_poisoning_lookalikes_never_transact_and_only_appear_as_spoofed_senders(
    sim: duckdb.DuckDBPyConnection,
) -> None:
    looks = "(select address from ground_truth.wallets where persona = 'poisoning_lookalike')"
    assert one(sim, f"select count(*) from {looks}") > 0
    in_transactions = one(
        sim,
        f"select count(*) from raw.transactions where from_address in {looks} or to_address in {looks}",
    )
    spoofed, own = rows(
        sim,
        f"""
        select count(*) filter (where t.from_address <> tt.from_address),
               count(*) filter (where t.from_address = tt.from_address)
        from raw.token_transfers tt join raw.transactions t on t.hash = tt.transaction_hash
        where tt.from_address in {looks}
        """,
    )[0]
    assert in_transactions == 0
    assert spoofed > 0 and own == 0
