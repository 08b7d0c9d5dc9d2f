"""The contract of the `raw` schema: every source (simulator, ethereum-etl files, Dune) writes these.

Column names follow ethereum-etl and BigQuery's public `crypto_ethereum` dataset for chain data
(`transactions`, `token_transfers`, `contracts`, `tokens`) and Dune's spellbook for decoded trades
(`dex.trades`, `nft.trades`), so a reader of either recognizes every column.

Types follow BigQuery's choices where they matter for exactness: an ETH `value` is NUMERIC there
(38 digits, enough for any wei amount, since all ETH ever issued is about 1.2e26 wei), while a
token `value` is a STRING because ERC-20 amounts are uint256 and reach 2^256 - 1 (78 digits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

RAW_SCHEMA = "raw"
GROUND_TRUTH_SCHEMA = "ground_truth"

# An address is 20 bytes; a transaction or block hash is 32 bytes. Stored lower-case.
ADDRESS_PATTERN = r"^0x[0-9a-f]{40}$"
HASH_PATTERN = r"^0x[0-9a-f]{64}$"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

# A DECIMAL(38, 0) holds 38 digits; no ETH amount in wei comes near it.
MAX_WEI_DIGITS = 38
# uint256 max, the largest value an EVM word holds.
MAX_UINT256 = 2**256 - 1
# BIGINT columns (gas, nonce, block_number, ...) are signed 64-bit, as INT64 in BigQuery.
MAX_INT64 = 2**63 - 1


@dataclass(frozen=True)
class Column:
    """One column of a raw table.

    Attributes:
        name: column name, as in ethereum-etl / Dune.
        sql_type: DuckDB type.
        required: a source must provide it and no row may hold NULL there.
        kind: how the files source parses and validates it: one of "address", "hash", "int",
            "wei" (non-negative integer up to 38 digits), "uint256" (non-negative integer kept as
            text), "timestamp", "date", "text", "bool", "float".
        description: what it means, shown in docs and the Dagster UI.
    """

    name: str
    sql_type: str
    required: bool
    kind: str
    description: str


@dataclass(frozen=True)
class RawTable:
    """A table of the raw schema, with its key and columns."""

    name: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    # Tables with a block_date column are partitioned by it for incremental sources.
    date_column: str | None = "block_date"
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    def create_sql(self, schema: str = RAW_SCHEMA, table: str | None = None) -> str:
        cols = ",\n    ".join(f"{c.name} {c.sql_type}" for c in self.columns)
        return f"create table {schema}.{table or self.name} (\n    {cols}\n)"


def _c(name: str, sql_type: str, kind: str, description: str, required: bool = False) -> Column:
    return Column(name, sql_type, required, kind, description)


TRANSACTIONS = RawTable(
    name="transactions",
    description="One row per Ethereum transaction (ethereum-etl `transactions`, with receipts).",
    key=("hash",),
    notes=(
        "block_number, value and block_timestamp are NULL only for rows of a files export that "
        "lists senders and receivers alone (airdrop and sybil reports); such rows carry a "
        "synthetic hash, 0x || sha256('<file>:<line>'). Dune and the simulator always fill them.",
    ),
    columns=(
        _c("hash", "varchar", "hash", "Transaction hash.", required=True),
        _c("nonce", "bigint", "int", "Sender's transaction count before this one."),
        _c("block_hash", "varchar", "hash", "Hash of the block holding it."),
        _c("block_number", "bigint", "int", "Block number; NULL only in a sender/receiver-only export."),
        _c("transaction_index", "bigint", "int", "Position in the block."),
        _c("from_address", "varchar", "address", "Sender (always an EOA).", required=True),
        _c("to_address", "varchar", "address", "Recipient; NULL for a contract creation."),
        _c(
            "value",
            "decimal(38,0)",
            "wei",
            "ETH sent, in wei; NULL only in a sender/receiver-only export.",
        ),
        _c("gas", "bigint", "int", "Gas limit."),
        _c("gas_price", "bigint", "int", "Gas price in wei (effective price for EIP-1559)."),
        _c("input", "varchar", "text", "Call data, hex; the first 4 bytes are the method id."),
        _c(
            "block_timestamp",
            "timestamp",
            "timestamp",
            "Block time, UTC; NULL only in a sender/receiver-only export.",
        ),
        _c("block_date", "date", "date", "UTC date of block_timestamp (partition column)."),
        _c("max_fee_per_gas", "bigint", "int", "EIP-1559 fee cap in wei."),
        _c("max_priority_fee_per_gas", "bigint", "int", "EIP-1559 tip cap in wei."),
        _c("transaction_type", "bigint", "int", "0 legacy, 1 access list, 2 EIP-1559."),
        _c("receipt_status", "bigint", "int", "1 success, 0 failed (reverted); NULL unknown."),
        _c("receipt_gas_used", "bigint", "int", "Gas used; NULL when receipts are absent."),
        _c(
            "receipt_effective_gas_price",
            "bigint",
            "int",
            "Price actually paid per gas in wei; NULL when receipts are absent.",
        ),
        _c(
            "receipt_contract_address",
            "varchar",
            "address",
            "Address of the contract this transaction created, if any.",
        ),
    ),
)

TOKEN_TRANSFERS = RawTable(
    name="token_transfers",
    description="One row per ERC-20 / ERC-721 Transfer event (ethereum-etl `token_transfers`).",
    key=("transaction_hash", "log_index"),
    columns=(
        _c("token_address", "varchar", "address", "Token contract.", required=True),
        _c("from_address", "varchar", "address", "Sender (zero address for a mint).", required=True),
        _c("to_address", "varchar", "address", "Receiver (zero address for a burn).", required=True),
        _c(
            "value",
            "varchar",
            "uint256",
            "Amount in the token's smallest unit (token id for ERC-721), exact decimal text.",
            required=True,
        ),
        _c("transaction_hash", "varchar", "hash", "Transaction that emitted it.", required=True),
        _c("log_index", "bigint", "int", "Position of the event in the block.", required=True),
        _c("block_number", "bigint", "int", "Block number.", required=True),
        _c("block_timestamp", "timestamp", "timestamp", "Block time, UTC.", required=True),
        _c("block_date", "date", "date", "UTC date of block_timestamp (partition column)."),
    ),
)

DEX_TRADES = RawTable(
    name="dex_trades",
    description="One row per DEX swap (the subset of Dune spellbook `dex.trades` we use).",
    key=("tx_hash", "evt_index"),
    columns=(
        _c("block_time", "timestamp", "timestamp", "Block time, UTC.", required=True),
        _c("block_date", "date", "date", "UTC date of block_time (partition column)."),
        _c("block_number", "bigint", "int", "Block number.", required=True),
        _c("tx_hash", "varchar", "hash", "Transaction hash.", required=True),
        _c("evt_index", "bigint", "int", "Index of the swap event.", required=True),
        _c("project", "varchar", "text", "DEX name, e.g. uniswap."),
        _c("taker", "varchar", "address", "Wallet that initiated the swap.", required=True),
        _c("token_bought_address", "varchar", "address", "Token the taker received."),
        _c("token_sold_address", "varchar", "address", "Token the taker gave."),
        _c("token_bought_amount_raw", "varchar", "uint256", "Amount received, smallest unit."),
        _c("token_sold_amount_raw", "varchar", "uint256", "Amount given, smallest unit."),
        _c("amount_usd", "double", "float", "Trade size in USD; NULL when unpriced."),
        _c("tx_from", "varchar", "address", "Transaction sender."),
        _c("tx_to", "varchar", "address", "Contract the transaction called (router)."),
        _c("project_contract_address", "varchar", "address", "Pool contract."),
    ),
)

NFT_TRADES = RawTable(
    name="nft_trades",
    description="One row per NFT sale (the subset of Dune spellbook `nft.trades` we use).",
    key=("tx_hash", "evt_index"),
    columns=(
        _c("block_time", "timestamp", "timestamp", "Block time, UTC.", required=True),
        _c("block_date", "date", "date", "UTC date of block_time (partition column)."),
        _c("block_number", "bigint", "int", "Block number.", required=True),
        _c("tx_hash", "varchar", "hash", "Transaction hash.", required=True),
        _c("evt_index", "bigint", "int", "Index of the sale event.", required=True),
        _c("project", "varchar", "text", "Marketplace name."),
        _c("nft_contract_address", "varchar", "address", "Collection contract.", required=True),
        _c("token_id", "varchar", "uint256", "Token id, exact decimal text.", required=True),
        _c("token_standard", "varchar", "text", "erc721 or erc1155."),
        _c("buyer", "varchar", "address", "Buyer.", required=True),
        _c("seller", "varchar", "address", "Seller.", required=True),
        _c("amount_raw", "decimal(38,0)", "wei", "Price in the currency's smallest unit."),
        _c("currency_symbol", "varchar", "text", "ETH, WETH, ..."),
        _c("amount_usd", "double", "float", "Price in USD; NULL when unpriced."),
        _c("tx_from", "varchar", "address", "Transaction sender."),
        _c("tx_to", "varchar", "address", "Contract the transaction called (marketplace)."),
    ),
)

CONTRACT_CREATIONS = RawTable(
    name="contract_creations",
    description=(
        "One row per deployed contract (ethereum-etl `contracts` joined to the creating transaction; "
        "Dune `ethereum.creation_traces`)."
    ),
    key=("address",),
    columns=(
        _c("address", "varchar", "address", "Contract address.", required=True),
        _c("creator_address", "varchar", "address", "Deployer (the creating transaction's sender)."),
        _c("transaction_hash", "varchar", "hash", "Creating transaction."),
        _c("block_number", "bigint", "int", "Block of creation."),
        _c("block_timestamp", "timestamp", "timestamp", "Time of creation, UTC."),
        _c("block_date", "date", "date", "UTC date of creation."),
        _c("bytecode", "varchar", "text", "Runtime bytecode, hex, when the source has it."),
        _c("function_sighashes", "varchar", "text", "Comma-separated 4-byte selectors."),
        _c("is_erc20", "boolean", "bool", "Implements ERC-20."),
        _c("is_erc721", "boolean", "bool", "Implements ERC-721."),
    ),
)

TOKENS = RawTable(
    name="tokens",
    description="One row per token contract (ethereum-etl `tokens`).",
    key=("address",),
    date_column=None,
    columns=(
        _c("address", "varchar", "address", "Token contract.", required=True),
        _c("symbol", "varchar", "text", "Ticker, as the contract reports it."),
        _c("name", "varchar", "text", "Name, as the contract reports it."),
        _c("decimals", "bigint", "int", "Decimals; NULL for NFTs or when unknown."),
        _c("total_supply", "varchar", "uint256", "Total supply, smallest unit, exact text."),
        _c("block_number", "bigint", "int", "Block where the token was first seen."),
    ),
)

ADDRESS_LABELS = RawTable(
    name="address_labels",
    description="Known addresses: exchanges, scammers, sanctioned, bridges, mixers, DEX, marketplaces.",
    key=("address", "label_type", "source"),
    date_column=None,
    columns=(
        _c("address", "varchar", "address", "Labelled address.", required=True),
        _c("label_type", "varchar", "text", "One of LABEL_TYPES.", required=True),
        _c("name", "varchar", "text", "Human-readable name, e.g. 'Binance 14'."),
        _c("source", "varchar", "text", "Where the label comes from.", required=True),
        _c(
            "original_label_type",
            "varchar",
            "text",
            "The label as the source wrote it (e.g. 'phish-hack', 'binance,exchange'); NULL when "
            "the source writes our types directly (simulator, Dune).",
        ),
    ),
)

BALANCES = RawTable(
    name="balances",
    description=(
        "ETH balance per address at the end of the data (BigQuery `crypto_ethereum.balances`). "
        "Without it a balance is unknown: the flows of a window do not say what a wallet held before."
    ),
    key=("address",),
    date_column=None,
    columns=(
        _c("address", "varchar", "address", "Address.", required=True),
        _c("eth_balance", "decimal(38,0)", "wei", "Balance in wei.", required=True),
        _c("block_number", "bigint", "int", "Block at which the balance holds."),
    ),
)

LOGS = RawTable(
    name="logs",
    description="One row per event log (ethereum-etl `logs`, BigQuery `crypto_ethereum.logs`).",
    key=("transaction_hash", "log_index"),
    date_column=None,
    columns=(
        _c("transaction_hash", "varchar", "hash", "Transaction that emitted it.", required=True),
        _c("log_index", "bigint", "int", "Position of the log in the block.", required=True),
        _c("transaction_index", "bigint", "int", "Position of the transaction in the block."),
        _c("block_number", "bigint", "int", "Block number.", required=True),
        _c("block_timestamp", "timestamp", "timestamp", "Block time, UTC; NULL when no file dates it."),
        _c("address", "varchar", "address", "Contract that emitted it.", required=True),
        _c(
            "topics",
            "varchar",
            "text",
            "Indexed topics, comma-joined lower-case 0x words as ethereum-etl writes them; the first "
            "is the event signature hash. NULL for an anonymous event without topics.",
        ),
        _c("data", "varchar", "text", "Non-indexed data, hex."),
    ),
)

TRACES = RawTable(
    name="traces",
    description=(
        "One row per call, create, suicide or reward trace (ethereum-etl `traces`, BigQuery "
        "`crypto_ethereum.traces`): internal ETH transfers live here."
    ),
    key=("block_number", "transaction_hash", "trace_address", "trace_type", "to_address"),
    columns=(
        _c("transaction_hash", "varchar", "hash", "Transaction; NULL for block and uncle rewards."),
        _c("transaction_index", "bigint", "int", "Position of the transaction in the block."),
        _c(
            "trace_address",
            "varchar",
            "text",
            "Path of the call in the call tree, e.g. '0,1'; NULL for the top-level call.",
        ),
        _c("block_number", "bigint", "int", "Block number.", required=True),
        _c("block_timestamp", "timestamp", "timestamp", "Block time, UTC; NULL when no file dates it."),
        _c("from_address", "varchar", "address", "Caller; NULL for rewards."),
        _c("to_address", "varchar", "address", "Callee, created contract or reward receiver."),
        _c("value", "decimal(38,0)", "wei", "ETH moved, in wei."),
        _c("trace_type", "varchar", "text", "call, create, suicide or reward.", required=True),
        _c("call_type", "varchar", "text", "call, delegatecall, staticcall or callcode."),
        _c("status", "bigint", "int", "1 success, 0 failed (the trace or a parent reverted)."),
        _c("error", "varchar", "text", "Why the trace failed, if it did."),
        # Last, so that a database stored before it gets the column appended in the same place.
        _c(
            "block_date",
            "date",
            "date",
            "UTC date of block_timestamp (partition column of the Dune source); NULL when undated.",
        ),
    ),
)

# Label vocabulary: the files source maps its input onto these (docs/files_source.md lists the
# synonyms); a label it cannot map loads as `other` with the original text kept.
LABEL_TYPES = (
    "exchange",  # exchange hot and cold wallets (hubs)
    "deposit",  # an exchange's per-customer deposit address: one customer, not a hub
    "scam",  # phishing, hacks, heists, exploits, ponzis
    "sanctioned",  # OFAC lists, addresses frozen by stablecoin issuers
    "bridge",
    "mixer",
    "dex",
    "nft_marketplace",
    "defi",
    "airdrop",  # airdrop distributors
    "sybil",  # airdrop hunters and sybil farms, as community reports name them
    "mev_bot",
    "miner",  # mining pools and their payout wallets (hubs)
    "contract",  # a contract or token with no more specific label
    "other",
)

RAW_TABLES: dict[str, RawTable] = {
    t.name: t
    for t in (
        TRANSACTIONS,
        TOKEN_TRANSFERS,
        DEX_TRADES,
        NFT_TRADES,
        CONTRACT_CREATIONS,
        TOKENS,
        ADDRESS_LABELS,
        BALANCES,
        LOGS,
        TRACES,
    )
}

# Rows that failed validation, one per (row, first failing column), with the reason.
REJECTS_TABLE = "raw_rejects"
REJECTS_CREATE_SQL = f"""
create table if not exists {RAW_SCHEMA}.{REJECTS_TABLE} (
    load_id varchar,
    table_name varchar,
    source_file varchar,
    row_number bigint,
    column_name varchar,
    reason varchar,
    record varchar,
    rejected_at timestamp
)
"""

# Which raw tables the last load provided. A feature that needs a table the source did not
# provide is NULL downstream, never 0 (an ethereum-etl export has no decoded NFT trades).
# `notes` says what a reader should know about a table's rows (synthetic hashes, rows without a
# time, labels mapped to `other`, extra columns skipped), '; '-separated.
MANIFEST_TABLE = "source_manifest"
MANIFEST_CREATE_SQL = f"""
create table if not exists {RAW_SCHEMA}.{MANIFEST_TABLE} (
    table_name varchar primary key,
    source varchar,
    provided boolean,
    row_count bigint,
    rejected_count bigint,
    loaded_at timestamp,
    load_id varchar,
    notes varchar,
    feed varchar
)
"""
# Added after the first release: older databases get them by ALTER TABLE. `feed` names the data
# behind the load (`files:<folder>`, `dune`, `simulator`): row-count gates compare a table only
# with earlier runs of the same feed, as another folder is other data, not a shrunken table.
MANIFEST_ADDED_COLUMNS = (("notes", "varchar"), ("feed", "varchar"))

# Every entry of the export folder the last files load saw: read (with its table and rows) or
# ignored (with why). Empty after a load from another source.
SOURCE_FILES_TABLE = "source_files"
SOURCE_FILES_CREATE_SQL = f"""
create table if not exists {RAW_SCHEMA}.{SOURCE_FILES_TABLE} (
    load_id varchar,
    path varchar,
    input_name varchar,
    status varchar,
    rows_read bigint,
    note varchar
)
"""
