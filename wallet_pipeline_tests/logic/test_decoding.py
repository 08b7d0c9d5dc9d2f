"""Decoded activity: swaps, NFT sales, liquidity and prices read from transfers by the dbt models.

A hand-made chain in the raw contract, with the shapes real contracts leave in `token_transfers`
(a Uniswap V2 router's multi-hop swap and its WETH wrapping, an LP token minted and burnt, a
marketplace sweep of two NFTs, a public mint, a fake "USDC") and in `logs` (a pool's own Swap, a
Uniswap V3 position added and removed, Seaport and Blur sales), plus the rows real exports carry
that used to stop the run (a contract created before the window, ETH sent to the zero address,
transfers with only a sender and a receiver). The real dbt builds and tests it on a real DuckDB
file; no trade table is provided, so every trade comes from decoding.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from wallet_pipeline import settings
from wallet_pipeline.lib.live_dbt import DbtProjectRun
from wallet_pipeline.logic.ingestion.raw_store import ensure_raw_schema

pytestmark = pytest.mark.dbt

ZERO = "0x" + "0" * 40


def addr(n: int) -> str:
    return f"0x{n:040x}"


def tx_hash(n: int) -> str:
    return f"0x{n:064x}"


USER, OTHER, BUYER, SELLER_1, SELLER_2, POISONER = (addr(n) for n in (0xA1, 0xA2, 0xB1, 0x51, 0x52, 0xBAD))
BIDDER, SELLER_3, BOT = addr(0xB2), addr(0x53), addr(0xB07)
ROUTER, MARKET = addr(0x7001), addr(0x7002)
POSITIONS, SEAPORT, BLUR, RELAYER = addr(0x7003), addr(0x7004), addr(0x7005), addr(0x7006)
BUYER_2, BUYER_3, BUYER_4 = addr(0xB3), addr(0xB4), addr(0xB5)
SELLER_4, SELLER_5, SELLER_6 = addr(0x54), addr(0x55), addr(0x56)
WETH, USDC, FAKE_USDC, TOK, NFT = addr(0xE1), addr(0xE2), addr(0xE3), addr(0xE4), addr(0xE5)
# Uniswap V2 pairs are their own LP tokens.
POOL_USDC_WETH, POOL_TOK_WETH, POOL_FAKE = addr(0xF1), addr(0xF2), addr(0xF3)
# Uniswap V3 pools have no LP token; POOL_V3 is known only by its Mint / Burn / Collect events.
POOL_V3, NOT_A_POOL = addr(0xF4), addr(0xF5)
OLD_CONTRACT = addr(0xC0)
SYNTH_FROM, SYNTH_TO = addr(0x5A), addr(0x5B)
E18 = 10**18

# (hash, day, from, to, value in wei); one day per block so times and blocks go together.
TRANSACTIONS = [
    (1, 1, USER, ROUTER, 0),  # USDC -> WETH -> TOK, two pools
    (2, 2, USER, ROUTER, 2 * E18),  # ETH -> TOK: the router wraps and pays the pool WETH
    (3, 2, USER, ROUTER, 0),  # add liquidity TOK/WETH, LP minted to the user
    (4, 3, USER, ROUTER, 0),  # remove it, LP burnt, WETH to the router (unwrapped)
    (5, 3, BUYER, MARKET, 2 * E18),  # buys two NFTs in one call: 1 ETH each
    (6, 3, BUYER, NFT, E18 // 10),  # public mint: not a sale
    (7, 1, USER, USDC, 0),  # a plain USDC payment
    (8, 1, USER, USDC, 0),  # another
    (9, 1, POISONER, ROUTER, 0),  # 1 fake USDC "buys" 1 WETH: must not set the ETH price
    (10, 2, USER, ZERO, E18 // 100),  # ETH sent to the zero address
    (11, 3, SELLER_3, MARKET, 0),  # the seller accepts a bid: the bidder pays 1 WETH, 0.1 of it as fee
    (12, 1, BOT, POOL_USDC_WETH, 0),  # a bot calls the pool itself; its Swap event says it is one
    (13, 1, BOT, POOL_USDC_WETH, 0),  # the same flows without a Swap event: not read as a swap
    (14, 2, USER, POSITIONS, 0),  # adds a Uniswap V3 position: TOK and WETH into the pool
    (15, 3, USER, POSITIONS, 0),  # removes it: Burn, then Collect pays both tokens out
    (16, 3, USER, POSITIONS, 0),  # the same two tokens into an address with no pool event: no add
    (17, 3, RELAYER, SEAPORT, 0),  # a Seaport order paid in USDC, filled by a relayer
    (18, 3, RELAYER, BLUR, 2 * E18),  # an aggregator's relayer buys on Blur for BUYER_3 with ETH
    (19, 3, BUYER_4, SELLER_6, 0),  # an NFT for USDC with no marketplace event: not read as a sale
]
# Uniswap V2 Swap(address,uint256,uint256,uint256,uint256,address), keccak-256.
V2_SWAP = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
# Uniswap V3 Mint, Burn and Collect; Seaport OrderFulfilled; Blur OrdersMatched (docs/decoded_activity.md).
V3_MINT = "0x7a53080ba414158be7ec69b987b5fb7d07dee101fe85488f0853ae16239d0bde"
V3_BURN = "0x0c396cd989a39f4459b5fa1aed6a9a8dcdbc45908acfd67e028cd568da98982c"
V3_COLLECT = "0x70935338e69775456a85ddef226c395fb668b63fa0115f5f20610b388e6ca9c0"
SEAPORT_FULFILLED = "0x9d9af8e38d66c62e2c12f0225249fd9d721c54b83f48d9352c97c6cacdcb6f31"
BLUR_MATCHED = "0x61cbb2a3dee0b6064c2e681aadd61677fb4ef319f0b547508d495626f5a62f64"
LOGS = [
    (12, 2, POOL_USDC_WETH, f"{V2_SWAP},{'0x' + '0' * 24 + BOT[2:]},{'0x' + '0' * 24 + BOT[2:]}"),
    (14, 2, POOL_V3, V3_MINT),
    (15, 0, POOL_V3, V3_BURN),
    (15, 3, POOL_V3, V3_COLLECT),
    (17, 2, SEAPORT, SEAPORT_FULFILLED),
    (18, 1, BLUR, BLUR_MATCHED),
]
TRANSFERS = [
    # (hash, log_index, token, from, to, value)
    (1, 0, USDC, USER, POOL_USDC_WETH, 3000 * 10**6),
    (1, 1, WETH, POOL_USDC_WETH, POOL_TOK_WETH, E18),
    (1, 2, TOK, POOL_TOK_WETH, USER, 500 * E18),
    (2, 0, WETH, ROUTER, POOL_TOK_WETH, 2 * E18),
    (2, 1, TOK, POOL_TOK_WETH, USER, 990 * E18),
    (3, 0, TOK, USER, POOL_TOK_WETH, 1000 * E18),
    (3, 1, WETH, ROUTER, POOL_TOK_WETH, 2 * E18),
    (3, 2, POOL_TOK_WETH, ZERO, USER, 44 * E18),
    (4, 0, POOL_TOK_WETH, USER, POOL_TOK_WETH, 44 * E18),
    (4, 1, POOL_TOK_WETH, POOL_TOK_WETH, ZERO, 44 * E18),
    (4, 2, WETH, POOL_TOK_WETH, ROUTER, 2 * E18),
    (4, 3, TOK, POOL_TOK_WETH, USER, 1000 * E18),
    (5, 0, NFT, SELLER_1, BUYER, 1),
    (5, 1, NFT, SELLER_2, BUYER, 2),
    (6, 0, NFT, ZERO, BUYER, 3),
    (7, 0, USDC, USER, OTHER, 10 * 10**6),
    (8, 0, USDC, USER, OTHER, 20 * 10**6),
    (9, 0, FAKE_USDC, POISONER, POOL_FAKE, 10**6),
    (9, 1, WETH, POOL_FAKE, POISONER, E18),
    (11, 0, NFT, SELLER_3, BIDDER, 4),
    (11, 1, WETH, BIDDER, SELLER_3, 9 * E18 // 10),
    (11, 2, WETH, BIDDER, MARKET, E18 // 10),
    (12, 0, USDC, BOT, POOL_USDC_WETH, 1500 * 10**6),
    (12, 1, WETH, POOL_USDC_WETH, BOT, E18 // 2),
    (13, 0, USDC, BOT, POOL_USDC_WETH, 1500 * 10**6),
    (13, 1, WETH, POOL_USDC_WETH, BOT, E18 // 2),
    (14, 0, TOK, USER, POOL_V3, 100 * E18),
    (14, 1, WETH, USER, POOL_V3, E18),
    (15, 1, TOK, POOL_V3, USER, 99 * E18),
    (15, 2, WETH, POOL_V3, POSITIONS, E18),
    (16, 0, TOK, USER, NOT_A_POOL, 100 * E18),
    (16, 1, WETH, USER, NOT_A_POOL, E18),
    (17, 0, NFT, SELLER_4, BUYER_2, 5),
    (17, 1, USDC, BUYER_2, SELLER_4, 500 * 10**6),
    (18, 0, NFT, SELLER_5, BUYER_3, 6),
    (19, 0, NFT, SELLER_6, BUYER_4, 7),
    (19, 1, USDC, BUYER_4, SELLER_6, 500 * 10**6),
]
TOKENS = [
    (WETH, "WETH", 18),
    (USDC, "USDC", 6),
    (FAKE_USDC, "USDC", 6),
    (TOK, "TOK", 18),
    (POOL_TOK_WETH, "UNI-V2", 18),
    (POOL_USDC_WETH, "UNI-V2", 18),
    (NFT, "NFT", None),
]


def _time(day: int) -> str:
    return f"2024-07-0{day} 12:00:00"


def _fill(con: duckdb.DuckDBPyConnection) -> None:
    ensure_raw_schema(con)
    for h, day, frm, to, value in TRANSACTIONS:
        con.execute(
            "insert into raw.transactions (hash, block_number, transaction_index, block_timestamp, "
            "from_address, to_address, value, input, receipt_status, nonce) "
            "values (?, ?, 0, ?, ?, ?, ?, ?, 1, ?)",
            [
                tx_hash(h),
                100 + h,
                _time(day),
                frm,
                to,
                value,
                "0x" if to == ZERO else "0x12345678",
                h,
            ],
        )
    # Only a sender and a receiver: no value, block or time (an airdrop report's transfer list).
    for i in range(2):
        con.execute(
            "insert into raw.transactions (hash, from_address, to_address) values (?, ?, ?)",
            [tx_hash(0x5000 + i), SYNTH_FROM, SYNTH_TO],
        )
    for h, log_index, token, frm, to, value in TRANSFERS:
        day = next(t[1] for t in TRANSACTIONS if t[0] == h)
        con.execute(
            "insert into raw.token_transfers (token_address, from_address, to_address, value, "
            "transaction_hash, log_index, block_number, block_timestamp) values (?, ?, ?, ?, ?, ?, ?, ?)",
            [token, frm, to, str(value), tx_hash(h), log_index, 100 + h, _time(day)],
        )
    for h, log_index, emitter, topics in LOGS:
        day = next(t[1] for t in TRANSACTIONS if t[0] == h)
        con.execute(
            "insert into raw.logs (transaction_hash, log_index, block_number, block_timestamp, address, "
            "topics, data) values (?, ?, ?, ?, ?, ?, '0x')",
            [tx_hash(h), log_index, 100 + h, _time(day), emitter, topics],
        )
    for address, symbol, decimals in TOKENS:
        con.execute(
            "insert into raw.tokens (address, symbol, name, decimals) values (?, ?, ?, ?)",
            [address, symbol, symbol, decimals],
        )
    # Listed by the contracts file, created before the window: no time, no activity.
    con.execute(
        "insert into raw.contract_creations (address, bytecode, is_erc20, is_erc721) "
        "values (?, '0x60806040', false, false)",
        [OLD_CONTRACT],
    )
    con.execute(
        "insert into raw.contract_creations (address, is_erc20, is_erc721) values (?, false, true)", [NFT]
    )
    for table in (
        "transactions",
        "token_transfers",
        "tokens",
        "contract_creations",
        "dex_trades",
        "nft_trades",
    ):
        provided = table not in ("dex_trades", "nft_trades")
        con.execute(
            "insert into raw.source_manifest (table_name, source, provided, row_count, rejected_count) "
            "values (?, 'files', ?, 0, 0)",
            [table, provided],
        )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    folder = tmp_path_factory.mktemp("decoding")
    db = folder / "chain.duckdb"
    con = duckdb.connect(str(db))
    try:
        _fill(con)
    finally:
        con.close()
    env = {**settings.dbt_env(), "WALLET_DUCKDB_TEMP_DIR": str(folder / "spill")}
    # `dbt build` raises when a model fails or a blocking (error) test fails; warnings pass.
    DbtProjectRun(settings.DBT_PROJECT_DIR, settings.dbt_executable(), env).invoke(["build"], db, folder)
    con = duckdb.connect(str(db), read_only=True)
    yield con
    con.close()


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


def test_every_pool_of_a_multi_hop_swap_is_a_swap_by_the_transaction_sender(
    built: duckdb.DuckDBPyConnection,
) -> None:
    swaps = _rows(
        built,
        "select tx_hash, taker, project_contract_address pool, token_sold_address sold, "
        "token_bought_address bought, token_sold_amount_raw sold_raw, token_bought_amount_raw bought_raw, "
        "tx_to, origin "
        "from decoded.dex_trades order by tx_hash, evt_index",
    )
    got = {
        (r.tx_hash, r.pool): (r.taker, r.sold, r.bought, r.sold_raw, r.bought_raw) for r in swaps.itertuples()
    }
    assert got == {
        (tx_hash(1), POOL_USDC_WETH): (USER, USDC, WETH, str(3000 * 10**6), str(E18)),
        (tx_hash(1), POOL_TOK_WETH): (USER, WETH, TOK, str(E18), str(500 * E18)),
        (tx_hash(2), POOL_TOK_WETH): (USER, WETH, TOK, str(2 * E18), str(990 * E18)),
        (tx_hash(9), POOL_FAKE): (POISONER, FAKE_USDC, WETH, str(10**6), str(E18)),
        (tx_hash(12), POOL_USDC_WETH): (BOT, USDC, WETH, str(1500 * 10**6), str(E18 // 2)),
    }
    assert set(swaps["tx_to"]) == {ROUTER, POOL_USDC_WETH}
    assert set(swaps["origin"]) == {"decoded"}


def test_the_eth_price_comes_from_real_stablecoin_swaps_and_is_carried_to_later_days(
    built: duckdb.DuckDBPyConnection,
) -> None:
    prices = _rows(
        built, "select block_date, eth_usd, priced_on from intermediate.int_eth_usd_daily order by 1"
    )
    # Day 1's only real USDC/WETH swap says 3000; the fake USDC's 1-for-1 is not a price.
    assert prices["eth_usd"].tolist() == [3000.0, 3000.0, 3000.0]
    assert prices["priced_on"].astype(str).tolist() == ["2024-07-01"] * 3
    usd = _rows(built, "select tx_hash, project_contract_address pool, amount_usd from decoded.dex_trades")
    by = {(r.tx_hash, r.pool): r.amount_usd for r in usd.itertuples()}
    assert by[(tx_hash(1), POOL_USDC_WETH)] == pytest.approx(3000.0)  # the USDC side, at $1
    assert by[(tx_hash(2), POOL_TOK_WETH)] == pytest.approx(6000.0)  # 2 WETH at day 1's price
    assert by[(tx_hash(9), POOL_FAKE)] == pytest.approx(
        3000.0
    )  # its WETH side; the fake is worth nothing known
    canonical = _rows(built, "select symbol, token_address from intermediate.int_canonical_tokens")
    assert dict(zip(canonical["symbol"], canonical["token_address"], strict=True)) == {
        "WETH": WETH,
        "USDC": USDC,
    }


def test_liquidity_adds_and_removals_are_read_from_pool_flows_and_lp_tokens(
    built: duckdb.DuckDBPyConnection,
) -> None:
    events = _rows(
        built,
        "select tx_hash, event_type, provider, pool, token_a_address a, token_b_address b, lp_token_moved "
        "from decoded.liquidity_events order by tx_hash",
    )
    assert [(r.tx_hash, r.event_type, r.provider, r.pool, r.lp_token_moved) for r in events.itertuples()] == [
        (tx_hash(3), "add", USER, POOL_TOK_WETH, True),
        (tx_hash(4), "remove", USER, POOL_TOK_WETH, True),
        # A V3 pool moves no LP token and never swapped here: its own events make it a pool.
        (tx_hash(14), "add", USER, POOL_V3, False),
        (tx_hash(15), "remove", USER, POOL_V3, False),
    ]
    assert all({r.a, r.b} == {TOK, WETH} for r in events.itertuples())


def test_an_nft_sweep_splits_the_payment_an_accepted_bid_is_paid_in_weth_and_a_mint_is_no_sale(
    built: duckdb.DuckDBPyConnection,
) -> None:
    sales = _rows(
        built,
        "select tx_hash, buyer, seller, token_id, amount_eth, amount_usd, currency_symbol, tx_to "
        "from decoded.nft_trades where project is null order by token_id",
    )
    assert [(r.buyer, r.seller, r.token_id) for r in sales.itertuples()] == [
        (BUYER, SELLER_1, "1"),
        (BUYER, SELLER_2, "2"),
        (BIDDER, SELLER_3, "4"),
    ]
    assert [float(v) for v in sales["amount_eth"]] == [1.0, 1.0, 1.0]
    assert sales["amount_usd"].tolist() == pytest.approx([3000.0] * 3)
    assert sales["currency_symbol"].tolist() == ["ETH", "ETH", "WETH"]
    assert set(sales["tx_to"]) == {MARKET}


def test_a_marketplace_sale_event_admits_sales_paid_in_other_tokens_or_by_a_relayer(
    built: duckdb.DuckDBPyConnection,
) -> None:
    sales = _rows(
        built,
        "select token_id, buyer, seller, project, currency_symbol, amount_eth, amount_usd, tx_from "
        "from decoded.nft_trades where token_id in ('5', '6', '7') order by token_id",
    )
    columns = ["token_id", "buyer", "seller", "project", "currency_symbol", "tx_from"]
    assert sales[columns].values.tolist() == [
        ["5", BUYER_2, SELLER_4, "seaport", "USDC", RELAYER],
        ["6", BUYER_3, SELLER_5, "blur", "ETH", RELAYER],
    ]
    # A USDC price is no ETH amount; the relayer's 2 ETH is.
    assert pd.isna(sales["amount_eth"].iloc[0]) and pd.isna(sales["amount_usd"].iloc[0])
    assert float(sales["amount_eth"].iloc[1]) == 2.0
    raw = _rows(built, "select amount_raw from intermediate.int_nft_sales_decoded where token_id = '5'")
    assert raw["amount_raw"].tolist() == [500 * 10**6]


def test_decoded_trades_reach_the_features_and_count_as_provided(built: duckdb.DuckDBPyConnection) -> None:
    f = _rows(built, "select * from marts.wallet_features").set_index("address")
    assert f.loc[USER, "dex_trades"] == 3
    assert f.loc[USER, "dex_volume_usd"] == pytest.approx(3000.0 + 3000.0 + 6000.0)
    assert f.loc[BUYER, "nft_buys"] == 2 and f.loc[SELLER_1, "nft_sells"] == 1
    assert float(f.loc[BUYER, "nft_volume"]) == 2.0
    # An address with no swap has 0 swaps (known), not NULL (unknown): trades can be decoded.
    assert f.loc[OTHER, "dex_trades"] == 0
    creations = _rows(built, "select token_address from decoded.token_creations")
    assert set(creations["token_address"]) == {NFT}


def test_rows_real_exports_carry_build_without_a_blocking_failure(built: duckdb.DuckDBPyConnection) -> None:
    f = _rows(built, "select * from marts.wallet_features").set_index("address")
    # A contract known only from the contracts file: a row, flagged, with unknown times.
    old = f.loc[OLD_CONTRACT]
    assert bool(old["is_contract"]) and pd.isna(old["first_seen"]) and pd.isna(old["last_seen"])
    # The zero address is nobody's wallet, also when ETH was sent to it.
    assert ZERO not in f.index
    # Sender/receiver-only transfers count as transactions and counterparties; time is unknown.
    synth = f.loc[SYNTH_FROM]
    assert synth["tx_count"] == 2 and synth["unique_counterparties"] == 1
    assert synth["active_days"] == 0 and pd.isna(synth["first_seen"]) and synth["eth_sent"] == 0
    assert f.loc[SYNTH_TO, "received_tx_count"] == 2
    # Every other address has a time: a token contract is seen when its Transfer events are.
    assert f["first_seen"].notna().sum() == len(f) - 3  # the old contract and the two undated parties


def test_only_a_broken_contract_blocks_the_run() -> None:
    """Every blocking test names a key: unique or not-null keys, one address per 64-bit key."""
    import yaml

    blocking: list[str] = []
    for path in Path(settings.DBT_PROJECT_DIR, "models").rglob("*.yml"):
        doc = yaml.safe_load(path.read_text()) or {}
        for model in doc.get("models", []):
            tests = [(None, t) for t in model.get("data_tests", [])]
            tests += [(c["name"], t) for c in model.get("columns", []) for t in c.get("data_tests", [])]
            for column, test in tests:
                name, body = next(iter(test.items())) if isinstance(test, dict) else (test, {})
                if ((body or {}).get("config") or {}).get("severity") == "error":
                    blocking.append(f"{model['name']}.{column}:{name}")
    kinds = {b.rsplit(":", 1)[1] for b in blocking}
    assert kinds == {"unique", "not_null", "unique_combination_of_columns", "expression_is_true"}
    assert [b for b in blocking if b.endswith("expression_is_true")] == [
        "int_wallet_keys.None:expression_is_true"
    ]
    not_null = {b.rsplit(":", 1)[0].split(".", 1)[1] for b in blocking if b.endswith(":not_null")}
    assert not_null <= {
        "tx_hash",
        "log_index",
        "evt_index",
        "contract_address",
        "token_address",
        "wallet_key",
        "address",
        "block_date",
        "token_key",
    }
    project = yaml.safe_load(Path(settings.DBT_PROJECT_DIR, "dbt_project.yml").read_text())
    assert project["data_tests"]["wallet_pipeline"]["+severity"] == "warn"


def test_the_staged_label_types_accept_exactly_the_raw_contracts_vocabulary() -> None:
    import yaml

    from wallet_pipeline import settings
    from wallet_pipeline.logic.ingestion.raw_schema import LABEL_TYPES

    doc = yaml.safe_load(
        Path(settings.DBT_PROJECT_DIR, "models/staging/ethereum/_ethereum__models.yml").read_text()
    )
    model = next(m for m in doc["models"] if m["name"] == "stg_ethereum__address_labels")
    column = next(c for c in model["columns"] if c["name"] == "label_type")
    accepted = next(t["accepted_values"] for t in column["data_tests"] if "accepted_values" in t)
    assert accepted["arguments"]["values"] == list(LABEL_TYPES)
