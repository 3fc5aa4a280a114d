"""The catalog: products and their prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from kassa.core.errors import InvalidRequest
from kassa.core.ids import new_id
from kassa.core.money import normalize_currency, parse_decimal
from kassa.domain import pricing, tax
from kassa.domain.periods import INTERVALS
from kassa.services import events, objects, scoping
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

MAX_INTERVAL = {"day": 365, "week": 52, "month": 12, "year": 3}


def _tax_code(code: str | None, param: str = "tax_code") -> str | None:
    if code is not None and code not in tax.TAX_CODES:
        raise InvalidRequest(f"tax_code must be one of {', '.join(tax.TAX_CODES)}.",
                             param=param)
    return code


def create_product(uow: UnitOfWork, org_id: str, *, name: str, description: str | None = None,
                   unit_label: str | None = None, tax_code: str | None = None,
                   active: bool = True,
                   metadata: dict[str, Any] | None = None) -> m.Product:
    if not name or not name.strip():
        raise InvalidRequest("A product needs a name.", param="name")
    product = m.Product(id=new_id("prod"), org_id=org_id, name=name.strip(),
                        description=description, unit_label=unit_label,
                        tax_code=_tax_code(tax_code), active=active,
                        metadata_=metadata or {}, created=uow.clock.now())
    uow.session.add(product)
    events.record(uow.session, org_id, "product.created", objects.product(product),
                  product.created)
    uow.commit()
    return product


def parse_unit_amount(unit_amount: Any, unit_amount_decimal: Any, *, required: bool = True,
                      name: str = "unit_amount", at: str = "{}") -> Decimal | None:
    """An amount in minor units from `name` (integer) or `name`_decimal (decimal string).

    `at` places the field in its parameter path, e.g. "tiers[0][{}]".
    """
    plain, exact = at.format(name), at.format(f"{name}_decimal")
    if unit_amount is not None and unit_amount_decimal is not None:
        raise InvalidRequest(f"Give {name} or {name}_decimal, not both.", param=exact)
    if unit_amount is not None:
        if isinstance(unit_amount, bool) or not isinstance(unit_amount, int) or unit_amount < 0:
            raise InvalidRequest(f"{name} must be a non-negative integer in minor units.",
                                 param=plain)
        return Decimal(unit_amount)
    if unit_amount_decimal is not None:
        value = parse_decimal(unit_amount_decimal, param=exact)
        if value < 0 or value.as_tuple().exponent < -12:  # type: ignore[operator]
            raise InvalidRequest(f"{name}_decimal must be non-negative, with at most 12 "
                                 "decimal places.", param=exact)
        return value
    if required:
        raise InvalidRequest(f"A per-unit price needs {name} or {name}_decimal.", param=plain)
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
    if usage_type not in ("licensed", "metered"):
        raise InvalidRequest("recurring.usage_type is licensed or metered.",
                             param="recurring[usage_type]")
    return interval, count, usage_type


def _money(value: Any, decimal_value: Any, name: str, at: str) -> Decimal:
    """An amount in minor units from an integer field or its `_decimal` twin (0 if neither)."""
    amount = parse_unit_amount(value, decimal_value, required=False, name=name, at=at)
    return amount if amount is not None else Decimal(0)


def _tiers(raw: Any) -> list[dict[str, Any]]:
    """Validate tiers as given (Stripe's shape) and return them in the stored shape."""
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("A tiered price needs tiers.", param="tiers")
    stored = []
    for index, tier in enumerate(raw):
        param = f"tiers[{index}]"
        if not isinstance(tier, dict):
            raise InvalidRequest("Each tier is an object.", param=param)
        up_to = tier.get("up_to")
        if up_to != "inf" and (isinstance(up_to, bool) or not isinstance(up_to, int)):
            raise InvalidRequest("up_to is a positive integer, or 'inf' for the last tier.",
                                 param=f"{param}[up_to]")
        has_amount = any(tier.get(k) is not None for k in (
            "unit_amount", "unit_amount_decimal", "flat_amount", "flat_amount_decimal"))
        if not has_amount:
            raise InvalidRequest("A tier needs a unit amount or a flat amount.",
                                 param=f"{param}[unit_amount]")
        at = f"{param}[{{}}]"
        unit = _money(tier.get("unit_amount"), tier.get("unit_amount_decimal"), "unit_amount",
                      at)
        flat = _money(tier.get("flat_amount"), tier.get("flat_amount_decimal"), "flat_amount",
                      at)
        stored.append({"up_to": None if up_to == "inf" else up_to,
                       "unit_amount_decimal": str(unit), "flat_amount_decimal": str(flat)})
    try:
        pricing.validate_tiers([_tier(t) for t in stored])
    except pricing.PricingError as exc:
        raise InvalidRequest(f"Invalid tiers: {exc}.", param="tiers") from None
    return stored


def _tier(stored: dict[str, Any]) -> pricing.Tier:
    return pricing.Tier(stored["up_to"], Decimal(stored["unit_amount_decimal"]),
                        Decimal(stored["flat_amount_decimal"]))


def _transform(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidRequest("transform_quantity is an object.", param="transform_quantity")
    divide_by = raw.get("divide_by")
    if isinstance(divide_by, bool) or not isinstance(divide_by, int) or divide_by < 1:
        raise InvalidRequest("divide_by is a positive integer.",
                             param="transform_quantity[divide_by]")
    if raw.get("round") not in ("up", "down"):
        raise InvalidRequest("round is up or down.", param="transform_quantity[round]")
    return {"divide_by": divide_by, "round": raw["round"]}


_PERCENTAGE_AMOUNTS = ("fixed_fee", "free_units", "minimum_fee", "maximum_fee")


def _percentage(raw: Any) -> dict[str, Any]:
    """Percentage pricing: rate (percent) of transaction volume, with fees and allowances."""
    if not isinstance(raw, dict):
        raise InvalidRequest("percentage is an object.", param="percentage")
    unknown = set(raw) - {"rate", "free_events", *_PERCENTAGE_AMOUNTS}
    if unknown:
        raise InvalidRequest(f"Unknown field {sorted(unknown)[0]}.",
                             param=f"percentage[{sorted(unknown)[0]}]")
    rate = parse_decimal(raw.get("rate", ""), param="percentage[rate]")
    if not 0 <= rate <= 100:
        raise InvalidRequest("rate is a percentage from 0 to 100.", param="percentage[rate]")
    stored: dict[str, Any] = {"rate": str(rate)}
    for name in _PERCENTAGE_AMOUNTS:
        if raw.get(name) is not None:
            value = parse_decimal(raw[name], param=f"percentage[{name}]")
            if value < 0:
                raise InvalidRequest(f"{name} must not be negative.",
                                     param=f"percentage[{name}]")
            stored[name] = str(value)
    free_events = raw.get("free_events", 0)
    if isinstance(free_events, bool) or not isinstance(free_events, int) or free_events < 0:
        raise InvalidRequest("free_events is a non-negative integer.",
                             param="percentage[free_events]")
    stored["free_events"] = free_events
    low, high = stored.get("minimum_fee"), stored.get("maximum_fee")
    if low is not None and high is not None and Decimal(low) > Decimal(high):
        raise InvalidRequest("minimum_fee exceeds maximum_fee.", param="percentage[minimum_fee]")
    return stored


def model_of(price: m.Price) -> pricing.PriceModel:
    """The price as the pricing domain sees it."""
    transform = None
    if price.transform_quantity:
        transform = pricing.TransformQuantity(price.transform_quantity["divide_by"],
                                              price.transform_quantity["round"])
    percentage = None
    if price.percentage:
        raw = price.percentage
        percentage = pricing.PercentageTerms(
            rate=Decimal(raw["rate"]), fixed_fee=Decimal(raw.get("fixed_fee", 0)),
            free_units=Decimal(raw.get("free_units", 0)),
            free_events=int(raw.get("free_events", 0)),
            minimum_fee=Decimal(raw["minimum_fee"]) if "minimum_fee" in raw else None,
            maximum_fee=Decimal(raw["maximum_fee"]) if "maximum_fee" in raw else None)
    return pricing.PriceModel(
        scheme=price.billing_scheme,  # type: ignore[arg-type]
        unit_amount=price.unit_amount_decimal or Decimal(0),
        tiers_mode=price.tiers_mode,  # type: ignore[arg-type]
        tiers=tuple(_tier(t) for t in (price.tiers or {}).get("tiers", [])),
        transform=transform, percentage=percentage)


def _currency_options(raw: Any, currency: str, scheme: str) -> dict[str, Any]:
    """Amounts in further currencies: {"usd": {"unit_amount": 1200}} (per-unit prices)."""
    if not isinstance(raw, dict):
        raise InvalidRequest("currency_options maps currencies to amounts.",
                             param="currency_options")
    options = {}
    for code, option in raw.items():
        other = normalize_currency(code, param=f"currency_options[{code}]")
        if other == currency:
            raise InvalidRequest("currency_options repeats the price's own currency.",
                                 param=f"currency_options[{code}]")
        if scheme != "per_unit" or not isinstance(option, dict):
            raise InvalidRequest("currency_options take a unit_amount for per-unit prices.",
                                 param=f"currency_options[{code}]")
        amount = parse_unit_amount(option.get("unit_amount"), option.get("unit_amount_decimal"),
                                   at=f"currency_options[{code}][{{}}]")
        options[other] = {"unit_amount_decimal": str(amount)}
    return options


def create_price(uow: UnitOfWork, org_id: str, *, product: str | None = None,
                 product_data: dict[str, Any] | None = None, currency: str,
                 unit_amount: int | None = None, unit_amount_decimal: str | None = None,
                 recurring: dict[str, Any] | None = None, billing_scheme: str = "per_unit",
                 tiers_mode: str | None = None, tiers: list[Any] | None = None,
                 transform_quantity: dict[str, Any] | None = None,
                 percentage: dict[str, Any] | None = None,
                 currency_options: dict[str, Any] | None = None,
                 customer: str | None = None,
                 nickname: str | None = None, lookup_key: str | None = None,
                 tax_behavior: str = "exclusive",
                 active: bool = True, metadata: dict[str, Any] | None = None) -> m.Price:
    """Create a price: per unit (flat or per seat), tiered (graduated or volume), package
    (`transform_quantity`), or a percentage of transaction volume. Recurring prices are
    licensed (billed in advance) or metered (usage of `recurring.meter`, billed in arrears).
    A price with `customer` is that customer's own contract price.
    """
    if tax_behavior not in ("exclusive", "inclusive"):
        raise InvalidRequest("tax_behavior is exclusive or inclusive.", param="tax_behavior")
    currency = normalize_currency(currency)
    interval = count = usage_type = None
    meter_id = None
    if recurring is not None:
        interval, count, usage_type = _recurring(recurring)
        meter_id = recurring.get("meter")
        if usage_type == "metered":
            if not meter_id:
                raise InvalidRequest("A metered price needs recurring.meter.",
                                     param="recurring[meter]")
            meter_id = scoping.get(uow.session, m.Meter, org_id, meter_id,
                                   param="recurring[meter]").id
        elif meter_id is not None:
            raise InvalidRequest("Only metered prices take a meter.", param="recurring[meter]")
    amount: Decimal | None = None
    stored_tiers = stored_transform = stored_percentage = None
    if percentage is not None and billing_scheme != "percentage":
        raise InvalidRequest("percentage belongs to billing_scheme percentage.",
                             param="percentage")
    if billing_scheme == "per_unit":
        amount = parse_unit_amount(unit_amount, unit_amount_decimal)
        if tiers is not None or tiers_mode is not None:
            raise InvalidRequest("Tiers belong to billing_scheme tiered.", param="tiers")
        if transform_quantity is not None:
            stored_transform = _transform(transform_quantity)
    elif billing_scheme == "tiered":
        if tiers_mode not in ("graduated", "volume"):
            raise InvalidRequest("tiers_mode is graduated or volume.", param="tiers_mode")
        if unit_amount is not None or unit_amount_decimal is not None:
            raise InvalidRequest("A tiered price takes its amounts from its tiers.",
                                 param="unit_amount")
        if transform_quantity is not None:
            raise InvalidRequest("transform_quantity is for per-unit prices.",
                                 param="transform_quantity")
        stored_tiers = {"tiers": _tiers(tiers)}
    elif billing_scheme == "percentage":
        for name, value in (("unit_amount", unit_amount),
                            ("unit_amount_decimal", unit_amount_decimal), ("tiers", tiers),
                            ("tiers_mode", tiers_mode),
                            ("transform_quantity", transform_quantity)):
            if value is not None:
                raise InvalidRequest(f"A percentage price takes no {name}.", param=name)
        if usage_type != "metered":
            raise InvalidRequest("A percentage price is metered: it takes a cut of the "
                                 "transactions its meter records.", param="recurring[usage_type]")
        stored_percentage = _percentage(percentage)
    else:
        raise InvalidRequest("billing_scheme is per_unit, tiered or percentage.",
                             param="billing_scheme")
    customer_id = None
    if customer is not None:
        customer_id = scoping.get(uow.session, m.Customer, org_id, customer,
                                  param="customer").id
    options = _currency_options(currency_options, currency, billing_scheme) \
        if currency_options else {}
    product_row = _product_for_price(uow, org_id, product, product_data)
    price = m.Price(
        id=new_id("price"), org_id=org_id, product=product_row, product_id=product_row.id,
        currency=currency, unit_amount_decimal=amount,
        type="recurring" if recurring else "one_time", billing_scheme=billing_scheme,
        recurring_interval=interval, recurring_interval_count=count,
        recurring_usage_type=usage_type, tiers_mode=tiers_mode if stored_tiers else None,
        tiers=stored_tiers, transform_quantity=stored_transform, percentage=stored_percentage,
        meter_id=meter_id, customer_id=customer_id, currency_options=options,
        nickname=nickname, lookup_key=lookup_key, tax_behavior=tax_behavior, active=active,
        metadata_=metadata or {},
        created=uow.clock.now())
    uow.session.add(price)
    events.record(uow.session, org_id, "price.created", objects.price(price), price.created)
    uow.commit()
    return price


def _product_for_price(uow: UnitOfWork, org_id: str, product: str | None,
                       product_data: dict[str, Any] | None) -> m.Product:
    if (product is None) == (product_data is None):
        raise InvalidRequest("Give product or product_data.", param="product")
    if product is not None:
        return scoping.get(uow.session, m.Product, org_id, product, param="product")
    assert product_data is not None
    if not isinstance(product_data, dict) or not product_data.get("name"):
        raise InvalidRequest("product_data needs a name.", param="product_data[name]")
    row = m.Product(id=new_id("prod"), org_id=org_id, name=str(product_data["name"]),
                    unit_label=product_data.get("unit_label"),
                    tax_code=_tax_code(product_data.get("tax_code"), "product_data[tax_code]"),
                    active=True, metadata_={},
                    created=uow.clock.now())
    uow.session.add(row)
    events.record(uow.session, org_id, "product.created", objects.product(row), row.created)
    return row


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
