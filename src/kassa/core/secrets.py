"""API secrets: generated with enough entropy, stored only as a keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from kassa.core.errors import InvalidRequest


def new_secret(prefix: str) -> str:
    """A fresh secret such as `sk_live_...` with 256 bits of randomness."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_secret(secret: str, pepper: bytes) -> str:
    """Keyed hash (HMAC-SHA256) of a high-entropy secret; the pepper lives outside the database.

    API keys are random 256-bit values, so a slow password hash adds nothing against guessing;
    the key held outside the database makes a stolen table useless on its own.
    """
    return hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()


def form_token(pepper: bytes, purpose: str, holder: str) -> str:
    """The CSRF token of the forms of `purpose` ("portal", "dashboard-login"...) for one
    `holder` (a session's id, or the cookie set with a login form): derived, never stored."""
    return hash_secret(f"{purpose}-csrf:{holder}", pepper)


def check_form_token(pepper: bytes, purpose: str, holder: str | None,
                     token: str | None) -> None:
    """InvalidRequest (`csrf_invalid`) unless `token` is the holder's form token."""
    if not holder or not token or not hmac.compare_digest(
            form_token(pepper, purpose, holder), token):
        raise InvalidRequest("The form has expired; reload the page and try again.",
                             param="csrf_token", code="csrf_invalid")
