"""Customers: who is billed, where, in which currency, timezone and language."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kassa.core.errors import InvalidRequest, InvalidState
from kassa.core.ids import new_id
from kassa.core.money import normalize_currency
from kassa.services import discounts, events, objects, scoping, validation
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

TAX_EXEMPT = ("none", "exempt", "reverse")
_ADDRESS_FIELDS = ("line1", "line2", "city", "postal_code", "state", "country")


def now_for(uow: UnitOfWork, customer: m.Customer) -> datetime:
    """'Now' for a customer: their test clock's frozen time if attached to one."""
    if customer.test_clock_id:
        clock = uow.session.get(m.TestClock, customer.test_clock_id)
        if clock is not None:
            return clock.frozen_time
    return uow.clock.now()


def _address(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest("address must be an object.", param="address")
    unknown = set(value) - set(_ADDRESS_FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown address field: {sorted(unknown)[0]}.",
                             param=f"address[{sorted(unknown)[0]}]")
    clean = {k: v for k, v in value.items() if v not in (None, "")}
    if "country" in clean:
        clean["country"] = validation.country(clean["country"], param="address[country]")
    return clean


def _apply(uow: UnitOfWork, org_id: str, customer: m.Customer, fields: dict[str, Any]) -> None:
    for field, value in fields.items():
        if field == "dunning_policy":
            field, value = "dunning_policy_id", _dunning_policy(uow, org_id, value)
        elif field == "address":
            value = _address(value) if value is not None else {}
            if value.get("country") and "country" not in fields:
                customer.country = value["country"]
        elif value is None:
            pass
        elif field == "country":
            value = validation.country(value, param=field)
        elif field == "currency":
            value = normalize_currency(value, param=field)
        elif field == "timezone":
            validation.timezone(value, param=field)
        elif field == "locale":
            validation.locale(value, param=field)
        elif field == "vat_id":
            value = validation.vat_id(value, param=field)
        elif field == "peppol_id":
            value = validation.peppol_id(value, param=field)
        elif field == "tax_exempt":
            if value not in TAX_EXEMPT:
                raise InvalidRequest(f"tax_exempt must be one of {', '.join(TAX_EXEMPT)}.",
                                     param=field)
        elif field == "test_clock":
            scoping.get(uow.session, m.TestClock, org_id, value, param="test_clock")
            field = "test_clock_id"
        elif field == "metadata":
            field = "metadata_"
        if field == "vat_id" and value != customer.vat_id:
            # A new VAT id has not been checked with VIES yet.
            customer.vat_status, customer.vat_checked_at = "unchecked", None
        setattr(customer, field, value)


def _dunning_policy(uow: UnitOfWork, org_id: str, policy_id: Any) -> str | None:
    """An active dunning policy of the organization (None: the organization's default)."""
    if policy_id is None:
        return None
    row = scoping.get(uow.session, m.DunningPolicy, org_id, policy_id, param="dunning_policy")
    if not row.active:
        raise InvalidRequest(f"Dunning policy {row.id} is archived.", param="dunning_policy")
    return row.id


def _redeem(uow: UnitOfWork, org_id: str, customer: m.Customer,
            fields: dict[str, Any]) -> None:
    coupon, promotion_code = fields.pop("coupon", None), fields.pop("promotion_code", None)
    if coupon is None and promotion_code is None:
        return
    discounts.redeem(uow, org_id, customer, now_for(uow, customer), coupon=coupon,
                     promotion_code=promotion_code, currency=customer.currency)


def create_customer(uow: UnitOfWork, org_id: str, **fields: Any) -> m.Customer:
    """Create a customer; every field is validated before anything is written. A `coupon` or
    `promotion_code` gives the customer a discount on all their invoices."""
    customer = m.Customer(id=new_id("cus"), org_id=org_id, address={}, metadata_={}, balance=0,
                          tax_exempt="none", deleted=False, created=uow.clock.now())
    redemption = {k: fields.pop(k) for k in ("coupon", "promotion_code") if k in fields}
    _apply(uow, org_id, customer, fields)
    if customer.test_clock_id:
        customer.created = now_for(uow, customer)
    _save(uow, customer)
    _redeem(uow, org_id, customer, redemption)
    events.record(uow.session, org_id, "customer.created", objects.customer(customer),
                  customer.created)
    uow.commit()
    return customer


def update_customer(uow: UnitOfWork, org_id: str, customer_id: str,
                    **fields: Any) -> m.Customer:
    if "test_clock" in fields:
        raise InvalidRequest("A customer's test clock is set at creation only.",
                             param="test_clock")
    customer = scoping.get(uow.session, m.Customer, org_id, customer_id, lock=True)
    if customer.erased_at is not None:
        raise InvalidState("This customer's personal data was erased; it takes no changes.",
                           code="customer_erased")
    before = objects.customer(customer)
    redemption = {k: fields.pop(k) for k in ("coupon", "promotion_code") if k in fields}
    _apply(uow, org_id, customer, fields)
    _save(uow, customer)
    _redeem(uow, org_id, customer, redemption)
    after = objects.customer(customer)
    previous = {k: v for k, v in before.items() if after.get(k) != v}
    events.record(uow.session, org_id, "customer.updated", after, now_for(uow, customer),
                  previous)
    uow.commit()
    return customer


def _save(uow: UnitOfWork, customer: m.Customer) -> None:
    uow.session.add(customer)
    try:
        uow.session.flush()
    except IntegrityError:
        uow.rollback()
        raise InvalidRequest("Another customer already has this external_id.",
                             param="external_id", code="resource_already_exists") from None


def adjust_balance(uow: UnitOfWork, org_id: str, customer_id: str, *, amount: int,
                   currency: str, description: str | None = None,
                   metadata: dict[str, Any] | None = None) -> m.BalanceTransaction:
    """Credit (negative amount) or debit (positive) the customer's balance."""
    customer = scoping.get(uow.session, m.Customer, org_id, customer_id, lock=True)
    currency = normalize_currency(currency)
    if customer.currency and customer.currency != currency:
        raise InvalidRequest(f"The customer's balance is in {customer.currency.upper()}.",
                             param="currency")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise InvalidRequest("amount must be a non-zero integer in minor units.", param="amount")
    customer.currency = currency
    transaction = record_balance_change(uow, customer, amount, "adjustment", description)
    transaction.metadata_ = validation.merge_metadata({}, metadata or {})
    uow.commit()
    return transaction


def record_balance_change(uow: UnitOfWork, customer: m.Customer, amount: int, type_: str,
                          description: str | None = None,
                          invoice_id: str | None = None,
                          transaction_id: str | None = None) -> m.BalanceTransaction:
    """Change the balance and keep the transaction that explains it (same transaction).

    `transaction_id` names the transaction when another object derives it from its own id.
    """
    customer.balance += amount
    row = m.BalanceTransaction(
        id=transaction_id or new_id("cbtxn"), org_id=customer.org_id, customer_id=customer.id,
        amount=amount,
        currency=customer.currency or "eur", type=type_, description=description,
        invoice_id=invoice_id, ending_balance=customer.balance, created=now_for(uow, customer))
    uow.session.add(row)
    return row


def list_customers(uow: UnitOfWork, org_id: str, *, email: str | None = None,
                   test_clock: str | None = None, **page: Any) -> scoping.Page:
    query = select(m.Customer).where(m.Customer.org_id == org_id, m.Customer.deleted.is_(False))
    if email:
        query = query.where(m.Customer.email == email)
    if test_clock:
        query = query.where(m.Customer.test_clock_id == test_clock)
    return scoping.paginate(uow.session, query, m.Customer, **page)
