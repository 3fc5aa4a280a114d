"""API secrets: generated with enough entropy, stored only as a keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret(prefix: str) -> str:
    """A fresh secret such as `sk_live_...` with 256 bits of randomness."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_secret(secret: str, pepper: bytes) -> str:
    """Keyed hash (HMAC-SHA256) of a high-entropy secret; the pepper lives outside the database.

    API keys are random 256-bit values, so a slow password hash adds nothing against guessing;
    the key held outside the database makes a stolen table useless on its own.
    """
    return hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()
