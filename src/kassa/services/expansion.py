"""`expand[]`, as in Stripe: a property holding an object's id is replaced by the object
itself (`expand[]=customer` on an invoice; `expand[]=data.customer` on a list of them). Only
the organization's own objects are ever expanded, one level deep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kassa.core.errors import InvalidRequest
from kassa.services import objects, payments, scoping
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

# Which properties of which objects can be expanded, and into what.
Render = Callable[[UnitOfWork, Any], dict[str, Any]]
_TARGETS: dict[str, tuple[type[Any], Render]] = {
    "customer": (m.Customer, lambda uow, row: objects.customer(row)),
    "subscription": (m.Subscription, lambda uow, row: objects.subscription(row)),
    "invoice": (m.Invoice, lambda uow, row: objects.invoice(row)),
    "credit_note": (m.CreditNote, lambda uow, row: objects.credit_note(row)),
    "latest_invoice": (m.Invoice, lambda uow, row: objects.invoice(row)),
    "payment": (m.Payment, lambda uow, row: payments.to_object(row)),
    "payment_method": (m.PaymentMethod, lambda uow, row: payments.method_view(uow, row)),
    "price": (m.Price, lambda uow, row: objects.price(row)),
    "product": (m.Product, lambda uow, row: objects.product(row)),
}
MAX_PATHS = 10


def expand(uow: UnitOfWork, org_id: str, body: dict[str, Any],
           paths: list[str] | None) -> dict[str, Any]:
    """`body` with the properties named in `paths` expanded (InvalidRequest for a property
    that cannot be)."""
    if not paths:
        return body
    if len(paths) > MAX_PATHS:
        raise InvalidRequest(f"At most {MAX_PATHS} expand[] paths.", param="expand[]")
    for path in paths:
        listed = body.get("object") == "list"
        name = path.removeprefix("data.") if listed else path
        if (listed and not path.startswith("data.")) or name not in _TARGETS:
            raise InvalidRequest(f"This property cannot be expanded ({path}).",
                                 param="expand[]")
        for item in body["data"] if listed else [body]:
            if name not in item:
                raise InvalidRequest(f"This property cannot be expanded ({path}).",
                                     param="expand[]")
            value = item[name]
            if isinstance(value, str):
                model, render = _TARGETS[name]
                item[name] = render(uow, scoping.get(uow.session, model, org_id, value))
    return body
