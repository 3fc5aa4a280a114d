"""Inbound gateway webhooks: verified, stored, processed once, retried when processing fails.

Every webhook is stored before it is processed: a verified event under its gateway event id
(unique per organization and gateway, so a replay is recognised and changes nothing), a
rejected one (the signature did not verify) with status `rejected` for the operators to see.
Processing moves the payment it names through the same `payments.apply_status` as collection
and checks do, so a webhook and a check that report the same outcome apply it once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from kassa.adapters.gateways.base import (
    ChargeResult,
    GatewayError,
    GatewayEvent,
    SignatureError,
    decline_type,
)
from kassa.core.clock import Clock
from kassa.core.errors import AuthenticationFailed, InvalidRequest, NotFound
from kassa.core.ids import new_id
from kassa.domain.delivery import retry_delay
from kassa.services import events, payments, scoping
from kassa.services.customers import now_for
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

log = logging.getLogger("kassa.payments")


class SignatureRejected(AuthenticationFailed):
    type = "signature_error"
    code = "webhook_signature_invalid"


def receive(session_factory: sessionmaker[Session], clock: Clock,
            gateways: payments.Gateways, org_id: str, gateway_name: str, body: bytes,
            headers: Mapping[str, str]) -> dict[str, Any]:
    """Verify, store and process one inbound webhook; the answer counts what happened.
    SignatureRejected (401) when it does not verify: it is stored as rejected."""
    now = clock.now()
    with UnitOfWork(session_factory, clock) as uow:
        if uow.session.get(m.Organization, org_id) is None:
            raise NotFound("No such webhook address.")
    gateway = gateways.get(gateway_name)
    if gateway is None:
        raise NotFound(f"The gateway {gateway_name!r} is not configured here.")
    try:
        found = gateway.parse_webhook(body=body, headers=headers, now=now)
    except SignatureError as exc:
        _store_rejected(session_factory, clock, org_id, gateway_name, body, str(exc), now)
        raise SignatureRejected(f"The webhook's signature does not verify: {exc}") from None
    except GatewayError as exc:  # signed, but not an event this gateway sends
        _store_rejected(session_factory, clock, org_id, gateway_name, body, str(exc), now)
        raise InvalidRequest(f"The webhook cannot be read: {exc}",
                             code="webhook_invalid") from None
    counts = {"received": len(found), "processed": 0, "replayed": 0, "failed": 0,
              "ignored": 0}
    for event in found:
        record_id = _store(session_factory, clock, org_id, gateway_name, event, now)
        if record_id is None:
            counts["replayed"] += 1
            continue
        counts[process(session_factory, clock, record_id)] += 1
    return counts


def _store_rejected(session_factory: sessionmaker[Session], clock: Clock, org_id: str,
                    gateway: str, body: bytes, error: str, now: datetime) -> None:
    digest = hashlib.sha256(body).hexdigest()
    with UnitOfWork(session_factory, clock) as uow:
        uow.session.add(m.GatewayEventRecord(
            id=new_id("gev"), org_id=org_id, gateway=gateway, event_id=f"rejected:{digest}",
            type=None, payload={"body": body[:20_000].decode("utf-8", "replace")},
            status="rejected", attempts=0, last_error=error[:2000], received_at=now))
        try:
            uow.commit()
        except IntegrityError:
            uow.rollback()  # the same forged body again: stored once


def _store(session_factory: sessionmaker[Session], clock: Clock, org_id: str, gateway: str,
           event: GatewayEvent, now: datetime) -> str | None:
    """The stored record's id; None when this event was received before (a replay)."""
    with UnitOfWork(session_factory, clock) as uow:
        record = m.GatewayEventRecord(
            id=new_id("gev"), org_id=org_id, gateway=gateway, event_id=event.id,
            type=event.type, payload=_payload(event), status="received", attempts=0,
            next_attempt_at=now, received_at=now)
        uow.session.add(record)
        try:
            uow.commit()
        except IntegrityError:
            uow.rollback()
            return None
        return record.id


def _payload(event: GatewayEvent) -> dict[str, Any]:
    fields = {name: getattr(event, name) for name in (
        "id", "type", "charge_ref", "refund_ref", "dispute_ref", "method_ref", "amount",
        "currency", "decline_code", "decline_type", "reason", "status")}
    fields["created"] = event.created.isoformat() if event.created else None
    fields["method"] = {name: getattr(event.method, name) for name in payments.DISPLAY_FIELDS} \
        if event.method else None
    fields["raw"] = json.loads(json.dumps(dict(event.raw), default=str))
    return fields


def process(session_factory: sessionmaker[Session], clock: Clock, record_id: str) -> str:
    """Process a stored event once: `processed`, `ignored` (nothing of Kassa's is named) or
    `failed` (retried later with backoff)."""
    with UnitOfWork(session_factory, clock) as uow:
        record = uow.session.get(m.GatewayEventRecord, record_id, with_for_update=True)
        if record is None or record.status not in ("received", "failed"):
            return "replayed"
        try:
            with uow.session.begin_nested():
                outcome = _apply(uow, record)
        except Exception as exc:
            record.attempts += 1
            record.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            delay = retry_delay(record.attempts)
            record.status = "failed"
            record.next_attempt_at = clock.now() + delay if delay else None
            log.warning("gateway event %s failed (attempt %s): %s", record.event_id,
                        record.attempts, record.last_error)
            uow.commit()
            return "failed"
        record.attempts += 1
        record.status, record.processed_at = outcome, clock.now()
        record.next_attempt_at, record.last_error = None, None
        uow.commit()
        return outcome


def retry_failed(session_factory: sessionmaker[Session], clock: Clock, *,
                 limit: int = 100) -> int:
    """Process again the events whose processing failed and whose retry is due."""
    with session_factory() as session:
        ids = list(session.scalars(select(m.GatewayEventRecord.id).where(
            m.GatewayEventRecord.status == "failed",
            m.GatewayEventRecord.next_attempt_at <= clock.now()).limit(limit)))
    return sum(process(session_factory, clock, record_id) == "processed" for record_id in ids)


def _apply(uow: UnitOfWork, record: m.GatewayEventRecord) -> str:
    data = record.payload
    kind = record.type or ""
    if kind.startswith("payment."):
        payment = _payment(uow.session, record, data.get("charge_ref"))
        if payment is None:
            return "ignored"
        status = {"payment.succeeded": "succeeded", "payment.failed": "failed",
                  "payment.returned": "failed", "payment.processing": "processing",
                  "payment.requires_action": "requires_action"}[kind]
        customer = uow.session.get(m.Customer, payment.customer_id, with_for_update=True)
        assert customer is not None
        code = data.get("decline_code") or data.get("reason")
        payments.apply_status(uow, payment, ChargeResult(
            ref=payment.gateway_ref or "", status=status,  # type: ignore[arg-type]
            amount=data.get("amount") or payment.amount, currency=payment.currency,
            decline_code=code, decline_type=data.get("decline_type")
            or (decline_type(code) if code else None),
            message=data.get("reason")), now_for(uow, customer))
        return "processed"
    if kind.startswith("refund."):
        refund = uow.session.scalars(select(m.Refund).where(
            m.Refund.org_id == record.org_id,
            m.Refund.gateway_ref == data.get("refund_ref"))).first()
        if refund is None:
            return "ignored"
        refund.status = "succeeded" if kind == "refund.succeeded" else "failed"
        return "processed"
    if kind.startswith("dispute."):
        return _dispute(uow, record, data)
    if kind == "mandate.revoked":
        methods = list(uow.session.scalars(select(m.PaymentMethod).where(
            m.PaymentMethod.org_id == record.org_id, m.PaymentMethod.gateway == record.gateway,
            m.PaymentMethod.gateway_ref == data.get("method_ref"))))
        for method in methods:
            method.status, method.detached_at = "detached", uow.clock.now()
            customer = uow.session.get(m.Customer, method.customer_id)
            if customer is not None and customer.default_payment_method_id == method.id:
                customer.default_payment_method_id = None
        return "processed" if methods else "ignored"
    if kind == "payment_method.updated":
        methods = list(uow.session.scalars(select(m.PaymentMethod).where(
            m.PaymentMethod.org_id == record.org_id, m.PaymentMethod.gateway == record.gateway,
            m.PaymentMethod.gateway_ref == data.get("method_ref"),
            m.PaymentMethod.status == "attached")))
        for method in methods:
            payments.method_updated(uow, method, data.get("method") or {})
        return "processed" if methods else "ignored"
    return "ignored"


def _payment(session: Session, record: m.GatewayEventRecord,
             ref: str | None) -> m.Payment | None:
    if not ref:
        return None
    try:
        return payments.find_by_ref(session, record.org_id, record.gateway, ref)
    except NotFound:
        return None


def _dispute(uow: UnitOfWork, record: m.GatewayEventRecord, data: dict[str, Any]) -> str:
    payment = _payment(uow.session, record, data.get("charge_ref"))
    if payment is None or not data.get("dispute_ref"):
        return "ignored"
    now = uow.clock.now()
    dispute = uow.session.scalars(select(m.Dispute).where(
        m.Dispute.gateway == record.gateway,
        m.Dispute.gateway_ref == data["dispute_ref"])).first()
    if dispute is None:
        dispute = m.Dispute(id=new_id("dp"), org_id=record.org_id, payment_id=payment.id,
                            invoice_id=payment.invoice_id, gateway=record.gateway,
                            gateway_ref=data["dispute_ref"], created=now,
                            amount=data.get("amount") or payment.amount,
                            currency=payment.currency, status="needs_response")
        uow.session.add(dispute)
    dispute.status = data.get("status") or dispute.status
    dispute.reason = data.get("reason") or dispute.reason
    dispute.updated = now
    uow.session.flush()
    kind = (record.type or "dispute.updated").split(".", 1)[1]
    events.record(uow.session, record.org_id, f"charge.dispute.{kind}", dispute_object(dispute),
                  now)
    return "processed"


def dispute_object(dispute: m.Dispute) -> dict[str, Any]:
    return {"id": dispute.id, "object": "dispute", "payment": dispute.payment_id,
            "invoice": dispute.invoice_id, "amount": dispute.amount,
            "currency": dispute.currency, "status": dispute.status, "reason": dispute.reason,
            "gateway": dispute.gateway, "gateway_reference": dispute.gateway_ref,
            "created": int(dispute.created.timestamp()),
            "updated": int(dispute.updated.timestamp())}


def list_disputes(uow: UnitOfWork, org_id: str, *, payment: str | None = None,
                  **page: Any) -> scoping.Page:
    query = select(m.Dispute).where(m.Dispute.org_id == org_id)
    if payment:
        query = query.where(m.Dispute.payment_id == payment)
    return scoping.paginate(uow.session, query, m.Dispute, **page)
