"""What the files source accepts: one `InputTable` per file or folder name, built from the raw contract.

Column names are ethereum-etl's, which BigQuery's `crypto_ethereum` dataset shares. Columns that
those exports carry but the raw schema does not (block fields, blob fields, cumulative gas, ...)
are accepted and ignored; anything else is an error, because a renamed or misspelled column would
otherwise load as silent NULLs.
"""

from __future__ import annotations

from dataclasses import dataclass

from wallet_pipeline.logic.raw_schema import LABEL_TYPES, RAW_TABLES, RawTable

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

# BigQuery adds the block's hash (and time, which we do use where the raw table has it).
_BIGQUERY_BLOCK_REF = frozenset({"block_hash"})

# Top-level exports of ethereum-etl that no raw table needs; present files are listed, not read.
UNUSED_EXPORTS = frozenset(
    {"logs", "receipts", "traces", "geth_traces", "token_approvals", "balances_history"}
)

_TIME_HINTS = (("time_stamp", "block_timestamp"), ("timestamp", "block_timestamp"))

# Normalized label type (lower case, runs of other characters as one '-') -> LABEL_TYPES entry.
# Synonyms come from the public label lists the project ships or points to (dawsbot/eth-labels,
# Etherscan tags).
LABEL_SYNONYMS: dict[str, str] = {
    **{t.replace("_", "-"): t for t in LABEL_TYPES},
    "cex": "exchange",
    "cex-address": "exchange",
    "centralized-exchange": "exchange",
    "exchanges": "exchange",
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
    "ofac": "sanctioned",
    "sanctions": "sanctioned",
    "ofac-sanctions": "sanctioned",
    "ofac-sanctions-lists": "sanctioned",
    "ofac-sanctioned": "sanctioned",
    "sanctioned-address": "sanctioned",
    "tornado-cash": "mixer",
    "tornadocash": "mixer",
    "tornado": "mixer",
    "mixers": "mixer",
    "bridges": "bridge",
    "cross-chain": "bridge",
    "decentralized-exchange": "dex",
    "nft-market": "nft_marketplace",
    "nft-marketplaces": "nft_marketplace",
    "airdrops": "airdrop",
    "airdrop-hunter": "airdrop",
}
# Etherscan names incidents "<victim>-hack" (upbit-hack, bzx-exploit, ...): all thefts.
LABEL_SCAM_SUFFIXES = ("-hack", "-hacker", "-exploit", "-exploiter", "-heist", "-phish")


def _from_raw(
    raw: RawTable,
    *,
    skip: tuple[str, ...] = (),
    not_required: tuple[str, ...] = (),
    kinds: dict[str, str] | None = None,
) -> tuple[InputColumn, ...]:
    kinds = kinds or {}
    return tuple(
        InputColumn(c.name, kinds.get(c.name, c.kind), c.required and c.name not in not_required)
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
    tx_cols = _from_raw(raw["transactions"])
    # token_transfers' time may come from blocks or transactions; checked after that lookup.
    tt_cols = _from_raw(raw["token_transfers"], not_required=("block_timestamp",))
    contract_cols = _from_raw(raw["contract_creations"], skip=("creator_address", "transaction_hash"))
    label_cols = _from_raw(raw["address_labels"], kinds={"label_type": "label"}, not_required=("source",))
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
            "transactions",
            "transactions",
            tx_cols,
            _required(tx_cols, "to_address"),
            TRANSACTION_COLUMNS_IGNORED,
            key=raw["transactions"].key,
            required_input=True,
            hints=_TIME_HINTS + (("tx_hash", "hash"), ("from", "from_address"), ("to", "to_address")),
        ),
        InputTable(
            "token_transfers",
            "token_transfers",
            tt_cols,
            _required(tt_cols),
            _BIGQUERY_BLOCK_REF,
            key=raw["token_transfers"].key,
            hints=_TIME_HINTS + (("contract_address", "token_address"), ("tx_hash", "transaction_hash")),
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
            _required(label_cols),
            frozenset(),
            key=raw["address_labels"].key,
            hints=(("type", "label_type"), ("category", "label_type"), ("nametag", "name")),
        ),
    ]
    special = {"transactions", "token_transfers", "contract_creations", "address_labels"}
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
