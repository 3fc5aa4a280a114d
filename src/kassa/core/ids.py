"""Object ids in Stripe's style (`cus_...`), sortable by creation so they can serve as cursors."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # two base-62 digits at a time


def _base62(number: int, pairs: int) -> str:
    """`number` in 2 * `pairs` base-62 digits."""
    digits = []
    for _ in range(pairs):
        number, remainder = divmod(number, 3844)
        digits.append(_PAIRS[remainder])
    return "".join(reversed(digits))


_last_stamp = 0
_counter = 0
# The time part but its last two digits, as a number and spelled out: it stays the same for
# thousands of ids in a row (a millisecond is 4,096 numbers), so it is spelled once each.
_high = (-1, "")
# Random bytes below 248 (4 x 62) spelled as base-62 digits, each as likely as the others.
_SPELL = bytes(ord(_ALPHABET[b % 62]) if b < 248 else 0 for b in range(256))
_OVER = bytes(range(248, 256))


class _Entropy:
    """Random base-62 digits from the operating system's random bytes, read 4 KiB at a time
    rather than per id."""

    def __init__(self) -> None:
        self.reset()
        # A forked child must not draw the digits its parent draws.
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.digits, self.at = "", 0

    def take(self, count: int) -> str:
        if self.at + count > len(self.digits):
            self.digits = os.urandom(4096).translate(_SPELL, _OVER).decode()
            self.at = 0
        self.at += count
        return self.digits[self.at - count:self.at]


_entropy = _Entropy()


def new_id(prefix: str) -> str:
    """A new id: prefix, then 10 characters of creation time and a counter, then 14 random
    ones.

    Ids made later in the same process sort after earlier ones, which keeps cursor
    pagination stable.
    """
    global _last_stamp, _counter, _high
    stamp = time.time_ns() // 1_000_000
    if stamp <= _last_stamp:
        _counter += 1
        stamp = _last_stamp
    else:
        _counter = 0
        _last_stamp = stamp
    high, low = divmod(stamp * 4096 + (_counter % 4096), 3844)
    if high != _high[0]:
        _high = (high, _base62(high, 4))
    return f"{prefix}_{_high[1]}{_PAIRS[low]}{_entropy.take(14)}"


def secret_token(length: int = 32) -> str:
    """A secret for a link (an invoice's hosted page): `length` random base-62 digits, 32
    of them 190 bits, from the same buffered randomness as the ids rather than a system
    call each."""
    return _entropy.take(length)
