"""The portal's subscription pages: a subscription with its period, next invoice and any
change or cancellation ahead; changing the plan or seats with the exact invoice the change
leads to shown before it is confirmed (htmx swaps the preview in as the customer chooses;
without script the form shows the same preview as a page); cancelling at the period's end
with a reason, and undoing that; and the usage page with a chart per meter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from babel.dates import format_date
from fastapi import APIRouter, Form, Query
from fastapi.responses import FileResponse, RedirectResponse, Response
from markupsafe import Markup

from kassa.config import Kassa
from kassa.core.clock import from_unix
from kassa.core.errors import InvalidRequest, InvalidState, NotFound
from kassa.services import emails, payments, portal, self_service
from kassa.store import models as m
from kassa.store.uow import UnitOfWork
from kassa.web import charts
from kassa.web.portal import (
    SECURITY_HEADERS,
    KassaDep,
    Missing,
    Signed,
    as_customer,
    ended,
    frame,
    page,
    upcoming,
)
from kassa.web.texts import interval_text

router = APIRouter(include_in_schema=False)

HTMX = "htmx-2.0.11.min.js"
STATIC = Path(__file__).parent / "static"
PriceChoice = Annotated[str, Query(max_length=40)]
QuantityChoice = Annotated[str, Query(max_length=12)]


@router.get(f"/portal/static/{HTMX}")
def htmx_script() -> Response:
    """htmx (BSD-0), vendored: the portal needs no network and no build step."""
    return FileResponse(STATIC / HTMX, media_type="text/javascript", headers={
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff"})


def price_label(t: dict[str, str], price: m.Price, quantity: int, locale: str) -> str:
    """"Pro · €49.00 per month" for `quantity` units."""
    name = price.product.name + (f" ({price.nickname})" if price.nickname else "")
    amount = emails.amount_text(self_service.amount_per_interval(price, quantity),
                                price.currency, locale)
    every = interval_text(t, price.recurring_interval, price.recurring_interval_count)
    return f"{name} · {t['per_interval'].format(amount=amount, interval=every)}"


def _owned(uow: UnitOfWork, who: portal.Visitor, subscription_id: str) -> m.Subscription:
    try:
        return self_service.owned_subscription(uow, who, subscription_id)
    except NotFound:
        raise Missing(who.locale) from None


def _date(values: dict[str, Any], at: datetime | None) -> str | None:
    return emails.date_text(values["org"], values["customer"], at)


def _subscription_page(uow: UnitOfWork, kassa: Kassa, who: portal.Visitor,
                       sub: m.Subscription, *, notice: str | None = None,
                       chosen: tuple[str, str] | None = None, status: int = 200,
                       error: str | None = None) -> Response:
    values = frame(uow, kassa, who, "overview")
    t, locale = values["t"], values["locale"]
    item = self_service.plan_item(sub)
    options = self_service.options(uow, who, sub)
    settings = self_service.settings_of(uow, who)
    next_invoice = upcoming(uow, who, sub.id)
    pending = self_service.pending_change(sub)
    price_id, quantity = chosen or (item.price_id if item else "", str(item.quantity if item
                                                                      else 1))
    preview = _preview_values(uow, who, values, sub.id, price_id, quantity) \
        if chosen and not error else {}
    return page(
        "subscription.html", status=status, **values, sub=sub, notice=notice, error=error,
        plan=emails.plan_name(values["org"], sub),
        status_text=t.get(sub.status, sub.status),
        current=price_label(t, item.price, item.quantity, locale) if item else None,
        quantity=item.quantity if item else None,
        period=(_date(values, sub.current_period_start), _date(values, sub.current_period_end)),
        next_invoice={"date": _date(values, from_unix(next_invoice["created"])),
                      "amount": emails.amount_text(next_invoice["amount_due"],
                                                   next_invoice["currency"], locale)}
        if next_invoice and sub.cancel_at is None else None,
        ends_on=_date(values, sub.cancel_at) if sub.cancel_at else None,
        can_undo=sub.cancel_at is not None and sub.cancel_at_period_end
        and sub.status != "canceled",
        can_cancel=settings["cancellation"] == "at_period_end" and sub.cancel_at is None
        and sub.status in self_service.CHANGEABLE,
        pending=t["scheduled_change"].format(
            date=_date(values, pending.migrate_at), plan=pending.migrate_to_price.product.name
            if pending.migrate_to_price else "", quantity=pending.migrate_quantity
            or pending.quantity) if pending else None,
        options=[{"id": price.id, "label": price_label(t, price, 1, locale),
                  "current": item is not None and price.id == item.price_id,
                  "checked": price.id == price_id} for price in options],
        quantity_changes=settings["quantity_changes"], chosen_quantity=quantity,
        no_change_here=item is None and sub.status in self_service.CHANGEABLE,
        htmx=HTMX, **preview)


def _preview_values(uow: UnitOfWork, who: portal.Visitor, values: dict[str, Any], sub_id: str,
                    price_id: str, quantity: str) -> dict[str, Any]:
    """What the preview fragment shows for a proposed change: the invoice it leads to, or
    why it cannot be made."""
    t, locale = values["t"], values["locale"]
    try:
        change = self_service.propose(uow, who, sub_id, price_id, quantity)
        invoice = self_service.preview(uow, who, change)
    except (InvalidRequest, InvalidState) as exc:
        return {"preview_error": str(exc), "preview": None}
    money = {key: emails.amount_text(invoice[key], invoice["currency"], locale)
             for key in ("subtotal", "tax", "total", "amount_due")}
    now = invoice["billing_reason"] != "upcoming"
    price = uow.session.get(m.Price, change.price_id)
    assert price is not None
    sub = uow.session.get(m.Subscription, sub_id)
    assert sub is not None
    return {"preview_error": None, "change": change, "preview": {
        "lines": [{"description": line["description"],
                   "amount": emails.amount_text(line["amount"], invoice["currency"], locale)}
                  for line in invoice["lines"]["data"]],
        **money,
        "due": t["due_now"].format(amount=money["amount_due"]) if now
        else t["on_next_invoice"].format(date=_date(values, from_unix(invoice["created"])),
                                         amount=money["amount_due"]),
        "credited": t["credited"].format(amount=emails.amount_text(
            -invoice["total"], invoice["currency"], locale)) if now and invoice["total"] < 0
        else None,
        "from_date": t["from_date"].format(date=_date(values, sub.current_period_end),
                                           plan=price.product.name, quantity=change.quantity)
        if change.at_period_end else None}}


@router.get("/portal/subscriptions/{subscription_id}")
def subscription(subscription_id: str, kassa: KassaDep, who: Signed,
                 price: PriceChoice | None = None, quantity: QuantityChoice | None = None,
                 notice: Annotated[str, Query(max_length=20)] | None = None) -> Response:
    """The subscription; with `price` (and `quantity`) also the preview of that change."""
    with kassa.uow() as uow:
        sub = _owned(uow, who, subscription_id)
        chosen = (price, quantity or "1") if price is not None else None
        known = notice if notice in ("changed", "renewed", "canceled_notice") else None
        return _subscription_page(uow, kassa, who, sub, notice=known, chosen=chosen)


@router.get("/portal/subscriptions/{subscription_id}/preview")
def change_preview(subscription_id: str, kassa: KassaDep, who: Signed,
                   price: PriceChoice = "", quantity: QuantityChoice = "1") -> Response:
    """The preview fragment alone (for htmx); nothing is written."""
    with kassa.uow() as uow:
        sub = _owned(uow, who, subscription_id)
        values = frame(uow, kassa, who, "overview")
        return page("preview.html", **values, sub=sub,
                    **_preview_values(uow, who, values, sub.id, price, quantity))


@router.post("/portal/subscriptions/{subscription_id}/change")
def change(subscription_id: str, kassa: KassaDep, who: Signed,
           csrf_token: Annotated[str, Form()] = "",
           price: Annotated[str, Form(max_length=40)] = "",
           quantity: Annotated[str, Form(max_length=12)] = "1") -> Response:
    """Make the change exactly as previewed; what it invoices at once is collected at once
    on the customer's default payment method."""
    response = _act(kassa, who, subscription_id, csrf_token, "change", "changed",
                    lambda uow: self_service.apply(uow, who, self_service.propose(
                        uow, who, subscription_id, price, quantity)),
                    chosen=(price, quantity))
    if response.status_code == 303:
        payments.collect_customer_now(kassa.session_factory, kassa.clock, kassa.gateways,
                                      who.customer_id)
    return response


@router.get("/portal/subscriptions/{subscription_id}/cancel")
def cancel_form(subscription_id: str, kassa: KassaDep, who: Signed) -> Response:
    with kassa.uow() as uow:
        sub = _owned(uow, who, subscription_id)
        values = frame(uow, kassa, who, "overview")
        return page("cancel.html", **values, sub=sub,
                    plan=emails.plan_name(values["org"], sub),
                    ends=_date(values, sub.current_period_end),
                    reasons=self_service.FEEDBACK)


@router.post("/portal/subscriptions/{subscription_id}/cancel")
def cancel(subscription_id: str, kassa: KassaDep, who: Signed,
           csrf_token: Annotated[str, Form()] = "",
           feedback: Annotated[str, Form(max_length=40)] = "",
           comment: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Cancel at the period's end, with the reason the customer gave."""
    return _act(kassa, who, subscription_id, csrf_token, "cancel", "canceled_notice",
                lambda uow: self_service.cancel(uow, who, subscription_id,
                                                feedback=feedback or None, comment=comment))


@router.post("/portal/subscriptions/{subscription_id}/renew")
def renew(subscription_id: str, kassa: KassaDep, who: Signed,
          csrf_token: Annotated[str, Form()] = "") -> Response:
    """Undo the cancellation: the subscription renews as before."""
    return _act(kassa, who, subscription_id, csrf_token, "renew", "renewed",
                lambda uow: self_service.undo_cancel(uow, who, subscription_id))


def _act(kassa: Kassa, who: portal.Visitor, subscription_id: str, csrf_token: str,
         action: str, notice: str, run: Callable[[UnitOfWork], object],
         chosen: tuple[str, str] | None = None) -> Response:
    """Check the form's token, `run` the change as the portal customer, and go back to the
    subscription with `notice`; a refused change shows the page again with the reason."""
    try:
        portal.check_csrf(kassa.pepper, who, csrf_token)
        with as_customer(kassa, who, f"/portal/subscriptions/{subscription_id}/{action}"), \
                kassa.uow() as uow:
            run(uow)
    except NotFound:
        return ended(who.locale, 404, "not_found")
    except (InvalidRequest, InvalidState) as exc:
        if exc.param == "csrf_token":
            return ended(who.locale, 400, "session_ended")
        with kassa.uow() as uow:
            return _subscription_page(uow, kassa, who, _owned(uow, who, subscription_id),
                                      status=400, chosen=chosen, error=str(exc))
    return RedirectResponse(f"/portal/subscriptions/{subscription_id}?notice={notice}",
                            status_code=303, headers=SECURITY_HEADERS)


@router.get("/portal/usage")
def usage_page(kassa: KassaDep, who: Signed) -> Response:
    """This period's usage per meter: so far, per day (a chart), included, projected."""
    with kassa.uow() as uow:
        values = frame(uow, kassa, who, "usage")
        t, locale, language = values["t"], values["locale"], values["lang"]
        meters = []
        for index, used in enumerate(self_service.current_usage(
                uow, who, portal.subscriptions_of(uow, who))):
            start, end = _date(values, used.period_start), _date(values, used.period_end)
            meters.append({
                "name": used.name, "unit": used.unit, "used": _number(used.used),
                "included": _number(used.included) if used.included is not None else None,
                "projected": _number(used.projected),
                "projected_label": t["projected"].format(date=end),
                "projected_cost": emails.amount_text(used.projected_cost, used.currency,
                                                     locale),
                "chart": _usage_chart(values, used, language, start, end, f"usage-{index}"),
                "days": [(format_date(day, format="medium", locale=language), _number(value))
                         for day, value in used.per_day]})
        return page("usage.html", **values, meters=meters)


def _usage_chart(values: dict[str, Any], used: self_service.MeterUsage, language: str,
                 start: str | None, end: str | None, ident: str) -> Markup:
    """The meter's chart (MeterUsage.chart) in the customer's language."""
    t = values["t"]
    bars, limit = used.chart()
    title = t["so_far" if used.adds_up else "per_day"].format(meter=used.name)
    return charts.bar_chart(
        [(format_date(day, format="d MMM", locale=language), value) for day, value in bars],
        title=title, description=t["per_day_desc"].format(meter=used.name, start=start,
                                                          end=end),
        color=values["brand"], limit=limit, limit_label=t["included"], ident=ident)


def _number(value: Decimal) -> str:
    text = f"{value:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
