"""The dashboard's catalog overview (read-only: products and their prices, meters, coupons)
and its operators page, where an admin adds operators, changes their role and deactivates
them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kassa.config import Kassa
from kassa.core.money import exponent
from kassa.services import dashboard, operators
from kassa.services.operators import Staff
from kassa.store import models as m
from kassa.web.dashboard import Fields, Signed, act, field, frame, page
from kassa.web.portal import KassaDep
from kassa.web.texts import interval_text, texts

router = APIRouter(include_in_schema=False)

NOTICES = {"role_changed": "The operator's role was changed.",
           "deactivated": "The operator was deactivated; their sessions have ended."}


@router.get("/dashboard/catalog")
def catalog_page(kassa: KassaDep, who: Signed) -> Response:
    with kassa.uow() as uow:
        return page("catalog.html", **frame(uow, kassa, who, "catalog"),
                    catalog=dashboard.catalog(uow, who.org_id), price_text=price_text)


def price_text(price: m.Price) -> str:
    """ "€49.00 per month", "tiered (graduated) per month, metered", as an overview says it."""
    if price.billing_scheme == "tiered":
        amount = f"tiered ({price.tiers_mode})"
    elif price.percentage:
        amount = f"{price.percentage.get('rate', '?')}% of volume"
    elif price.unit_amount_decimal is not None:
        major = price.unit_amount_decimal.scaleb(-exponent(price.currency)).normalize()
        amount = f"{major:,f} {price.currency.upper()}"
    else:
        amount = price.currency.upper()
    if price.recurring_interval:
        amount += " per " + interval_text(texts("en"), price.recurring_interval,
                                         price.recurring_interval_count)
    if price.recurring_usage_type == "metered":
        amount += ", metered"
    return amount


@router.get("/dashboard/operators")
def operator_list(kassa: KassaDep, who: Signed, done: str = "") -> Response:
    return _operators_page(kassa, who, notice=NOTICES.get(done))


def _operators_page(kassa: Kassa, who: Staff, *, notice: str | None = None,
                    error: str | None = None, error_param: str | None = None,
                    status: int = 200, sent: dict[str, str] | None = None,
                    created: tuple[str, str] | None = None) -> Response:
    with kassa.uow() as uow:
        values = frame(uow, kassa, who, "operators")
        values.update(notice=notice, error=error, error_param=error_param)
        return page("operators.html", status=status, **values,
                    rows=operators.list_operators(uow, who.org_id), roles=operators.ROLES,
                    permissions=operators.PERMISSIONS, actions=operators.ACTIONS,
                    sent=sent or {}, created=created)


def _again(kassa: Kassa, who: Staff, fields: Fields) -> Any:
    def again(message: str, param: str | None) -> Response:
        return _operators_page(kassa, who, error=message, error_param=param, status=400,
                               sent=dict(fields))
    return again


@router.post("/dashboard/operators")
def add_operator(request: Request, kassa: KassaDep, who: Signed, fields: Fields) -> Response:
    """A new operator with a generated password, shown once on the page that answers."""
    def run() -> Response:
        password = operators.new_password()
        with kassa.uow() as uow:
            made = operators.create_operator(uow, who.org_id, email=field(fields, "email", 320),
                                             role=field(fields, "role", 10), password=password)
        return _operators_page(kassa, who, created=(made.email, password),
                               notice=f"{made.email} was added as {made.role}.")

    return act(request, kassa, who, "operators.manage", fields, None, run,
               done="/dashboard/operators", again=_again(kassa, who, fields))


@router.post("/dashboard/operators/{operator_id}/role")
def change_role(operator_id: str, request: Request, kassa: KassaDep, who: Signed,
                fields: Fields) -> Response:
    def run() -> str:
        with kassa.uow() as uow:
            operators.change_role(uow, who.org_id, operator_id, field(fields, "role", 10))
        return "role_changed"

    return act(request, kassa, who, "operators.manage", fields, operator_id, run,
               done="/dashboard/operators", again=_again(kassa, who, fields))


@router.post("/dashboard/operators/{operator_id}/deactivate")
def deactivate(operator_id: str, request: Request, kassa: KassaDep, who: Signed,
               fields: Fields) -> Response:
    def run() -> str:
        with kassa.uow() as uow:
            operators.deactivate(uow, who.org_id, operator_id)
        return "deactivated"

    return act(request, kassa, who, "operators.manage", fields, operator_id, run,
               done="/dashboard/operators", again=_again(kassa, who, fields))
