"""Bank statements in (MT940, CAMT.053), their entries, and matching by hand."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from kassa.api import bodies
from kassa.api.deps import Ctx, Paging, listing
from kassa.api.schemas import BankTransactionMatch, Empty
from kassa.config import Kassa
from kassa.services import reconciliation, scoping
from kassa.store import models as m

router = APIRouter(tags=["bank reconciliation"])


def _import(kassa: Kassa, org_id: str, data: bytes, filename: str | None) -> dict[str, Any]:
    with kassa.uow() as uow:
        return reconciliation.import_statement(uow, org_id, data, filename).asdict()


@router.post("/bank_statements", openapi_extra={"requestBody": {"required": True, "content": {
    "text/plain": {"schema": {"type": "string", "description": "an MT940 statement"}},
    "application/xml": {"schema": {"type": "string", "description": "a camt.053"}}}}})
async def import_bank_statement(
        request: Request, ctx: Ctx,
        filename: Annotated[str | None, Query(max_length=255)] = None) -> dict[str, Any]:
    """Import a bank statement (the file as the body, up to 20 MB) and reconcile it: every
    credit is matched to the invoices it pays, returns reverse their payments, the rest waits
    in the unmatched list. Importing the same file twice registers nothing twice."""
    data = await bodies.read(request, types=None, max_bytes=reconciliation.MAX_BYTES,
                             too_large="A statement file is at most 20 MB.", param="file")
    return await run_in_threadpool(_import, ctx.kassa, ctx.org_id, data, filename)


@router.get("/bank_transactions")
def list_bank_transactions(request: Request, ctx: Ctx, page: Paging,
                           status: Literal["unmatched", "matched", "returned",
                                           "ignored"] | None = None,
                           statement: str | None = None) -> dict[str, Any]:
    """Bank statement entries; `status=unmatched` is the list waiting for a person, each
    with suggestions."""
    with ctx.kassa.uow() as uow:
        result = reconciliation.list_transactions(uow, ctx.org_id, status=status,
                                                  statement=statement, **page.asdict())
        return listing(request, result, reconciliation.transaction_object)


@router.get("/bank_transactions/{transaction_id}")
def get_bank_transaction(transaction_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return reconciliation.transaction_object(
            scoping.get(uow.session, m.BankTransaction, ctx.org_id, transaction_id))


@router.post("/bank_transactions/{transaction_id}/match")
def match_bank_transaction(transaction_id: str, body: BankTransactionMatch,
                           ctx: Ctx) -> dict[str, Any]:
    """Match an unmatched credit to invoices (and what is left to the customer's balance)."""
    with ctx.kassa.uow() as uow:
        return reconciliation.transaction_object(reconciliation.match(
            uow, ctx.org_id, transaction_id,
            invoices=[item.model_dump(exclude_none=True) for item in body.invoices or []],
            customer=body.customer))


@router.post("/bank_transactions/{transaction_id}/ignore")
def ignore_bank_transaction(transaction_id: str, ctx: Ctx,
                            body: Empty | None = None) -> dict[str, Any]:
    """Set an entry aside: it is not a customer's payment."""
    with ctx.kassa.uow() as uow:
        return reconciliation.transaction_object(
            reconciliation.ignore(uow, ctx.org_id, transaction_id))
