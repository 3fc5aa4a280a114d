"""Bank statements in (MT940, CAMT.053), their entries, and matching by hand."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from kassa.api import bodies
from kassa.api.deps import Ctx, Paging, listing
from kassa.api.schemas import BankTransactionMatch, Empty, SepaDebitFileCreate
from kassa.config import Kassa
from kassa.core.errors import InvalidRequest
from kassa.services import reconciliation, scoping, sepa_debits
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


@router.post("/sepa_debit_files", response_class=Response,
             responses={200: {"content": {"application/xml": {}}}})
def create_sepa_debit_file(ctx: Ctx, body: SepaDebitFileCreate | None = None) -> Response:
    """A pain.008.001.08 file of every SEPA Direct Debit waiting to be collected through the
    organization's own bank (the `bank` gateway), for `collection_date` (default: in two
    days), to upload to the bank. Each debit's end-to-end id is its Kassa payment id."""
    when = None
    if body is not None and body.collection_date:
        try:
            when = date.fromisoformat(body.collection_date)
        except ValueError:
            raise InvalidRequest("collection_date is a day such as 2026-03-02.",
                                 param="collection_date") from None
    with ctx.kassa.uow() as uow:
        file_id, xml, count = sepa_debits.create_file(uow, ctx.kassa.files, ctx.org_id,
                                                      collection_date=when)
    return Response(xml, media_type="application/xml", headers={
        "Content-Disposition": f'attachment; filename="{file_id}.xml"',
        "Kassa-Debits": str(count)})


def _status_report(kassa: Kassa, org_id: str, data: bytes) -> dict[str, Any]:
    with kassa.uow() as uow:
        return sepa_debits.import_status_report(uow, org_id, data)


@router.post("/sepa_status_reports", openapi_extra={"requestBody": {"required": True,
             "content": {"application/xml": {"schema": {"type": "string"}}}}})
async def import_sepa_status_report(request: Request, ctx: Ctx) -> dict[str, Any]:
    """Apply the bank's pain.002 status report: rejected debits fail, or are reversed (their
    invoice reopened) if they were already counted as collected."""
    data = await bodies.read(request, types=None, max_bytes=reconciliation.MAX_BYTES,
                             too_large="A status report is at most 20 MB.", param="file")
    return await run_in_threadpool(_status_report, ctx.kassa, ctx.org_id, data)
