"""The API's fast path: every wallet's analysis and every cluster's list entry rendered ahead of time.

A published snapshot never changes, so what `/analyze/{address}` and `/clusters` answer can be
worked out once per snapshot instead of once per request. A point query on a DuckDB table of 1.5
million wallets takes 4-7 ms (no index on the address), and `/analyze` needs five of them; with
the answers rendered ahead, a request is a binary search in a sorted array of addresses and a
slice of a file.

    index = load_or_build(con, meta, snapshot_dir)   # seconds once per snapshot, then instant
    index.analysis_json("0xabc…")                     # bytes of an `Analysis`, or None
    index.cluster_page_json(risk_min=80, sort="size") # bytes of a `ClusterPage`

The JSON comes from the same SQL the slow path runs (`queries.wallet_rows_sql`,
`cluster_item_sql`, `cluster_brief_sql`), rendered by DuckDB, so both paths give the same answer;
a sample of every build is parsed with the response models, and a test compares the two paths on
every wallet and on 960 combinations of filters.

The rendered answers live in files beside the snapshots (`.api_index/<snapshot file>/`) and are
memory-mapped: API worker processes share one copy in the page cache, and a restarted API finds
the index built. A build takes an exclusive lock where the OS has `fcntl`, so two workers that start
together build it once. Index folders of snapshots that were pruned are removed by the next build.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import TypeAdapter

from wallet_pipeline.api import models, queries

INDEX_DIR = ".api_index"
FORMAT = 4  # bump when the files change shape: an index of another format is rebuilt
_BATCH = 50_000
_ITEM = TypeAdapter(models.ClusterSummary)
_BRIEF = TypeAdapter(models.ClusterBrief)
_BODY = TypeAdapter(models.AnalysisBody)
_WHEN = TypeAdapter(models.Utc | None)
_NO_TIME = np.iinfo(np.int64).min  # a NULL time: never "active within" anything
FILTER_COLUMNS = {
    "risk_score": np.float64,
    "risk_level": np.int8,
    "size": np.float64,
    "last_active_us": np.int64,
}


class Blobs:
    """Byte strings laid end to end in one file, with their offsets: `blobs[i]` is the i-th."""

    def __init__(self, data: mmap.mmap | bytes, offsets: np.ndarray | list[int]) -> None:
        self._data = data
        self._offsets = offsets

    def __getitem__(self, i: int) -> bytes:
        return self._data[self._offsets[i] : self._offsets[i + 1]]

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @staticmethod
    def read_list(folder: Path, name: str) -> list[bytes]:
        """Every string as its own bytes object: for small sets read many times per request."""
        data = (folder / f"{name}.bin").read_bytes()
        offsets = np.load(folder / f"{name}.offsets.npy").tolist()
        return [data[a:b] for a, b in zip(offsets, offsets[1:], strict=False)]

    @staticmethod
    def write(folder: Path, name: str, chunks: Iterator[pa.Array]) -> None:
        """Write `name.bin` and `name.offsets.npy` from Arrow string arrays, in order, without copies."""
        offsets = [np.zeros(1, dtype=np.int64)]
        end = 0
        with open(folder / f"{name}.bin", "wb") as out:
            for chunk in chunks:
                if len(chunk) == 0:
                    continue
                if chunk.null_count:
                    raise ValueError(f"{name}: {chunk.null_count} rows rendered no JSON")
                chunk = chunk.cast(pa.large_string())
                _, offset_buffer, data = chunk.buffers()
                own = np.frombuffer(offset_buffer, dtype=np.int64)[
                    chunk.offset : chunk.offset + len(chunk) + 1
                ]
                out.write(memoryview(data)[own[0] : own[-1]])
                offsets.append(end + (own[1:] - own[0]))
                end += int(own[-1] - own[0])
        np.save(folder / f"{name}.offsets.npy", np.concatenate(offsets))

    @classmethod
    def open(cls, folder: Path, name: str) -> Blobs:
        """Memory-mapped."""
        path = folder / f"{name}.bin"
        if path.stat().st_size == 0:  # mmap refuses an empty file
            return cls(b"", np.load(folder / f"{name}.offsets.npy"))
        with open(path, "rb") as f:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        return cls(data, np.load(folder / f"{name}.offsets.npy", mmap_mode="r"))


@dataclass
class Ordered:
    """The clusters in one sort order, with a mask per value of each categorical filter.

    Risk levels, size bands and activity windows take few values, so each gets a boolean mask
    laid out in this order when the index opens; a request ANDs masks and compares one column.
    """

    rows: np.ndarray  # int64: cluster row at each position
    risk_score: np.ndarray  # float64, NaN for NULL (never >= anything)
    level: dict[str, np.ndarray]
    band: dict[str, np.ndarray]
    active: dict[str, np.ndarray]

    @classmethod
    def lay_out(cls, rows: np.ndarray, columns: dict[str, np.ndarray], newest_us: int | None) -> Ordered:
        risk_level = columns["risk_level"][rows]
        size = columns["size"][rows]
        last_active = columns["last_active_us"][rows]
        bands = {}
        for band, (low, high) in queries.SIZE_BANDS.items():
            bands[band] = (size >= low) & (size <= high) if high is not None else size >= low
        active = {}
        for window, span in queries.ACTIVE_WINDOWS.items():
            if newest_us is None:
                active[window] = np.zeros(len(rows), dtype=bool)
            else:
                active[window] = last_active >= newest_us - int(span.total_seconds() * 1_000_000)
        return cls(
            rows=rows,
            risk_score=np.ascontiguousarray(columns["risk_score"][rows]),
            level={lv: risk_level == i for i, lv in enumerate(queries.RISK_LEVELS)},
            band=bands,
            active=active,
        )


@dataclass
class SnapshotIndex:
    """The rendered answers of one snapshot, and the columns the cluster filters look at."""

    wallet_keys: np.ndarray  # S40: lower-case hex without 0x, sorted
    wallet_bodies: Blobs  # AnalysisBody JSON per wallet
    wallet_cluster: np.ndarray  # int32 row in the cluster arrays, -1 when in no cluster
    cluster_items: list[bytes]  # ClusterSummary JSON per cluster row
    cluster_briefs: list[bytes]  # ClusterBrief JSON per cluster row
    personas_lower: list[str]  # dominant personas per cluster row, lower case, "" for NULL
    orders: dict[str, Ordered]  # by sort key of queries.SORTS
    newest_us: int | None
    newest_json: bytes
    _persona_masks: OrderedDict = field(default_factory=OrderedDict)

    @property
    def n_clusters(self) -> int:
        return len(self.personas_lower)

    # ------------------------------------------------------------ lookups

    def analysis_json(self, address: str) -> bytes | None:
        """The `Analysis` of a lower-case 0x address as JSON, or None when the snapshot lacks it."""
        key = address[2:].encode("ascii")
        i = int(np.searchsorted(self.wallet_keys, key))
        if i >= len(self.wallet_keys) or self.wallet_keys[i] != key:
            return None
        c = int(self.wallet_cluster[i])
        brief = self.cluster_briefs[c] if c >= 0 else b"null"
        checksum = queries.checksum_address(address).encode("ascii")
        return b"".join(
            (self.wallet_bodies[i][:-1], b',"checksum_address":"', checksum, b'","cluster":', brief, b"}")
        )

    def cluster_page_json(
        self,
        *,
        risk_min: float = 0.0,
        risk_level: str | None = None,
        size_band: str | None = None,
        active_within: str | None = None,
        persona: str | None = None,
        sort: str = "risk",
        page: int = 1,
        page_size: int = 50,
    ) -> bytes:
        """A `ClusterPage` as JSON: the same filters, order and totals as `queries.list_clusters`."""
        if sort not in self.orders:
            raise ValueError(f"sort must be one of {', '.join(queries.SORTS)}")
        o = self.orders[sort]
        mask = o.risk_score >= risk_min
        if risk_level is not None:
            level = o.level.get(risk_level)
            mask &= level if level is not None else False
        if size_band:
            mask &= o.band[size_band]
        if active_within:
            mask &= o.active[active_within]
        if persona is not None:
            mask &= self._persona_mask(persona, sort)
        hits = np.flatnonzero(mask)
        start = (page - 1) * page_size
        rows = o.rows[hits[start : start + page_size]].tolist()
        items = b",".join([self.cluster_items[r] for r in rows])
        head = f'{{"total":{len(hits)},"page":{page},"page_size":{page_size},"newest_activity":'
        return b"".join((head.encode(), self.newest_json, b',"items":[', items, b"]}"))

    def _persona_mask(self, persona: str, sort: str) -> np.ndarray:
        needle = persona.lower()
        mask = self._persona_masks.get((needle, sort))
        if mask is None:
            rows = self.orders[sort].rows.tolist()
            texts = self.personas_lower
            mask = np.fromiter((needle in texts[r] for r in rows), dtype=bool, count=len(rows))
            self._persona_masks[(needle, sort)] = mask
            while len(self._persona_masks) > 96:  # bounded: persona texts asked for are few
                self._persona_masks.popitem(last=False)
        return mask

    # ------------------------------------------------------------ files

    @classmethod
    def open(cls, folder: Path) -> SnapshotIndex:
        """An index built earlier: wallets memory-mapped, clusters read whole."""
        facts = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        columns = {name: np.load(folder / f"{name}.npy") for name in FILTER_COLUMNS}
        orders = {
            key: Ordered.lay_out(np.load(folder / f"order_{key}.npy"), columns, facts["newest_us"])
            for key in queries.SORTS
        }
        return cls(
            wallet_keys=np.load(folder / "wallet_keys.npy", mmap_mode="r"),
            wallet_bodies=Blobs.open(folder, "wallet_bodies"),
            wallet_cluster=np.load(folder / "wallet_cluster.npy", mmap_mode="r"),
            cluster_items=Blobs.read_list(folder, "cluster_items"),
            cluster_briefs=Blobs.read_list(folder, "cluster_briefs"),
            personas_lower=json.loads((folder / "personas_lower.json").read_text(encoding="utf-8")),
            orders=orders,
            newest_us=facts["newest_us"],
            newest_json=facts["newest_json"].encode(),
        )


# ---------------------------------------------------------------- building


def index_folder(snapshot_dir: Path, snapshot_name: str) -> Path:
    """Where the index of the snapshot file `snapshot_name` lives."""
    return Path(snapshot_dir) / INDEX_DIR / snapshot_name


def load_or_build(con, meta: queries.SnapshotMeta, snapshot_dir: Path) -> SnapshotIndex:  # noqa: ANN001
    """The index of the snapshot `con` reads: opened when built before, else built, then opened."""
    folder = index_folder(snapshot_dir, meta.name)
    if _is_built(folder):
        return SnapshotIndex.open(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(folder):
        if not _is_built(folder):  # another worker may have built it while this one waited
            if folder.exists():
                shutil.rmtree(folder)  # an index of another format
            build_index(con, meta, folder)
            _prune(Path(snapshot_dir))
    return SnapshotIndex.open(folder)


def build_index(con, meta: queries.SnapshotMeta, folder: Path) -> None:  # noqa: ANN001
    """Render every wallet's analysis and every cluster's entries of one snapshot into `folder`.

    Written to a temporary folder beside it, then renamed: a reader sees a whole index or none.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    con.execute("set enable_progress_bar = false")  # a server's output is its log
    try:
        cluster_row = _write_clusters(con, meta, tmp)
        _write_wallets(con, meta, tmp, cluster_row)
        _check_sample(tmp)
        facts = {"format": FORMAT, **_newest(con, meta)}
        (tmp / "meta.json").write_text(json.dumps(facts), encoding="utf-8")
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _newest(con, meta: queries.SnapshotMeta) -> dict[str, Any]:  # noqa: ANN001
    newest_us = None
    if meta.has(f"{queries.E}.clusters"):
        newest_us = con.execute(f"select epoch_us(max(last_active)) from {queries.E}.clusters").fetchone()[0]
    return {
        "newest_us": newest_us,
        "newest_json": _WHEN.dump_json(_WHEN.validate_python(meta.newest_activity)).decode(),
    }


def _write_clusters(con, meta: queries.SnapshotMeta, folder: Path) -> dict[str, int]:  # noqa: ANN001
    """Cluster entries and filter columns, in cluster_id order; returns cluster_id -> row."""
    if not meta.has(f"{queries.E}.clusters"):
        for name in ("cluster_items", "cluster_briefs"):
            Blobs.write(folder, name, iter([]))
        for name, dtype in FILTER_COLUMNS.items():
            np.save(folder / f"{name}.npy", np.zeros(0, dtype=dtype))
        for key in queries.SORTS:
            np.save(folder / f"order_{key}.npy", np.zeros(0, dtype=np.int64))
        (folder / "personas_lower.json").write_text("[]", encoding="utf-8")
        return {}
    con.execute(
        "create or replace temp table api_index_clusters as "
        "select row_number() over (order by cluster_id) - 1 as idx, "
        "cluster_id, risk_score, size, last_active, "
        f"{queries.cluster_item_sql(meta)} as item, {queries.cluster_brief_sql(meta)} as brief, "
        "coalesce(risk_score::double, 'nan'::double) as f_risk_score, "
        "coalesce(list_position($levels, risk_level) - 1, -1)::tinyint as f_risk_level, "
        "coalesce(size::double, 'nan'::double) as f_size, "
        f"coalesce(epoch_us(last_active::timestamp), {_NO_TIME}) as f_last_active_us, "
        f"lower(coalesce({meta.dominant_personas_sql}, '')) as personas_lower from {queries.E}.clusters",
        {"levels": list(queries.RISK_LEVELS)},
    )
    try:
        found = con.execute("select * from api_index_clusters order by idx").fetch_arrow_table()
        Blobs.write(folder, "cluster_items", iter(found.column("item").chunks))
        Blobs.write(folder, "cluster_briefs", iter(found.column("brief").chunks))
        for name, dtype in FILTER_COLUMNS.items():
            np.save(folder / f"{name}.npy", np.asarray(found.column(f"f_{name}").to_numpy(), dtype=dtype))
        personas = found.column("personas_lower").to_pylist()
        (folder / "personas_lower.json").write_text(json.dumps(personas), encoding="utf-8")
        for key, order_sql in queries.SORTS.items():
            order = con.execute(
                f"select idx from api_index_clusters order by {order_sql}, cluster_id"
            ).fetchnumpy()
            np.save(folder / f"order_{key}.npy", np.asarray(order["idx"], dtype=np.int64))
    finally:
        con.execute("drop table api_index_clusters")
    return {cid: i for i, cid in enumerate(found.column("cluster_id").to_pylist())}


def _write_wallets(con, meta: queries.SnapshotMeta, folder: Path, cluster_row: dict[str, int]) -> None:  # noqa: ANN001
    """Every wallet the snapshot knows, in address order: its analysis body and cluster row.

    One address range at a time (the tables are stored in address order, so DuckDB skips the
    rest), which keeps memory to a range's worth however many wallets there are.
    """
    keys: list[np.ndarray] = []
    clusters: list[np.ndarray] = []
    sql = queries.wallet_rows_sql(meta, "address >= $low and address < $high")

    def bodies() -> Iterator[pa.Array]:
        for low, high in _address_ranges():
            reader = con.execute(sql, {"low": low, "high": high}).fetch_record_batch(_BATCH)
            for batch in reader:
                addresses = batch.column("address").to_pylist()
                keys.append(np.array([a[2:] for a in addresses], dtype="S40"))
                ids = batch.column("cluster_id").to_pylist()
                clusters.append(np.array([cluster_row.get(c, -1) for c in ids], dtype=np.int32))
                yield batch.column("body")

    Blobs.write(folder, "wallet_bodies", bodies())
    np.save(folder / "wallet_keys.npy", np.concatenate(keys) if keys else np.zeros(0, dtype="S40"))
    np.save(
        folder / "wallet_cluster.npy", np.concatenate(clusters) if clusters else np.zeros(0, dtype=np.int32)
    )


def _address_ranges() -> Iterator[tuple[str, str]]:
    """Sixteen ranges by the first hex digit, plus whatever sorts outside them (malformed keys)."""
    digits = "0123456789abcdef"
    yield "", "0x0"
    for a, b in zip(digits, [*digits[1:], "g"], strict=True):
        yield f"0x{a}", f"0x{b}"
    yield "0xg", "\U0010ffff"


def _check_sample(folder: Path) -> None:
    """Parse a sample of the rendered JSON with the response models: a shape drift fails the build."""
    for name, adapter in (("wallet_bodies", _BODY), ("cluster_items", _ITEM), ("cluster_briefs", _BRIEF)):
        blobs = Blobs.open(folder, name)
        for i in sorted({int(x) for x in np.linspace(0, len(blobs) - 1, num=min(len(blobs), 200))}):
            adapter.validate_json(blobs[i])


def _is_built(folder: Path) -> bool:
    try:
        return json.loads((folder / "meta.json").read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def _build_lock(folder: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: two workers may both build; the rename keeps one whole index
        yield
        return
    with open(folder.parent / f"{folder.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prune(snapshot_dir: Path) -> None:
    """Remove index folders (and locks) of snapshot files that no longer exist."""
    root = snapshot_dir / INDEX_DIR
    for entry in root.iterdir():
        name = entry.name.removesuffix(".lock")
        if name.startswith("."):
            continue  # another build's temporary folder
        if not (snapshot_dir / name).exists():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
