"""What the files source accepts: one `InputTable` per file or folder name, built from the raw contract.

Column names are ethereum-etl's, which BigQuery's `crypto_ethereum` dataset shares. Columns that
those exports carry but the raw schema does not (block fields, blob fields, cumulative gas, ...)
are accepted and ignored; anything else is an error, because a renamed or misspelled column would
otherwise load as silent NULLs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wallet_pipeline.logic.ingestion.raw_schema import LABEL_TYPES, RAW_TABLES, RawTable

# Block 1 of mainnet; an earlier time in a transaction is a parsing mistake (or milliseconds).
MAINNET_LAUNCH = "2015-07-30"


@dataclass(frozen=True)
class InputColumn:
    """A column the files source reads and validates.

    Attributes:
        name: column name in the file, equal to the raw column it feeds.
        kind: validation kind (see `Column.kind` in raw_schema), plus "label" for label types.
        required: a NULL here rejects the row.
    """

    name: str
    kind: str
    required: bool


@dataclass(frozen=True)
class InputTable:
    """One table of the input folder.

    Attributes:
        name: file stem or folder name, e.g. "transactions" for transactions.csv.gz.
        raw_table: raw table it loads, or None for tables only used for lookups (blocks).
        columns: columns read from the files, in the order row problems are reported.
        required_headers: columns every file must have.
        ignored: known upstream columns accepted and dropped.
        key: columns that identify a row; later duplicates are quarantined.
        required_input: the folder must hold this table.
        hints: likely renames for unknown columns, shown in the error.
        min_time: earliest time accepted; the genesis block alone is dated 1970 (timestamp 0).
        aliases: other names a column is read under when a file lacks it, first match wins
            (e.g. token_transfers' `contract_address`, the Etherscan API's name).
        may_be_absent: required columns a file may lack altogether; its rows then get NULL (or a
            synthetic value, see the loader), while a file that has the column must fill it.
        label_from_file_name: a file without a label column takes its label from its name.
        extra_formats: suffixes read besides CSV and Parquet, instead of JSON lines (JSON and
            text label lists).
        trim: strip spaces around values; scraped label lists pad addresses (' 0xc12d...'),
            while chain exports never do and trimming every cell of them doubles validation time.
    """

    name: str
    raw_table: str | None
    columns: tuple[InputColumn, ...]
    required_headers: tuple[str, ...]
    ignored: frozenset[str]
    key: tuple[str, ...]
    required_input: bool = False
    hints: tuple[tuple[str, str], ...] = ()
    min_time: str = MAINNET_LAUNCH
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    may_be_absent: frozenset[str] = frozenset()
    label_from_file_name: bool = False
    extra_formats: tuple[str, ...] = ()
    trim: bool = False

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def label(self) -> str:
        """Name used in reports and rejects: the raw table, or the input name when none."""
        return self.raw_table or self.name


# ethereum-etl `export_blocks_and_transactions` and BigQuery `crypto_ethereum.blocks`.
BLOCK_COLUMNS_IGNORED = frozenset(
    {
        "parent_hash",
        "nonce",
        "sha3_uncles",
        "logs_bloom",
        "transactions_root",
        "state_root",
        "receipts_root",
        "miner",
        "difficulty",
        "total_difficulty",
        "size",
        "extra_data",
        "gas_limit",
        "gas_used",
        "transaction_count",
        "base_fee_per_gas",
        "withdrawals_root",
        "withdrawals",
        "blob_gas_used",
        "excess_blob_gas",
        "parent_beacon_block_root",
        "requests_hash",
    }
)

# Receipt, blob and signature fields of ethereum-etl / BigQuery transactions that no model reads.
TRANSACTION_COLUMNS_IGNORED = frozenset(
    {
        "receipt_cumulative_gas_used",
        "receipt_root",
        "receipt_logs_bloom",
        "max_fee_per_blob_gas",
        "blob_versioned_hashes",
        "receipt_blob_gas_price",
        "receipt_blob_gas_used",
        "chain_id",
        "v",
        "r",
        "s",
        "y_parity",
        "access_list",
        "authorization_list",
    }
)

# ethereum-etl receipts: the fields transactions do not take over.
RECEIPT_COLUMNS_IGNORED = frozenset(
    {
        "transaction_index",
        "block_hash",
        "block_number",
        "cumulative_gas_used",
        "root",
        "logs_bloom",
        "l1_fee",
        "l1_gas_used",
        "l1_gas_price",
        "l1_fee_scalar",
        "blob_gas_price",
        "blob_gas_used",
    }
)

# ethereum-etl / BigQuery traces: call data and gas that no model reads.
TRACE_COLUMNS_IGNORED = frozenset(
    {"input", "output", "reward_type", "gas", "gas_used", "subtraces", "trace_id", "block_hash"}
)

# BigQuery adds the block's hash (and time, which we do use where the raw table has it).
_BIGQUERY_BLOCK_REF = frozenset({"block_hash"})

# Top-level exports of ethereum-etl that no raw table needs; present files are listed, not read.
UNUSED_EXPORTS = frozenset({"geth_traces", "token_approvals", "balances_history"})

_TIME_HINTS = (("time_stamp", "block_timestamp"), ("timestamp", "block_timestamp"))

# Normalized label (lower case, runs of other characters as one '-') -> LABEL_TYPES entry.
# Synonyms come from the public lists in ../shared/data/address_labels (dawsbot/eth-labels,
# brianleect/etherscan-labels, Raphtory's Etherscan tags), which all use Etherscan's tag slugs.
LABEL_SYNONYMS: dict[str, str] = {
    **{t.replace("_", "-"): t for t in LABEL_TYPES},
    "cex": "exchange",
    "cex-address": "exchange",
    "centralized-exchange": "exchange",
    "exchanges": "exchange",
    "hot-wallet": "exchange",
    "cex-deposit": "deposit",
    "exchange-deposit": "deposit",
    "deposit-address": "deposit",
    "scams": "scam",
    "scammer": "scam",
    "fraud": "scam",
    "phish-hack": "scam",
    "phish": "scam",
    "phishing": "scam",
    "fake-phishing": "scam",
    "hack": "scam",
    "hacker": "scam",
    "heist": "scam",
    "exploit": "scam",
    "exploiter": "scam",
    "ponzi": "scam",
    "rug-pull": "scam",
    "ofac": "sanctioned",
    "sanctions": "sanctioned",
    "ofac-sanctions": "sanctioned",
    "ofac-sanctions-lists": "sanctioned",
    "ofac-sanctioned": "sanctioned",
    "sanctioned-address": "sanctioned",
    # OFAC-listed group (dspytdao/Eth_Data LazarusGroup.txt).
    "lazarus": "sanctioned",
    "lazarus-group": "sanctioned",
    "lazarusgroup": "sanctioned",
    "tornado-cash": "mixer",
    "tornadocash": "mixer",
    "tornado": "mixer",
    "mixers": "mixer",
    "bridges": "bridge",
    "cross-chain": "bridge",
    "layer-2": "bridge",
    "decentralized-exchange": "dex",
    "nft-market": "nft_marketplace",
    "nft-marketplaces": "nft_marketplace",
    "airdrops": "airdrop",
    "airdrop-hunter": "sybil",
    "airdrop-hunters": "sybil",
    "sybil-delegate": "sybil",
    "sybil-farm": "sybil",
    "mev-bot": "mev_bot",
    "mev-bots": "mev_bot",
    "mev": "mev_bot",
    "mining": "miner",
    "mining-pool": "miner",
    "miners": "miner",
    "token": "contract",
    "tokens": "contract",
    "token-contract": "contract",
    "old-contract": "contract",
    "proxy-contract": "contract",
    "contracts": "contract",
    # Etherscan files exchange wallets under the exchange's name.
    **dict.fromkeys(
        (
            "binance",
            "coinbase",
            "kraken",
            "huobi",
            "okex",
            "okx",
            "bitfinex",
            "bittrex",
            "poloniex",
            "kucoin",
            "gemini",
            "ftx",
            "gate-io",
            "upbit",
            "bithumb",
            "crypto-com",
            "hotbit",
            "bitstamp",
            "bybit",
            "mexc",
        ),
        "exchange",
    ),
    **dict.fromkeys(
        (
            "uniswap",
            "sushiswap",
            "balancer",
            "bancor",
            "curve-fi",
            "kyber",
            "kyberswap",
            "1inch",
            "0x-protocol",
            "dydx",
            "mcdex",
        ),
        "dex",
    ),
    **dict.fromkeys(
        ("aave", "compound", "maker", "yearn-finance", "synthetix", "lido", "rocket-pool", "yield-farming"),
        "defi",
    ),
    **dict.fromkeys(("opensea", "rarible", "blur", "looksrare", "x2y2", "superrare"), "nft_marketplace"),
}
# Etherscan names incidents "<victim>-hack" (upbit-hack, bzx-exploit, ...): all thefts.
LABEL_SCAM_SUFFIXES = ("-hack", "-hacker", "-exploit", "-exploiter", "-heist", "-phish")
# A label file named after its list ("phish-hack.json", "dawsbot_cex-addresses.csv") gives the
# label of every row; these words name the list, not the label.
_LIST_WORDS = ("-addresses", "-address", "-labels", "-list", "-all")


def normalize_label(text: str) -> str:
    """A label in one spelling: lower case, runs of anything but letters and digits as one dash.

    'Phish / Hack', 'phish_hack' and 'phish-hack' are one label.
    """
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def map_label(text: str) -> str | None:
    """Our label type for a label as written, or None when no synonym or rule knows it."""
    norm = normalize_label(text)
    if norm in LABEL_SYNONYMS:
        return LABEL_SYNONYMS[norm]
    if norm.endswith(LABEL_SCAM_SUFFIXES):
        return "scam"
    return None


def label_from_file_name(stem: str) -> str:
    """The label a list's file name gives its rows.

    The first part of the name (split on '_', then the whole name) that maps to a label type,
    with list words ('-addresses', '-all') dropped; else the whole name, loaded as `other`.
    """
    parts = [*stem.split("_"), stem]
    for part in parts:
        norm = normalize_label(part)
        for word in _LIST_WORDS:
            norm = norm.removesuffix(word)
        if map_label(norm):
            return norm
    return normalize_label(stem)


def _from_raw(
    raw: RawTable,
    *,
    skip: tuple[str, ...] = (),
    not_required: tuple[str, ...] = (),
    required: tuple[str, ...] = (),
    kinds: dict[str, str] | None = None,
) -> tuple[InputColumn, ...]:
    kinds = kinds or {}
    return tuple(
        InputColumn(
            c.name,
            kinds.get(c.name, c.kind),
            (c.required or c.name in required) and c.name not in not_required,
        )
        for c in raw.columns
        if c.name not in skip and c.name != raw.date_column
    )


def _required(columns: tuple[InputColumn, ...], *extra: str) -> tuple[str, ...]:
    return tuple(c.name for c in columns if c.required) + extra


def build_input_tables() -> dict[str, InputTable]:
    """Every table the files source reads, by input name, in processing order.

    Lookups come first (blocks, then transactions) because later tables take their times and
    creators from them. Raw tables without special handling (dex_trades, nft_trades, tokens and
    any table added to the raw contract later) are read under their own names with exactly the
    raw column names.
    """
    raw = RAW_TABLES
    blocks_cols = (
        InputColumn("number", "int", True),
        InputColumn("hash", "hash", False),
        InputColumn("timestamp", "timestamp", True),
    )
    # ethereum-etl `export_receipts_and_logs`: fills the receipt_* columns of transactions.
    receipt_cols = (
        InputColumn("transaction_hash", "hash", True),
        InputColumn("status", "int", False),
        InputColumn("gas_used", "int", False),
        InputColumn("effective_gas_price", "int", False),
        InputColumn("contract_address", "address", False),
    )
    # A sender/receiver-only export (airdrop and sybil reports) has no hash, value or time; a
    # file that has these columns must fill them on every row.
    tx_cols = _from_raw(raw["transactions"], required=("value", "block_number", "block_timestamp"))
    # token_transfers' time may come from blocks or transactions; checked after that lookup.
    tt_cols = _from_raw(raw["token_transfers"], not_required=("block_timestamp",))
    contract_cols = _from_raw(raw["contract_creations"], skip=("creator_address", "transaction_hash"))
    label_cols = _from_raw(raw["address_labels"], kinds={"label_type": "label"}, not_required=("source",))
    # logs and traces are dated like token_transfers; undated rows load with a NULL time.
    log_cols = _from_raw(raw["logs"], kinds={"topics": "topics"})
    trace_cols = _from_raw(raw["traces"])
    tables = [
        InputTable(
            "blocks",
            None,
            blocks_cols,
            ("number", "timestamp"),
            BLOCK_COLUMNS_IGNORED,
            key=("number",),
            min_time="1970-01-01",
        ),
        InputTable(
            "receipts",
            None,
            receipt_cols,
            ("transaction_hash",),
            RECEIPT_COLUMNS_IGNORED,
            key=("transaction_hash",),
        ),
        InputTable(
            "transactions",
            "transactions",
            tx_cols,
            ("from_address", "to_address"),
            TRANSACTION_COLUMNS_IGNORED,
            key=raw["transactions"].key,
            required_input=True,
            hints=_TIME_HINTS + (("tx_hash", "hash"), ("from", "from_address"), ("to", "to_address")),
            may_be_absent=frozenset({"hash", "value", "block_number", "block_timestamp"}),
        ),
        InputTable(
            "token_transfers",
            "token_transfers",
            tt_cols,
            ("token_address", "from_address", "to_address", "value", "block_number"),
            _BIGQUERY_BLOCK_REF,
            key=raw["token_transfers"].key,
            hints=(("tx_hash", "transaction_hash"),),
            aliases=(
                ("token_address", ("contract_address",)),
                ("block_timestamp", ("time_stamp", "timestamp")),
            ),
            may_be_absent=frozenset({"transaction_hash", "log_index"}),
        ),
        InputTable(
            "contracts",
            "contract_creations",
            contract_cols,
            _required(contract_cols),
            _BIGQUERY_BLOCK_REF,
            key=raw["contract_creations"].key,
        ),
        InputTable(
            "labels",
            "address_labels",
            label_cols,
            ("address",),
            frozenset(),
            key=raw["address_labels"].key,
            aliases=(
                ("label_type", ("label", "family", "category", "type", "tag")),
                ("name", ("nametag", "name_tag")),
            ),
            label_from_file_name=True,
            extra_formats=(".json", ".txt"),
            trim=True,
        ),
        InputTable(
            "logs",
            "logs",
            log_cols,
            _required(log_cols),
            _BIGQUERY_BLOCK_REF,
            key=raw["logs"].key,
        ),
        InputTable(
            "traces",
            "traces",
            trace_cols,
            _required(trace_cols),
            TRACE_COLUMNS_IGNORED,
            key=raw["traces"].key,
        ),
    ]
    special = {"transactions", "token_transfers", "contract_creations", "address_labels", "logs", "traces"}
    for table in raw.values():
        if table.name in special:
            continue
        cols = _from_raw(table)
        ignored = {table.date_column} if table.date_column else set()
        if table.name == "tokens":
            ignored |= {"block_timestamp", "block_hash"}  # BigQuery's tokens carry the block
        tables.append(
            InputTable(table.name, table.name, cols, _required(cols), frozenset(ignored), key=table.key)
        )
    return {t.name: t for t in tables}
