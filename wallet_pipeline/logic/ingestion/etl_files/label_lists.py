r"""Address label lists in the shapes the public lists come in, read into rows of `labels`.

- JSON `{address: nameTag}` (dawsbot/eth-labels): the label comes from the file's name;
- JSON `{address: {name, labels: [...]}}` (brianleect/etherscan-labels): one row per label type
  the entry's labels map to, all of the entry's labels kept as the original;
- JSON `[{address, label?, name?}, ...]`;
- text, one address per line (quotes, trailing commas and a Postgres `\x` prefix are tolerated,
  as in dspytdao/Eth_Data): the label comes from the file's name.

CSV lists with other column names (`address,nameTag`, Raphtory's `address,name,family,...`) are
ordinary CSV files of the `labels` table, read through its column aliases.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from wallet_pipeline.logic.ingestion.etl_files.report import EtlFilesError
from wallet_pipeline.logic.ingestion.etl_files.specs import label_from_file_name, map_label

COLUMNS = ("address", "label_type", "name", "original_label_type")
_TXT_VALUE = re.compile(r"^[\s'\"]*(?:\\x|0x)?([0-9a-fA-F]+)[\s'\",;]*$")


def read_label_list(path: Path, rel: str) -> pd.DataFrame:
    """Rows `_line, address, label_type, name, original_label_type` of one JSON or text list.

    `_line` is the line of a text file, and for JSON the position (from 1) of the row among the
    (address, label type) rows the file gives, in file order. Values are kept as written: the
    loader validates addresses and maps label types like any other labels file.

    Raises:
        EtlFilesError: the file is not UTF-8, not valid JSON (with line and column), or an entry
            has a shape no public list uses.
    """
    file_label = label_from_file_name(path.name.rsplit(".", 1)[0])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise EtlFilesError(f"{rel}: cannot be read ({exc}); expected UTF-8 text") from exc
    rows = (
        _json_rows(text, rel, file_label) if path.suffix.lower() == ".json" else _txt_rows(text, file_label)
    )
    frame = pd.DataFrame(rows, columns=["_line", *COLUMNS])
    frame["address"] = frame["address"].astype("string").str.strip()
    return frame.astype({"_line": "int64", **dict.fromkeys(COLUMNS, "string")})


def _txt_rows(text: str, file_label: str) -> list[tuple]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _TXT_VALUE.match(line)
        # A line that is not a bare address is kept as written, so the loader quarantines it
        # with its line rather than it vanishing here.
        address = "0x" + match.group(1) if match else line.strip()
        rows.append((number, address, file_label, None, file_label))
    return rows


def _json_rows(text: str, rel: str, file_label: str) -> list[tuple]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EtlFilesError(
            f"{rel}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    if isinstance(data, dict):
        entries = list(data.items())
    elif isinstance(data, list) and all(isinstance(e, dict) and "address" in e for e in data):
        entries = [(e["address"], e) for e in data]
    else:
        raise EtlFilesError(
            f"{rel}: expected a JSON object {{address: name}} or {{address: {{name, labels}}}}, "
            "or a list of objects with an address"
        )
    rows: list[tuple] = []
    for position, (address, value) in enumerate(entries, start=1):
        if value is None or isinstance(value, str):
            rows.append((len(rows) + 1, address, file_label, value or None, file_label))
            continue
        if not isinstance(value, dict):
            raise EtlFilesError(
                f"{rel}: entry {position} ({str(address)[:50]}) is {type(value).__name__}; "
                "expected a name or an object with name and labels"
            )
        name = value.get("name") or value.get("nameTag") or value.get("name_tag") or None
        labels = value.get("labels", value.get("label", value.get("label_type")))
        if isinstance(labels, str):
            labels = [labels]
        labels = [str(x) for x in labels or [] if str(x).strip()] or [file_label]
        original = ",".join(labels)
        # One row per label type the entry maps to; an entry whose labels all miss loads once
        # as `other`. Two labels of one type ("binance", "exchange") would collide on the key.
        types = list(dict.fromkeys(t for t in (map_label(x) for x in labels) if t)) or ["other"]
        rows.extend((len(rows) + 1, address, t, name, original) for t in types)
    return rows
