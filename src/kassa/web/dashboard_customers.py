"""The dashboard's customer pages: search by name, e-mail or id, and the customer 360 (profile,
subscriptions with their history, invoices, payments and refunds, credit notes, balance,
dunning, payment methods, this period's usage, a timeline); finance adds credit to a
customer's balance there."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from kassa.config import Kassa
from kassa.core.errors import InvalidRequest, NotFound
from kassa.services import customers, dashboard, self_service
from kassa.services.operators import Staff
from kassa.store import models as m
from kassa.store.uow import UnitOfWork
from kassa.web import charts
from kassa.web.dashboard import (
    Fields,
    Missing,
    Signed,
    act,
    amount_field,
    field,
    frame,
    owned,
    page,
    paging,
)
from kassa.web.portal import KassaDep

router = APIRouter(include_in_schema=False)

NOTICES = {"credited": "The credit was added to the customer's balance."}


@router.get("/dashboard/customers")
def customer_list(request: Request, kassa: KassaDep, who: Signed, q: str = "",
                  starting_after: str = "", ending_before: str = "") -> Response:
    """Customers found by name, e-mail or id (all of them without a search), newest first."""
    with kassa.uow() as uow:
        values = frame(uow, kassa, who, "customers")
        try:
            found = dashboard.search_customers(uow, who.org_id, q,
                                               starting_after=starting_after,
                                               ending_before=ending_before)
        except InvalidRequest as exc:
            values.update(error=exc.message, error_param=exc.param)
            return page("customers.html", status=400, **values, q=q[:dashboard.MAX_SEARCH],
                        rows=[], links={})
        return page("customers.html", **values, q=q, rows=found.rows,
                    links=paging(request, found, {"q": q} if q else {},
                                 starting_after=starting_after, ending_before=ending_before))


@router.get("/dashboard/customers/{customer_id}")
def customer_page(customer_id: str, kassa: KassaDep, who: Signed, done: str = "") -> Response:
    with kassa.uow() as uow:
        return _customer_page(uow, kassa, who, customer_id, notice=NOTICES.get(done))


def _customer_page(uow: UnitOfWork, kassa: Kassa, who: Staff, customer_id: str, *,
                   notice: str | None = None, error: str | None = None,
                   error_param: str | None = None, status: int = 200,
                   sent: dict[str, str] | None = None) -> Response:
    try:
        seen = dashboard.customer_overview(uow, who.org_id, customer_id)
    except NotFound as exc:
        raise Missing(exc.message) from None
    values = frame(uow, kassa, who, "customers")
    values.update(notice=notice, error=error, error_param=error_param)
    usage = [{"used": used, "chart": _usage_chart(used, values["brand"], f"usage-{index}")}
             for index, used in enumerate(seen.usage)]
    return page("customer.html", status=status, **values, seen=seen, c=seen.customer,
                usage=usage, sent=sent or {}, quantity=_quantity, method_label=method_label,
                numbers={i.id: i.number or i.id for i in seen.invoices},
                balance_currency=seen.customer.currency or values["org"].default_currency)


def _quantity(value: Decimal) -> str:
    return f"{value.normalize():,f}"


def _usage_chart(used: self_service.MeterUsage, color: str, ident: str) -> Markup:
    """The meter's chart (MeterUsage.chart), as the customer's portal draws it."""
    bars, limit = used.chart()
    title = f"{used.name} so far, day by day" if used.adds_up else f"{used.name} per day"
    return charts.bar_chart(
        [(day.strftime("%d %b"), value) for day, value in bars], title=title,
        description=f"Usage of {used.name} per day from {used.period_start:%Y-%m-%d} to "
                    f"{used.period_end:%Y-%m-%d}.",
        color=color, limit=limit, limit_label="Included",
        ident=ident)


@router.post("/dashboard/customers/{customer_id}/credit")
def add_credit(customer_id: str, request: Request, kassa: KassaDep, who: Signed,
               fields: Fields) -> Response:
    """Credit the customer's balance (it pays their next invoices)."""
    def run() -> str:
        with kassa.uow() as uow:
            customer: m.Customer = owned(uow, m.Customer, who, customer_id)
            org = uow.session.get(m.Organization, who.org_id)
            assert org is not None
            currency = customer.currency or org.default_currency
            amount = amount_field(fields, "amount", currency)
            assert amount is not None
            customers.adjust_balance(uow, who.org_id, customer.id, amount=-amount,
                                     currency=currency,
                                     description=field(fields, "description", 500) or None)
        return "credited"

    def again(message: str, param: str | None) -> Response:
        with kassa.uow() as uow:
            return _customer_page(uow, kassa, who, customer_id, error=message,
                                  error_param=param, status=400, sent=dict(fields))

    return act(request, kassa, who, "customer.credit", fields, customer_id, run,
               done=f"/dashboard/customers/{customer_id}", again=again)


def method_label(method: m.PaymentMethod) -> str:
    """A payment method as display data only: "Visa •••• 4242 (12/2034)"."""
    if method.type == "card":
        expiry = f" ({method.exp_month:02d}/{method.exp_year})" \
            if method.exp_month and method.exp_year else ""
        return f"{(method.brand or 'card').title()} •••• {method.last4 or '????'}{expiry}"
    return f"SEPA {method.country or ''}•• •••• {method.last4 or '????'}" + (
        f" ({method.mandate_reference})" if method.mandate_reference else "")
