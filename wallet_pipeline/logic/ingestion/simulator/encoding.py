"""Deterministic addresses, hashes and exact decimal text, computed for whole arrays at once.

Every address in the simulation is an integer id: a namespace in the high bits (what kind of
actor it is) and an index. The hex text of an id is a keyed hash of (seed, id), so any chunk can
write the address of any actor without shared state, and the same seed always gives the same
addresses. Hashes use the splitmix64 finalizer: it is not cryptographic, but its outputs are
uniform and a 160-bit address collision among a few million ids is out of reach.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NS_SHIFT = 48
NS_ZERO = 0
NS_CONTRACT = 1
NS_ACTOR = 2  # EOAs planned once: deployers, entity members, poisoners
NS_HOT = 3  # exchange hot wallets
NS_WALLET = 4  # ordinary wallets, generated chunk by chunk
NS_DEPOSIT = 5  # exchange deposit addresses of chunk users
NS_LOOKALIKE = 6  # poisoning addresses that mimic a target address
NS_BUILDER = 7  # block builders (fee recipients), only in the ethereum-etl blocks file

TAG_ADDRESS = 1
TAG_TX = 2
TAG_BLOCK = 3
TAG_CODE = 4
TAG_BUILDER = 5

NULL_ID = -1
ZERO_ID = 0

# A look-alike id embeds its target id: the target's namespace below bit 48 and its index below 40.
_LOOK_TARGET_SHIFT = 40
_LOOK_INDEX_MASK = (1 << _LOOK_TARGET_SHIFT) - 1
# Poisoners copy the first and last characters users glance at; 5 and 4 is a common vanity target.
LOOKALIKE_PREFIX = 5
LOOKALIKE_SUFFIX = 4

_U64 = np.uint64
_M1 = _U64(0xBF58476D1CE4E5B9)
_M2 = _U64(0x94D049BB133111EB)
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Two ASCII hex digits per byte value, most significant first, read as one uint16 so that a
# single gather converts a byte.
_HEX_PAIRS = np.ascontiguousarray(
    np.stack([_HEX_DIGITS[np.arange(256) >> 4], _HEX_DIGITS[np.arange(256) & 15]], axis=1)
).view(np.uint16)[:, 0]
WEI_TYPE = pa.decimal128(38, 0)


def make_ids(namespace: int, index: np.ndarray | int) -> np.ndarray:
    """Ids of `index` (array or scalar) in `namespace`."""
    return (np.int64(namespace) << NS_SHIFT) | np.asarray(index, dtype=np.int64)


def namespace_of(ids: np.ndarray) -> np.ndarray:
    """Namespace of each id."""
    return np.asarray(ids, dtype=np.int64) >> NS_SHIFT


def lookalike_ids(target_ids: np.ndarray) -> np.ndarray:
    """Id of the look-alike address a poisoner uses against each target address."""
    target_ids = np.asarray(target_ids, dtype=np.int64)
    target_ns = target_ids >> NS_SHIFT
    target_index = target_ids & ((np.int64(1) << NS_SHIFT) - 1)
    if np.any(target_index > _LOOK_INDEX_MASK) or np.any(target_ns >= 256):
        raise ValueError("target id too large for a look-alike id")
    return (np.int64(NS_LOOKALIKE) << NS_SHIFT) | (target_ns << _LOOK_TARGET_SHIFT) | target_index


def _mix(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> _U64(30))
    x = x * _M1
    x = x ^ (x >> _U64(27))
    x = x * _M2
    return x ^ (x >> _U64(31))


def hash_words(
    seed: int, tag: int, a: np.ndarray, b: np.ndarray | None = None, n_words: int = 4
) -> np.ndarray:
    """Keyed hash of (seed, tag, a[, b]) as an (n, n_words) uint64 matrix."""
    with np.errstate(over="ignore"):
        key = _mix(np.array([(seed & 0xFFFFFFFFFFFF) * 1_000_003 + tag], dtype=_U64))[0]
        h = _mix(np.asarray(a, dtype=np.int64).astype(_U64) ^ key)
        if b is not None:
            h = _mix(h + np.asarray(b, dtype=np.int64).astype(_U64) * _GOLDEN)
        out = np.empty((len(h), n_words), dtype=_U64)
        for j in range(n_words):
            out[:, j] = _mix(h + _U64(j + 1) * _GOLDEN)
    return out


def uniform_hash(seed: int, tag: int, a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """A uniform [0, 1) float per element, stable for the same inputs."""
    w = hash_words(seed, tag, a, b, n_words=1)[:, 0]
    return (w >> _U64(11)).astype(np.float64) / float(1 << 53)


def _hex_ascii(words: np.ndarray, n_bytes: int) -> np.ndarray:
    """ASCII of '0x' + hex of the first `n_bytes` big-endian bytes of each row of words."""
    raw = words.astype(">u8").view(np.uint8).reshape(len(words), 8 * words.shape[1])[:, :n_bytes]
    out = np.empty((len(words), 1 + n_bytes), dtype=np.uint16)
    out[:, 0] = np.frombuffer(b"0x", dtype=np.uint16)[0]
    out[:, 1:] = _HEX_PAIRS[raw]
    return out.view(np.uint8)


def ascii_to_arrow(ascii: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Fixed-width ASCII rows as an Arrow string array (NULL where not valid)."""
    n, width = ascii.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    data = np.ascontiguousarray(ascii).reshape(-1)
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    arr = arr.cast(pa.string())
    if valid is not None and not valid.all():
        arr = pc.if_else(pa.array(valid), arr, pa.scalar(None, pa.string()))
    return arr


def address_ascii(seed: int, ids: np.ndarray) -> np.ndarray:
    """ASCII (n, 42) of the addresses of `ids`; NULL ids give the zero address."""
    ids = np.asarray(ids, dtype=np.int64)
    ascii = _hex_ascii(hash_words(seed, TAG_ADDRESS, ids, n_words=3), 20)
    ns = ids >> NS_SHIFT
    zero = (ids == ZERO_ID) | (ids < 0)
    if zero.any():
        ascii[zero, 2:] = ord("0")
    look = ns == NS_LOOKALIKE
    if look.any():
        inner = ids[look] & ((np.int64(1) << NS_SHIFT) - 1)
        target = ((inner >> _LOOK_TARGET_SHIFT) << NS_SHIFT) | (inner & _LOOK_INDEX_MASK)
        target_ascii = address_ascii(seed, target)
        rows = np.flatnonzero(look)
        head = slice(2, 2 + LOOKALIKE_PREFIX)
        tail = slice(42 - LOOKALIKE_SUFFIX, 42)
        ascii[rows, head] = target_ascii[:, head]
        ascii[rows, tail] = target_ascii[:, tail]
    return ascii


def address_array(seed: int, ids: np.ndarray) -> pa.Array:
    """Addresses of `ids` as lower-case hex text; id -1 gives NULL."""
    ids = np.asarray(ids, dtype=np.int64)
    return ascii_to_arrow(address_ascii(seed, ids), valid=ids >= 0)


def address_strings(seed: int, ids: np.ndarray) -> list[str]:
    """Addresses as Python strings, for the few places that need them one by one."""
    return address_array(seed, ids).to_pylist()


def hash_array(seed: int, tag: int, a: np.ndarray, b: np.ndarray | None = None) -> pa.Array:
    """32-byte hashes of (tag, a[, b]) as '0x' + 64 hex characters."""
    return ascii_to_arrow(_hex_ascii(hash_words(seed, tag, a, b, n_words=4), 32))


def code_array(seed: int, ids: np.ndarray, n_bytes: int, prefix: str = "0x6080604052") -> pa.Array:
    """Deterministic byte code text per contract id: a solc-like preamble plus hash bytes."""
    n_words = (n_bytes + 7) // 8
    body = _hex_ascii(hash_words(seed, TAG_CODE, np.asarray(ids, dtype=np.int64), n_words=n_words), n_bytes)
    pre = np.frombuffer(prefix.encode(), dtype=np.uint8)
    out = np.empty((len(body), len(pre) + body.shape[1] - 2), dtype=np.uint8)
    out[:, : len(pre)] = pre
    out[:, len(pre) :] = body[:, 2:]
    return ascii_to_arrow(out)


_ZEROS = pa.array(["0" * k for k in range(64)])


def wei_decimal(gwei: np.ndarray, lo: np.ndarray | None = None) -> pa.Array:
    """Exact gwei * 10**9 + lo wei as DECIMAL(38, 0), the raw type of ETH amounts.

    Built from decimal text by Arrow: DuckDB parses VARCHAR into DECIMAL(38, 0) about a
    thousand times slower than it reads an Arrow decimal.
    """
    return pc.cast(wei_text(gwei, lo), WEI_TYPE)


def wei_text(gwei: np.ndarray, lo: np.ndarray | None = None) -> pa.Array:
    """Exact decimal text of gwei * 10**9 + lo wei, without going through floats."""
    gwei = np.asarray(gwei, dtype=np.int64)
    if lo is None:
        lo = np.zeros_like(gwei)
    lo = np.asarray(lo, dtype=np.int64)
    if np.any(gwei < 0) or np.any(lo < 0) or np.any(lo >= 10**9):
        raise ValueError("wei parts out of range")
    g = pc.cast(pa.array(gwei), pa.string())
    lo_text = pc.cast(pa.array(lo), pa.string())
    joined = pc.binary_join_element_wise(g, pc.utf8_lpad(lo_text, 9, "0"), "")
    return pc.if_else(pa.array(gwei > 0), joined, lo_text)


def scaled_text(mantissa: np.ndarray, exp: np.ndarray) -> pa.Array:
    """Exact decimal text of mantissa * 10**exp (both integer arrays)."""
    mantissa = np.asarray(mantissa, dtype=np.int64)
    exp = np.asarray(exp, dtype=np.int64)
    if np.any(mantissa < 0) or np.any(exp < 0) or np.any(exp >= len(_ZEROS)):
        raise ValueError("token amount out of range")
    m = pc.cast(pa.array(mantissa), pa.string())
    zeros = _ZEROS.take(pa.array(exp))
    joined = pc.binary_join_element_wise(m, zeros, "")
    return pc.if_else(pa.array(mantissa > 0), joined, m)
