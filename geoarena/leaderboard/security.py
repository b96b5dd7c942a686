"""Bearer tokens: ``ga_<key>_<secret>``; only sha256(secret) is stored.

The public ``key`` finds the row with an indexed lookup, then the secret's hash is compared
with :func:`hmac.compare_digest`, so response time does not depend on how much of a guessed
secret is right.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "ga"


@dataclass(frozen=True)
class NewToken:
    key: str
    secret_hash: str
    raw: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> NewToken:
    key = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return NewToken(key=key, secret_hash=hash_secret(secret), raw=f"{PREFIX}_{key}_{secret}")


def split_token(raw: str) -> tuple[str, str] | None:
    """(key, secret) of a well-formed token, else None."""
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
