"""Refunds: money paid back on a payment, through the gateway that took it, always with a
credit note that says why the invoice owes less.

1. reserve (one transaction): checks (the payment succeeded, the amount is at most what was
   paid and not yet refunded, the organization's refund window unless an operator overrides
   it with a reason), a `pending` refund row, the amount reserved on the payment;
2. the gateway refunds, with the refund's id as idempotency key (outside any transaction);
3. settle (one transaction): succeeded -> a credit note on the invoice with `refund_amount`,
   `refund.succeeded`; failed -> the reservation is released, `refund.failed`.

A payment received by hand (a transfer, cash) is refunded by hand: the refund is recorded as
succeeded at once. A refund left pending by a crash is settled by `retry_pending`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kassa.adapters.gateways.base import GatewayError, RefundResult
from kassa.core.clock import Clock, to_unix
from kassa.core.errors import InvalidRequest, InvalidState, PaymentFailed
from kassa.core.ids import new_id
from kassa.services import credit_notes, events, payments, scoping
from kassa.services.customers import now_for
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

log = logging.getLogger("kassa.payments")

REASONS = ("duplicate", "fraudulent", "requested_by_customer")
RETRY_AFTER = timedelta(minutes=10)


def create_refund(session_factory: sessionmaker[Session], clock: Clock,
                  gateways: payments.Gateways, org_id: str, *, payment_id: str,
                  amount: int | None = None, reason: str | None = None,
                  override_reason: str | None = None) -> m.Refund:
    """Refund all or part of a payment (POST /v1/refunds)."""
    refund_id, gateway, charge_ref, currency, amount = _reserve(
        session_factory, clock, org_id, payment_id, amount, reason, override_reason)
    result = (RefundResult(ref="", status="succeeded", amount=amount) if gateway is None
              else _at_gateway(gateways, gateway, charge_ref, amount, currency, refund_id,
                               reason))
    if result is None:
        return _get(session_factory, refund_id)
    refund = settle(session_factory, clock, refund_id, result)
    if refund.status == "failed":
        raise PaymentFailed(f"The gateway refused the refund: {refund.failure_reason}",
                            code="refund_failed", param="payment")
    return refund


def _at_gateway(gateways: payments.Gateways, gateway: str, charge_ref: str, amount: int,
                currency: str, refund_id: str, reason: str | None) -> RefundResult | None:
    """The gateway's answer to the refund (its id as idempotency key); None when it could not
    be reached and the refund stays pending for `retry_pending`."""
    try:
        return payments.gateway_of(gateways, gateway).refund(
            charge_ref=charge_ref, amount=amount, currency=currency,
            idempotency_key=refund_id, reason=reason)
    except GatewayError as exc:
        if exc.retryable:
            log.warning("refund %s not made yet (%s); retried later", refund_id, exc)
            return None
        return RefundResult(ref="", status="failed", amount=0,
                            failure_reason=f"{exc.code or 'gateway_error'}: {exc}")


def _reserve(session_factory: sessionmaker[Session], clock: Clock, org_id: str,
             payment_id: str, amount: int | None, reason: str | None,
             override_reason: str | None) -> tuple[str, str | None, str, str, int]:
    if reason is not None and reason not in REASONS:
        raise InvalidRequest(f"reason is one of {', '.join(REASONS)}.", param="reason")
    with UnitOfWork(session_factory, clock) as uow:
        payment = scoping.get(uow.session, m.Payment, org_id, payment_id, param="payment")
        customer = uow.session.get(m.Customer, payment.customer_id, with_for_update=True)
        org = uow.session.get(m.Organization, org_id)
        assert customer is not None and org is not None
        uow.session.refresh(payment)
        if payment.status != "succeeded" or payment.invoice_id is None:
            raise InvalidState(f"Payment {payment.id} is {payment.status}; only succeeded "
                               "payments can be refunded.", param="payment",
                               code="charge_not_refundable")
        left = payment.amount - payment.amount_refunded
        amount = left if amount is None else amount
        if amount <= 0 or amount > left:
            raise InvalidRequest(f"amount must be from 1 to the {left} paid and not yet "
                                 "refunded.", param="amount", code="amount_too_large")
        now = now_for(uow, customer)
        window = int(payments.settings_of(org)["refund_window_days"])
        paid_at = payment.succeeded_at or payment.created
        if now > paid_at + timedelta(days=window) and not override_reason:
            raise InvalidRequest(
                f"The payment was made more than {window} days ago, beyond the refund window; "
                "an operator can still refund it with an override_reason.",
                param="override_reason", code="refund_window_passed")
        refund = m.Refund(id=new_id("re"), org_id=org_id, payment_id=payment.id,
                          invoice_id=payment.invoice_id, amount=amount,
                          currency=payment.currency, status="pending", reason=reason,
                          override_reason=override_reason, idempotency_key=None,
                          metadata_={}, created=now)
        uow.session.add(refund)
        payment.amount_refunded += amount
        events.record(uow.session, org_id, "refund.created", to_object(refund), now)
        uow.commit()
        return refund.id, payment.gateway, payment.gateway_ref or "", payment.currency, amount


def _get(session_factory: sessionmaker[Session], refund_id: str) -> m.Refund:
    with session_factory() as session:
        refund = session.get(m.Refund, refund_id)
        assert refund is not None
        return refund


def settle(session_factory: sessionmaker[Session], clock: Clock, refund_id: str,
           result: RefundResult) -> m.Refund:
    """Record the gateway's answer: a credit note for a refund made, the reservation
    released for one refused. Settling a settled refund changes nothing."""
    with UnitOfWork(session_factory, clock) as uow:
        refund = uow.session.get(m.Refund, refund_id)
        assert refund is not None
        payment = uow.session.get(m.Payment, refund.payment_id)
        assert payment is not None
        customer = uow.session.get(m.Customer, payment.customer_id, with_for_update=True)
        assert customer is not None
        uow.session.refresh(refund)
        if refund.status != "pending":
            return refund
        now = now_for(uow, customer)
        refund.gateway_ref = result.ref or None
        if result.status == "failed":
            refund.status, refund.failure_reason = "failed", result.failure_reason
            payment.amount_refunded -= refund.amount
            events.record(uow.session, refund.org_id, "refund.failed", to_object(refund), now)
            uow.commit()
            return refund
        refund.status = "succeeded" if result.status == "succeeded" else "pending"
        assert refund.invoice_id is not None
        why = {"reason": refund.reason} if refund.reason in ("duplicate", "fraudulent") else {}
        note = credit_notes.create_credit_note(
            uow, refund.org_id, invoice=refund.invoice_id, amount=refund.amount,
            refund_amount=refund.amount, memo=f"Refund {refund.id}", **why)
        refund.credit_note_id = note.id
        events.record(uow.session, refund.org_id, f"refund.{refund.status}",
                      to_object(refund), now)
        uow.commit()
        return refund


def retry_pending(session_factory: sessionmaker[Session], clock: Clock,
                  gateways: payments.Gateways, now: datetime) -> int:
    """Ask the gateway again (same idempotency key) for refunds left pending."""
    with session_factory() as session:
        ids = list(session.scalars(select(m.Refund.id).where(
            m.Refund.status == "pending", m.Refund.credit_note_id.is_(None),
            m.Refund.created <= now - RETRY_AFTER).limit(100)))
    done = 0
    for refund_id in ids:
        with session_factory() as session:
            refund = session.get(m.Refund, refund_id)
            payment = session.get(m.Payment, refund.payment_id) if refund else None
            if refund is None or payment is None or payment.gateway is None:
                continue
            gateway, ref, amount = payment.gateway, payment.gateway_ref or "", refund.amount
            currency, reason = refund.currency, refund.reason
        result = _at_gateway(gateways, gateway, ref, amount, currency, refund_id, reason)
        if result is None:
            continue
        settle(session_factory, clock, refund_id, result)
        done += 1
    return done


def list_refunds(uow: UnitOfWork, org_id: str, *, payment: str | None = None,
                 **page: Any) -> scoping.Page:
    query = select(m.Refund).where(m.Refund.org_id == org_id)
    if payment:
        query = query.where(m.Refund.payment_id == payment)
    return scoping.paginate(uow.session, query, m.Refund, **page)


def to_object(refund: m.Refund) -> dict[str, Any]:
    return {"id": refund.id, "object": "refund", "payment": refund.payment_id,
            "invoice": refund.invoice_id, "credit_note": refund.credit_note_id,
            "amount": refund.amount, "currency": refund.currency, "status": refund.status,
            "reason": refund.reason, "failure_reason": refund.failure_reason,
            "override_reason": refund.override_reason,
            "gateway_reference": refund.gateway_ref, "metadata": refund.metadata_,
            "created": to_unix(refund.created)}
