"""What a price charges for a quantity: per unit, tiered (graduated or volume), package
(`transform_quantity`), and percentage-of-volume pricing for transaction-based products.

Plain data in, plain data out. Amounts are `Decimal` minor units and are not rounded here:
each returned part becomes one invoice line, whose amount is rounded once (`round_minor`).
Tier semantics follow Stripe's: `up_to` is inclusive, the last tier is unbounded (`None`,
"inf" in the API), and the first tier's flat amount is charged even at zero quantity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

Scheme = Literal["per_unit", "tiered", "percentage"]
TiersMode = Literal["graduated", "volume"]


@dataclass(frozen=True)
class Tier:
    up_to: int | None  # inclusive; None for the last, unbounded tier
    unit_amount: Decimal = Decimal(0)
    flat_amount: Decimal = Decimal(0)


@dataclass(frozen=True)
class TransformQuantity:
    """Package pricing: bill per `divide_by` units, rounding the packages up or down."""

    divide_by: int
    round: Literal["up", "down"] = "up"


@dataclass(frozen=True)
class PercentageTerms:
    """A cut of transaction volume: `rate` percent of each transaction's amount plus a
    fixed fee per transaction, each transaction's fee kept within `minimum_fee` and
    `maximum_fee`. The first `free_events` transactions and the first `free_units` of
    volume in a period carry no percentage fee."""

    rate: Decimal
    fixed_fee: Decimal = Decimal(0)
    free_units: Decimal = Decimal(0)
    free_events: int = 0
    minimum_fee: Decimal | None = None
    maximum_fee: Decimal | None = None


@dataclass(frozen=True)
class PriceModel:
    scheme: Scheme = "per_unit"
    unit_amount: Decimal = Decimal(0)
    tiers_mode: TiersMode | None = None
    tiers: tuple[Tier, ...] = ()
    transform: TransformQuantity | None = None
    percentage: PercentageTerms | None = None


@dataclass(frozen=True)
class Part:
    """One priced piece: becomes one invoice line."""

    kind: Literal["unit", "tier", "percentage"]
    quantity: Decimal
    unit_amount: Decimal
    flat_amount: Decimal
    amount: Decimal
    tier: int | None = None  # 1-based index of the tier, for tier parts
    tier_from: int | None = None
    tier_to: int | None = None


class PricingError(ValueError):
    """The price cannot price this quantity (a configuration error caught at creation)."""


def validate_tiers(tiers: Sequence[Tier]) -> None:
    """Tiers must be non-empty, with strictly increasing `up_to` and only the last unbounded."""
    if not tiers:
        raise PricingError("a tiered price needs at least one tier")
    previous = 0
    for index, tier in enumerate(tiers):
        if tier.up_to is None:
            if index != len(tiers) - 1:
                raise PricingError(f"only the last tier may be unbounded (tier {index + 1})")
            continue
        if tier.up_to <= previous:
            raise PricingError(f"up_to must increase from tier to tier and start at 1 or more "
                               f"(tier {index + 1})")
        previous = tier.up_to
    if tiers[-1].up_to is not None:
        raise PricingError("the last tier must be unbounded (up_to: inf)")
    for index, tier in enumerate(tiers):
        if tier.unit_amount < 0 or tier.flat_amount < 0:
            raise PricingError(f"tier amounts must not be negative (tier {index + 1})")


def price(model: PriceModel, quantity: Decimal) -> list[Part]:
    """The parts that `quantity` units cost under `model` (quantity must be >= 0)."""
    if quantity < 0:
        raise PricingError("quantity must not be negative")
    if model.scheme == "tiered":
        if model.tiers_mode == "volume":
            return [_volume(model.tiers, quantity)]
        return _graduated(model.tiers, quantity)
    if model.scheme == "percentage":
        raise PricingError("percentage prices are priced from transactions, not a quantity")
    units = _transform(model.transform, quantity)
    return [Part("unit", units, model.unit_amount, Decimal(0), units * model.unit_amount)]


def total(parts: Sequence[Part]) -> Decimal:
    return sum((part.amount for part in parts), Decimal(0))


def _transform(transform: TransformQuantity | None, quantity: Decimal) -> Decimal:
    if transform is None:
        return quantity
    rounding = ROUND_CEILING if transform.round == "up" else ROUND_FLOOR
    return (quantity / transform.divide_by).to_integral_value(rounding=rounding)


def _graduated(tiers: Sequence[Tier], quantity: Decimal) -> list[Part]:
    """Each unit is priced by the tier it falls in; one part per tier used."""
    parts = []
    lower = 0
    for index, tier in enumerate(tiers):
        upper = tier.up_to
        in_tier = quantity - lower if upper is None else min(quantity, Decimal(upper)) - lower
        if in_tier <= 0 and index > 0:
            break
        in_tier = max(in_tier, Decimal(0))
        parts.append(Part("tier", in_tier, tier.unit_amount, tier.flat_amount,
                          in_tier * tier.unit_amount + tier.flat_amount, tier=index + 1,
                          tier_from=lower + 1, tier_to=upper))
        if upper is None or quantity <= upper:
            break
        lower = upper
    return parts


def _volume(tiers: Sequence[Tier], quantity: Decimal) -> Part:
    """All units are priced by the one tier the total quantity falls in."""
    lower = 0
    for index, tier in enumerate(tiers):
        if tier.up_to is None or quantity <= tier.up_to:
            return Part("tier", quantity, tier.unit_amount, tier.flat_amount,
                        quantity * tier.unit_amount + tier.flat_amount, tier=index + 1,
                        tier_from=lower + 1, tier_to=tier.up_to)
        lower = tier.up_to
    raise PricingError("no tier covers the quantity (the last tier must be unbounded)")


@dataclass(frozen=True)
class Transaction:
    amount: Decimal  # minor units of volume


def price_transactions(terms: PercentageTerms, transactions: Sequence[Transaction]) -> Part:
    """The fee for a period's transactions, in order of occurrence, as one part."""
    fee = Decimal(0)
    free_volume_left = terms.free_units
    volume = Decimal(0)
    for index, transaction in enumerate(transactions):
        volume += transaction.amount
        if index < terms.free_events:
            continue
        chargeable = transaction.amount
        if free_volume_left > 0 and chargeable > 0:  # a refund never enlarges the allowance
            waived = min(free_volume_left, chargeable)
            free_volume_left -= waived
            chargeable -= waived
        one = chargeable * terms.rate / 100 + terms.fixed_fee
        if terms.minimum_fee is not None:
            one = max(one, terms.minimum_fee)
        if terms.maximum_fee is not None:
            one = min(one, terms.maximum_fee)
        fee += one
    return Part("percentage", Decimal(len(transactions)), Decimal(0), Decimal(0), fee)
