"""What an organization lets its customers do in the self-service portal (`portal_settings`);
the defaults and the validation live here, and only here.

    plan_prices          recurring prices a customer may switch a subscription item to
                         (ids; same currency as the subscription); [] turns plan
                         changes off                                                 []
    quantity_changes     customers may change the quantity (seats) of licensed items  true
    proration_behavior   how a change made now is billed: always_invoice (the
                         difference is invoiced and collected at once),
                         create_prorations (it goes on the next invoice), or none
                                                                            "always_invoice"
    downgrades           when a change that lowers the price takes effect: now
                         (unused time credited) or period_end (nothing prorated)
                                                                               "period_end"
    cancellation         at_period_end (customers cancel at the end of the period and
                         can undo until then) or off                       "at_period_end"
    login_page           customers may ask for a sign-in link by e-mail on the portal's
                         login page (`GET /v1/billing_portal/configuration` gives its
                         address)                                                   false
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.core.errors import InvalidRequest
from kassa.services import validation
from kassa.store import models as m

DEFAULTS: dict[str, Any] = {"plan_prices": [], "quantity_changes": True,
                            "proration_behavior": "always_invoice", "downgrades": "period_end",
                            "cancellation": "at_period_end", "login_page": False}
_CHOICES = {"proration_behavior": ("always_invoice", "create_prorations", "none"),
            "downgrades": ("now", "period_end"), "cancellation": ("at_period_end", "off")}
MAX_PRICES = 50


def effective(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The settings in force: the stored ones over the defaults."""
    return {**DEFAULTS, **{k: v for k, v in (stored or {}).items() if k in DEFAULTS}}


def updated(stored: dict[str, Any] | None, changes: Any) -> dict[str, Any]:
    """The stored settings with `changes` merged in (null: back to the default); raises
    InvalidRequest naming `portal_settings[key]`. Price ids are checked against the
    catalog by `check_prices`."""
    return validation.merge_settings(stored, changes, name="portal_settings",
                                     defaults=DEFAULTS, check=_checked)


def _checked(key: str, value: Any, param: str) -> Any:
    if key in ("quantity_changes", "login_page"):
        if not isinstance(value, bool):
            raise InvalidRequest(f"{key} is true or false.", param=param)
        return value
    if key == "plan_prices":
        if not isinstance(value, list) or len(value) > MAX_PRICES or not all(
                isinstance(v, str) and 0 < len(v) <= 40 for v in value):
            raise InvalidRequest(f"plan_prices is a list of at most {MAX_PRICES} price ids.",
                                 param=param)
        return list(dict.fromkeys(value))
    if value not in _CHOICES[key]:
        raise InvalidRequest(f"{key} is one of {', '.join(_CHOICES[key])}.", param=param)
    return value


def check_prices(session: Session, org_id: str, settings: dict[str, Any]) -> None:
    """Every price in `plan_prices` is one of the organization's active recurring prices for
    everyone (not a customer's contract price)."""
    wanted = settings.get("plan_prices") or []
    found = {price.id: price for price in session.scalars(select(m.Price).where(
        m.Price.org_id == org_id, m.Price.id.in_(wanted)))}
    for index, price_id in enumerate(wanted):
        price = found.get(price_id)
        if price is None or not price.active or price.type != "recurring" \
                or price.customer_id is not None:
            raise InvalidRequest(f"{price_id} is not an active recurring price of the "
                                 "catalog.", param=f"portal_settings[plan_prices][{index}]")
