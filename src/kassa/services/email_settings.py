"""An organization's customer e-mail settings (`email_settings`): which kinds are off and how
far ahead notices go out. The defaults and the validation live here, and only here.

Shape (every key optional; a missing key has its default):

    disabled               kinds of e-mail not sent, e.g. ["payment_receipt"]     []
    renewal_reminder_days  days before a renewal that the reminder goes out, 1..60  7
    renewal_reminders_for  "yearly" (subscriptions billed per year or longer) or
                           "all" (every subscription)                          "yearly"
    trial_ending_days      days before a trial ends that the notice goes out, 1..30  3
    change_notice_days     days before a scheduled change (a price migration, a
                           change at period end) that the notice goes out, 1..90     14
"""

from __future__ import annotations

from typing import Any

from kassa.core.errors import InvalidRequest
from kassa.services import validation
from kassa.services.email_texts import KINDS

DEFAULTS: dict[str, Any] = {"disabled": [], "renewal_reminder_days": 7,
                            "renewal_reminders_for": "yearly", "trial_ending_days": 3,
                            "change_notice_days": 14}
_MAX_DAYS = {"renewal_reminder_days": 60, "trial_ending_days": 30, "change_notice_days": 90}
_AUDIENCES = ("yearly", "all")


def effective(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The settings in force: the stored ones over the defaults."""
    return {**DEFAULTS, **{k: v for k, v in (stored or {}).items() if k in DEFAULTS}}


def updated(stored: dict[str, Any] | None, changes: Any) -> dict[str, Any]:
    """The stored settings with `changes` merged in (a key set to null is back to its
    default); raises InvalidRequest naming `email_settings[key]` for anything not valid."""
    return validation.merge_settings(stored, changes, name="email_settings",
                                     defaults=DEFAULTS, check=_checked)


def _checked(key: str, value: Any, param: str) -> Any:
    if key == "disabled":
        _check_kinds(value, param)
        return sorted(set(value))
    if key == "renewal_reminders_for":
        if value not in _AUDIENCES:
            raise InvalidRequest(f"{key} is yearly or all.", param=param)
        return value
    return validation.whole_days(value, 1, _MAX_DAYS[key], what=key, param=param)


def _check_kinds(value: Any, param: str) -> None:
    if not isinstance(value, list):
        raise InvalidRequest("disabled lists kinds of e-mail.", param=param)
    for index, kind in enumerate(value):
        if kind not in KINDS:
            raise InvalidRequest(f"Unknown kind of e-mail: {kind!r}. Kinds: "
                                 f"{', '.join(KINDS)}.", param=f"{param}[{index}]")
