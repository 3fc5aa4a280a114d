"""Coupons, promotion codes and the discounts they grant to customers and subscriptions.

A coupon takes `percent_off` or `amount_off` (in one currency), for `once` (the next
invoice), `repeating` (`duration_in_months`) or `forever`, optionally only on some products;
`max_redemptions` and `redeem_by` limit its use. A promotion code is a customer-facing code
for a coupon, with limits of its own. Applying either creates a discount; invoices take it
off line by line (see `domain/discounts.py`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, or_, select

from kassa.core.clock import parse_timestamp
from kassa.core.errors import InvalidRequest
from kassa.core.ids import new_id
from kassa.core.money import normalize_currency, parse_decimal
from kassa.domain import discounts as domain
from kassa.services import prefetch, scoping, validation
from kassa.store import models as m
from kassa.store.rows import assign
from kassa.store.uow import UnitOfWork

DURATIONS = ("once", "repeating", "forever")
_CODE = re.compile(r"^[A-Za-z0-9_\-]{1,60}$")


def create_coupon(uow: UnitOfWork, org_id: str, *, id: str | None = None,
                  name: str | None = None, percent_off: Any = None,
                  amount_off: int | None = None, currency: str | None = None,
                  duration: str = "once", duration_in_months: int | None = None,
                  max_redemptions: int | None = None, redeem_by: int | None = None,
                  applies_to: dict[str, Any] | None = None,
                  metadata: dict[str, Any] | None = None) -> m.Coupon:
    if (percent_off is None) == (amount_off is None):
        raise InvalidRequest("Give percent_off or amount_off.", param="percent_off")
    percent = None
    if percent_off is not None:
        percent = parse_decimal(str(percent_off), param="percent_off")
        if not 0 < percent <= 100:
            raise InvalidRequest("percent_off is more than 0 and at most 100.",
                                 param="percent_off")
    if amount_off is not None:
        if amount_off <= 0:
            raise InvalidRequest("amount_off is a positive amount in minor units.",
                                 param="amount_off")
        if currency is None:
            raise InvalidRequest("amount_off needs a currency.", param="currency")
        currency = normalize_currency(currency)
    elif currency is not None:
        raise InvalidRequest("currency goes with amount_off.", param="currency")
    if duration not in DURATIONS:
        raise InvalidRequest("duration is once, repeating or forever.", param="duration")
    if (duration == "repeating") != (duration_in_months is not None):
        raise InvalidRequest("duration_in_months goes with duration repeating, and only with "
                             "it.", param="duration_in_months")
    if duration_in_months is not None and not 1 <= duration_in_months <= 120:
        raise InvalidRequest("duration_in_months is 1 to 120.", param="duration_in_months")
    if max_redemptions is not None and max_redemptions < 1:
        raise InvalidRequest("max_redemptions is at least 1.", param="max_redemptions")
    products = None
    if applies_to is not None:
        products = [scoping.get(uow.session, m.Product, org_id, product,
                                param=f"applies_to[products][{i}]").id
                    for i, product in enumerate(applies_to.get("products") or [])]
        if not products:
            raise InvalidRequest("applies_to needs products.", param="applies_to[products]")
    coupon_id = id or new_id("co")
    if not _CODE.match(coupon_id):
        raise InvalidRequest("A coupon id is 1-60 letters, digits, '_' or '-'.", param="id")
    if uow.session.get(m.Coupon, coupon_id) is not None:
        raise InvalidRequest("A coupon with this id exists.", param="id",
                             code="resource_already_exists")
    coupon = m.Coupon(
        id=coupon_id, org_id=org_id, name=name, percent_off=percent, amount_off=amount_off,
        currency=currency, duration=duration, duration_in_months=duration_in_months,
        max_redemptions=max_redemptions, times_redeemed=0,
        redeem_by=parse_timestamp(redeem_by, "redeem_by") if redeem_by is not None else None,
        applies_to_products={"products": products} if products else None, valid=True,
        metadata_=metadata or {}, created=uow.clock.now())
    uow.session.add(coupon)
    uow.commit()
    return coupon


def create_promotion_code(uow: UnitOfWork, org_id: str, *, coupon: str, code: str,
                          customer: str | None = None, max_redemptions: int | None = None,
                          expires_at: int | None = None, active: bool = True,
                          metadata: dict[str, Any] | None = None) -> m.PromotionCode:
    coupon_row = scoping.get(uow.session, m.Coupon, org_id, coupon, param="coupon")
    if not _CODE.match(code or ""):
        raise InvalidRequest("A code is 1-60 letters, digits, '_' or '-'.", param="code")
    taken = uow.session.scalar(select(m.PromotionCode.id).where(
        m.PromotionCode.org_id == org_id, func.upper(m.PromotionCode.code) == code.upper()))
    if taken:
        raise InvalidRequest("This code is taken.", param="code",
                             code="resource_already_exists")
    customer_id = None
    if customer is not None:
        customer_id = scoping.get(uow.session, m.Customer, org_id, customer,
                                  param="customer").id
    if max_redemptions is not None and max_redemptions < 1:
        raise InvalidRequest("max_redemptions is at least 1.", param="max_redemptions")
    promo = m.PromotionCode(
        id=new_id("promo"), org_id=org_id, code=code, coupon_id=coupon_row.id,
        customer_id=customer_id, active=active, max_redemptions=max_redemptions,
        times_redeemed=0,
        expires_at=parse_timestamp(expires_at, "expires_at") if expires_at else None,
        metadata_=validation.merge_metadata({}, metadata or {}), created=uow.clock.now())
    uow.session.add(promo)
    uow.commit()
    return promo


def redeem(uow: UnitOfWork, org_id: str, customer: m.Customer, now: datetime, *,
           coupon: str | None = None, promotion_code: str | None = None,
           subscription_id: str | None = None, currency: str | None = None) -> m.Discount:
    """Check the coupon (or code) may be used now by this customer, count the redemption,
    and create the discount. The caller commits."""
    if (coupon is None) == (promotion_code is None):
        raise InvalidRequest("Give coupon or promotion_code.", param="coupon")
    promo = None
    if promotion_code is not None:
        promo = uow.session.scalars(select(m.PromotionCode).where(
            m.PromotionCode.org_id == org_id, or_(
                m.PromotionCode.id == promotion_code,
                func.upper(m.PromotionCode.code) == promotion_code.upper()))
            .with_for_update()).first()
        if promo is None or not promo.active:
            raise InvalidRequest("This promotion code is not valid.", param="promotion_code",
                                 code="promotion_code_invalid")
        if promo.expires_at is not None and now >= promo.expires_at:
            raise InvalidRequest("This promotion code has expired.", param="promotion_code",
                                 code="promotion_code_expired")
        if promo.max_redemptions is not None and promo.times_redeemed >= promo.max_redemptions:
            raise InvalidRequest("This promotion code is used up.", param="promotion_code",
                                 code="promotion_code_used_up")
        if promo.customer_id is not None and promo.customer_id != customer.id:
            raise InvalidRequest("This promotion code is for another customer.",
                                 param="promotion_code", code="promotion_code_invalid")
        promo.times_redeemed += 1
        coupon = promo.coupon_id
    param = "promotion_code" if promo else "coupon"
    row = scoping.get(uow.session, m.Coupon, org_id, coupon, param=param, lock=True)
    if not row.valid or (row.redeem_by is not None and now >= row.redeem_by):
        raise InvalidRequest("This coupon can no longer be redeemed.", param=param,
                             code="coupon_expired")
    if row.max_redemptions is not None and row.times_redeemed >= row.max_redemptions:
        raise InvalidRequest("This coupon is used up.", param=param, code="coupon_used_up")
    if row.amount_off is not None and currency is not None and row.currency != currency:
        raise InvalidRequest(f"The coupon is in {row.currency.upper()}, the customer is billed "  # type: ignore[union-attr]
                             f"in {currency.upper()}.", param=param, code="currency_mismatch")
    row.times_redeemed += 1
    end = None
    if row.duration == "repeating":
        end = now + relativedelta(months=row.duration_in_months or 1)
    discount = m.Discount(id=new_id("di"), org_id=org_id, coupon=row, coupon_id=row.id,
                          customer_id=customer.id, subscription_id=subscription_id,
                          promotion_code_id=promo.id if promo else None, start=now, end=end,
                          created=now)
    uow.session.add(discount)
    return discount


def _active(uow: UnitOfWork, customer_id: str, at: datetime,
            invoice_id: str | None) -> list[m.Discount]:
    batch = prefetch.of(uow.session)
    if batch is not None and batch.covers(customer_id):
        rows: Iterable[m.Discount] = [
            d for d in batch.discounts.get(customer_id, [])
            if d.start <= at and (d.end is None or d.end > at)]
    else:
        rows = uow.session.scalars(select(m.Discount).where(
            m.Discount.customer_id == customer_id, m.Discount.start <= at,
            or_(m.Discount.end.is_(None), m.Discount.end > at)).order_by(m.Discount.id))
    return [d for d in rows if d.coupon.duration != "once" or d.used_on_invoice_id in
            (None, invoice_id)]


def apply(uow: UnitOfWork, invoice: m.Invoice, lines: list[m.InvoiceLine],
          at: datetime) -> None:
    """Set each line's discount and the invoice's discount summary from the customer's
    discounts active at `at`."""
    with uow.session.no_autoflush:
        found = _active(uow, invoice.customer_id, at, invoice.id)
        products = _products(uow, lines)
    terms = [domain.DiscountTerms(
        id=d.id, percent_off=d.coupon.percent_off,
        amount_off=d.coupon.amount_off if d.coupon.currency == invoice.currency else None,
        products=frozenset((d.coupon.applies_to_products or {}).get("products", []))
        if d.coupon.applies_to_products else None, subscription_id=d.subscription_id)
        for d in found if d.coupon.percent_off is not None
        or d.coupon.currency == invoice.currency]
    bases = [domain.LineBasis(line.amount, products.get(line.price_id or ""),
                              line.subscription_id) for line in lines]
    allocation = domain.allocate(bases, terms)
    for index, line in enumerate(lines):
        assign(line, discount_amount=sum(offs[index] for offs in allocation.values()))
    summary = [{"discount": d.id, "coupon": d.coupon_id, "amount": sum(allocation[d.id])}
               for d in found if d.id in allocation and sum(allocation[d.id])]
    assign(invoice, discounts={"discounts": summary} if summary else None,
           total_discount=sum(line.discount_amount for line in lines))


def consume_once(uow: UnitOfWork, invoice: m.Invoice, at: datetime) -> None:
    """A `once` discount is used up by the first invoice it reduced (at its finalization)."""
    for entry in (invoice.discounts or {}).get("discounts", []):
        discount = uow.session.get(m.Discount, entry["discount"])
        if discount is not None and discount.coupon.duration == "once":
            discount.used_on_invoice_id = invoice.id
            discount.end = at


def _products(uow: UnitOfWork, lines: list[m.InvoiceLine]) -> dict[str, str]:
    price_ids = {line.price_id for line in lines if line.price_id}
    if not price_ids:
        return {}

    def load() -> dict[str, str]:
        rows = uow.session.execute(select(m.Price.id, m.Price.product_id).where(
            m.Price.id.in_(price_ids)))
        return {price_id: product_id for price_id, product_id in rows}

    batch = prefetch.of(uow.session)
    return batch.remember(("products", frozenset(price_ids)), load) if batch else load()
