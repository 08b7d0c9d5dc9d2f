"""The ethereum-etl / BigQuery `crypto_ethereum` files source.

Users with their own node or BigQuery exports point the pipeline at a folder of ethereum-etl
exports (`transactions`, `token_transfers`, `blocks`, `contracts`, `tokens`, plus `labels` and our
`dex_trades` / `nft_trades`); `load_etl_files` reads, validates and loads it into the raw schema.
The accepted layout is documented in docs/files_source.md.
"""

from wallet_pipeline.logic.ingestion.etl_files.loader import load_etl_files
from wallet_pipeline.logic.ingestion.etl_files.report import EtlFilesError, FilesLoadReport, TableReport

__all__ = ["EtlFilesError", "FilesLoadReport", "TableReport", "load_etl_files"]
