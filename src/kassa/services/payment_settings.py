"""An organization's payment settings (`payment_settings`); defaults and validation live here.

    default_gateway     the gateway new payment methods go to: sandbox | stripe | mollie |
                        bank (SEPA Direct Debit through the organization's own bank; it
                        must also be configured for the installation)             "sandbox"
    refund_window_days  days after a payment that it can be refunded without an
                        operator's override, 0..3650                                   30
    sepa_return_days    days after a SEPA debit that Kassa keeps asking the gateway
                        whether the bank returned it, 1..90                             14
    sepa_creditor_id    the organization's SEPA creditor identifier, for its own
                        direct debit files (e.g. DE98ZZZ09999999999)                 None
"""

from __future__ import annotations

from typing import Any

from stdnum.eu import at_02 as creditor_ids

from kassa.core.errors import InvalidRequest
from kassa.services import validation

DEFAULTS: dict[str, Any] = {"default_gateway": "sandbox", "refund_window_days": 30,
                            "sepa_return_days": 14, "sepa_creditor_id": None}
GATEWAYS = ("sandbox", "stripe", "mollie", "bank")
_BOUNDS = {"refund_window_days": (0, 3650), "sepa_return_days": (1, 90)}


def effective(stored: dict[str, Any] | None) -> dict[str, Any]:
    return {**DEFAULTS, **{k: v for k, v in (stored or {}).items() if k in DEFAULTS}}


def updated(stored: dict[str, Any] | None, changes: Any) -> dict[str, Any]:
    """The stored settings with `changes` merged in (null: back to the default); raises
    InvalidRequest naming `payment_settings[key]`."""
    return validation.merge_settings(stored, changes, name="payment_settings",
                                     defaults=DEFAULTS, check=_checked)


def _checked(key: str, value: Any, param: str) -> Any:
    if key == "sepa_creditor_id":
        compact = creditor_ids.compact(value) if isinstance(value, str) else ""
        if not creditor_ids.is_valid(compact):
            raise InvalidRequest("sepa_creditor_id is a SEPA creditor identifier such as "
                                 "DE98ZZZ09999999999 (its check digits must match).",
                                 param=param)
        return compact
    if key == "default_gateway":
        if value not in GATEWAYS:
            raise InvalidRequest(f"default_gateway is one of {', '.join(GATEWAYS)}.",
                                 param=param)
        return value
    low, high = _BOUNDS[key]
    return validation.whole_days(value, low, high, what=key, param=param)
