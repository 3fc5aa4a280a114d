from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from kassa.api.deps import Ctx, Paging, listing
from kassa.api.schemas import BalanceTransactionCreate, CustomerCreate, CustomerUpdate, Empty
from kassa.services import customers, objects, privacy, scoping
from kassa.store import models as m

router = APIRouter(tags=["customers"])


@router.post("/customers")
def create_customer(body: CustomerCreate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.customer(customers.create_customer(uow, ctx.org_id, **body.fields()))


@router.get("/customers")
def list_customers(request: Request, ctx: Ctx, page: Paging, email: str | None = None,
                   test_clock: str | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        result = customers.list_customers(uow, ctx.org_id, email=email, test_clock=test_clock,
                                          **page.asdict())
        return listing(request, result, objects.customer)


@router.get("/customers/{customer_id}")
def get_customer(customer_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.customer(scoping.get(uow.session, m.Customer, ctx.org_id, customer_id))


@router.post("/customers/{customer_id}")
def update_customer(customer_id: str, body: CustomerUpdate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.customer(customers.update_customer(uow, ctx.org_id, customer_id,
                                                          **body.fields()))


@router.post("/customers/{customer_id}/balance_transactions")
def create_balance_transaction(customer_id: str, body: BalanceTransactionCreate,
                               ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.balance_transaction(customers.adjust_balance(
            uow, ctx.org_id, customer_id, **body.fields()))


@router.get("/customers/{customer_id}/balance_transactions")
def list_balance_transactions(request: Request, customer_id: str, ctx: Ctx,
                              page: Paging) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        scoping.get(uow.session, m.Customer, ctx.org_id, customer_id)
        query = select(m.BalanceTransaction).where(
            m.BalanceTransaction.org_id == ctx.org_id,
            m.BalanceTransaction.customer_id == customer_id)
        result = scoping.paginate(uow.session, query, m.BalanceTransaction, **page.asdict())
        return listing(request, result, objects.balance_transaction)


@router.get("/customers/{customer_id}/export")
def export_customer(customer_id: str, ctx: Ctx) -> dict[str, Any]:
    """Everything Kassa holds about the customer, as one JSON document (GDPR access and
    portability): profile, balance, subscriptions, invoices, credit notes, payments,
    refunds, payment methods (display data), dunning, e-mails and events."""
    with ctx.kassa.uow() as uow:
        return privacy.export(uow, ctx.org_id, customer_id)


@router.post("/customers/{customer_id}/erase")
def erase_customer(customer_id: str, ctx: Ctx, body: Empty | None = None) -> dict[str, Any]:
    """Erase the customer's personal data (GDPR): profile, payment methods' display data,
    e-mails, and the customer in events and the audit log. Invoices and credit notes keep
    the buyer details they were issued with, as tax law requires. Refused while a
    subscription is still running."""
    with ctx.kassa.uow() as uow:
        return objects.customer(privacy.erase(uow, ctx.org_id, customer_id))
