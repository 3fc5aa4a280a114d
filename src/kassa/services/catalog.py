"""The catalog: products and their prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from kassa.core.errors import InvalidRequest
from kassa.core.ids import new_id
from kassa.core.money import normalize_currency, parse_decimal
from kassa.domain.periods import INTERVALS
from kassa.services import events, objects, scoping
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

MAX_INTERVAL = {"day": 365, "week": 52, "month": 12, "year": 3}


def create_product(uow: UnitOfWork, org_id: str, *, name: str, description: str | None = None,
                   active: bool = True, metadata: dict[str, Any] | None = None) -> m.Product:
    if not name or not name.strip():
        raise InvalidRequest("A product needs a name.", param="name")
    product = m.Product(id=new_id("prod"), org_id=org_id, name=name.strip(),
                        description=description, active=active, metadata_=metadata or {},
                        created=uow.clock.now())
    uow.session.add(product)
    events.record(uow.session, org_id, "product.created", objects.product(product),
                  product.created)
    uow.commit()
    return product


def parse_unit_amount(unit_amount: Any, unit_amount_decimal: Any, *, required: bool = True,
                prefix: str = "") -> Decimal | None:
    """The unit amount in minor units from `unit_amount` (integer) or `unit_amount_decimal`."""
    if unit_amount is not None and unit_amount_decimal is not None:
        raise InvalidRequest("Give unit_amount or unit_amount_decimal, not both.",
                             param=f"{prefix}unit_amount_decimal")
    if unit_amount is not None:
        if isinstance(unit_amount, bool) or not isinstance(unit_amount, int) or unit_amount < 0:
            raise InvalidRequest("unit_amount must be a non-negative integer in minor units.",
                                 param=f"{prefix}unit_amount")
        return Decimal(unit_amount)
    if unit_amount_decimal is not None:
        value = parse_decimal(unit_amount_decimal, param=f"{prefix}unit_amount_decimal")
        if value < 0 or value.as_tuple().exponent < -12:  # type: ignore[operator]
            raise InvalidRequest("unit_amount_decimal must be non-negative, with at most 12 "
                                 "decimal places.", param=f"{prefix}unit_amount_decimal")
        return value
    if required:
        raise InvalidRequest("A per-unit price needs unit_amount or unit_amount_decimal.",
                             param=f"{prefix}unit_amount")
    return None


def _recurring(value: Any) -> tuple[str, int, str]:
    if not isinstance(value, dict):
        raise InvalidRequest("recurring must be an object.", param="recurring")
    interval = value.get("interval")
    if interval not in INTERVALS:
        raise InvalidRequest(f"recurring.interval must be one of {', '.join(INTERVALS)}.",
                             param="recurring[interval]")
    count = value.get("interval_count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidRequest("recurring.interval_count must be a positive integer.",
                             param="recurring[interval_count]")
    if count > MAX_INTERVAL[interval]:
        raise InvalidRequest(f"A price may recur at most every {MAX_INTERVAL[interval]} "
                             f"{interval}s.", param="recurring[interval_count]")
    usage_type = value.get("usage_type", "licensed")
    if usage_type != "licensed":
        raise InvalidRequest("Only licensed recurring prices are supported so far.",
                             param="recurring[usage_type]")
    return interval, count, usage_type


def create_price(uow: UnitOfWork, org_id: str, *, product: str | None = None,
                 product_data: dict[str, Any] | None = None, currency: str,
                 unit_amount: int | None = None, unit_amount_decimal: str | None = None,
                 recurring: dict[str, Any] | None = None, billing_scheme: str = "per_unit",
                 nickname: str | None = None, lookup_key: str | None = None,
                 active: bool = True, metadata: dict[str, Any] | None = None) -> m.Price:
    """Create a price. Recurring prices bill per `interval_count` `interval`s in advance."""
    currency = normalize_currency(currency)
    if billing_scheme != "per_unit":
        raise InvalidRequest("billing_scheme must be per_unit.", param="billing_scheme")
    amount = parse_unit_amount(unit_amount, unit_amount_decimal)
    interval = count = usage_type = None
    if recurring is not None:
        interval, count, usage_type = _recurring(recurring)
    if (product is None) == (product_data is None):
        raise InvalidRequest("Give product or product_data.", param="product")
    if product is not None:
        product_row = scoping.get(uow.session, m.Product, org_id, product, param="product")
    else:
        assert product_data is not None
        if not isinstance(product_data, dict) or not product_data.get("name"):
            raise InvalidRequest("product_data needs a name.", param="product_data[name]")
        product_row = m.Product(id=new_id("prod"), org_id=org_id,
                                name=str(product_data["name"]), active=True,
                                metadata_={}, created=uow.clock.now())
        uow.session.add(product_row)
        events.record(uow.session, org_id, "product.created", objects.product(product_row),
                      product_row.created)
    price = m.Price(
        id=new_id("price"), org_id=org_id, product=product_row, product_id=product_row.id,
        currency=currency,
        unit_amount_decimal=amount, type="recurring" if recurring else "one_time",
        billing_scheme=billing_scheme, recurring_interval=interval,
        recurring_interval_count=count, recurring_usage_type=usage_type, currency_options={},
        nickname=nickname, lookup_key=lookup_key, active=active, metadata_=metadata or {},
        created=uow.clock.now())
    uow.session.add(price)
    events.record(uow.session, org_id, "price.created", objects.price(price), price.created)
    uow.commit()
    return price


def list_prices(uow: UnitOfWork, org_id: str, *, product: str | None = None,
                active: bool | None = None, **page: Any) -> scoping.Page:
    query = select(m.Price).where(m.Price.org_id == org_id)
    if product:
        query = query.where(m.Price.product_id == product)
    if active is not None:
        query = query.where(m.Price.active.is_(active))
    return scoping.paginate(uow.session, query, m.Price, **page)


def list_products(uow: UnitOfWork, org_id: str, **page: Any) -> scoping.Page:
    query = select(m.Product).where(m.Product.org_id == org_id)
    return scoping.paginate(uow.session, query, m.Product, **page)
