"""Object ids: unique, sorted by creation, random in their tail, and not shared with a fork."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from itertools import pairwise

from kassa.core import ids
from kassa.core.ids import new_id

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _number(digits: str) -> int:
    """The number base-62 `digits` spell."""
    value = 0
    for digit in digits:
        value = value * 62 + DIGITS.index(digit)
    return value


def test_ids_are_unique_and_sort_in_the_order_they_were_made() -> None:
    made = [new_id("in") for _ in range(50_000)]
    assert len(set(made)) == len(made)
    assert made == sorted(made)
    assert all(re.fullmatch(r"in_[0-9A-Za-z]{24}", made_id) for made_id in made)


def test_the_time_part_is_the_creation_millisecond_and_a_counter() -> None:
    assert ids._base62(0, 5) == "0000000000"
    assert ids._base62(61, 1) == "0z"
    assert ids._base62(62, 1) == "10"
    stamp = 1_795_000_000_000  # 2026-11-18, in milliseconds
    assert _number(ids._base62(stamp * 4096 + 7, 5)) == stamp * 4096 + 7


def test_each_id_spells_the_millisecond_it_was_made_in_and_counts_up_within_it() -> None:
    """The time part's high digits are spelled once and reused: every id still carries its
    own millisecond and counter, across the many times the low digits wrap around."""
    before = time.time_ns() // 1_000_000
    made = [new_id("in")[3:13] for _ in range(30_000)]
    after = time.time_ns() // 1_000_000
    values = [_number(head) for head in made]
    assert all(later > earlier for earlier, later in pairwise(values))
    assert before <= values[0] // 4096 and values[-1] // 4096 <= after
    assert len({value // 3844 for value in values}) > 5  # the high digits changed often


def test_every_base62_digit_is_as_likely_in_the_random_tail() -> None:
    tails = Counter(digit for _ in range(20_000) for digit in new_id("x")[12:])
    assert set(tails) == set(DIGITS)
    expected = 20_000 * 14 / 62  # about 4,516 of each
    # Six standard deviations (about 66 each): a biased digit (a byte's value modulo 62
    # without dropping the top 8 values makes 0-7 a quarter more likely) fails this.
    assert all(abs(count - expected) < 400 for count in tails.values()), tails


def test_a_forked_process_draws_other_random_digits_than_its_parent() -> None:
    new_id("x")  # the parent's pool of random digits is filled
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.write(write, new_id("x")[12:].encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    theirs = os.read(read, 100).decode()
    os.close(read)
    assert theirs != new_id("x")[12:]


def test_a_secret_token_is_unguessable_base62() -> None:
    tokens = [ids.secret_token() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9A-Za-z]{32}", token) for token in tokens)
    assert len(set(tokens)) == len(tokens)
    assert len(ids.secret_token(40)) == 40
    # Its digits come from the same unbiased draw as the ids' tails.
    counts = Counter("".join(tokens))
    assert set(counts) == set(DIGITS)
    expected = 10_000 * 32 / 62  # about 5,161 of each, standard deviation about 71
    assert all(abs(count - expected) < 430 for count in counts.values()), counts
