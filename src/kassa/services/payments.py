"""Payments: payment methods, automatic collection through a gateway, payments recorded by
hand, and how every payment's status flows into its invoice and subscription.

Collection happens in three steps, so that no database transaction waits on a gateway and no
charge is lost or made twice:

1. claim (one transaction, the customer's row locked): a `processing` payment row is written
   with the idempotency key `{invoice}:{attempt}`, and the invoice's next attempt cleared;
2. charge the gateway with that key (outside any transaction);
3. apply the outcome (one transaction): the payment's status, and through it the invoice's
   amounts and status, the subscription's status, events and e-mails.

A crash between 1 and 3 leaves a `processing` payment whose `next_check_at` has passed: the
check job charges again with the same key, which the gateway answers with the first charge.
A `processing` SEPA debit is followed the same way until it settles, and for
`sepa_return_days` after that, since a bank may still return it (the invoice reopens).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kassa.adapters.gateways.base import ChargeResult, Gateway, GatewayError, MethodDetails
from kassa.core.clock import Clock, to_unix
from kassa.core.errors import InvalidRequest, InvalidState, NotFound, PaymentFailed
from kassa.core.ids import new_id
from kassa.services import dunning, emails, events, invoices, objects, payment_settings, scoping
from kassa.services.customers import now_for, record_balance_change
from kassa.store import models as m
from kassa.store.db import is_postgres
from kassa.store.uow import UnitOfWork

log = logging.getLogger("kassa.payments")

Gateways = Mapping[str, Gateway]

CHECK_AGAIN = timedelta(minutes=10)  # a claimed charge whose outcome was never recorded
SEPA_CHECK_EVERY = timedelta(days=1)
METHODS = ("card", "sepa_debit", "bank_transfer", "manual")


def settings_of(org: m.Organization) -> dict[str, Any]:
    return payment_settings.effective(org.payment_settings)


def gateway_of(gateways: Gateways, name: str) -> Gateway:
    gateway = gateways.get(name)
    if gateway is None:
        raise InvalidRequest(f"The payment gateway {name!r} is not configured here; "
                             f"available: {', '.join(sorted(gateways))}.", param="gateway",
                             code="gateway_unavailable")
    return gateway


# --- payment methods ---------------------------------------------------------------------

def attach_method(uow: UnitOfWork, gateways: Gateways, org_id: str, customer_id: str, *,
                  token: str, gateway: str | None = None,
                  set_default: bool | None = None) -> m.PaymentMethod:
    """Attach a token from the gateway's hosted fields (or a test token) to the customer.

    The customer's first method becomes the default, and so does one given while an invoice
    of theirs is in dunning (unless `set_default` is false); a new default puts the
    customer's open automatically collected invoices up for an attempt at once
    (`collect_customer_now` makes it)."""
    customer = scoping.get(uow.session, m.Customer, org_id, customer_id, param="customer",
                           lock=True)
    org = uow.session.get(m.Organization, org_id)
    assert org is not None
    name = gateway or settings_of(org)["default_gateway"]
    adapter = gateway_of(gateways, name)
    refs = dict(customer.gateway_refs or {})
    try:
        if name not in refs:
            refs[name] = adapter.create_customer(email=customer.email, name=customer.name,
                                                 idempotency_key=f"{customer.id}:customer")
            customer.gateway_refs = refs
        details = adapter.attach_payment_method(
            customer_ref=refs[name], token=token,
            idempotency_key=f"{customer.id}:attach:{token}"[:200])
    except GatewayError as exc:
        raise InvalidRequest(str(exc), param="token",
                             code=exc.code or "payment_method_invalid") from None
    now = now_for(uow, customer)
    if set_default is None and dunning.in_dunning(uow.session, customer.id):
        set_default = True  # a method given while invoices are unpaid is meant for them
    method = uow.session.scalars(select(m.PaymentMethod).where(
        m.PaymentMethod.org_id == org_id, m.PaymentMethod.gateway == name,
        m.PaymentMethod.gateway_ref == details.ref)).first()
    if method is None:
        method = m.PaymentMethod(id=new_id("pm"), org_id=org_id, customer_id=customer.id,
                                 gateway=name, gateway_ref=details.ref, metadata_={},
                                 created=now)
        uow.session.add(method)
    elif method.customer_id != customer.id:
        raise InvalidRequest("This payment method belongs to another customer.",
                             param="token", code="payment_method_unexpected_state")
    _display(method, details)
    method.status, method.detached_at = "attached", None
    uow.session.flush()
    if set_default or (set_default is None and customer.default_payment_method_id is None):
        _make_default(uow, org, customer, method, now)
    events.record(uow.session, org_id, "payment_method.attached", method_object(method, now),
                  now)
    uow.commit()
    return method


# What Kassa keeps of a method besides its token (display data, never a card number).
DISPLAY_FIELDS = ("brand", "last4", "exp_month", "exp_year", "country", "bank_code",
                  "fingerprint")


def method_updated(uow: UnitOfWork, method: m.PaymentMethod, details: Mapping[str, Any]) -> None:
    """The gateway says the method changed (a card updater's new expiry or number): its
    display data follows, and as the customer's default it is tried at once on their unpaid
    invoices, as a newly given method would be."""
    customer = uow.session.get(m.Customer, method.customer_id, with_for_update=True)
    assert customer is not None
    for name in DISPLAY_FIELDS:
        if details.get(name) is not None:
            setattr(method, name, details[name])
    now = now_for(uow, customer)
    if customer.default_payment_method_id == method.id:
        _retry_now(uow, customer, now)
    events.record(uow.session, method.org_id, "payment_method.updated",
                  method_object(method, now), now)


def _display(method: m.PaymentMethod, details: MethodDetails) -> None:
    method.type = details.type
    for name in DISPLAY_FIELDS:
        setattr(method, name, getattr(details, name))
    method.mandate_reference = details.mandate_reference
    method.mandate_signed_at = details.mandate_signed_at


def _make_default(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                  method: m.PaymentMethod, now: datetime) -> None:
    customer.default_payment_method_id = method.id
    _retry_now(uow, customer, now)


def _retry_now(uow: UnitOfWork, customer: m.Customer, now: datetime) -> None:
    """Put the customer's unpaid automatically collected invoices up for an attempt now."""
    for invoice in uow.session.scalars(select(m.Invoice).where(
            m.Invoice.customer_id == customer.id, m.Invoice.status == "open",
            m.Invoice.collection_method == "charge_automatically",
            m.Invoice.amount_remaining > 0)):
        invoice.next_payment_attempt = now


def set_default_method(uow: UnitOfWork, org_id: str, customer_id: str,
                       method_id: str) -> m.Customer:
    customer = scoping.get(uow.session, m.Customer, org_id, customer_id, param="customer",
                           lock=True)
    method = _attached(uow.session, org_id, method_id, param="default_payment_method")
    if method.customer_id != customer.id:
        raise InvalidRequest("The payment method belongs to another customer.",
                             param="default_payment_method")
    org = uow.session.get(m.Organization, org_id)
    assert org is not None
    _make_default(uow, org, customer, method, now_for(uow, customer))
    uow.commit()
    return customer


def _attached(session: Session, org_id: str, method_id: str, *,
              param: str = "id") -> m.PaymentMethod:
    method = scoping.get(session, m.PaymentMethod, org_id, method_id, param=param)
    if method.status != "attached":
        raise InvalidState(f"Payment method {method.id} is detached.", param=param,
                           code="payment_method_unexpected_state")
    return method


def detach_method(uow: UnitOfWork, gateways: Gateways, org_id: str,
                  method_id: str) -> m.PaymentMethod:
    """Detach the method at the gateway and here; it is never charged again."""
    method = _attached(uow.session, org_id, method_id)
    customer = uow.session.get(m.Customer, method.customer_id, with_for_update=True)
    assert customer is not None
    try:
        gateway_of(gateways, method.gateway).detach_payment_method(
            method_ref=method.gateway_ref,
            customer_ref=(customer.gateway_refs or {}).get(method.gateway))
    except GatewayError as exc:
        raise InvalidRequest(f"The gateway refused to detach it: {exc}", param="id",
                             code=exc.code or "gateway_error") from None
    now = now_for(uow, customer)
    method.status, method.detached_at = "detached", now
    if customer.default_payment_method_id == method.id:
        customer.default_payment_method_id = None
    events.record(uow.session, org_id, "payment_method.detached", method_object(method, now),
                  now)
    uow.commit()
    return method


def method_object(method: m.PaymentMethod, now: datetime) -> dict[str, Any]:
    """The API's `payment_method`: display data only. A card expiring within 30 days is
    flagged `expiring`, one past its month `expired`."""
    body: dict[str, Any] = {
        "id": method.id, "object": "payment_method", "customer": method.customer_id,
        "type": method.type, "gateway": method.gateway, "status": method.status,
        "metadata": method.metadata_, "created": to_unix(method.created),
    }
    if method.type == "card":
        body["card"] = {"brand": method.brand, "last4": method.last4,
                        "exp_month": method.exp_month, "exp_year": method.exp_year,
                        "country": method.country, "fingerprint": method.fingerprint,
                        "expiry": card_expiry(method, now)}
    else:
        body["sepa_debit"] = {"last4": method.last4, "country": method.country,
                              "bank_code": method.bank_code,
                              "iban_masked": f"{method.country or ''}** **** {method.last4}",
                              "mandate_reference": method.mandate_reference,
                              "mandate_signed_at": to_unix(method.mandate_signed_at)
                              if method.mandate_signed_at else None,
                              "fingerprint": method.fingerprint}
    return body


def method_view(uow: UnitOfWork, method: m.PaymentMethod) -> dict[str, Any]:
    """`method_object` at its customer's now (a test clock's time for a test customer)."""
    customer = uow.session.get(m.Customer, method.customer_id)
    assert customer is not None
    return method_object(method, now_for(uow, customer))


def card_expiry(method: m.PaymentMethod, now: datetime) -> str:
    """`valid`, `expiring` (its last day is within 30 days) or `expired`."""
    if method.exp_month is None or method.exp_year is None:
        return "valid"
    month_after = (method.exp_year + method.exp_month // 12, method.exp_month % 12 + 1)
    end = datetime(month_after[0], month_after[1], 1, tzinfo=now.tzinfo)
    if end <= now:
        return "expired"
    return "expiring" if end - now <= timedelta(days=30) else "valid"


def list_methods(uow: UnitOfWork, org_id: str, customer_id: str, *,
                 include_detached: bool = False, **page: Any) -> scoping.Page:
    scoping.get(uow.session, m.Customer, org_id, customer_id, param="customer")
    query = select(m.PaymentMethod).where(m.PaymentMethod.org_id == org_id,
                                          m.PaymentMethod.customer_id == customer_id)
    if not include_detached:
        query = query.where(m.PaymentMethod.status == "attached")
    return scoping.paginate(uow.session, query, m.PaymentMethod, **page)


# --- collection ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    payment_id: str
    gateway: str
    customer_ref: str
    method_ref: str
    amount: int
    currency: str
    idempotency_key: str
    description: str
    now: datetime
    expired: bool = False  # a card past its expiry: not sent to the gateway


def _on_clock(test_clock_id: str | None) -> Any:
    return (m.Customer.test_clock_id == test_clock_id) if test_clock_id \
        else m.Customer.test_clock_id.is_(None)


def due_invoice_ids(session_factory: sessionmaker[Session], now: datetime, *,
                    test_clock_id: str | None = None, customer_id: str | None = None,
                    limit: int = 1000) -> list[str]:
    """Open invoices whose next automatic payment attempt is due (on the test clock, or on
    real time; of one customer only, given `customer_id`)."""
    query = (select(m.Invoice.id).join(m.Customer, m.Customer.id == m.Invoice.customer_id)
             .where(m.Invoice.status.in_(("open", "uncollectible")),
                    m.Invoice.next_payment_attempt <= now, _on_clock(test_clock_id)))
    if customer_id is not None:
        query = query.where(m.Invoice.customer_id == customer_id)
    with session_factory() as session:
        return list(session.scalars(
            query.order_by(m.Invoice.next_payment_attempt, m.Invoice.id).limit(limit)))


def collect_customer_now(session_factory: sessionmaker[Session], clock: Clock,
                         gateways: Gateways, customer_id: str) -> int:
    """Make the customer's due collection attempts at once (a payment method was just added
    or made the default, which puts their unpaid invoices up for a retry). Returns how many
    were made."""
    with UnitOfWork(session_factory, clock) as uow:
        customer = uow.session.get(m.Customer, customer_id)
        if customer is None:
            return 0
        now, clock_id = now_for(uow, customer), customer.test_clock_id
    made = 0
    for invoice_id in due_invoice_ids(session_factory, now, test_clock_id=clock_id,
                                      customer_id=customer_id, limit=100):
        if collect_invoice(session_factory, clock, gateways, invoice_id) is not None:
            made += 1
    return made


def collect_invoice(session_factory: sessionmaker[Session], clock: Clock, gateways: Gateways,
                    invoice_id: str, *, force: bool = False) -> m.Payment | None:
    """Try to collect the invoice on its customer's default payment method now.

    None when there is nothing to do (paid, not due, no method, claimed by another worker).
    With `force` (POST /v1/invoices/{id}/pay), the attempt need not be due."""
    claim = _claim(session_factory, clock, invoice_id, force=force)
    if claim is None:
        return None
    if claim.expired:
        return apply_result(session_factory, clock, claim.payment_id, ChargeResult(
            ref="", status="failed", amount=claim.amount, currency=claim.currency,
            decline_code="expired_card", decline_type="hard",
            message="The card on file has expired; add a new payment method."))
    try:
        result = gateway_of(gateways, claim.gateway).charge(
            customer_ref=claim.customer_ref, method_ref=claim.method_ref,
            amount=claim.amount, currency=claim.currency,
            idempotency_key=claim.idempotency_key, description=claim.description,
            metadata={"kassa_payment": claim.payment_id}, now=claim.now)
    except GatewayError as exc:
        if exc.retryable:
            log.warning("charge %s not made (%s); checked again later", claim.payment_id, exc)
            return _payment(session_factory, claim.payment_id)
        result = ChargeResult(ref="", status="failed", amount=claim.amount,
                              currency=claim.currency, decline_code=exc.code or "gateway_error",
                              decline_type="soft", message=str(exc))
    return apply_result(session_factory, clock, claim.payment_id, result)


def raise_if_declined(payment: m.Payment | None) -> None:
    """PaymentFailed for a charge the customer must act on (declined, or to authenticate)."""
    if payment is None:
        raise InvalidState("A charge of this invoice is already in progress.",
                           code="invoice_payment_in_progress")
    if payment.status == "failed":
        raise PaymentFailed(payment.failure_message or "The card was declined.",
                            code=payment.decline_code or "card_declined",
                            param="payment_method")
    if payment.status == "requires_action":
        raise PaymentFailed("The customer's bank asks them to authenticate this payment: "
                            f"{payment.next_action_url}", code="authentication_required",
                            param="payment_method")


def _payment(session_factory: sessionmaker[Session], payment_id: str) -> m.Payment | None:
    with session_factory() as session:
        return session.get(m.Payment, payment_id)


def _claim(session_factory: sessionmaker[Session], clock: Clock, invoice_id: str, *,
           force: bool) -> Claim | None:
    with UnitOfWork(session_factory, clock) as uow:
        invoice = uow.session.get(m.Invoice, invoice_id)
        if invoice is None:
            return None
        query = select(m.Customer).where(m.Customer.id == invoice.customer_id)
        if is_postgres(uow.session):
            query = query.with_for_update(skip_locked=not force)
        customer = uow.session.scalars(query).first()
        if customer is None:
            return None
        uow.session.refresh(invoice)
        now = now_for(uow, customer)
        due = invoice.next_payment_attempt is not None and invoice.next_payment_attempt <= now
        if invoice.status not in ("open", "uncollectible") or invoice.amount_remaining <= 0 \
                or not (due or force):
            return None
        if invoices.charge_in_flight(uow.session, invoice.id):
            return None  # a charge of this invoice is still processing
        method = (uow.session.get(m.PaymentMethod, customer.default_payment_method_id)
                  if customer.default_payment_method_id else None)
        if method is None or method.status != "attached" \
                or method.gateway not in (customer.gateway_refs or {}):
            if force:  # refused: nothing changes
                raise InvalidRequest("The customer has no default payment method to charge.",
                                     param="payment_method",
                                     code="invoice_payment_method_missing")
            invoice.next_payment_attempt = None
            uow.commit()  # waits for a payment method: attaching one tries again
            return None
        invoice.next_payment_attempt = None
        invoice.attempt_count += 1
        payment = m.Payment(
            id=new_id("py"), org_id=invoice.org_id, customer_id=customer.id,
            invoice_id=invoice.id, amount=invoice.amount_remaining, currency=invoice.currency,
            method_type=method.type, payment_method_id=method.id, gateway=method.gateway,
            idempotency_key=f"{invoice.id}:{invoice.attempt_count}",
            status="processing", attempt=invoice.attempt_count,
            description=f"Invoice {invoice.number}", metadata_={}, created=now,
            next_check_at=now + CHECK_AGAIN, amount_refunded=0)
        uow.session.add(payment)
        uow.commit()
        return Claim(payment.id, method.gateway, customer.gateway_refs[method.gateway],
                     method.gateway_ref, payment.amount, payment.currency,
                     payment.idempotency_key or payment.id, payment.description or "", now,
                     expired=card_expiry(method, now) == "expired")


def payable(session: Session, invoice: m.Invoice) -> bool:
    """Whether the invoice can be paid now: something is left and no charge is under way."""
    return invoice.status in ("open", "uncollectible") and invoice.amount_remaining > 0 \
        and not invoices.charge_in_flight(session, invoice.id)


def pay_on_return(session_factory: sessionmaker[Session], clock: Clock, gateways: Gateways,
                  invoice_id: str, token: str, *, gateway: str = "sandbox") -> None:
    """The customer came back from the gateway's page with a token (the hosted invoice
    page's pay button): it becomes their default method and the invoice is charged on it.
    Coming back twice charges nothing more."""
    with UnitOfWork(session_factory, clock) as uow:
        invoice = uow.session.get(m.Invoice, invoice_id)
        if invoice is None or not payable(uow.session, invoice):
            return
        attach_method(uow, gateways, invoice.org_id, invoice.customer_id, token=token,
                      gateway=gateway, set_default=True)
    collect_invoice(session_factory, clock, gateways, invoice_id, force=True)


def update_on_return(session_factory: sessionmaker[Session], clock: Clock,
                     gateways: Gateways, invoice_id: str, token: str, *,
                     gateway: str = "sandbox") -> None:
    """The customer came back from the gateway's page with a new payment method (the link
    in a failed-payment e-mail): it becomes their default and their unpaid invoices are
    tried on it at once."""
    with UnitOfWork(session_factory, clock) as uow:
        invoice = uow.session.get(m.Invoice, invoice_id)
        if invoice is None:
            return
        org_id, customer_id = invoice.org_id, invoice.customer_id
    adopt_method(session_factory, clock, gateways, org_id, customer_id, token,
                 gateway=gateway)


def adopt_method(session_factory: sessionmaker[Session], clock: Clock, gateways: Gateways,
                 org_id: str, customer_id: str, token: str, *,
                 gateway: str = "sandbox") -> None:
    """A method the customer gave themselves (the gateway's page, from an e-mail or the
    portal): attached as their default, and their unpaid invoices tried on it at once."""
    with UnitOfWork(session_factory, clock) as uow:
        attach_method(uow, gateways, org_id, customer_id, token=token, gateway=gateway,
                      set_default=True)
    collect_customer_now(session_factory, clock, gateways, customer_id)


def apply_result(session_factory: sessionmaker[Session], clock: Clock, payment_id: str,
                 result: ChargeResult) -> m.Payment:
    """Record a charge's outcome on its payment, invoice and subscription (one transaction)."""
    with UnitOfWork(session_factory, clock) as uow:
        payment = uow.session.get(m.Payment, payment_id)
        assert payment is not None
        customer = uow.session.get(m.Customer, payment.customer_id, with_for_update=True)
        assert customer is not None
        uow.session.refresh(payment)
        apply_status(uow, payment, result, now_for(uow, customer))
        uow.commit()
        return payment


def apply_status(uow: UnitOfWork, payment: m.Payment, result: ChargeResult,
                 now: datetime) -> None:
    """Move the payment to the gateway's status, and the invoice with it. Applying the same
    status twice changes nothing (webhook replays, a check that finds what a webhook said)."""
    org = uow.session.get(m.Organization, payment.org_id)
    customer = uow.session.get(m.Customer, payment.customer_id)
    invoice = uow.session.get(m.Invoice, payment.invoice_id) if payment.invoice_id else None
    assert org is not None and customer is not None
    if result.ref and not payment.gateway_ref:
        payment.gateway_ref = result.ref
    before = payment.status
    status: str = result.status
    if before == "succeeded" and status == "failed":
        status = "returned"  # a settled SEPA debit the bank took back
    if status == before or before in ("failed", "returned"):
        return
    payment.status = status
    payment.next_check_at = next_check(payment, now, settings_of(org))
    if status == "succeeded":
        payment.succeeded_at = now
        payment.decline_code = payment.decline_type = payment.failure_message = None
        payment.next_action_url = None
        events.record(uow.session, org.id, "payment.succeeded", to_object(payment), now)
        if invoice is not None:
            settle(uow, org, customer, invoice, payment.amount, now, attempt=payment.attempt)
    elif status == "processing":
        events.record(uow.session, org.id, "payment.processing", to_object(payment), now)
    elif status == "requires_action":
        payment.next_action_url = result.next_action_url
        events.record(uow.session, org.id, "payment.requires_action", to_object(payment), now)
        if invoice is not None:
            events.record(uow.session, org.id, "invoice.payment_action_required",
                          objects.invoice(invoice), now)
            emails.payment_failed(uow, org, customer, invoice,
                                  reason="your bank asks you to confirm the payment",
                                  next_attempt_at=None, attempt=payment.attempt)
    elif status == "failed":
        payment.failed_at = now
        payment.decline_code, payment.decline_type = result.decline_code, result.decline_type
        payment.failure_message = result.message
        events.record(uow.session, org.id, "payment.failed", to_object(payment), now)
        if invoice is not None:
            _failed(uow, org, customer, invoice, payment, now)
    elif status == "returned":
        payment.returned_at = now
        payment.return_reason = result.decline_code
        payment.decline_code, payment.decline_type = result.decline_code, result.decline_type
        events.record(uow.session, org.id, "payment.returned", to_object(payment), now,
                      {"status": before})
        if invoice is not None:
            reverse(uow, org, customer, invoice, payment.amount, now)
            _failed(uow, org, customer, invoice, payment, now)


def next_check(payment: m.Payment, now: datetime, settings: dict[str, Any]) -> datetime | None:
    """When to ask the gateway about the payment again: soon while it is not final (daily
    for a SEPA debit), daily for a settled SEPA debit until its return window closes, else
    never."""
    sepa = payment.method_type == "sepa_debit"
    if payment.status == "processing":
        return now + (SEPA_CHECK_EVERY if sepa else CHECK_AGAIN)
    if payment.status == "requires_action":
        return now + CHECK_AGAIN
    if payment.status == "succeeded" and sepa:
        window_end = payment.created + timedelta(days=int(settings["sepa_return_days"]))
        return now + SEPA_CHECK_EVERY if now + SEPA_CHECK_EVERY <= window_end else None
    return None


def _failed(uow: UnitOfWork, org: m.Organization, customer: m.Customer, invoice: m.Invoice,
            payment: m.Payment, now: datetime) -> None:
    """A charge of the invoice failed: dunning plans what follows (services/dunning.py)."""
    invoice.payment_failed_at = now
    dunning.payment_failed(uow, org, customer, invoice, payment, now)
    events.record(uow.session, org.id, "invoice.payment_failed", objects.invoice(invoice), now)
    invoices.refresh_subscriptions(uow, org, customer, invoice, now)


def settle(uow: UnitOfWork, org: m.Organization, customer: m.Customer, invoice: m.Invoice,
           amount: int, now: datetime, *, attempt: int | None = None) -> int:
    """Apply money received to the invoice, up to what remains; the excess (paid twice, paid
    by hand meanwhile, a transfer of too much) becomes the customer's credit balance.
    Returns the excess."""
    applied = min(amount, max(invoice.amount_remaining, 0))
    if invoice.status not in ("open", "uncollectible"):
        applied = 0
    if applied:
        receive(uow, org, customer, invoice, applied, now, attempt=attempt)
    excess = amount - applied
    if excess:
        record_balance_change(uow, customer, -excess, "overpayment",
                              description=f"Paid more than invoice {invoice.number} asked",
                              invoice_id=invoice.id)
    return excess


def receive(uow: UnitOfWork, org: m.Organization, customer: m.Customer, invoice: m.Invoice,
            amount: int, now: datetime, *, attempt: int | None = None) -> None:
    """Money received for the invoice: it is paid when nothing remains (never more than what
    remains: the caller puts any excess on the customer's balance). Paid, it leaves dunning
    and its subscriptions' service is restored in this transaction; `attempt` is the charge
    attempt that paid it (None: money received outside automatic collection)."""
    if amount <= 0 or amount > invoice.amount_remaining:
        raise InvalidRequest(f"A payment of {amount} does not fit the invoice's remaining "
                             f"{invoice.amount_remaining}.", param="amount")
    invoice.payment_failed_at = None
    invoice.next_payment_attempt = None
    if amount == invoice.amount_remaining:
        invoices.mark_paid(uow, org, invoice, now)
    else:
        invoice.amount_paid += amount
        invoice.amount_remaining -= amount
        events.record(uow.session, org.id, "invoice.updated", objects.invoice(invoice), now,
                      {"amount_paid": invoice.amount_paid - amount})
    dunning.received(uow, org, invoice, now, attempt=attempt)
    invoices.refresh_subscriptions(uow, org, customer, invoice, now)


def reverse(uow: UnitOfWork, org: m.Organization, customer: m.Customer, invoice: m.Invoice,
            amount: int, now: datetime) -> None:
    """A payment taken back (a SEPA return): the invoice owes it again and is open."""
    before = invoice.status
    invoice.amount_paid -= amount
    invoice.amount_remaining += amount
    if invoice.status == "paid":
        invoice.status, invoice.paid_at = "open", None
    events.record(uow.session, org.id, "invoice.updated", objects.invoice(invoice), now,
                  {"status": before, "amount_paid": invoice.amount_paid + amount})


def check_due_ids(session_factory: sessionmaker[Session], now: datetime, *,
                  test_clock_id: str | None = None, limit: int = 1000) -> list[str]:
    """Payments to ask their gateway about: processing or awaiting authentication, and settled
    SEPA debits still within their return window."""
    with session_factory() as session:
        return list(session.scalars(
            select(m.Payment.id).join(m.Customer, m.Customer.id == m.Payment.customer_id)
            .where(m.Payment.next_check_at <= now, m.Payment.gateway.is_not(None),
                   _on_clock(test_clock_id))
            .order_by(m.Payment.next_check_at, m.Payment.id).limit(limit)))


def check_payment(session_factory: sessionmaker[Session], clock: Clock, gateways: Gateways,
                  payment_id: str) -> m.Payment | None:
    """Ask the gateway for the payment's status now and apply it; a charge that was claimed
    but never made is made now, with the claim's idempotency key."""
    with UnitOfWork(session_factory, clock) as uow:
        payment = uow.session.get(m.Payment, payment_id)
        if payment is None or payment.gateway is None:
            return None
        customer = uow.session.get(m.Customer, payment.customer_id)
        method = (uow.session.get(m.PaymentMethod, payment.payment_method_id)
                  if payment.payment_method_id else None)
        assert customer is not None
        now = now_for(uow, customer)
        gateway_name, ref = payment.gateway, payment.gateway_ref
        charge_args = None
        if not ref and method is not None:
            charge_args = dict(customer_ref=(customer.gateway_refs or {}).get(gateway_name, ""),
                               method_ref=method.gateway_ref, amount=payment.amount,
                               currency=payment.currency,
                               idempotency_key=payment.idempotency_key or payment.id,
                               description=payment.description or "",
                               metadata={"kassa_payment": payment.id}, now=payment.created)
    gateway = gateway_of(gateways, gateway_name)
    try:
        if ref:
            result = gateway.retrieve_charge(charge_ref=ref, now=now)
        elif charge_args is not None:
            result = gateway.charge(**charge_args)
        else:
            return None
    except GatewayError as exc:
        log.warning("payment %s: the gateway did not answer (%s)", payment_id, exc)
        _check_later(session_factory, clock, payment_id, now)
        return None
    payment = apply_result(session_factory, clock, payment_id, result)
    if payment.next_check_at is not None and payment.next_check_at <= now:
        _check_later(session_factory, clock, payment_id, now)
    return payment


def _check_later(session_factory: sessionmaker[Session], clock: Clock, payment_id: str,
                 now: datetime) -> None:
    with UnitOfWork(session_factory, clock) as uow:
        payment = uow.session.get(m.Payment, payment_id)
        org = uow.session.get(m.Organization, payment.org_id) if payment else None
        if payment is not None and org is not None:
            payment.next_check_at = next_check(payment, now, settings_of(org))
            uow.commit()


# --- payments recorded by hand -----------------------------------------------------------------

def pay_invoice(uow: UnitOfWork, org_id: str, invoice_id: str, *,
                paid_out_of_band: bool = False) -> m.Invoice:
    """Make the invoice payable now (POST /v1/invoices/{id}/pay): a draft is finalized. With
    `paid_out_of_band`, record that what remains was paid outside Kassa (cash, a transfer
    finance saw) as a `manual` payment; otherwise the caller charges it (`collect_invoice`)."""
    org, invoice, customer, now = invoices.load(uow, org_id, invoice_id)
    if invoice.status == "draft":
        invoices.finalize(uow, org, customer, invoice, now)
    if invoice.status == "paid":
        raise InvalidState("Invoice is already paid.", code="invoice_already_paid")
    if invoice.status not in ("open", "uncollectible"):
        raise InvalidState(f"Invoice is {invoice.status}; only open or uncollectible invoices "
                           "can be paid.")
    if paid_out_of_band:
        invoice.paid_out_of_band = True
        record_payment(uow, org_id, invoice_id=invoice.id, amount=None, method="manual",
                       reference="Paid out of band")
    else:
        invoices.refresh_subscriptions(uow, org, customer, invoice, now)
    uow.commit()
    return invoice



def record_payment(uow: UnitOfWork, org_id: str, *, invoice_id: str, amount: int | None,
                   method: str = "manual", reference: str | None = None,
                   received_at: datetime | None = None,
                   bank_transaction_id: str | None = None) -> m.Payment:
    """A payment received outside a gateway (a transfer finance saw, cash, a cheque): partial
    payments reduce what remains; the invoice is paid when nothing does."""
    if method not in ("manual", "bank_transfer"):
        raise InvalidRequest("method is manual or bank_transfer.", param="method")
    invoice = scoping.get(uow.session, m.Invoice, org_id, invoice_id, param="invoice")
    org = uow.session.get(m.Organization, org_id)
    customer = uow.session.get(m.Customer, invoice.customer_id, with_for_update=True)
    assert org is not None and customer is not None
    uow.session.refresh(invoice)
    if invoice.status not in ("open", "uncollectible"):
        raise InvalidState(f"Invoice {invoice.id} is {invoice.status}; payments are recorded "
                           "on open or uncollectible invoices.", param="invoice")
    amount = invoice.amount_remaining if amount is None else amount
    if amount <= 0 or amount > invoice.amount_remaining:
        raise InvalidRequest(f"amount must be from 1 to the {invoice.amount_remaining} that "
                             "remains to be paid.", param="amount")
    now = now_for(uow, customer)
    payment = m.Payment(
        id=new_id("py"), org_id=org_id, customer_id=customer.id, invoice_id=invoice.id,
        amount=amount, currency=invoice.currency, method_type=method, status="succeeded",
        reference=reference, bank_transaction_id=bank_transaction_id, attempt=0,
        description=f"Invoice {invoice.number}", metadata_={}, created=now,
        succeeded_at=received_at or now, amount_refunded=0)
    uow.session.add(payment)
    events.record(uow.session, org_id, "payment.succeeded", to_object(payment), now)
    receive(uow, org, customer, invoice, amount, now)
    return payment


def get_payment(uow: UnitOfWork, org_id: str, payment_id: str) -> m.Payment:
    return scoping.get(uow.session, m.Payment, org_id, payment_id)


def list_payments(uow: UnitOfWork, org_id: str, *, customer: str | None = None,
                  invoice: str | None = None, status: str | None = None,
                  **page: Any) -> scoping.Page:
    query = select(m.Payment).where(m.Payment.org_id == org_id)
    if customer:
        query = query.where(m.Payment.customer_id == customer)
    if invoice:
        query = query.where(m.Payment.invoice_id == invoice)
    if status:
        query = query.where(m.Payment.status == status)
    return scoping.paginate(uow.session, query, m.Payment, **page)


def to_object(payment: m.Payment) -> dict[str, Any]:
    """The API's `payment`."""
    def ts(value: datetime | None) -> int | None:
        return to_unix(value) if value else None

    return {
        "id": payment.id, "object": "payment", "customer": payment.customer_id,
        "invoice": payment.invoice_id, "amount": payment.amount, "currency": payment.currency,
        "amount_refunded": payment.amount_refunded, "status": payment.status,
        "method_type": payment.method_type, "payment_method": payment.payment_method_id,
        "gateway": payment.gateway, "gateway_reference": payment.gateway_ref,
        "attempt": payment.attempt,
        "failure": ({"decline_code": payment.decline_code, "type": payment.decline_type,
                     "message": payment.failure_message}
                    if payment.decline_code or payment.failure_message else None),
        "next_action": ({"type": "redirect_to_url", "url": payment.next_action_url}
                        if payment.status == "requires_action" else None),
        "return_reason": payment.return_reason, "reference": payment.reference,
        "bank_transaction": payment.bank_transaction_id, "metadata": payment.metadata_,
        "created": ts(payment.created), "succeeded_at": ts(payment.succeeded_at),
        "failed_at": ts(payment.failed_at), "returned_at": ts(payment.returned_at),
    }


def find_by_ref(session: Session, org_id: str, gateway: str, ref: str) -> m.Payment:
    payment = session.scalars(select(m.Payment).where(
        m.Payment.org_id == org_id, m.Payment.gateway == gateway,
        m.Payment.gateway_ref == ref)).first()
    if payment is None:
        raise NotFound(f"No payment for {gateway} charge {ref}.")
    return payment
