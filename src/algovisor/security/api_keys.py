"""API keys: random tokens shown once; only a SHA-256 digest is kept.

The tokens carry 256 bits of randomness, so a fast hash is enough: there is
nothing to brute-force that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "av_"


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """The start of a key, enough for a person to tell keys apart."""
    return key[: len(KEY_PREFIX) + 6]
