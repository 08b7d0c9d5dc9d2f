"""API key configuration: names with SHA-256 digests, never a usable key.

`WALLET_API_KEYS` is a comma-separated list of `name:sha256hex` entries, e.g.

    WALLET_API_KEYS="alice:2bb80d5...,ci:9f86d08..."      # digest = sha256(key).hexdigest()

Settings validates it with `parse_key_spec` before anything starts; the API checks presented keys
against the digests (`api/auth.py`).
"""

from __future__ import annotations

import hashlib
import re

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class KeySpecError(ValueError):
    """The key configuration cannot be read; the message names the bad entry (never a key)."""


def hash_key(key: str) -> str:
    """The SHA-256 hex digest stored for a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_key_spec(spec: str) -> dict[str, str]:
    """`name:sha256hex,...` -> {name: digest}.

    Raises:
        KeySpecError: an entry without a name, with a digest that is not 64 hex characters, or a
            name given twice.
    """
    keys: dict[str, str] = {}
    for i, entry in enumerate(e.strip() for e in spec.split(",")):
        if not entry:
            continue
        name, sep, digest = entry.partition(":")
        name, digest = name.strip(), digest.strip().lower()
        if not sep or not _NAME.match(name):
            raise KeySpecError(
                f"entry {i + 1} of the API key list has no valid name: expected name:sha256hex "
                "with a name of letters, digits and _.@-"
            )
        if not _DIGEST.match(digest):
            raise KeySpecError(
                f"entry {i + 1} ({name}) is not a SHA-256 hex digest (64 characters 0-9a-f); store "
                "hash_key(key), never the key itself"
            )
        if name in keys:
            raise KeySpecError(f"entry {i + 1}: the name {name} is given twice")
        keys[name] = digest
    return keys
