"""API keys: configured as names with SHA-256 digests, checked in constant time.

The configuration never holds a usable key, only its digest: `WALLET_API_KEYS` (read by the
command that starts the API) is a comma-separated list of `name:sha256hex` entries, e.g.

    WALLET_API_KEYS="alice:2bb80d5...,ci:9f86d08..."      # digest = sha256(key).hexdigest()
    python -c "from wallet_pipeline.api.auth import hash_key; print(hash_key('the key'))"

Keys are random tokens with enough entropy (`secrets.token_urlsafe(32)`), so one unsalted SHA-256
is enough; a slow password hash would only slow every request. The name is what a flag records
as `flagged_by`.
"""

from __future__ import annotations

import hmac

from wallet_pipeline.logic.publish.api_keys import KeySpecError, hash_key, parse_key_spec

# The API's users import the key helpers from here (the README's hash_key command).
__all__ = ["HEADER", "KeySpecError", "hash_key", "key_name", "parse_key_spec"]

HEADER = "X-API-Key"


def key_name(presented: str | None, keys: dict[str, str]) -> str | None:
    """The name of the key presented, or None when it matches none.

    Every configured digest is compared (no early exit), each with `hmac.compare_digest`, so the
    time taken does not tell which key, or how much of one, matched.
    """
    if not presented:
        return None
    digest = hash_key(presented)
    found = None
    for name, stored in keys.items():
        if hmac.compare_digest(digest, stored):
            found = name
    return found
