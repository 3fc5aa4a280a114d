"""Clocks: all code asks a clock for "now", so tests and test clocks can move time."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Protocol

from kassa.core.errors import InvalidRequest


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0)


class FrozenClock:
    """A clock that stands still until moved; for tests."""

    def __init__(self, at: datetime) -> None:
        self._at = ensure_utc(at)

    def now(self) -> datetime:
        return self._at

    def move_to(self, at: datetime) -> None:
        self._at = ensure_utc(at)


def ensure_utc(value: datetime) -> datetime:
    """Return `value` as an aware UTC datetime; naive datetimes are taken to be UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# Timestamps Kassa accepts: 1970 up to 2100, far enough for any contract and far enough from
# datetime's year 9999 that period arithmetic on them cannot overflow.
MAX_TIMESTAMP = 4_102_444_800
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_timestamp(value: object, param: str) -> datetime:
    """A Unix timestamp given by a caller, checked to be an integer between 1970 and 2100."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TIMESTAMP:
        raise InvalidRequest(f"{param} must be a Unix timestamp between 1970 and 2100.",
                             param=param)
    return from_unix(value)


def parse_day(value: object, param: str) -> date:
    """A calendar date given by a caller as "YYYY-MM-DD" or as a Unix timestamp (its UTC
    date), between 1970 and 2100."""
    digits = isinstance(value, str) and value.isascii() and value.isdigit()
    if isinstance(value, str) and not digits:
        if not _ISO_DAY.fullmatch(value):
            raise InvalidRequest(f"{param} must be a date (YYYY-MM-DD) or a Unix timestamp.",
                                 param=param)
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise InvalidRequest(f"{param} is not a valid date: {value!r}.",
                                 param=param) from None
        if not 1970 <= day.year < 2100:
            raise InvalidRequest(f"{param} must be between 1970 and 2100.", param=param)
        return day
    if isinstance(value, str):  # a timestamp sent as text, e.g. in a query string
        value = int(value) if len(value) <= 12 else -1
    return parse_timestamp(value, param).date()


def day_start(day: date) -> datetime:
    """The first instant (UTC) of a calendar date."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def from_unix(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def to_unix(value: datetime) -> int:
    return int(ensure_utc(value).timestamp())
