"""`/v1/ledger`: the chart of accounts and its mapping rules, journal entries, the trial
balance, general ledger, revenue waterfall and reconciliation, the journal as CSV, closing
months; and `/v1/payouts`, the gateways' payouts to the bank."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from kassa.api.deps import Ctx, Paging, listing
from kassa.api.schemas import (
    LedgerAccountCreate,
    LedgerAccountUpdate,
    LedgerPeriodClose,
    PayoutCreate,
)
from kassa.core.errors import InvalidRequest, NotFound
from kassa.services import accounting, ledger_reports, recognition, scoping
from kassa.store import models as m

router = APIRouter(tags=["ledger"])

Month = Annotated[str, Query(max_length=7, pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]
From = Annotated[str | None, Query(alias="from", max_length=7, pattern=r"^\d{4}-\d{2}$")]
To = Annotated[str | None, Query(alias="to", max_length=7, pattern=r"^\d{4}-\d{2}$")]


@router.get("/ledger/accounts")
def list_accounts(ctx: Ctx) -> dict[str, Any]:
    """The chart of accounts, by code: the defaults, the accounts opened per jurisdiction
    and gateway, and the organization's own (mapping rules)."""
    with ctx.kassa.uow() as uow:
        rows = accounting.list_accounts(uow, ctx.org_id)
        return {"object": "list", "url": "/v1/ledger/accounts", "has_more": False,
                "data": [accounting.account_object(a) for a in rows]}


@router.post("/ledger/accounts")
def create_account(body: LedgerAccountCreate, ctx: Ctx) -> dict[str, Any]:
    """Open an account for a role, or a mapping rule: postings of `role` with `key` (a
    product id for revenue and deferred revenue, a jurisdiction such as DE or US-CA for tax,
    a gateway for clearing) go to this account."""
    with ctx.kassa.uow() as uow:
        return accounting.account_object(accounting.create_account(uow, ctx.org_id,
                                                                   **body.fields()))


@router.post("/ledger/accounts/{account_id}")
def rename_account(account_id: str, body: LedgerAccountUpdate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return accounting.account_object(accounting.rename_account(uow, ctx.org_id,
                                                                   account_id, body.name))


@router.get("/ledger/entries")
def list_entries(request: Request, ctx: Ctx, page: Paging,
                 kind: Annotated[str, Query(max_length=40)] | None = None,
                 source: Annotated[str, Query(max_length=60)] | None = None,
                 customer: Annotated[str, Query(max_length=40)] | None = None) -> dict[str, Any]:
    """Journal entries, newest first: of a `kind` (invoice.finalized, payment.succeeded...),
    of a `source` object, or touching a `customer`."""
    with ctx.kassa.uow() as uow:
        result = accounting.list_entries(uow, ctx.org_id, kind=kind, source=source,
                                         customer=customer, **page.asdict())
        codes = accounting.account_codes(uow, ctx.org_id)
        return listing(request, result, lambda entry: accounting.entry_object(entry, codes))


@router.get("/ledger/entries/{entry_id}")
def get_entry(entry_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        entry = scoping.get(uow.session, m.JournalEntry, ctx.org_id, entry_id)
        return accounting.entry_object(entry, accounting.account_codes(uow, ctx.org_id))


@router.get("/ledger/journal", responses={200: {"content": {"text/csv": {}}}})
def journal(ctx: Ctx, first: Annotated[str, Query(alias="from", max_length=7,
                                                  pattern=r"^\d{4}-\d{2}$")],
            last: Annotated[str, Query(alias="to", max_length=7,
                                       pattern=r"^\d{4}-\d{2}$")]) -> Response:
    """The journal of the months `from` to `to` as CSV, one row per posting, in the layout
    docs/ledger.md describes (Date, Journal, Entry, Account, Account name, Description,
    Debit, Credit, Currency, Reference, Customer, Product, Invoice)."""
    start, end = ledger_reports.month_span(first, last)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(ledger_reports.JOURNAL_COLUMNS)
    with ctx.kassa.reports_uow() as uow:
        writer.writerows(ledger_reports.journal_rows(uow.session, ctx.org_id, start, end))
    return Response(out.getvalue(), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="journal-{first}-{last}.csv"'})


@router.get("/ledger/periods")
def list_periods(ctx: Ctx) -> dict[str, Any]:
    """The closed months."""
    with ctx.kassa.uow() as uow:
        return {"object": "list", "url": "/v1/ledger_periods", "has_more": False,
                "data": [accounting.period_object(p)
                         for p in accounting.list_periods(uow, ctx.org_id)]}


@router.post("/ledger/periods")
def close_period(body: LedgerPeriodClose, ctx: Ctx) -> dict[str, Any]:
    """Close a month that has ended: its revenue is recognized, then anything dated in it
    is refused (`period_closed`); corrections go into an open month."""
    with ctx.kassa.uow() as uow:
        return accounting.period_object(accounting.close_period(uow, ctx.org_id, body.period))


@router.get("/ledger/{report}")
def ledger_report(report: Annotated[str, Path(max_length=40)], ctx: Ctx, first: From = None,
                  last: To = None,
                  account: Annotated[str, Query(max_length=20)] | None = None
                  ) -> dict[str, Any]:
    """A ledger report for the months `from` to `to` (default: this month): the trial
    balance (balances before, debits, credits, balances after, per account and currency),
    the general ledger (every posting with its running balance; `account` for one), the
    revenue waterfall (deferred revenue in, recognized, left, by month and product, and
    what the schedules recognize in the next twelve months), or the reconciliation of
    invoices, payments, credit notes, refunds and receivables against the ledger. Also
    `GET /v1/reports/{name}` (with CSV)."""
    if report not in ledger_reports.NAMES:
        raise NotFound(f"No such ledger report. Reports: {', '.join(ledger_reports.NAMES)}.",
                       param="report")
    with ctx.kassa.reports_uow() as uow:
        current = accounting.today(uow, ctx.org_id).strftime("%Y-%m")
        return ledger_reports.report(uow.session, ctx.org_id, report, first or last or current,
                                     last or current, account)


@router.post("/ledger/recognize")
def recognize(ctx: Ctx) -> dict[str, Any]:
    """Post the revenue earned up to today now, rather than at the next hourly run."""
    with ctx.kassa.uow() as uow:
        moved = recognition.recognize_all(uow.session, ctx.org_id, uow.clock.now())
        uow.commit()
    return {"object": "recognition_run", "schedules": moved}


@router.post("/payouts")
def create_payout(body: PayoutCreate, ctx: Ctx) -> dict[str, Any]:
    """Record a payout from a gateway to the bank (clearing to bank, less the gateway's fee;
    a payout in another currency through the FX differences account)."""
    fields = body.fields()
    try:
        fields["arrival_date"] = date.fromisoformat(fields["arrival_date"])
    except ValueError:
        raise InvalidRequest("arrival_date is a date, YYYY-MM-DD.",
                             param="arrival_date") from None
    with ctx.kassa.uow() as uow:
        return accounting.payout_object(accounting.record_payout(uow, ctx.org_id, **fields))


@router.get("/payouts")
def list_payouts(request: Request, ctx: Ctx, page: Paging) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return listing(request, accounting.list_payouts(uow, ctx.org_id, **page.asdict()),
                       accounting.payout_object)


@router.get("/payouts/{payout_id}")
def get_payout(payout_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return accounting.payout_object(scoping.get(uow.session, m.Payout, ctx.org_id,
                                                    payout_id))
