"""Object ids in Stripe's style (`cus_...`), sortable by creation so they can serve as cursors."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(_ALPHABET[remainder])
    return "".join(reversed(digits))


_TAIL = 62 ** 14  # the random part: 14 base-62 characters, drawn at once
_last_stamp = 0
_counter = 0


def new_id(prefix: str) -> str:
    """A new id: prefix, then 8 characters of creation time and a counter, then 14 random ones.

    Ids made later in the same process sort after earlier ones, which keeps cursor
    pagination stable.
    """
    global _last_stamp, _counter
    stamp = time.time_ns() // 1_000_000
    if stamp <= _last_stamp:
        _counter += 1
        stamp = _last_stamp
    else:
        _counter = 0
        _last_stamp = stamp
    head = _base62(stamp * 4096 + (_counter % 4096), 10)
    tail = _base62(secrets.randbelow(_TAIL), 14)
    return f"{prefix}_{head}{tail}"
