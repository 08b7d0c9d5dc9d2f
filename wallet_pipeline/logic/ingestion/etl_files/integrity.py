"""Whole-file checks of compressed and columnar inputs, before any row of them is loaded.

An exporter killed mid-write leaves a `.csv.gz` whose deflate stream stops without gzip's
end-of-stream marker and trailer (CRC-32 and length). DuckDB's CSV reader returns the rows it
could inflate and stops there without an error, so such a file loads part of its rows as if
that were all. A Parquet file cut short loses its footer, and one with a damaged page fails
only when that page is read, which may be after other tables were staged.

Every gzip member is therefore inflated to its end and its trailer checked (Python's `gzip`
verifies the CRC-32 and length of each member), and every Parquet row group is decoded, before
the load starts: a damaged file stops the load with its name and the word "truncated" or
"corrupt", and nothing is stored.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from wallet_pipeline.logic.ingestion.etl_files.report import EtlFilesError

# Read size while inflating: large enough that Python's per-call cost is negligible next to zlib.
_CHUNK = 1 << 20


def verify_file(path: Path, rel: str) -> None:
    """Raise `EtlFilesError` naming `rel` if the gzip or Parquet file at `path` is not whole.

    Files neither gzip-compressed nor Parquet are not checked here: a plain CSV has no end
    marker, and its cut last line is caught by the column checks.
    """
    name = path.name.lower()
    if name.endswith(".gz"):
        _verify_gzip(path, rel)
    elif name.endswith(".parquet"):
        _verify_parquet(path, rel)


def _verify_gzip(path: Path, rel: str) -> None:
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(_CHUNK):
                pass
    except EOFError:
        raise EtlFilesError(
            f"{rel}: truncated gzip file: the compressed stream ends without gzip's end-of-stream "
            f"marker ({path.stat().st_size:,} bytes; an export cut short, e.g. by a killed exporter); "
            "export it again, nothing was loaded"
        ) from None
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise EtlFilesError(
            f"{rel}: corrupt gzip file ({exc}); export it again, nothing was loaded"
        ) from None


def _verify_parquet(path: Path, rel: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # Checksums are verified where the writer stored them (pyarrow skips them by default).
        parquet = pq.ParquetFile(path, page_checksum_verification=True)
    except (pa.ArrowException, OSError) as exc:
        size = path.stat().st_size
        raise EtlFilesError(
            f"{rel}: truncated or corrupt Parquet file: its footer cannot be read ({exc}; "
            f"{size:,} bytes); export it again, nothing was loaded"
        ) from None
    with parquet:
        for group in range(parquet.num_row_groups):
            try:
                # Decoding every page checks its header and compression.
                parquet.read_row_group(group)
            except (pa.ArrowException, OSError) as exc:
                raise EtlFilesError(
                    f"{rel}: corrupt Parquet file: row group {group + 1} of "
                    f"{parquet.num_row_groups} cannot be read ({exc}); export it again, nothing was loaded"
                ) from None
