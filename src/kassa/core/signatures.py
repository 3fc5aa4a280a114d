"""Signed webhooks, the scheme Stripe uses: a header `t=<unix time>,v1=<hex>` where each `v1`
is the HMAC-SHA256, under a secret, of the text "<t>." followed by the raw body. Several `v1`
values may be given (while a secret is rotated, one per secret in force); a receiver accepts
the message when one of them matches its secret and `t` is recent enough.

Kassa signs its own webhooks with it (`Kassa-Signature`, services/webhooks.py), and the
sandbox gateway signs its events the same way. `verify` is the helper a receiver calls.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

DEFAULT_TOLERANCE = 300  # seconds a signed message stays acceptable


class SignatureInvalid(Exception):
    """The header is missing or malformed, no signature matches, or it is too old."""


def mac(secret: bytes, stamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()


def header(secrets: Iterable[bytes], stamp: int, body: bytes) -> str:
    """The signature header's value for `body` at `stamp`, one `v1` per secret."""
    return ",".join([f"t={stamp}", *(f"v1={mac(secret, stamp, body)}" for secret in secrets)])


def verify(body: bytes, value: str | None, secret: bytes, now: int, *,
           tolerance: int = DEFAULT_TOLERANCE) -> int:
    """Check a signature header against `secret`; returns its timestamp. Raises
    SignatureInvalid when it is missing or malformed, matches no `v1`, or is older than
    `tolerance` seconds (a replay)."""
    if not value:
        raise SignatureInvalid("no signature header")
    stamp: int | None = None
    macs: list[str] = []
    for part in value.split(","):
        key, _, item = part.strip().partition("=")
        if key == "t" and item.isascii() and item.isdigit() and len(item) <= 12:
            stamp = int(item)
        elif key == "v1":
            macs.append(item)
    if stamp is None or not macs:
        raise SignatureInvalid("malformed signature header")
    expected = mac(secret, stamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in macs):
        raise SignatureInvalid("the signature does not verify")
    if now - stamp > tolerance:
        raise SignatureInvalid("the message is too old")
    return stamp
